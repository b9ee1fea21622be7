"""Readable output: targets beside TTFT/TPOT, the layout legend and `explain layout`, units on every
objective, hints that say what would make an infeasible answer feasible, flags without <bool>."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xpuplan.errors import InputError
from xpuplan.report.legend import explain_layout

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "240", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_explain_layout_names_every_token() -> None:
    rows = dict(explain_layout("TP4 PP1 DP256 CP2 FSDP SP mb1"))
    assert "tensor" in rows["TP4"] and "4 chips" in rows["TP4"]
    assert "ZeRO-3" in rows["FSDP"] and "micro-batch" in rows["mb1"]
    serve = dict(explain_layout("3× [TP1 ×16 batch 32 fp8]"))
    assert "replica group" in serve["3×"] and "16 model replica" in serve["×16"]
    with pytest.raises(InputError, match="TPX"):
        explain_layout("TPX")


def test_explain_layout_command() -> None:
    r = _cli("explain", "layout", "TP4 PP1 DP256 CP2 FSDP SP mb1")
    assert r.returncode == 0, r.stderr
    assert "context parallelism" in r.stdout


def test_flags_show_no_bool_in_help() -> None:
    r = _cli("train", "--help")
    assert r.returncode == 0
    assert "--search" in r.stdout and "<bool>" not in r.stdout
    assert "<int>" in r.stdout  # options that take a value still show it


def test_train_without_layout_says_what_it_assumed_and_how_to_fit() -> None:
    r = _cli("train", "--model", "llama-3-70b", "--chip", "h100", "--chips", "8")
    assert r.returncode == 0, r.stderr
    assert "assumed TP1 PP1" in r.stdout and "--search" in r.stdout
    assert "to make it fit" in r.stdout  # 70B does not fit 8 H100 at TP1


def test_serve_shows_targets_and_the_kv_override() -> None:
    r = _cli("serve", "--model", "llama-3-8b", "--chip", "h100", "--weights", "fp8", "--ttft-ms", "500",
             "--tpot-ms", "40", "--kv", "bf16")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "TTFT (≤ 500.0 ms)" in r.stdout and "TPOT (≤ 40.0 ms)" in r.stdout
    assert "KV cache in fp8, not the bf16 asked for" in r.stdout


def test_plan_shows_ttft_tpot_targets_legend_and_units(tmp_path: Path) -> None:
    r = _cli("plan", str(ROOT / "examples" / "lora_finetune.toml"), "--objective", "energy")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("fleet plan"))
    assert "Wh" in line  # energy with its unit, not 8.391e+09
    assert "layout: TP tensor-" in r.stdout
    sc = tmp_path / "s.toml"
    sc.write_text(
        '[[jobs]]\nkind = "serve"\nmodel = "llama-3-8b"\nrate = 5\nttft_ms = 1000\ntpot_ms = 50\nhours = 10\n'
        '[candidates]\nsystems = ["aws-p5.48xlarge"]\n[constraints]\ndeadline_days = 5\n'
    )
    r = _cli("plan", str(sc), "--objective", "time")
    assert r.returncode == 0, r.stderr
    assert "TTFT (≤ 1.00 s)" in r.stdout and "TPOT (≤ 50.0 ms)" in r.stdout
    assert "(makespan)" in r.stdout


def test_search_rows_that_would_read_the_same_say_their_overlap_switches() -> None:
    """Two layouts that differ only in the overlap switches the notation leaves out get them
    written beside the label; a label that is unique stays as it is."""
    from xpuplan.layout import Layout
    from xpuplan.report.terminal import layout_labels

    a = Layout(tp=4, dp=2, tp_overlap=True)
    b = Layout(tp=4, dp=2, tp_overlap=False)
    c = Layout(tp=8)
    got = layout_labels([a, b, c])
    assert got[0] == a.describe() + " (TP overlap on, DP overlap on)"
    assert got[1] == b.describe() + " (TP overlap off, DP overlap on)"
    assert got[2] == c.describe()
    assert len(set(got)) == 3

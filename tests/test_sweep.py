"""Design-space sweeps: study files expand as written, every point is a row (an error too), both
engines give the same rows, and a sweep killed partway resumes to the same dataset."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xpuplan.api import sweep
from xpuplan.errors import DataError, InputError, UnknownNameError

SMALL = """
name = "small"
compute = "train"
[axes]
models = ["llama-3-8b"]
systems = ["aws-p5.48xlarge", "gcp-tpu-v6e-pod"]
chips = [64, 128, 256]
pricing = ["on_demand", "capacity_block"]
[[axes.scenarios]]
name = "15 days"
deadline_days = 15
[train]
tokens = 1e12
seq_len = 4096
global_batch = 512
[[exclude]]
system = "gcp-tpu-v6e-pod"
chips = 128
"""


def study_file(tmp_path: Path, text: str = SMALL, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def rows_by_id(root: Path) -> dict[str, dict[str, object]]:
    return {r["point_id"]: r for r in sweep.read_rows(root)}  # type: ignore[misc]


# ---- the study file -------------------------------------------------------------------------------


def test_study_expands_the_product_minus_excludes(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    assert len(s.points) + s.excluded == 1 * 2 * 3 * 2  # models × systems × chips × pricing
    assert s.excluded == 2  # TPU v6e at 128 chips, both price kinds
    assert not any(p.system == "gcp-tpu-v6e-pod" and p.chips == 128 for p in s.points)
    assert len({p.point_id for p in s.points}) == len(s.points)
    assert [p.index for p in s.points] == list(range(len(s.points)))


def test_point_ids_depend_only_on_inputs(tmp_path: Path) -> None:
    a = sweep.load_study(study_file(tmp_path))
    b = sweep.load_study(
        study_file(tmp_path, SMALL.replace("[[exclude]]", "[[exclude]]\nmodel = 'llama-3-8b'"), "b.toml")
    )
    ids = {p.point_id for p in a.points}
    assert {p.point_id for p in b.points} == ids  # the same points, however the file is arranged


def test_chip_names_resolve_to_their_default_system(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path, SMALL.replace('"gcp-tpu-v6e-pod"]', '"tpu-v6e"]')))
    assert {p.system for p in s.points} == {"aws-p5.48xlarge", "gcp-tpu-v6e-pod"}


def test_chips_range_and_deadline_word(tmp_path: Path) -> None:
    text = SMALL.replace("chips = [64, 128, 256]", "chips = {from = 8, to = 1024, count = 8}")
    s = sweep.load_study(study_file(tmp_path, text))
    sizes = sorted({p.chips for p in s.points if p.chips})
    assert sizes[0] == 8 and sizes[-1] == 1024 and len(sizes) == 8
    s2 = sweep.load_study(study_file(tmp_path, SMALL.replace("[64, 128, 256]", '[64, "deadline"]'), "d.toml"))
    assert {p.chips for p in s2.points} == {64, None}


@pytest.mark.parametrize(
    ("old", "new", "error", "words"),
    [
        # a typo in a system: did-you-mean, with the file and line
        ('"gcp-tpu-v6e-pod"]', '"gcp-tpu-v6e-pdo"]', UnknownNameError, "gcp-tpu-v6e-pod"),
        # an unknown price kind
        ('"capacity_block"]', '"capacity-blok"]', DataError, "pricing"),
        # a bad chip count
        ("[64, 128, 256]", "[64, -1]", DataError, "chip count"),
        # request mixes in a training study
        ("[train]", '[[axes.mixes]]\nname = "x"\n[train]', DataError, "serving study"),
        # an unknown key
        ('compute = "train"', 'compute = "train"\nengine = "ray"', DataError, "unknown key 'engine'"),
        # everything excluded
        (
            'system = "gcp-tpu-v6e-pod"\nchips = 128',
            'model = "llama-3-8b"',
            DataError,
            "every point is excluded",
        ),
    ],
)
def test_bad_study_files_fail_before_any_point(
    tmp_path: Path, old: str, new: str, error: type[Exception], words: str
) -> None:
    assert old in SMALL
    with pytest.raises(error) as e:
        sweep.load_study(study_file(tmp_path, SMALL.replace(old, new)))
    line = e.value.one_line()  # type: ignore[attr-defined]
    assert words in line
    assert "study.toml" in line


# ---- points and rows ----------------------------------------------------------------------------------


def test_rows_carry_inputs_estimate_cost_and_versions(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    run = sweep.run_sweep(s, tmp_path / "out.parquet", workers=1)
    assert run.computed == len(s.points) and run.resumed == 0
    rows = sweep.read_rows(tmp_path / "out.parquet")
    assert [r["index"] for r in rows] == list(range(len(s.points)))
    assert set(rows[0]) == set(sweep.COLUMNS)
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok, "some point must fit and meet 15 days"
    for r in ok:
        assert (
            r["layout"]
            and r["step_time_s"] > 0
            and r["time_s"] == pytest.approx(r["step_time_s"] * 1e12 / (512 * 4096))
        )
        assert r["catalog_version"] and r["model_version"]
        assert r["time_low_s"] is None  # no interval from the API yet: left empty, not invented
    priced = [r for r in ok if r["cost_usd"] is not None]
    for r in priced:  # cost is the cluster's price over the time to train
        assert r["cost_usd"] == pytest.approx(r["usd_per_hour"] * r["time_s"] / 3600)
        assert r["price_kind"] == r["pricing"]
    # TPU v6e has no capacity-block price: such points have a time but no cost (no fallback)
    tpu_cb = [r for r in ok if r["system"] == "gcp-tpu-v6e-pod" and r["pricing"] == "capacity_block"]
    assert tpu_cb and all(r["cost_usd"] is None for r in tpu_cb)
    late = [r for r in rows if r["status"] == "constrained"]
    assert late and all("deadline" in r["reason"] for r in late)
    assert all(r["time_s"] > 15 * 86400 for r in late)


def test_a_failing_point_is_a_row_with_its_error(tmp_path: Path) -> None:
    # An fp8 KV cache on A100 (no fp8) is refused by the API: that point's row says so.
    text = """
compute = "serve"
[axes]
models = ["llama-3-8b"]
systems = ["aws-p4de.24xlarge", "aws-p5.48xlarge"]
chips = [8]
[[axes.mixes]]
name = "chat"
input_len = 1000
output_len = 200
[serve]
kv = "fp8"
"""
    s = sweep.load_study(study_file(tmp_path, text))
    sweep.run_sweep(s, tmp_path / "o", workers=1)
    rows = {r["system"]: r for r in sweep.read_rows(tmp_path / "o")}
    assert rows["aws-p4de.24xlarge"]["status"] == "error"
    assert "fp8" in rows["aws-p4de.24xlarge"]["error"]
    h100 = rows["aws-p5.48xlarge"]
    assert h100["status"] == "ok" and h100["output_tokens_per_s"] > 0 and h100["ttft_s"] > 0
    assert h100["usd_per_million_tokens"] == pytest.approx(
        h100["usd_per_hour"] / 3600 / h100["output_tokens_per_s"] * 1e6
    )


def test_points_sized_for_the_deadline_go_through_the_planner(tmp_path: Path) -> None:
    text = SMALL.replace("[64, 128, 256]", '["deadline"]').replace('"capacity_block"]', "]")
    s = sweep.load_study(study_file(tmp_path, text))
    sweep.run_sweep(s, tmp_path / "o", workers=1)
    for r in sweep.read_rows(tmp_path / "o"):
        assert r["sized"] and r["chips"] is None
        assert r["status"] == "ok" and r["chips_used"] > 0
        assert r["time_s"] <= 15 * 86400  # the planner picked a size that meets the deadline


def test_summary_fronts_and_break_even(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    sweep.run_sweep(s, tmp_path / "o", workers=1)
    summary = sweep.show(tmp_path / "o")
    (case,) = summary["cases"]
    rows = [r for r in sweep.read_rows(tmp_path / "o") if r["status"] == "ok" and r["cost_usd"] is not None]
    front = case["pareto"]
    for p in front:  # nothing beats a front point on both axes
        assert not any(
            (r["time_s"] <= p["time_s"] and r["cost_usd"] < p["cost_usd"])
            or (r["time_s"] < p["time_s"] and r["cost_usd"] <= p["cost_usd"])
            for r in rows
        )
    lead = next(o for o in case["offers"] if o["leader"])
    others = [o for o in case["offers"] if o["break_even_usd_per_chip_hour"] and not o["leader"]]
    assert others
    for o in others:  # at its break-even price an offer's cheapest point costs what the leader's does
        ratio = o["break_even_usd_per_chip_hour"] / o["usd_per_chip_hour"]
        assert o["cheapest"]["cost_usd"] * ratio == pytest.approx(lead["cheapest"]["cost_usd"])
    assert all(v == sorted(v, key=lambda p: p["time_s"]) for v in case["vendor_pareto"].values())


# ---- the dataset: safe and resumable ----------------------------------------------------------------


def test_existing_results_are_never_overwritten_silently(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    out = tmp_path / "o"
    sweep.run_sweep(s, out, workers=1)
    with pytest.raises(InputError, match="--resume"):
        sweep.run_sweep(s, out, workers=1)
    again = sweep.run_sweep(s, out, workers=1, resume=True)
    assert again.computed == 0 and again.resumed == len(s.points)
    changed = sweep.load_study(study_file(tmp_path, SMALL.replace("= 15", "= 16")))
    with pytest.raises(InputError, match="another version of the study"):
        sweep.run_sweep(changed, out, workers=1, resume=True)
    assert sweep.run_sweep(changed, out, workers=1, fresh=True).computed == len(changed.points)


def test_a_temporary_part_is_ignored_and_cleaned(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    out = tmp_path / "o"
    sweep.run_sweep(s, out, workers=1, batch=4)
    half = out / ".part-000009.parquet.abc.tmp"
    half.write_bytes(b"PAR1 half a file")  # what a kill mid-write leaves
    assert len(sweep.read_rows(out)) == len(s.points)
    sweep.run_sweep(s, out, workers=1, resume=True)
    assert not half.exists()


KILL = """
name = "kill"
[axes]
models = ["llama-3-8b"]
systems = ["aws-p5.48xlarge", "gcp-tpu-v6e-pod", "amd-mi300x-8gpu"]
chips = {from = 8, to = 2048, count = 20}
pricing = ["on_demand", "spot"]
[train]
tokens = 1e12
seq_len = 4096
global_batch = 512
"""


def test_a_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    path = study_file(tmp_path, KILL)
    s = sweep.load_study(path)
    out = tmp_path / "killed.parquet"
    cmd = [
        sys.executable,
        "-m",
        "xpuplan.cli",
        "sweep",
        str(path),
        "--out",
        str(out),
        "--workers",
        "2",
        "--batch",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up at all: as if the machine went away
    proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep's orphaned pool workers
    done = len(sweep.read_rows(out))  # every finished part is whole and readable
    assert 0 < done < len(s.points), "the kill must land partway"
    r = subprocess.run([*cmd, "--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["resumed"] == done and report["computed"] == len(s.points) - done
    ids = [row["point_id"] for row in sweep.read_rows(out)]
    assert len(ids) == len(set(ids)) == len(s.points)  # every point once
    reference = tmp_path / "whole.parquet"
    sweep.run_sweep(s, reference, workers=1)
    assert rows_by_id(out) == rows_by_id(reference)


def test_the_local_pool_and_in_process_give_the_same_rows(tmp_path: Path) -> None:
    s = sweep.load_study(study_file(tmp_path))
    sweep.run_sweep(s, tmp_path / "a", workers=1)
    sweep.run_sweep(s, tmp_path / "b", workers=2, batch=3)
    assert rows_by_id(tmp_path / "a") == rows_by_id(tmp_path / "b")


def test_ray_cluster_gives_the_local_rows(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    s = sweep.load_study(study_file(tmp_path))
    sweep.run_sweep(s, tmp_path / "local", workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = sweep.run_sweep(s, tmp_path / "ray", engine="ray", batch=2)
    finally:
        ray.shutdown()
    assert run.engine == "ray" and run.computed == len(s.points) and run.lost == 0
    a, b = rows_by_id(tmp_path / "local"), rows_by_id(tmp_path / "ray")
    assert a.keys() == b.keys()
    for k in a:  # value for value (NaN-free: empty values are None)
        assert a[k] == b[k]
        assert not any(isinstance(v, float) and math.isnan(v) for v in a[k].values())


def test_ray_engine_without_ray_says_how_to_install(tmp_path: Path) -> None:
    path = study_file(tmp_path)
    code = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['xpuplan', 'sweep', sys.argv[1], '--engine', 'ray',"
        " '--out', sys.argv[2]]; from xpuplan.cli import main; main()"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "pip install 'xpuplan[ray]'" in r.stderr and "Traceback" not in r.stderr


def test_cli_sweep_show_and_report(tmp_path: Path) -> None:
    path = study_file(tmp_path)
    out = tmp_path / "s.parquet"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=120
        )

    r = cli("sweep", str(path), "--out", str(out), "--workers", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["computed"] == 10
    shown = json.loads(cli("sweep", "show", str(out), "--json").stdout)
    assert shown["points"] == 10 and shown["cases"][0]["pareto"]
    text = cli("sweep", "show", str(path), "--out", str(out)).stdout
    assert "Pareto front" in text and "gcp-tpu-v6e-pod (on_demand)" in text
    html = tmp_path / "r.html"
    r = cli("report", "--study", str(out), "-o", str(html))
    assert r.returncode == 0, r.stderr
    page = html.read_text()
    assert "break-even price" in page and "Pareto front per vendor" in page
    bad = cli("sweep", "show", str(tmp_path / "nothing.parquet"))
    assert bad.returncode == 2 and "no sweep results" in bad.stderr

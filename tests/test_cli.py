"""The command line: every command answers --json; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "chips", "--json"),
        ("catalog", "systems", "--json"),
        ("catalog", "prices", "--json"),
        ("catalog", "show", "trn2", "--json"),
        ("model", "list", "--json"),
        ("model", "show", "llama-3-70b", "--json"),
    ],
)
def test_json_commands(args: tuple[str, ...]) -> None:
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)


def test_catalog_show_resolves_alias() -> None:
    r = run("catalog", "show", "H100-SXM5-80GB", "--json")
    assert json.loads(r.stdout)["id"] == "nvidia-h100-sxm"


def test_model_show_reports_params_flops_kv() -> None:
    d = json.loads(run("model", "show", "llama-3-70b", "--json").stdout)
    assert d["params"] == pytest.approx(70.55e9, rel=0.005)
    assert d["kv_cache_bytes_per_token_bf16"] == 2 * 80 * 8 * 128 * 2
    assert d["train_flops_per_token"] > 6 * d["params"] * 0.9


def test_hf_config_import(tmp_path: Path) -> None:
    cfg = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
    }
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    d = json.loads(run("model", "show", "--hf-config", str(f), "--json").stdout)
    assert d["params"] == pytest.approx(8.03e9, rel=0.005)  # Llama 3 8B


@pytest.mark.parametrize(
    "args, needle",
    [
        (("catalog", "show", "h10"), "did you mean"),  # unknown chip: suggestion
        (("model", "show", "llama-3-7b"), "did you mean"),  # unknown model
        (("train", "--model", "llama-3-8b", "--chip", "h100", "--chips", "0"), "--chips"),
        (
            ("train", "--model", "llama-3-8b", "--chip", "h100", "--chips", "8", "--seq-len", "-5"),
            "--seq-len",
        ),
        (("train", "--model", "llama-3-8b", "--chip", "h100", "--chips", "8", "--tokens", "nan"), "--tokens"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...], needle: str) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle.lower() in r.stderr.lower()


@pytest.mark.parametrize("content", ["{not json", "\x00\x01binary", "[1, 2]", '{"model_type": "llama"}'])
def test_malformed_hf_config(tmp_path: Path, content: str) -> None:
    f = tmp_path / "config.json"
    f.write_text(content)
    r = run("model", "show", "--hf-config", str(f))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_train_estimate_json() -> None:
    r = run(
        "train",
        "--model",
        "llama-3-8b",
        "--chip",
        "h100",
        "--chips",
        "8",
        "--global-batch",
        "64",
        "--seq-len",
        "4096",
        "--tp",
        "1",
        "--zero",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["feasible"] and 0.2 < d["mfu"] < 0.8
    assert d["step_time_s"] == pytest.approx(sum(d["time_s"].values()), rel=1e-9)


def test_train_search_json() -> None:
    r = run(
        "train",
        "--model",
        "llama-3-8b",
        "--chip",
        "h100",
        "--chips",
        "16",
        "--global-batch",
        "64",
        "--seq-len",
        "4096",
        "--search",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["layouts_evaluated"] > d["layouts_feasible"] > 0
    assert d["best"]["feasible"]


def test_serve_prices_the_stack_asked_for_and_refuses_one_it_cannot() -> None:
    """--software picks the serving stack's constants: vLLM takes KV blocks as sequences grow,
    TensorRT-LLM (the H100's default) reserves each request's prompt and output, so at 2,048 in /
    2,048 out fewer sequences fit under TensorRT-LLM. An unknown or a training stack is one line,
    exit 2."""
    base = ("serve", "--model", "llama-3-8b", "--chip", "h100", "--input-len", "2048", "--output-len", "2048")
    got = {}
    for sw in ("vllm", "tensorrt-llm"):
        r = run(*base, "--software", sw, "--json")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["software"] == sw  # the result says which stack priced it
        got[sw] = d["best"]["max_batch"]
    default = json.loads(run(*base, "--json").stdout)
    assert default["software"] == "tensorrt-llm"
    assert got["tensorrt-llm"] < got["vllm"] and default["best"]["max_batch"] == got["tensorrt-llm"]
    for bad, words in (("vlm", "Did you mean 'vllm'"), ("maxtext", "training stack")):
        r = run(*base, "--software", bad)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1

"""A scenario's jobs name the software stack they run under (``stack =``, docs/scenarios.md): the
planner prices every candidate chip under it instead of the chip's default stack, through the one
resolution the ``train`` and ``serve`` commands use (perf/params.py train_params, serve_params);
a stack of the other task or an unknown one is an error naming the file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xpuplan.errors import InputError, UnknownNameError
from xpuplan.hardware import Catalog
from xpuplan.perf.params import serve_params, train_params
from xpuplan.planner import plan
from xpuplan.planner.plan import PlanResult, load_scenario

SERVE = '[[jobs]]\nkind = "serve"\nmodel = "llama-3-8b"\nrate = 20\ninput_len = 1000\noutput_len = 200\n'
TRAIN = (
    '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-8b"\ntokens = 1e11\nseq_len = 4096\nglobal_batch = 512\n'
)
ONLY = '[candidates]\nsystems = ["aws-p5.48xlarge"]\n'


def _scenario(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "s.toml"
    f.write_text(text)
    return f


def test_jobs_carry_the_stack_they_name(tmp_path: Path, catalog: Catalog) -> None:
    f = _scenario(tmp_path, TRAIN + 'stack = "MaxText"\n' + SERVE + 'stack = "vllm"\n' + ONLY)
    train, serve = load_scenario(f, catalog).jobs
    assert train.stack == "maxtext" and serve.stack == "vllm"  # type: ignore[union-attr]
    plain = load_scenario(_scenario(tmp_path, TRAIN + SERVE + ONLY), catalog).jobs
    assert all(j.stack is None for j in plain)  # type: ignore[union-attr]


def test_the_planner_prices_each_job_under_its_stack(tmp_path: Path, catalog: Catalog) -> None:
    """On an H100 system the default serving stack is TensorRT-LLM and the default training stack
    Megatron-LM; naming vLLM and MaxText changes the constants the options are priced with (vLLM's
    fitted fixed time per layer, MaxText's remat and overlap), so the options differ."""
    h100 = catalog.chip("nvidia-h100-sxm")
    assert serve_params(h100, "vllm") != serve_params(h100)
    assert train_params(h100, "maxtext") != train_params(h100)
    base = plan(load_scenario(_scenario(tmp_path, TRAIN + SERVE + ONLY), catalog), catalog)
    named = plan(
        load_scenario(
            _scenario(tmp_path, TRAIN + 'stack = "maxtext"\n' + SERVE + 'stack = "vllm"\n' + ONLY), catalog
        ),
        catalog,
    )

    def best(r: PlanResult, kind: str) -> tuple[object, ...]:
        o = next(j.best for j in r.jobs if j.kind == kind)
        assert o is not None
        return (o.layout, o.time_s, o.cost_usd, o.chips)

    assert best(base, "pretrain") != best(named, "pretrain")
    assert best(base, "serve") != best(named, "serve")


@pytest.mark.parametrize(
    "job, line, err, words",
    [
        (SERVE, 'stack = "megatron-lm"', InputError, "is a training stack"),
        (TRAIN, 'stack = "vllm"', InputError, "is a serving stack"),
        (SERVE, 'stack = "vlm"', UnknownNameError, "vllm"),
        (SERVE, 'stack = ""', UnknownNameError, "Use a serving stack: .*vllm"),  # no close name: the list
    ],
)
def test_a_wrong_stack_is_an_error_at_its_line(
    tmp_path: Path, catalog: Catalog, job: str, line: str, err: type[Exception], words: str
) -> None:
    f = _scenario(tmp_path, job + line + "\n")
    with pytest.raises(err, match=words) as e:
        load_scenario(f, catalog)
    assert e.value.where == f"{f}:{job.count(chr(10)) + 1}"  # type: ignore[attr-defined]
    r = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "plan", str(f)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len((r.stderr + r.stdout).strip().splitlines()) == 1


def test_a_serve_jobs_kv_format_is_priced(tmp_path: Path, catalog: Catalog) -> None:
    """``kv = "fp8"`` halves the cache's bytes per token: a long-context job of bf16 weights on H100
    reads half the cache per decode step and holds twice the sequences per replica, so its best
    option serves the rate at a lower cost than with the bf16 cache (the key was once read and
    dropped). With fp8 weights the search runs an fp8 cache on fp8 chips anyway
    (search.serve_search), so the weights are bf16 here."""
    job = (
        '[[jobs]]\nkind = "serve"\nmodel = "llama-3-70b"\nrate = 20\ninput_len = 16000\noutput_len = 1000\n'
        'tpot_ms = 50\nweights = ["bf16"]\n'
    )
    sc = {
        kv: load_scenario(_scenario(tmp_path, job + f'kv = "{kv}"\n' + ONLY), catalog)
        for kv in ("bf16", "fp8")
    }
    assert sc["fp8"].jobs[0].kv == "fp8" and sc["bf16"].jobs[0].kv == "bf16"  # type: ignore[union-attr]
    best = {kv: plan(s, catalog).jobs[0].best for kv, s in sc.items()}
    b16, b8 = best["bf16"], best["fp8"]
    assert b16 is not None and b8 is not None and b16.cost_usd is not None and b8.cost_usd is not None
    assert b8.cost_usd < b16.cost_usd

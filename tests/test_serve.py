"""Serving model: Apple's on-device golden figures, properties, the KV-cache bound, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpuplan.hardware import Catalog
from xpuplan.perf import Machine, default_params
from xpuplan.perf import serve as sv
from xpuplan.search.serve_search import search_serve
from xpuplan.workload import get_model
from xpuplan.workload.job import ServeJob


def _m(catalog: Catalog, chip: str, system: str, n: int) -> Machine:
    return Machine(catalog.chip(chip), catalog.system(system), n)


def test_apple_on_device_golden(catalog: Catalog) -> None:
    """Apple ML Research, "Introducing Apple's On-Device and Server Foundation Models" (2024-06-10):
    on iPhone 15 Pro the ~3B model reaches about 0.6 ms per prompt token to first token and 30
    tokens/s generation, with weights palettised to 3.5 bits on average (claims.md, claim 8).
    Tolerance 25% (issue 5)."""
    m = _m(catalog, "apple-a17-pro", "apple-iphone-15-pro", 1)
    job = ServeJob(get_model("apple-afm-on-device"), 1000, 100, "int4", "fp16", weight_bits=3.5)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=1), m, default_params(), "static")
    ms_per_prompt_token = r.ttft[0] / 1000 * 1e3
    tokens_per_s = 1.0 / r.tpot[0]
    assert ms_per_prompt_token == pytest.approx(0.6, rel=0.25)
    assert tokens_per_s == pytest.approx(30.0, rel=0.25)


def test_decode_is_memory_bound_at_batch_one(catalog: Catalog) -> None:
    m = _m(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 1)
    job = ServeJob(get_model("llama-3-8b"), 128, 128)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=1), m, default_params(), "static")
    # every weight is read once per step, except the untied input embedding (a row lookup)
    read = job.model.params() - job.model.vocab * job.model.hidden
    bound = read * 2.0 / (m.chip.mem_bw * m.chip.efficiency.memory)
    assert r.tpot[0] >= bound  # at least the weight read
    assert r.tpot[0] < 1.3 * bound


_cfg = st.tuples(st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 4, 32, 128]))


@settings(max_examples=40, deadline=None)
@given(cfg=_cfg, ctx=st.integers(64, 8000), extra=st.integers(1, 8000))
def test_longer_context_never_lowers_tpot(
    catalog: Catalog, cfg: tuple[int, int], ctx: int, extra: int
) -> None:
    m = _m(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 8)
    tp, b = cfg
    c = sv.ServeConfig.one(tp=tp, batch=b)
    short = sv.evaluate_serve(ServeJob(get_model("llama-3-70b"), ctx, 100), c, m, default_params(), "static")
    long = sv.evaluate_serve(
        ServeJob(get_model("llama-3-70b"), ctx + extra, 100), c, m, default_params(), "static"
    )
    assert long.tpot[0] >= short.tpot[0]


@settings(max_examples=40, deadline=None)
@given(cfg=_cfg, scale=st.floats(1.0, 4.0))
def test_more_bandwidth_never_raises_decode_time(
    catalog: Catalog, cfg: tuple[int, int], scale: float
) -> None:
    m = _m(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 8)
    tp, b = cfg
    c = sv.ServeConfig.one(tp=tp, batch=b)
    job = ServeJob(get_model("llama-3-70b"), 1000, 200)
    t0 = sv.evaluate_serve(job, c, m, default_params(), "continuous").tpot[0]
    faster = replace(m, chip=replace(m.chip, mem_bw=m.chip.mem_bw * scale))
    assert sv.evaluate_serve(job, c, faster, default_params(), "continuous").tpot[0] <= t0


@pytest.mark.parametrize("mode", ["static", "continuous"])
def test_chosen_batch_never_exceeds_kv_capacity(catalog: Catalog, mode: str) -> None:
    m = _m(catalog, "nvidia-a100-80gb", "nvidia-dgx-a100", 8)
    job = ServeJob(get_model("llama-2-70b"), 4000, 1000)
    res = search_serve(job, m, ("bf16", "int8"), mode)
    assert res.best is not None
    for p in [res.best, *res.curve]:
        assert p.batch <= p.max_batch
    # and the bound binds: the largest power of two in the search that fits is chosen or smaller
    assert res.best.max_batch < 4096


def test_unsupported_format_is_refused_with_a_reason(catalog: Catalog) -> None:
    m = _m(catalog, "nvidia-a100-80gb", "nvidia-dgx-a100", 8)
    res = search_serve(ServeJob(get_model("llama-3-8b"), 100, 100, "fp4"), m, ("fp4",))
    assert res.best is None
    assert any("number format" in k for k in res.reasons)


def test_rate_target_picks_a_configuration_that_sustains_it(catalog: Catalog) -> None:
    m = _m(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 8)
    job = ServeJob(get_model("llama-3-8b"), 1000, 250)
    res = search_serve(job, m, ("bf16",), "continuous", rate=20.0)
    assert res.best is not None and res.best.requests_per_s >= 20.0
    impossible = search_serve(job, m, ("bf16",), "continuous", rate=1e7)
    assert impossible.best is None


def test_serve_cli_json() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "xpuplan.cli",
            "serve",
            "--model",
            "llama-3-70b",
            "--chip",
            "h100",
            "--chips",
            "8",
            "--ttft-ms",
            "1000",
            "--tpot-ms",
            "50",
            "--weights",
            "bf16,fp8",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["best"]["ttft_s"] <= 1.0 and d["best"]["tpot_s"] <= 0.05
    assert d["usd_per_million_output_tokens"] > 0 and d["joules_per_output_token"] > 0
    assert np.all(np.diff([p["batch"] for p in d["latency_throughput_curve"]]) > 0)

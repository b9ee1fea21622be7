"""A finite offline run (perf/serve_run.py) against hand schedules: list scheduling of requests
onto in-flight slots (Graham 1969), the drain of the last requests, the waves of equal lengths,
and the validator reading a run's size and lengths from a case."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace

import numpy as np
import pytest

from handsized import PARAMS, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.perf import serve as sv
from xpuplan.perf.serve_run import GOLDEN, quantile_lengths, run_time, schedule
from xpuplan.workload.job import ServeJob

V = importlib.import_module("xpuplan.validation.validate")


def test_list_schedule_by_hand() -> None:
    """Two slots, requests of 3, 1 and 2 tokens: the first two start at once; the third takes the
    slot the 1-token request frees at step 1 and ends with the first at step 3."""
    s = schedule(2, np.array([3.0, 1.0, 2.0]))
    assert list(s.steps) == [1.0, 2.0]
    assert list(s.live) == [2.0, 2.0]
    assert list(s.admitted) == [2.0, 1.0]
    # mean output position at each stretch's middle: (0.5 + 0.5)/2, then ((2 - 0) + (2 - 1))/2
    assert list(s.position) == pytest.approx([0.5, 1.5])
    assert s.tokens == 6.0


def test_equal_lengths_run_in_waves() -> None:
    """Five requests of 4 tokens through two slots: waves of 2, 2 and 1, four steps each."""
    s = schedule(2, np.full(5, 4.0))
    assert list(s.steps) == [4.0, 4.0, 4.0]
    assert list(s.live) == [2.0, 2.0, 1.0]
    assert list(s.admitted) == [2.0, 2.0, 1.0]
    assert list(s.position) == pytest.approx([2.0, 2.0, 2.0])
    assert s.tokens == 20.0


def test_the_drain_runs_the_longest_request_alone() -> None:
    """One long request among short ones: after the queue empties it runs by itself."""
    s = schedule(2, np.array([10.0, 1.0, 1.0, 1.0]))
    # slot A: 0-10; slot B: 0-1, 1-2, 2-3; then A alone from 3 to 10
    assert list(s.steps) == [1.0, 1.0, 1.0, 7.0]
    assert list(s.live) == [2.0, 2.0, 2.0, 1.0]
    assert s.position[-1] == pytest.approx(6.5)  # the long one's position at step 6.5


def test_golden_ratio_quantiles_by_hand() -> None:
    """A uniform 0..100 distribution read at frac(i·φ), i = 1..4: 61.8, 23.6, 85.4, 47.2."""
    got = quantile_lengths(np.arange(101.0), 4)
    want = [round(100 * math.fmod(i * GOLDEN, 1.0)) for i in range(1, 5)]
    assert list(got) == want == [62, 24, 85, 47]


def test_full_waves_give_the_steady_state(catalog: Catalog) -> None:
    """Waves of B equal requests: every stretch decodes B at the mean position O/2 and prefills
    its B prompts over its O steps, B·I/O per step: the continuous steady state, exactly."""
    m = machine(catalog, 1)
    I, O, B = 512, 64, 8
    job = ServeJob(tiny(), I, O)
    cfg = sv.ServeConfig.one(batch=B)
    steady = sv.evaluate_serve(job, cfg, m, PARAMS, "continuous")
    segs = schedule(B, np.full(3 * B, float(O)))
    tps = segs.tokens / run_time(job, cfg, m, PARAMS, segs)
    assert tps == pytest.approx(float(steady.output_tokens_per_s[0]), rel=1e-12)


def test_a_partial_last_wave_by_hand(catalog: Catalog) -> None:
    """2B + 1 requests: two full waves, then one request alone for O steps."""
    m = machine(catalog, 1)
    I, O, B = 512, 64, 8
    job = ServeJob(tiny(), I, O)
    cfg = sv.ServeConfig.one(batch=B)
    segs = schedule(B, np.full(2 * B + 1, float(O)))

    def step(b: int) -> float:
        one = sv.ServeConfig.one(batch=b)
        ctx, pre = np.array([I + O / 2.0]), np.array([b * I / O])
        return float(sv._step(job.model, job, m, one, np.array([float(b)]), ctx, pre, I, PARAMS)[0])

    want = 2 * O * step(B) + O * step(1)
    assert run_time(job, cfg, m, PARAMS, segs) == pytest.approx(want, rel=1e-12)
    assert step(1) > step(B) / B  # a lone request pays the weight read for one token


def _offline_case(**setup: object) -> dict[str, object]:
    return {
        "id": "t-deepseek-offline",
        "task": "infer",
        "source": {"title": "MLPerf Inference v5.1 Datacenter, closed division (test)"},
        "model": {"name": "DeepSeek-R1"},
        "inference_setup": {"scenario": "Offline", **setup},
    }


def test_the_validator_prices_a_stated_run_with_the_datasets_lengths() -> None:
    """A stated number of MLPerf Offline samples: the dataset's percentiles, scaled to the mean
    output, through the slots; said in the assumptions."""
    assumed: list[str] = []
    segs = V._finite_run(
        _offline_case(num_requests=1000), "continuous", "output_tokens_per_s", 3886, 64, 2, assumed
    )
    assert segs is not None
    assert segs.tokens == pytest.approx(500 * 3886, rel=0.01)  # 500 per replica at the mean
    assert "a finite run: 1,000 requests, 500 per replica through 64 slots" in assumed[0]
    assert segs.live.max() == 64 and segs.live.min() == 1  # full, then the drain to the last one


def test_no_finite_run_without_its_size_or_lengths() -> None:
    """No stated size, a latency metric, a served scenario or a dataset without percentiles:
    the steady state."""
    none: list[str] = []
    assert V._finite_run(_offline_case(), "continuous", "output_tokens_per_s", 3886, 64, 1, none) is None
    case = _offline_case(num_requests=100)
    assert V._finite_run(case, "continuous", "tpot_ms", 3886, 64, 1, none) is None
    assert V._finite_run(case, "static", "output_tokens_per_s", 3886, 64, 1, none) is None
    llama2 = {**case, "model": {"name": "Llama-2-70B"}}  # its table has no generated lengths
    assert V._finite_run(llama2, "continuous", "output_tokens_per_s", 293, 64, 1, none) is None
    assert none == []
    fixed = {"inference_setup": {"num_requests": 10, "fixed_lengths": True}}
    segs = V._finite_run(fixed, "continuous", "output_tokens_per_s", 100, 4, 1, none)
    assert segs is not None and list(segs.live) == [4.0, 4.0, 2.0] and segs.tokens == 1000.0


def test_a_static_session_allocates_its_cache_exactly(catalog: Catalog) -> None:
    """TensorRT-LLM v0.6.1's gptSessionBenchmark row, Llama 2 7B fp16 on one A100 80GB, batch 60 of
    128 + 2048 tokens, by hand: the cache is 60 · 2176 · (2·32·32·128·2 B) = 68.5 GB; the weights
    6.74e9 · 2 B; 80 GiB less the default 2 GiB leaves room for it only without the paged pool's 6%
    headroom (GptSession without a paged KV cache allocates [batch, 2, heads, max seq, head dim])."""
    from xpuplan.hardware.stacks import get_stack, stack_for
    from xpuplan.perf.params import PerfParams

    sw = "TensorRT-LLM v0.6.1 (v0.5 for the low-latency tables), C++ gptSessionBenchmark, static batching"
    assert stack_for(sw, "infer", "nvidia").id == "tensorrt-llm-session"
    assert stack_for("TensorRT-LLM 1.0 trtllm-bench", "infer", "nvidia").id == "tensorrt-llm"
    session = replace(PerfParams(), **get_stack("tensorrt-llm-session").params)
    assert session.reserved_fraction == 0.0 and session.reserved_gib == 2.0

    chip = catalog.chip("nvidia-a100-80gb")
    system = next(s for s in catalog.systems_for_chip(chip.id) if s.kind != "device")
    from xpuplan.perf import Machine
    from xpuplan.workload import get_model

    m = Machine(chip, system, 1)
    job = ServeJob(get_model("llama-2-7b"), 128, 2048)
    kv_seq = 2176 * 2 * 32 * 32 * 128 * 2
    w = job.model.params() * 2
    act = (128 * 4096 * 2 * 4 + 32000 * 4) / 1
    for params, fits in ((session, True), (PerfParams(), False)):
        r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=60), m, params, "static")
        free = (
            chip.mem_bytes - w - act - params.reserved_gib * 2**30 - params.reserved_fraction * chip.mem_bytes
        )
        assert r.max_batch[0] == math.floor(free / kv_seq)
        assert bool(r.max_batch[0] >= 60) is fits

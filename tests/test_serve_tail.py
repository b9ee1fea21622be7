"""The TPOT tail under Poisson arrivals (perf/serve_tail.py), against hand computations."""

import math

import numpy as np
import pytest

from xpuplan.hardware import Catalog
from xpuplan.perf.serve_tail import normal_quantile, prefill_share_tail, tpot_at_percentile


def test_normal_quantile_at_99_is_2_326() -> None:
    # tables of the standard normal: P(Z <= 2.3263) = 0.99, P(Z <= 1.6449) = 0.95
    assert normal_quantile(99) == pytest.approx(2.3263, abs=1e-4)
    assert normal_quantile(95) == pytest.approx(1.6449, abs=1e-4)
    assert normal_quantile(50) == pytest.approx(0.0, abs=1e-12)


def test_prefill_share_tail_by_hand() -> None:
    # 64 requests in flight: N ~ Poisson(64) arrivals while one decodes, sd 8; equal prompts (cv 0)
    # p99: 1 + 2.3263 * 8 / 64 = 1.29079
    assert float(prefill_share_tail(np.array([64.0]), 99)[0]) == pytest.approx(1.29079, rel=1e-4)
    # prompts with cv 0.5: variance x (1 + 0.25): 1 + 2.3263 * sqrt(1.25 / 64) = 1.32511
    assert float(prefill_share_tail(np.array([64.0]), 99, 0.5)[0]) == pytest.approx(1.32511, rel=1e-4)
    # a larger batch averages more arrivals: the tail shrinks as 1/sqrt(B)
    b = prefill_share_tail(np.array([16.0, 256.0]), 99)
    assert (b[0] - 1.0) / (b[1] - 1.0) == pytest.approx(4.0, rel=1e-9)


def test_tpot_at_percentile_by_hand() -> None:
    # mean step 30 ms of which 20 ms is decode: the 10 ms prefill share grows by 29.079% at p99
    t = tpot_at_percentile(np.array([0.030]), np.array([0.020]), np.array([64.0]), 99)
    assert float(t[0]) == pytest.approx(0.020 + 0.010 * 1.29079, rel=1e-5)
    # no prefill share (decode only): no tail
    t0 = tpot_at_percentile(np.array([0.020]), np.array([0.020]), np.array([64.0]), 99)
    assert float(t0[0]) == pytest.approx(0.020)


def test_compound_poisson_p99_matches_a_simulation() -> None:
    # the normal approximation against the exact process: Poisson(B) prompts with lengths of cv 0.5
    rng = np.random.default_rng(7)
    b, mean_len, cv = 64, 300.0, 0.5
    k = 1.0 / cv**2  # gamma lengths with that mean and cv
    n = rng.poisson(b, 40_000)
    work = np.array([rng.gamma(k, mean_len / k, int(x)).sum() for x in n])
    simulated = float(np.quantile(work, 0.99)) / (b * mean_len)
    predicted = float(prefill_share_tail(np.array([float(b)]), 99, cv)[0])
    assert math.isclose(simulated, predicted, rel_tol=0.03)


def _mi300x_llama2_70b():  # type: ignore[no-untyped-def]
    from xpuplan.hardware.catalog import default_catalog
    from xpuplan.perf.estimate import machine
    from xpuplan.perf.params import default_params
    from xpuplan.workload.job import ServeJob
    from xpuplan.workload.library import get_model

    job = ServeJob(get_model("llama-2-70b"), 300, 293, "fp8", "fp8")
    return job, machine("amd-mi300x", 1, default_catalog()), default_params()


def test_search_bounds_the_p99_tpot_not_the_mean() -> None:
    # near the compute knee the mean step carries a prefill share; a TPOT limit between the mean
    # and the p99 of a batch admits it for the mean and refuses it at p99
    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import decode_step
    from xpuplan.search.serve_search import search_serve

    job, m, params = _mi300x_llama2_70b()
    batches = np.array([64, 128, 256])
    cfg = sv.ServeConfig(np.ones(3, int), np.ones(3, int), np.ones(3, int), batches)
    res = sv.evaluate_serve(job, cfg, m, params, "continuous")
    p99 = tpot_at_percentile(res.tpot, decode_step(job, cfg, m, params), cfg.batch, 99)
    k = int(np.argmax(p99 > res.tpot * 1.01))  # the first batch with a visible tail
    assert p99[k] > res.tpot[k] * 1.01
    limit = float(res.tpot[k] + p99[k]) / 2.0
    fixed = {"tp": 1, "max_batch": int(batches[k])}
    mean_only = search_serve(job, m, ("fp8",), "continuous", None, limit, fixed=fixed, params=params)
    at_p99 = search_serve(
        job, m, ("fp8",), "continuous", None, limit, fixed=fixed, params=params, percentile=99
    )
    assert mean_only.best is not None and mean_only.best.batch == batches[k]
    assert at_p99.best is not None and at_p99.best.batch < batches[k]


def test_poisson_quantile_by_hand() -> None:
    # lam 0.22: P(0) = e^-0.22 = 0.8025, P(<=1) = 0.9791, P(<=2) = 0.9985 -> p99 is 2
    # lam 4: P(<=8) = 0.9786, P(<=9) = 0.9919 -> p99 is 9; lam 0: always 0
    from xpuplan.perf.serve_tail import poisson_quantile

    q = poisson_quantile(np.array([0.22, 4.0, 0.0]), 99)
    assert q.tolist() == [2.0, 9.0, 0.0]
    assert poisson_quantile(np.array([0.22]), 97).tolist() == [1.0]  # 0.9791 >= 0.97
    # large lam: close to the normal quantile lam + 2.326·sqrt(lam) (+ ~0.7 for the skew)
    big = float(poisson_quantile(np.array([400.0]), 99)[0])
    assert 400 + 2.326 * 20 <= big <= 400 + 2.326 * 20 + 2


def test_ttft_at_percentile_composes_the_wait_and_the_next_step() -> None:
    # batch 64, output 293: 64/293 = 0.218 arrivals per step, p99 2 others with the tagged prompt;
    # TTFT_p99 = 0.99·(mean step) + one step of 64 decodes and 3 prompts of 300 tokens
    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import ttft_at_percentile

    job, m, params = _mi300x_llama2_70b()
    cfg = sv.ServeConfig(np.array([1]), np.array([1]), np.array([1]), np.array([64]))
    res = sv.evaluate_serve(job, cfg, m, params, "continuous")
    nxt = sv._step(
        job.model, job, m, cfg, np.array([64.0]), np.array([300 + 293 / 2]), np.array([900.0]), 300, params
    )
    got = ttft_at_percentile(job, cfg, m, params, res.tpot, 99)
    assert float(got[0]) == pytest.approx(0.99 * float(res.tpot[0]) + float(nxt[0]), rel=1e-9)
    # more than the mean model's one prefill plus a step: three prompts share the step
    assert float(got[0]) > float(res.ttft[0]) * 0.99


def test_scheduling_window_by_hand() -> None:
    # vLLM multi-step scheduling, 8 steps of 30 ms, batch 64, output 300: an arrival waits out
    # 0.99·8·0.030 = 0.2376 s at p99; 8·64/300 = 1.7067 arrivals per window, P(N<=4) = 0.9701,
    # P(N<=5) = 0.9920 -> 5 others. One step per call: 0.99·0.030 and lam 0.2133 -> P(<=1) =
    # 0.9802, P(<=2) = 0.9986 -> 2 others.
    from xpuplan.perf.serve_tail import scheduling_window

    wait, others = scheduling_window(np.array([0.030]), np.array([64.0]), 300.0, 8.0, 99)
    assert float(wait[0]) == pytest.approx(0.2376, rel=1e-9)
    assert others.tolist() == [5.0]
    wait1, others1 = scheduling_window(np.array([0.030]), np.array([64.0]), 300.0, 1.0, 99)
    assert float(wait1[0]) == pytest.approx(0.0297, rel=1e-9)
    assert others1.tolist() == [2.0]


def test_ttft_at_percentile_waits_out_the_multi_step_window() -> None:
    # 8 scheduler steps at batch 64, output 293: lam = 8·64/293 = 1.747 -> p99 5 others, so the
    # next step prefills 6 prompts of 300 tokens after 0.99·8 mean steps
    from dataclasses import replace

    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import ttft_at_percentile

    job, m, params = _mi300x_llama2_70b()
    p8 = replace(params, scheduler_steps=8.0)
    cfg = sv.ServeConfig(np.array([1]), np.array([1]), np.array([1]), np.array([64]))
    res = sv.evaluate_serve(job, cfg, m, p8, "continuous")
    nxt = sv._step(
        job.model, job, m, cfg, np.array([64.0]), np.array([300 + 293 / 2]), np.array([1800.0]), 300, p8
    )
    got = ttft_at_percentile(job, cfg, m, p8, res.tpot, 99)
    assert float(got[0]) == pytest.approx(0.99 * 8 * float(res.tpot[0]) + float(nxt[0]), rel=1e-9)
    assert float(got[0]) > float(ttft_at_percentile(job, cfg, m, params, res.tpot, 99)[0])


def test_prefill_chunk_and_stability_by_hand() -> None:
    # TensorRT-LLM max_num_tokens 768 (B200 MLPerf v5.1 Interactive harness): 255 decodes leave 513
    # prompt tokens a step; no budget (0): unbounded
    from xpuplan.perf.serve_tail import prefill_chunk, prefill_stable

    assert prefill_chunk(np.array([255.0, 800.0]), 768).tolist() == [513.0, 0.0]
    assert np.isinf(prefill_chunk(np.array([255.0]), 0)).all()
    # prompts of 300 tokens, outputs of 272: B·300/272 prompt tokens arrive a step. B = 365: 402.57
    # <= 768 - 365 = 403 fits; B = 366: 403.68 > 402 does not -- the budget caps the concurrency
    assert prefill_stable(np.array([365.0, 366.0]), 300, 272, 768).tolist() == [True, False]
    assert prefill_stable(np.array([4096.0]), 300, 272, 0).tolist() == [True]


def _llama3_8b_32k(budget: float, output: int = 512):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from xpuplan.hardware.catalog import default_catalog
    from xpuplan.perf import serve as sv
    from xpuplan.perf.estimate import machine
    from xpuplan.perf.params import default_params
    from xpuplan.workload.job import ServeJob
    from xpuplan.workload.library import get_model

    job = ServeJob(get_model("llama-3-8b"), 32768, output, "bf16", "bf16")
    m = machine("nvidia-h100-sxm", 1, default_catalog())
    params = replace(default_params(), max_num_batched_tokens=budget)
    cfg = sv.ServeConfig(np.array([1]), np.array([1]), np.array([1]), np.array([16]))
    return job, m, params, cfg


def test_ttft_of_a_32k_prompt_is_its_chunks_times_the_step() -> None:
    # 32,768-token prompts, 16 in flight, outputs of 512: 16/512 = 0.03125 arrivals a step, p99 1
    # other (P(0) = 0.9692, P(<=1) = 0.9995), so 65,536 prompt tokens lie ahead of the first
    # token. Budget 2,048: 2,048 - 16 = 2,032 a step -> ceil(65,536 / 2,032) = 33 steps, each with
    # 16 decodes and 65,536 / 33 = 1,985.9 prompt tokens
    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import ttft_at_percentile

    job, m, params, cfg = _llama3_8b_32k(2048)
    t_mean = sv.evaluate_serve(job, cfg, m, params, "continuous").tpot
    ctx = np.array([32768 + 256.0])
    step = sv._step(job.model, job, m, cfg, np.array([16.0]), ctx, np.array([65536 / 33]), 32768, params)
    got = ttft_at_percentile(job, cfg, m, params, t_mean, 99)
    assert float(got[0]) == pytest.approx(0.99 * float(t_mean[0]) + 33 * float(step[0]), rel=1e-9)
    # no budget: one step holds both prompts whole; chunking re-reads the weights 33 times
    job0, m0, p0, cfg0 = _llama3_8b_32k(0)
    whole = sv._step(job0.model, job0, m0, cfg0, np.array([16.0]), ctx, np.array([65536.0]), 32768, p0)
    got0 = ttft_at_percentile(job0, cfg0, m0, p0, t_mean, 99)
    assert float(got0[0]) == pytest.approx(0.99 * float(t_mean[0]) + float(whole[0]), rel=1e-9)
    assert float(got[0]) > float(got0[0])


def test_chunked_prefill_bounds_the_tpot_tail_of_32k_prompts() -> None:
    # outputs of 300: 16·32,768/300 = 1,747.6 prompt tokens a step on average, 1 + 2.326/4 = 1.58x
    # that at p99 (2,764) -- more than the 2,032 a 2,048-token budget leaves beside 16 decodes. The
    # p99 TPOT is at most one step at the full budget; without a budget the tail of whole 32k
    # prompts is larger than that step
    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import decode_step, tpot_tail

    job, m, params, cfg = _llama3_8b_32k(2048, 300)
    t_mean = sv.evaluate_serve(job, cfg, m, params, "continuous").tpot
    ctx = np.array([32768 + 150.0])
    full = sv._step(job.model, job, m, cfg, np.array([16.0]), ctx, np.array([2032.0]), 32768, params)
    unbounded = tpot_at_percentile(t_mean, decode_step(job, cfg, m, params), cfg.batch, 99)
    assert float(unbounded[0]) > float(full[0]) > float(t_mean[0])
    got = tpot_tail(job, cfg, m, params, t_mean, 99)
    assert float(got[0]) == pytest.approx(float(full[0]), rel=1e-12)
    job0, m0, p0, cfg0 = _llama3_8b_32k(0, 300)
    assert float(tpot_tail(job0, cfg0, m0, p0, t_mean, 99)[0]) == pytest.approx(
        float(unbounded[0]), rel=1e-12
    )


def test_an_unstable_prefill_queue_has_no_finite_ttft() -> None:
    # budget 2,048 with 16 decodes: 16·32,768/512 = 1,024 prompt tokens a step fit in 2,032; with
    # 256-token outputs 2,048 do not, so the queue grows and TTFT is unbounded
    from dataclasses import replace

    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import ttft_at_percentile

    job, m, params, cfg = _llama3_8b_32k(2048)
    short = replace(job, output_len=256)
    t_mean = sv.evaluate_serve(short, cfg, m, params, "continuous").tpot
    assert np.isinf(ttft_at_percentile(short, cfg, m, params, t_mean, 99)).all()
    assert np.isfinite(ttft_at_percentile(job, cfg, m, params, t_mean, 99)).all()


def test_prefill_first_steps_stall_the_decodes_by_hand() -> None:
    # vLLM V0 without chunked prefill: a step runs the prompts or the decodes. 16 in flight,
    # outputs of 512: lam = 16/512 = 0.03125 prompts a step, P(N >= 1) = 1 - e^-0.03125 =
    # 0.030767, E[N | N >= 1] = 0.03125 / 0.030767 = 1.01570 prompts of 32,768 tokens. Mean TPOT =
    # t_dec(16) + 0.030767 · t_pre(1.01570 · 32,768)
    from dataclasses import replace

    from xpuplan.perf import serve as sv

    job, m, params, cfg = _llama3_8b_32k(0)
    p0 = replace(params, chunked_prefill=0.0)
    z = np.array([0.0])
    t_dec = sv._step(job.model, job, m, cfg, np.array([16.0]), np.array([32768 + 256.0]), z, 32768, p0)
    p_any = 1.0 - math.exp(-0.03125)
    assert p_any == pytest.approx(0.030767, rel=1e-4)
    t_pre = sv._step(job.model, job, m, cfg, z, z, np.array([0.03125 / p_any * 32768]), 32768, p0)
    got = sv.evaluate_serve(job, cfg, m, p0, "continuous").tpot
    assert float(got[0]) == pytest.approx(float(t_dec[0]) + p_any * float(t_pre[0]), rel=1e-12)
    # mixed steps (chunked prefill) hide part of the prompt work under the decodes' weight reads
    mixed = sv.evaluate_serve(job, cfg, m, params, "continuous").tpot
    assert float(got[0]) > float(mixed[0])
    # and the tagged prompt's TTFT step carries no decodes: p99 1 other, so 2 prompts alone
    from xpuplan.perf.serve_tail import ttft_at_percentile

    alone = sv._step(job.model, job, m, cfg, z, np.array([32768 + 256.0]), np.array([65536.0]), 32768, p0)
    want = 0.99 * float(got[0]) + float(alone[0])
    assert float(ttft_at_percentile(job, cfg, m, p0, got, 99)[0]) == pytest.approx(want, rel=1e-12)


def test_tail_ttft_steps_run_with_the_callers_params(catalog: Catalog) -> None:
    """The tail TTFT's prefill steps are priced with the stack's own PerfParams. One request in
    flight (B = 1) with 1,000 output tokens: Poisson(1/1000) arrivals per step put no other prompt
    ahead at p99 (P(N = 0) = 0.999), so the 512-token prompt runs in ceil(512 / (129 - 1)) = 4
    chunks under a 129-token budget (the decode takes one token of it). Two TP ranks per chip
    (Neuron) make every TP all-reduce a 2-rank tree even at TP 1: 2·log2(2) = 2 latency steps of
    1 µs, 2 all-reduces per layer, 4 layers: 16 µs more per step (perf/serve.py
    _rank_hops_latency), 4 × 16 = 64 µs more TTFT; the wait for the step in flight (0.99 × t_mean)
    does not change."""
    from dataclasses import replace

    from handsized import PARAMS, UP_LAT, L, machine, tiny
    from xpuplan.perf import serve as sv
    from xpuplan.perf.serve_tail import ttft_at_percentile
    from xpuplan.workload.job import ServeJob

    job = ServeJob(tiny(), 512, 1000)
    cfg = sv.ServeConfig.one(tp=1, batch=1)
    m = machine(catalog, 1)
    one = replace(PARAMS, max_num_batched_tokens=129.0)
    two = replace(one, tp_ranks_per_chip=2.0)
    t_mean = np.array([0.010])
    base = ttft_at_percentile(job, cfg, m, one, t_mean, 99)
    more = ttft_at_percentile(job, cfg, m, two, t_mean, 99)
    assert math.isfinite(float(base[0])) and float(base[0]) > 0.99 * 0.010
    assert float(more[0] - base[0]) == pytest.approx(4 * (2 * L * 2 * UP_LAT), rel=1e-9)

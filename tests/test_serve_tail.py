"""The TPOT tail under Poisson arrivals (perf/serve_tail.py), against hand computations."""

import math

import numpy as np
import pytest

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

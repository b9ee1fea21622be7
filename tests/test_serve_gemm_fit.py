"""The serving engine's GEMM fraction (``Efficiency.matmul_serve``) and which parameter a serving
case informs (``validation.fit.binding_param``), against hand computations.

A large-batch decode step (MLPerf Offline on an 8-GPU node) spends most of its time in GEMMs: its
throughput is nearly proportional to the GEMM rate and barely moves with memory bandwidth, so
such a case must inform a GEMM fraction, not the memory fraction (which it would otherwise drag to
the ends of its range: MI325X's fitted memory fraction was 1.0 and B200's 0.18 before this).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from handsized import PARAMS, L, V, a, d, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.perf import Machine
from xpuplan.perf import serve as sv
from xpuplan.validation import fit as F
from xpuplan.validation.validate import CaseResult, Prediction
from xpuplan.workload.job import ServeJob


def _with(m: Machine, **kw: float | None) -> Machine:
    return replace(m, chip=replace(m.chip, efficiency=replace(m.chip.efficiency, **kw)))


def test_serving_gemms_run_at_the_serving_fraction(catalog: Catalog) -> None:
    """Prefill of 2048 tokens on the hand-sized model: with ``matmul_serve = 0.25`` the GEMMs run
    at 0.25 of peak instead of the large-GEMM 0.5; attention (its own fraction, 0.25) is unchanged."""
    m = machine(catalog, 1)
    I = 2048
    job = ServeJob(tiny(), I, 8)
    cfg = sv.ServeConfig.one(batch=1)
    peak = m.chip.peak("bf16") or math.nan
    body = L * (12 * h * h + 2 * h)
    flops = 2 * body * I + 2 * V * h
    attn = I * 2 * 2 * L * a * d * (I + 1) / 2 / (peak * 0.25)
    base = sv.evaluate_serve(job, cfg, m, PARAMS, "static").ttft[0]
    assert base == pytest.approx(flops / (peak * 0.5) + attn, rel=1e-12)
    served = sv.evaluate_serve(job, cfg, _with(m, matmul_serve=0.25), PARAMS, "static").ttft[0]
    assert served == pytest.approx(flops / (peak * 0.25) + attn, rel=1e-12)


def test_serving_fraction_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="matmul_serve"):
        Efficiency(matmul_serve=1.5)


# ---- which parameter a decode case informs ---------------------------------------------------------


def _pred(evaluate: object, chip: str = "nvidia-h100-sxm", param: str = "memory") -> Prediction:
    r = CaseResult("c", "infer", "nvidia", chip, "output_tokens_per_s", 1.0, 1.0, source="s", param=param)
    return Prediction(r, evaluate)  # type: ignore[arg-type]


def _step(gemm_s: float, mem_s: float):  # type: ignore[no-untyped-def]
    """Throughput of a step of ``gemm_s`` seconds at a GEMM fraction of 0.5 (H100 serving in fp8:
    the gpu prior of matmul_fp8) plus ``mem_s`` at a memory fraction of 0.7 (the gpu prior)."""

    def evaluate(e: Efficiency) -> float:
        return 1.0 / (gemm_s * 0.5 / (e.matmul_fp8 or e.matmul) + mem_s * 0.7 / e.memory)

    return evaluate


def test_a_gemm_bound_decode_case_informs_the_serving_gemm_fraction(catalog: Catalog) -> None:
    """Elasticity of y = 1/(g0·0.5/g + m0·0.7/mem) to g at the priors is g0/(g0+m0): 3 s of GEMMs
    and 1 s of reads give 0.75 against 0.25 for memory, so the case informs matmul_serve; the
    reverse step (1 s, 3 s) stays with memory."""
    pri = F.Priors.load()
    assert F.binding_param(_pred(_step(3.0, 1.0)), catalog, pri).result.param == F.SERVE
    assert F.binding_param(_pred(_step(1.0, 3.0)), catalog, pri).result.param == "memory"


def test_binding_is_judged_at_the_priors_not_the_record(catalog: Catalog) -> None:
    """The record's values (an earlier fit) must not decide. At a record of fp8 0.9 and memory 0.1
    the step ``_step(1.2, 1.0)`` is 1.2·0.5/0.9 = 0.67 s of GEMMs and 1.0·0.7/0.1 = 7 s of reads
    (memory-bound); at the priors (0.5, 0.7) it is 1.2 s and 1.0 s: GEMM-bound, matmul_serve."""
    cat = catalog.with_chip(
        replace(
            catalog.chips["nvidia-h100-sxm"],
            efficiency=replace(catalog.chips["nvidia-h100-sxm"].efficiency, memory=0.1, matmul_fp8=0.9),
        )
    )
    pri = F.Priors.load()
    assert F.binding_param(_pred(_step(1.2, 1.0)), cat, pri).result.param == F.SERVE
    assert F.binding_param(_pred(_step(1.0, 1.2)), cat, pri).result.param == "memory"


def test_only_decode_cases_are_reclassified(catalog: Catalog) -> None:
    pri = F.Priors.load()
    gemm_bound = _step(3.0, 1.0)
    got = F.binding_param(_pred(gemm_bound, param="matmul_fp8"), catalog, pri).result
    assert (got.param, got.not_fitted) == ("matmul_fp8", None)
    train = _pred(gemm_bound, param="matmul_fp8")
    train = replace(train, result=replace(train.result, task="train"))
    got = F.binding_param(train, catalog, pri).result
    assert (got.param, got.not_fitted) == ("matmul_fp8", None)


def _elasticity(evaluate, field: str, base: float) -> float:  # type: ignore[no-untyped-def]
    e = Efficiency(matmul=0.6, matmul_fp8=0.5, memory=0.7)
    return math.log(evaluate(replace(e, **{field: base * 1.1})) / evaluate(e)) / math.log(1.1)


def test_a_case_its_parameter_barely_moves_informs_nothing(catalog: Catalog) -> None:
    """A training step of 0.2 s of GEMMs (at the fp8 prior 0.5) and 0.8 s of something no fitted
    fraction prices (a host-bound MoE step): elasticity 0.2 / (0.2 + 0.8) ~ 0.2 < 0.25, so the
    case is predicted but fits nothing, and says why; at 0.3 s / 0.7 s (~0.3) it informs
    matmul_fp8."""
    pri = F.Priors.load()

    def step(g: float, other: float):  # type: ignore[no-untyped-def]
        return lambda e: 1.0 / (g * 0.5 / (e.matmul_fp8 or e.matmul) + other)

    weak, strong = step(0.2, 0.8), step(0.3, 0.7)
    assert _elasticity(weak, "matmul_fp8", 0.5) == pytest.approx(0.2 / 1.0, abs=0.01)
    p = _pred(weak, param="matmul_fp8")
    got = F.binding_param(replace(p, result=replace(p.result, task="train")), catalog, pri).result
    assert got.not_fitted is not None and "elasticity 0.19" in got.not_fitted and got.weak
    p = _pred(strong, param="matmul_fp8")
    assert (
        F.binding_param(replace(p, result=replace(p.result, task="train")), catalog, pri).result.not_fitted
        is None
    )


def test_a_decode_case_bound_by_neither_informs_nothing(catalog: Catalog) -> None:
    """0.1 s of GEMMs, 0.1 s of reads and 0.8 s of attention (MLA decode): elasticities ~0.1
    each, so neither memory nor matmul_serve is fitted to it."""
    pri = F.Priors.load()

    def step(e: Efficiency) -> float:
        return 1.0 / (0.1 * 0.5 / (e.matmul_fp8 or e.matmul) + 0.1 * 0.7 / e.memory + 0.8)

    got = F.binding_param(_pred(step), catalog, pri).result
    assert got.param == "memory" and got.not_fitted is not None and got.weak


def test_an_fp8_prefill_case_informs_the_serving_fraction(catalog: Catalog) -> None:
    """A prefill case served in fp8 prices its GEMMs at the fp8 fraction while the chip has no
    serving fraction: its elasticity to matmul_serve is the one to the GEMM fields together (~1
    here), not to ``matmul`` alone (0)."""
    pri = F.Priors.load()

    def prefill(e: Efficiency) -> float:
        return 1.0 / (1.0 * 0.5 / (e.matmul_fp8 or e.matmul))

    got = F.binding_param(_pred(prefill, param=F.SERVE), catalog, pri).result
    assert (got.param, got.not_fitted) == (F.SERVE, None)


# ---- the fit ---------------------------------------------------------------------------------------


def _row(chip: str, param: str, want: float) -> F.Row:
    """A case whose |log error| is |log(x / want)| at grid value x (best fit: ``want``)."""
    r = CaseResult(f"{chip}-{param}-{want}", "infer", "v", chip, "output_tokens_per_s", 1.0, 1.0, param=param)
    return F.Row(r, Prediction(r), Efficiency(), np.abs(np.log(F.GRID / want)))


def test_memory_fit_stays_in_its_physical_range(catalog: Catalog) -> None:
    """Cases that want a memory fraction of 0.2 get the lowest grid value in [0.35, 0.95] (0.36 on
    the 0.02 grid from 0.10); GEMM fractions keep the whole grid."""
    pri = F.Priors.load()
    chip = "nvidia-h100-sxm"
    fits = F.fit_params([_row(chip, "memory", 0.2), _row(chip, F.SERVE, 0.2)], catalog, pri)
    assert fits[(chip, "memory")].value == pytest.approx(0.36)
    assert fits[(chip, F.SERVE)].value == pytest.approx(0.2)
    fits = F.fit_params([_row(chip, "memory", 0.99)], catalog, pri)
    assert fits[(chip, "memory")].value == pytest.approx(0.94)


def test_a_chip_without_serving_cases_prices_serving_gemms_as_training(catalog: Catalog) -> None:
    """No serving case of its own nor its sibling's: no matmul_serve, whatever the record says (an
    earlier fit's value would leak into the cross-validation). H200 borrows H100's
    (fit_priors.toml [borrow])."""
    pri = F.Priors.load()
    fits = F.fit_params([_row("nvidia-h100-sxm", F.SERVE, 0.42)], catalog, pri)
    assert fits[("nvidia-h200", F.SERVE)].value == pytest.approx(0.42)
    assert fits[("nvidia-h200", F.SERVE)].basis == "borrowed from nvidia-h100-sxm"
    assert ("amd-mi300x", F.SERVE) not in fits
    rec = catalog.chips["amd-mi300x"]
    cat = catalog.with_chip(replace(rec, efficiency=replace(rec.efficiency, matmul_serve=0.3)))
    assert F._efficiency(cat, "amd-mi300x", fits).matmul_serve is None
    assert F._efficiency(cat, "nvidia-h200", fits).matmul_serve == pytest.approx(0.42)

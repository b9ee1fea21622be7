"""Training model: properties, array/scalar agreement, golden checks against published figures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpuplan.hardware import Catalog
from xpuplan.layout import Layout, LayoutArray, Reason, Recompute
from xpuplan.perf import Machine, default_params, estimate_train, evaluate_train
from xpuplan.perf.params import train_params
from xpuplan.perf.train import activation_bytes_per_layer
from xpuplan.workload import get_model
from xpuplan.workload.job import TrainJob


def _machine(catalog: Catalog, chip: str, system: str, n: int) -> Machine:
    return Machine(catalog.chip(chip), catalog.system(system), n)


def test_korthikanti_activation_memory_formula() -> None:
    """Korthikanti et al. 2022 Table 2: per layer, sbh(34 + 5as/h) without parallelism;
    sbh(10 + 24/t + 5as/(ht)) with TP; sbh/t·(34 + 5as/h) with TP+SP; 2sbh with full recompute."""
    m = get_model("gpt-3-175b")  # a=96, h=12288, GELU MLP 4h
    s, b, h, a = 2048, 1, m.hidden, m.heads
    for tp, sp in ((1, 0), (8, 0), (8, 1)):
        lay = LayoutArray.from_layout(Layout(tp=tp, sp=bool(sp), microbatch=b))
        got = activation_bytes_per_layer(m, lay, s, 2.0, moe=False, flash=False, dropout=True)[0]
        if tp == 1:
            want = s * b * h * (34 + 5 * a * s / h)
        elif not sp:
            want = s * b * h * (10 + 24 / tp + 5 * a * s / (h * tp))
        else:
            want = s * b * h / tp * (34 + 5 * a * s / h)
        assert got == pytest.approx(want, rel=1e-9), (tp, sp)
    full = LayoutArray.from_layout(Layout(recompute=Recompute.FULL))
    assert activation_bytes_per_layer(m, full, s, 2.0, moe=False)[0] == pytest.approx(2 * s * b * h)


def test_array_and_scalar_evaluation_agree(catalog: Catalog) -> None:
    m = _machine(catalog, "nvidia-a100-80gb", "nvidia-dgx-a100", 64)
    job = TrainJob(get_model("gpt-3-175b"), 64, 2048)
    layouts = [
        Layout(tp=8, pp=8, dp=1, sp=True, vpp=v, recompute=Recompute(r)) for v in (1, 3) for r in (1, 2)
    ]
    arr = evaluate_train(job, LayoutArray.from_layouts(layouts), m, default_params())
    for i, lo in enumerate(layouts):
        one = estimate_train(job, lo, m)
        assert one.step_time_s == arr.step_time[i]
        assert one.memory_total_bytes == arr.mem_total[i]


def test_korthikanti_175b_step_time(catalog: Catalog) -> None:
    """Korthikanti et al. 2022 Table 5: GPT-3 175B on 64 A100, TP8 PP8, selective recompute + SP:
    13.75 s per step of 64 × 2048 tokens. Model with its 2022 software (no fused attention)."""
    m = _machine(catalog, "nvidia-a100-80gb", "nvidia-dgx-a100", 64)
    job = TrainJob(get_model("gpt-3-175b"), 64, 2048)
    params = replace(default_params(), flash_attention=False)
    lay = Layout(tp=8, pp=8, dp=1, vpp=3, sp=True, zero=0, recompute=Recompute.SELECTIVE, tp_overlap=False)
    from xpuplan.perf.estimate import estimate_train as est

    e = est(job, lay, m, params)
    assert e.feasible
    assert e.step_time_s == pytest.approx(13.75, rel=0.15)


def test_infeasible_layout_is_a_value(catalog: Catalog) -> None:
    m = _machine(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 8)
    job = TrainJob(get_model("llama-3-70b"), 8, 4096)
    e = estimate_train(job, Layout(tp=1, dp=8, zero=0), m)  # 70B × 16 B/param on one GPU
    assert not e.feasible and e.reason is Reason.MEMORY
    e = estimate_train(job, Layout(tp=3, dp=1), m)
    assert e.reason is Reason.CHIPS_MISMATCH or e.reason is Reason.TP_HEADS


_layouts = st.builds(
    Layout,
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2, 4]),
    vpp=st.just(1),
    zero=st.integers(0, 3),
    sp=st.booleans(),
    microbatch=st.sampled_from([1, 2]),
    recompute=st.sampled_from(list(Recompute)),
    tp_overlap=st.booleans(),
    dp_overlap=st.booleans(),
)


def _fix_dp(lo: Layout, n: int) -> Layout:
    return replace(lo, dp=n // (lo.tp * lo.pp))


@settings(max_examples=60, deadline=None)
@given(lo=_layouts, scale=st.floats(1.01, 4.0))
def test_more_bandwidth_or_flops_is_never_slower(catalog: Catalog, lo: Layout, scale: float) -> None:
    base = _machine(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 64)
    job = TrainJob(get_model("llama-3-8b"), 64, 4096)
    lo = _fix_dp(lo, 64)
    t0 = estimate_train(job, lo, base).step_time_s
    c = base.chip
    faster_chip = replace(c, peak_flops={k: v * scale for k, v in c.peak_flops.items()})
    assert estimate_train(job, lo, replace(base, chip=faster_chip)).step_time_s <= t0
    more_bw = replace(c, mem_bw=c.mem_bw * scale, link_bw=(c.link_bw or 0) * scale)
    sys_ = replace(
        base.system,
        scale_up=replace(base.system.scale_up, link_bw=(base.system.scale_up.link_bw or 0) * scale),
        scale_out=replace(base.system.scale_out, bw_per_node=base.system.scale_out.bw_per_node * scale),
    )
    assert estimate_train(job, lo, Machine(more_bw, sys_, 64)).step_time_s <= t0 * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(lo=_layouts, scale=st.floats(1.0, 4.0))
def test_more_memory_never_makes_a_fitting_layout_infeasible(
    catalog: Catalog, lo: Layout, scale: float
) -> None:
    base = _machine(catalog, "nvidia-a100-80gb", "nvidia-dgx-a100", 64)
    job = TrainJob(get_model("llama-2-13b"), 128, 4096)
    lo = _fix_dp(lo, 64)
    e0 = estimate_train(job, lo, base)
    if e0.feasible:
        bigger = replace(base.chip, mem_bytes=base.chip.mem_bytes * scale)
        assert estimate_train(job, lo, replace(base, chip=bigger)).feasible


def test_mfu_matches_palm_accounting(catalog: Catalog) -> None:
    m = _machine(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 8)
    model = get_model("llama-3-8b")
    job = TrainJob(model, 32, 4096)
    e = estimate_train(job, Layout(dp=8, zero=1), m)
    n = model.matmul_params()
    palm = 6 * n + 12 * model.layers * model.heads * model.head_dim * 4096
    assert e.mfu == pytest.approx(e.tokens_per_s * palm / (8 * 989.4e12), rel=1e-6)
    assert np.isfinite(e.hfu) and e.hfu >= e.mfu


@settings(max_examples=80, deadline=None)
@given(lo=_layouts, ep_moe=st.booleans())
def test_scalar_estimate_equals_array_row(catalog: Catalog, lo: Layout, ep_moe: bool) -> None:
    """estimate_train runs the formulas on Python floats (perf/xp.py); the search runs them on
    arrays. Both must give the same numbers for any layout, feasible or not."""
    m = _machine(catalog, "nvidia-h100-sxm", "aws-p5.48xlarge", 64)
    model = get_model("mixtral-8x7b" if ep_moe else "llama-3-8b")
    lo = _fix_dp(lo, 64)
    if ep_moe:
        lo = replace(lo, ep=2 if lo.dp % 2 == 0 else 1)
    job = TrainJob(model, 64, 4096)
    one = estimate_train(job, lo, m)
    arr = evaluate_train(
        job, LayoutArray.from_layouts([lo, lo]), m, train_params(m.chip)
    )  # estimate_train's default
    assert one.step_time_s == pytest.approx(float(arr.step_time[1]), rel=1e-12)
    assert one.memory_total_bytes == pytest.approx(float(arr.mem_total[1]), rel=1e-12)
    for k, v in one.time_s.items():
        assert v == pytest.approx(float(arr.time[k][1]), rel=1e-12, abs=1e-15)

"""Every layout ``Reason`` is reached, by the rule that owns it, and reported as that code."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from handsized import MOE, PARAMS, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.layout import Layout, LayoutArray, Reason, Recompute, check
from xpuplan.perf import estimate_train
from xpuplan.workload.job import TrainJob

DENSE = tiny()  # 8 heads, 8 KV heads, 4 layers
MIXTURE = tiny(moe=MOE)  # 8 experts

# (layout, model, chips, global batch, sequence, domain) -> reason; one line per rule
STRUCTURAL = [
    (Layout(dp=8), DENSE, 8, 8, 2048, 8, Reason.OK),
    (Layout(dp=0), DENSE, 8, 8, 2048, 8, Reason.BAD_DEGREE),
    (Layout(microbatch=0), DENSE, 1, 8, 2048, 8, Reason.BAD_DEGREE),
    (Layout(dp=4), DENSE, 8, 8, 2048, 8, Reason.CHIPS_MISMATCH),  # 4 chips used of 8
    (Layout(tp=3, dp=1), DENSE, 3, 8, 2048, 8, Reason.TP_HEADS),  # 8 heads over 3 ranks
    (Layout(tp=16), DENSE, 16, 8, 2048, 16, Reason.TP_HEADS),  # more ranks than heads
    (Layout(tp=8), DENSE, 8, 8, 2048, 4, Reason.TP_DOMAIN),  # larger than the domain
    (Layout(tp=4, dp=3), DENSE, 12, 6, 2048, 6, Reason.TP_DOMAIN),  # 4 does not divide a domain of 6
    (Layout(pp=4, vpp=2), DENSE, 4, 8, 2048, 8, Reason.PP_LAYERS),  # 8 chunks for 4 layers
    # the embedding and the loss take a slot each (Megatron-Core account_for_*_in_pipeline_split)
    (Layout(pp=3, vpp=2), DENSE, 3, 6, 2048, 8, Reason.OK),  # 6 chunks = 4 layers + 2
    (Layout(pp=7), DENSE, 7, 7, 2048, 8, Reason.PP_LAYERS),  # 7 > 4 + 2
    (Layout(pp=4), DENSE, 4, 8, 2048, 8, Reason.OK),
    (Layout(dp=8, microbatch=2), DENSE, 8, 8, 2048, 8, Reason.BATCH),  # 8 ∤ 16
    (Layout(pp=2, vpp=2), DENSE, 2, 3, 2048, 8, Reason.MICROBATCHES),  # 3 micro-batches on PP 2
    (Layout(dp=8, ep=2), DENSE, 8, 8, 2048, 8, Reason.EP_EXPERTS),  # EP without experts
    (Layout(dp=6, ep=3), MIXTURE, 6, 6, 2048, 8, Reason.EP_EXPERTS),  # 8 experts over 3
    (Layout(dp=2, ep=4), MIXTURE, 2, 2, 2048, 8, Reason.EP_DP),  # EP 4 ∤ DP·CP = 2
    (Layout(dp=2, cp=2, ep=4), MIXTURE, 4, 2, 2048, 8, Reason.OK),  # ... = 4
    (Layout(tp=2, dp=2, ep=4), MIXTURE, 4, 2, 2048, 8, Reason.OK),  # folded: 4 | TP·DP·CP = 4
    (Layout(tp=2, dp=2, ep=8), MIXTURE, 4, 2, 2048, 8, Reason.EP_DP),  # 8 ∤ TP·DP·CP = 4
    (Layout(cp=4), DENSE, 4, 1, 2052, 8, Reason.CP_SEQ),  # 2052 ∤ 2·4
    (Layout(cp=2), DENSE, 2, 1, 2052, 8, Reason.OK),  # 2052 = 4·513
    (Layout(sp=True), DENSE, 1, 1, 2048, 8, Reason.SP_NO_TP),
    (Layout(vpp=2), DENSE, 1, 2, 2048, 8, Reason.VPP_NO_PP),
    (Layout(zero=4), DENSE, 1, 1, 2048, 8, Reason.ZERO_STAGE),
    (Layout(zero=-1), DENSE, 1, 1, 2048, 8, Reason.ZERO_STAGE),
]


@pytest.mark.parametrize("lay, model, chips, batch, seq, domain, reason", STRUCTURAL)
def test_structural_reasons(
    lay: Layout, model: object, chips: int, batch: int, seq: int, domain: int, reason: Reason
) -> None:
    got = check(LayoutArray.from_layout(lay), model, chips, batch, seq, domain)  # type: ignore[arg-type]
    assert Reason(int(got[0])) is reason, (lay, Reason(int(got[0])))


def test_first_failing_rule_is_reported() -> None:
    # TP 3 breaks both the heads and the chip count: the lower code (CHIPS_MISMATCH) wins
    got = check(LayoutArray.from_layout(Layout(tp=3)), DENSE, 8, 8, 2048, 8)
    assert Reason(int(got[0])) is Reason.CHIPS_MISMATCH


def test_check_is_row_wise() -> None:
    rows = [r[0] for r in STRUCTURAL if r[1] is DENSE and r[2] == 8 and r[5] == 8 and r[3] == 8]
    got = check(LayoutArray.from_layouts(rows), DENSE, 8, 8, 2048, 8)
    want = [check(LayoutArray.from_layout(r), DENSE, 8, 8, 2048, 8)[0] for r in rows]
    np.testing.assert_array_equal(got, want)


def test_gqa_tp_beyond_kv_heads_must_be_a_multiple() -> None:
    gqa = tiny(heads=16, kv_heads=4)
    ok = check(LayoutArray.from_layout(Layout(tp=8)), gqa, 8, 8, 2048, 8)  # KV heads replicated 2×
    assert Reason(int(ok[0])) is Reason.OK
    bad = check(LayoutArray.from_layout(Layout(tp=2, dp=3)), tiny(heads=6, kv_heads=3), 6, 6, 2048, 6)
    assert Reason(int(bad[0])) is Reason.TP_HEADS  # 3 KV heads over 2 ranks


def test_memory_dtype_and_cluster_reasons(catalog: Catalog) -> None:
    job = TrainJob(DENSE, 8, 2048)
    small = machine(catalog, 1, mem_bytes=3 * 2**30)
    assert estimate_train(job, Layout(zero=0), small, PARAMS).reason is Reason.MEMORY
    m = machine(catalog, 8)
    no_fp8 = replace(
        m, chip=replace(m.chip, peak_flops={k: v for k, v in m.chip.peak_flops.items() if k != "fp8"})
    )
    e = estimate_train(TrainJob(DENSE, 8, 2048, "fp8"), Layout(dp=8), no_fp8, PARAMS)
    assert e.reason is Reason.DTYPE and not e.feasible
    capped = replace(m, system=replace(m.system, scale_out=replace(m.system.scale_out, max_chips=4)))
    assert estimate_train(job, Layout(dp=8), capped, PARAMS).reason is Reason.CLUSTER
    assert estimate_train(job, Layout(dp=8), m, PARAMS).reason is Reason.OK
    # a structural reason comes first
    assert estimate_train(job, Layout(dp=8, sp=True, recompute=Recompute.FULL), m, PARAMS).reason is (
        Reason.SP_NO_TP
    )


def test_every_reason_is_covered_and_worded() -> None:
    reached = {r[-1] for r in STRUCTURAL} | {Reason.MEMORY, Reason.DTYPE, Reason.CLUSTER}
    assert reached == set(Reason)
    for r in Reason:
        assert r.text and r.text.strip() == r.text

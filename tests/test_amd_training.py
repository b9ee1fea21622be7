"""AMD Instinct training cases: the networked MI325X system MangoBoost's 2-node run used, and the
fit's borrowing rule across CDNA generations."""

import math

import pytest

from handsized import PARAMS, UP_BW, UP_LAT, L, V, a, d, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.hardware.catalog import default_catalog
from xpuplan.layout import Layout, Reason, Recompute
from xpuplan.layout.layout import parse_layout
from xpuplan.perf import Machine, estimate_train
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.estimate import machine as catalog_machine
from xpuplan.validation.fit import Priors
from xpuplan.validation.validate import load_suite, predict_train_case, stated_layout
from xpuplan.workload.job import TrainJob

MANGO_16 = "amd-mi325x-train-llama2-70b-lora-16gpu-fp8-mlperft51-mangoboost"


def test_mi325x_server_has_a_network():
    # AS-8126GS-TNMR: 8 x 400 Gb/s NICs = 3,200 Gb/s = 400e9 bytes/s per node, one direction
    m = catalog_machine("amd-mi325x", 16, default_catalog(), system="supermicro-as-8126gs-tnmr-mi325x")
    assert m.system.scale_out.bw_per_node == 8 * 400e9 / 8
    assert m.system.chips_per_node == 8


def test_mangoboost_two_node_mi325x_case_is_predicted_on_it():
    case = next(c for c in load_suite() if c["id"] == MANGO_16)
    r = predict_train_case(case, default_catalog(), search_best=False).result
    assert r.predicted is not None, r.reason
    assert r.layout is not None and r.layout.endswith("on supermicro-as-8126gs-tnmr-mi325x")
    assert "CP2" in r.layout


def test_mi355x_does_not_borrow_a_cdna3_fit():
    # MI355X is CDNA 4, MI325X / MI300X CDNA 3: [borrow] pairs only chips of one generation
    assert "amd-mi355x" not in Priors.load().borrow
    assert Priors.load().borrow["amd-mi325x"] == "amd-mi300x"  # same CDNA 3 die


# ---- block recompute (Megatron-LM --recompute-method block --recompute-num-layers N) -------------
# The hand-sized model of handsized.py: L = 4 layers, h = 1024, a = 8 heads of d = 128, f = 4h.


def _est(catalog: Catalog, lay: Layout, seq: int = 2048, m: Machine | None = None) -> TrainEstimate:
    e = estimate_train(TrainJob(tiny(), 2 * lay.dp, seq), lay, m or machine(catalog, lay.chips), PARAMS)
    assert e.reason in (Reason.OK, Reason.MEMORY), e.reason
    return e


def _core_fwd_s(catalog: Catalog, s: int) -> float:
    """One layer's causal flash-attention forward at 0.25 of peak with 128-query tiles."""
    peak = catalog.chip("nvidia-h100-sxm").peak("bf16") or math.nan
    return s * 2 * 2 * a * d * (s + 1) / 2 / (peak * 0.25 * s / (s + 128))


def test_block_recompute_reruns_only_its_layers(catalog: Catalog) -> None:
    """rcl1 of L = 4: one layer's forward is re-run per micro-batch instead of four."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 2048
    peak = catalog.chip("nvidia-h100-sxm").peak("bf16") or math.nan
    layer_fwd = 2 * s * 12 * h * h / (peak * 0.5) + _core_fwd_s(catalog, s)  # one layer, one sequence
    one = _est(catalog, Layout(recompute=Recompute.FULL, recompute_layers=1), s, m)
    assert one.time_s["recompute"] == pytest.approx(2 * layer_fwd, rel=1e-6)  # 2 micro-batches
    every = _est(catalog, Layout(recompute=Recompute.FULL), s, m)
    assert every.time_s["recompute"] == pytest.approx(2 * L * layer_fwd, rel=1e-6)
    # more layers than the stage holds: all of them
    assert _est(catalog, Layout(recompute=Recompute.FULL, recompute_layers=9), s, m).time_s[
        "recompute"
    ] == pytest.approx(every.time_s["recompute"], rel=1e-12)


def test_block_recompute_keeps_the_other_layers_activations(catalog: Catalog) -> None:
    """Recomputed layers keep their bf16 input (2·sbh); the L - N others all of theirs (flash:
    32·sbh, Korthikanti et al. 2022 Eq. 1 without the scores); plus the larger of the working set
    of the recomputed layer (32·sbh) and the logits (6·s·V, larger here)."""
    s = 2048
    e = _est(catalog, Layout(recompute=Recompute.FULL, recompute_layers=1), s)
    want = 1 * 2 * s * h + (L - 1) * 32 * s * h + 6 * s * V
    assert e.memory_bytes["activations"] == pytest.approx(want, rel=1e-12)


def test_block_recompute_repeats_its_share_of_tp_all_reduces(catalog: Catalog) -> None:
    """TP: 4 all-reduces per layer, + 2 for each recomputed layer (Korthikanti et al. 2022 §5)."""
    one_ar = 2 * (1 / 2) * (1 * 2048 * h * 2) / UP_BW + 2 * 1 * UP_LAT  # b·s·h bf16 over 2 ranks
    e = _est(catalog, Layout(tp=2, recompute=Recompute.FULL, recompute_layers=1))
    assert e.time_s["tp_comm"] == pytest.approx(2 * (4 * L + 2 * 1) * one_ar, rel=1e-6)


def test_block_recompute_in_the_notation_and_the_cases() -> None:
    lay = Layout(dp=8, recompute=Recompute.FULL, recompute_layers=21)
    assert lay.describe().endswith("rc-full rcl21")
    assert parse_layout(lay.describe())["recompute_layers"] == 21
    case = next(c for c in load_suite() if c["id"] == MANGO_16)
    fixed = stated_layout(case, 16)
    assert fixed["recompute"] == Recompute.FULL and fixed["recompute_layers"] == 21

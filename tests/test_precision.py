"""Training precision as a recipe (perf/precision.py): the format each GEMM class runs in, the
peak that prices it, the cast traffic of each Transformer Engine recipe, and how the validation
reads a case's ``precision``. Each figure written out by hand from its source."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from handsized import EFF, PARAMS, L, V, f, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.layout import Layout, Reason
from xpuplan.layout.layout import LayoutArray
from xpuplan.perf import Machine, estimate_train
from xpuplan.perf import precision as prec
from xpuplan.validation.validate import parse_formats, train_precision
from xpuplan.workload.job import TrainJob


def _gb200(catalog: Catalog, mem_bw: float = 1e30) -> Machine:
    """The hand-sized machine with GB200's peaks (fp8 5,000, fp4 10,000 dense TFLOP/s)."""
    m = machine(catalog, 1)
    chip = replace(catalog.chip("nvidia-gb200"), efficiency=EFF, mem_bw=mem_bw, mem_bytes=1e15)
    return replace(m, chip=chip)


@pytest.mark.parametrize(
    ("name", "bytes_"),
    [
        ("bf16", 0.0),  # nothing quantised
        ("fp8", 2.0 + 2 * 1.0),  # fused cast-transpose: read 2, write value + transpose
        ("fp8cs", 2.0 + 2.0 + 2 * 1.0),  # + the amax pass of current scaling
        ("mxfp8", 2.0 + 2 * (1.0 + 1 / 32)),  # both orientations, an E8M0 byte per 32
        ("nvfp4", 2.0 + 2.0 + 2 * (0.5 + 1 / 16)),  # amax pass; 4-bit values, an E4M3 per 16
    ],
)
def test_cast_bytes_per_element(name: str, bytes_: float) -> None:
    assert prec.recipe(name).bytes_per_element == pytest.approx(bytes_)


def test_recipe_formats() -> None:
    """Linear GEMMs in the recipe's format: fp4 for NVFP4, fp8 for every fp8 scaling; fp16 and
    unknown names at the 16-bit rate."""
    assert [prec.recipe(p).gemm for p in ("nvfp4", "mxfp8", "fp8cs", "fp8", "fp16", "bf16", "x")] == [
        "fp4",
        "fp8",
        "fp8",
        "fp8",
        "bf16",
        "bf16",
        "bf16",
    ]


def test_quantised_elements_by_hand() -> None:
    """Tiny model (MHA, h = 1024, 2-matrix MLP f = 4h), TP 2 without SP: x operands QKV in (h,
    whole), proj in (h/2), FC1 in (h, whole), FC2 in (f/2); dy operands QKV out (3h/2), proj out
    (h, whole), FC1 out (f/2), FC2 out (h, whole)."""
    lay = LayoutArray.from_layout(Layout(tp=2))
    x, dy = prec.quantised_elements(tiny(), lay, np.array([2.0]), moe=False)
    assert float(x[0]) == h + h / 2 + h + f / 2
    assert float(dy[0]) == 3 * h / 2 + h + f / 2 + h
    sp = LayoutArray.from_layout(Layout(tp=2, sp=True))  # SP splits the whole-width operands too
    x, dy = prec.quantised_elements(tiny(), sp, np.array([2.0]), moe=False)
    assert float(x[0]) == (h + h + h + f) / 2


def test_quantised_elements_of_a_moe_layer_by_hand() -> None:
    """Tiny model with 8 experts of f_e = h = 1024, top-2 and one shared expert, TP 2 with SP, each
    expert split over the 2 TP ranks (ETP 2). x: QKV in h/2 (SP), proj in h/2; top_k·ETP/TP = 2
    routed copies of each token, each FC1 in (h) and FC2 in (f_e/2); the shared expert's FC1 in
    (h/2, SP) and FC2 in (f_e/2). dy: QKV out 3h/2, proj out h/2; routed FC1 out f_e/2 and FC2
    out h each; shared FC1 out f_e/2, FC2 out h/2."""
    fe = 1024
    model = tiny(moe={"experts": 8, "top_k": 2, "expert_ffn": fe, "shared_experts": 1})
    lay = LayoutArray.from_layout(Layout(tp=2, sp=True))
    x, dy = prec.quantised_elements(model, lay, np.array([2.0]), moe=True)
    assert float(x[0]) == h / 2 + h / 2 + 2 * (h + fe / 2) + (h / 2 + fe / 2)
    assert float(dy[0]) == 3 * h / 2 + h / 2 + 2 * (fe / 2 + h) + (fe / 2 + h / 2)


def test_quant_times_by_hand(catalog: Catalog) -> None:
    """NVFP4 casts of one micro-batch of 2,048 tokens on one device: 5.125 bytes per element over
    the L layers' operands, at 0.5 of the memory bandwidth."""
    m = _gb200(catalog, mem_bw=8e12)
    lay = LayoutArray.from_layout(Layout())
    tok = np.array([2048.0])
    fwd, bwd = prec.quant_times(tiny(), lay, m, prec.recipe("nvfp4"), tok, np.array([1.0]))
    per = 5.125 * 2048 / (8e12 * 0.5)
    assert float(fwd[0]) == pytest.approx(per * L * (h + h + h + f))
    assert float(bwd[0]) == pytest.approx(per * L * (3 * h + h + f + h))


def test_quant_times_of_a_moe_model_with_dense_layers_by_hand(catalog: Catalog) -> None:
    """A MoE model whose first layer is dense: that layer casts the dense operands (x: QKV, proj,
    FC1, FC2 inputs h, h, h, f; dy: 3h, h, f, h) and each of the other L - 1 layers the MoE ones
    (top-2 routed copies of FC1 in h and FC2 in f_e, dy FC1 out f_e and FC2 out h), on one device
    at 5.125 bytes per element (NVFP4) and 0.5 of the memory bandwidth."""
    fe = 1024
    model = tiny(moe={"experts": 8, "top_k": 2, "expert_ffn": fe, "dense_layers": 1})
    m = _gb200(catalog, mem_bw=8e12)
    lay = LayoutArray.from_layout(Layout())
    fwd, bwd = prec.quant_times(model, lay, m, prec.recipe("nvfp4"), np.array([2048.0]), np.array([1.0]))
    per = 5.125 * 2048 / (8e12 * 0.5)
    x_moe, dy_moe = h + h + 2 * (h + fe), 3 * h + h + 2 * (fe + h)
    assert float(fwd[0]) == pytest.approx(per * ((h + h + h + f) + (L - 1) * x_moe))
    assert float(bwd[0]) == pytest.approx(per * ((3 * h + h + f + h) + (L - 1) * dy_moe))


def test_cast_traffic_adds_the_casts(catalog: Catalog) -> None:
    """With ``cast_traffic`` 1 the step's compute grows by the casts of every micro-batch."""
    m = _gb200(catalog, mem_bw=8e12)
    job = TrainJob(tiny(), 2, 2048, "nvfp4")
    off = estimate_train(job, Layout(), m, PARAMS)
    on = estimate_train(job, Layout(), m, replace(PARAMS, cast_traffic=1.0))
    lay = LayoutArray.from_layout(Layout())
    fwd, bwd = prec.quant_times(tiny(), lay, m, prec.recipe("nvfp4"), np.array([2048.0]), np.array([1.0]))
    extra = 2 * float(fwd[0] + bwd[0])  # 2 micro-batches
    assert on.time_s["compute"] - off.time_s["compute"] == pytest.approx(extra, rel=1e-9)


def test_nvfp4_runs_the_linear_gemms_at_the_fp4_peak(catalog: Catalog) -> None:
    """NVFP4 (arXiv:2509.25147; Megatron-Bridge bf16_with_nvfp4_mixed) runs fprop, dgrad and wgrad
    of the linear layers in 4 bits; the attention core and LM head stay in bf16. At GB200's fp4
    peak (twice fp8's) the linear GEMM time halves and nothing else moves."""
    m = _gb200(catalog)
    s = 2048
    fp8 = estimate_train(TrainJob(tiny(), 1, s, "fp8"), Layout(), m, PARAMS).time_s["compute"]
    fp4 = estimate_train(TrainJob(tiny(), 1, s, "nvfp4"), Layout(), m, PARAMS).time_s["compute"]
    linear_fp8 = 6 * s * L * 12 * h * h / (5000e12 * 0.5)
    assert fp8 - fp4 == pytest.approx(linear_fp8 / 2, rel=1e-9)
    head = 6 * s * V * h / (2500e12 * 0.5)  # LM head: bf16 in both
    assert fp4 > linear_fp8 / 2 + head


def test_nvfp4_needs_an_fp4_peak(catalog: Catalog) -> None:
    """A chip without fp4 tensor cores (H100) cannot run the NVFP4 recipe: a DTYPE reason."""
    e = estimate_train(TrainJob(tiny(), 1, 2048, "nvfp4"), Layout(), machine(catalog, 1), PARAMS)
    assert e.reason is Reason.DTYPE


def test_gemm_param_per_format() -> None:
    """fp4 takes matmul_fp4 where the record separates it, else fp8's fraction; the 8-bit formats
    (fp8, int8) take matmul_fp8 where set, else matmul; other formats matmul."""
    plain = Efficiency()
    fp8 = Efficiency(matmul_fp8=0.4)
    both = Efficiency(matmul_fp8=0.4, matmul_fp4=0.3)
    assert [plain.gemm_param(d) for d in ("fp4", "fp8", "bf16")] == ["matmul"] * 3
    assert [fp8.gemm_param(d) for d in ("fp4", "fp8", "int8", "bf16")] == ["matmul_fp8"] * 3 + ["matmul"]
    assert plain.gemm_param("int8") == "matmul"
    assert both.gemm_param("fp4") == "matmul_fp4"
    with pytest.raises(ValueError, match="matmul_fp4"):
        Efficiency(matmul_fp4=1.5)


@pytest.mark.parametrize(
    ("text", "recipe"),
    [
        ("FP8-CS (FP8 current scaling, Transformer Engine)", "fp8cs"),
        ("FP8-MX (mxfp8, 32-element block scaling, Transformer Engine)", "mxfp8"),
        ("nvfp4 (NVFP4 GEMMs, Transformer Engine)", "nvfp4"),
        ("fp8 (Transformer Engine)", "fp8"),  # TE's default: delayed scaling
        ("bf16 mixed precision", "bf16"),
    ],
)
def test_case_precision_names_the_recipe(text: str, recipe: str) -> None:
    assert train_precision(text, parse_formats(text)) == recipe

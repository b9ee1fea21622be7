"""Training precision as a recipe: the format each GEMM class runs in and the scaling work it costs.

A recipe names the format of the linear layers' three GEMMs (fprop, dgrad, wgrad); the attention
core (QKᵀ, A·V) and the LM head stay in 16 bits in every recipe here (Transformer Engine quantises
``te.Linear``-family modules only: ``fp8_dot_product_attention`` is off in the Megatron-Bridge
recipes, and the output layer is a plain ColumnParallelLinear outside the fp8/fp4 autocast).
The dense peak of the format comes from the chip record through ``Machine.peak``; the fraction
of it a large GEMM reaches is ``Efficiency.gemm_param`` of the format: fp4 GEMMs take
``matmul_fp4`` where a chip record separates it, else fp8's fraction. No record separates it yet:
Blackwell's block-scaled fp4 MMA issues at exactly twice the fp8 rate on the same tensor-core
pipeline (NVIDIA Blackwell architecture technical brief), and the suite's two NVFP4 runs (GB200,
Megatron-Bridge 26.04.01 / 26.06) imply fractions 1.5x apart, so one fitted per fold is one case.

The quantisation is element-wise work, priced by bytes moved. Per linear layer, TE quantises the
input ``x`` in forward (row-wise for fprop, column-wise for wgrad) and the output gradient ``dy``
in backward (row-wise for dgrad, column-wise for wgrad). Each quantised element costs:

* the read of its 16-bit value (2 bytes) by the cast kernel;
* a separate amax pass (another 2-byte read) where the scale needs the whole tensor's amax first:
  per-tensor current scaling (TE ``Float8CurrentScaling``) and NVFP4's second-level per-tensor
  FP32 scale (TE ``NVFP4BlockScaling``: "a global per tensor FP32 scaling factor"); delayed
  scaling takes last step's amax and records this one inside the cast, MXFP8 scales each block
  from its own 32 values;
* the writes of both orientations, values plus block scales: per-tensor fp8 writes the value
  and its transpose (TE's fused cast-transpose), 1 + 1 bytes; MXFP8 (32-element E8M0 scales,
  TE MXFP8BlockScaling: "both rowwise and columnwise" copies, the blocks run along different
  dimensions) 2 × (1 + 1/32); NVFP4 (16-element E4M3 scales, arXiv:2509.25147 §2; TE computes
  "both versions ... from the high precision input") 2 × (1/2 + 1/16).

NVFP4's random Hadamard transform of the wgrad operands (arXiv:2509.25147 §4.2, 16×16) is fused
into those two passes in TE (the amax of x and of its transform in one kernel, the transform in
the column-wise cast): 32 FLOP per element on the tensor cores, no extra bytes. Stochastic
rounding of the gradients happens inside the cast. Weights are quantised once per step (TE
caches them across micro-batches, ``is_first_microbatch``) and are left out: a few ms a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xpuplan.layout.layout import LayoutArray
from xpuplan.perf import xp
from xpuplan.perf.machine import Machine
from xpuplan.workload.model import Model

F = np.ndarray
HIGH_BYTES = 2.0  # the 16-bit values the cast reads


@dataclass(frozen=True, slots=True)
class Recipe:
    """A training precision: the linear GEMMs' format and how their operands are quantised."""

    gemm: str  # format of linear fprop / dgrad / wgrad: its dense peak prices them
    value_bytes: float = 0.0  # bytes per quantised value; 0: no quantisation (16/32-bit training)
    block: float = 0.0  # values per scale; 0: one scale per tensor
    scale_bytes: float = 0.0  # bytes per block scale
    amax_pass: bool = False  # a separate read of the tensor for its amax before the cast

    @property
    def bytes_per_element(self) -> float:
        """Bytes moved to quantise one element into both orientations (0 without quantisation)."""
        if self.value_bytes == 0.0:
            return 0.0
        scales = self.scale_bytes / self.block if self.block else 0.0
        reads = HIGH_BYTES * (2.0 if self.amax_pass else 1.0)
        return reads + 2.0 * (self.value_bytes + scales)


RECIPES: dict[str, Recipe] = {
    "bf16": Recipe("bf16"),
    "fp16": Recipe("bf16"),  # the 16-bit rate: Machine.peak falls back to fp16 without bf16
    "fp32": Recipe("fp32"),
    # int8 GEMMs (AQT on TPUs) quantise inside the fused XLA kernels: no separate pass modelled
    "int8": Recipe("int8"),
    "fp8": Recipe("fp8", value_bytes=1.0),  # per-tensor delayed scaling (TE DelayedScaling)
    "fp8cs": Recipe("fp8", value_bytes=1.0, amax_pass=True),  # per-tensor current scaling
    "mxfp8": Recipe("fp8", value_bytes=1.0, block=32.0, scale_bytes=1.0),  # E8M0 per 32
    "nvfp4": Recipe("fp4", value_bytes=0.5, block=16.0, scale_bytes=1.0, amax_pass=True),  # E4M3 per 16
}


def recipe(precision: str) -> Recipe:
    """The recipe of a training precision (TrainJob.precision; unknown names train in bf16)."""
    return RECIPES.get(precision, RECIPES["bf16"])


def quantised_elements(model: Model, lay: LayoutArray, etp: F, moe: bool) -> tuple[F, F]:
    """(x, dy) elements one device quantises per token of one layer: the linear layers' input
    widths and output widths. Column-parallel inputs (QKV, FC1) and row-parallel outputs (proj,
    FC2) are whole on every TP rank unless sequence parallelism splits them; the rest is /TP.
    MoE: each routed copy of a token through its expert's FC1/FC2 (rows × ETP / TP per device),
    plus the shared experts (``etp``: TP ranks of one expert). Attention widths are those of grouped-query attention."""
    t = xp.fl(lay.tp)
    rep = xp.where(lay.sp == 1, t, 1.0)  # divisor of the full-width operands
    h, q = model.hidden, model.q_dim
    qkv = q + 2.0 * model.kv_heads * model.head_dim
    up = model.ffn_type.matrices - 1  # FC1 outputs per FFN column: 2 gated, 1 plain
    x = h / rep + q / t
    dy = qkv / t + h / rep
    if moe and model.moe:
        me, fe = model.moe, model.moe.expert_ffn
        rows = me.top_k * etp / t
        x = x + rows * (h + fe / etp) + me.shared_experts * (h / rep + fe / t)
        dy = dy + rows * (up * fe / etp + h) + me.shared_experts * (up * fe / t + h / rep)
        return x, dy
    f = model.dense_ffn
    return x + h / rep + f / t, dy + up * f / t + h / rep


def quant_times(model: Model, lay: LayoutArray, m: Machine, rec: Recipe, tok: F, etp: F) -> tuple[F, F]:
    """(forward, backward) seconds of the recipe's quantisation over all the model's layers, one
    micro-batch of ``tok`` tokens per device (multiply by the stage's share of the layers)."""
    bw = m.chip.mem_bw * m.chip.efficiency.memory
    per_el = rec.bytes_per_element * tok / bw
    n_moe = model.moe_layers
    x, dy = quantised_elements(model, lay, etp, moe=False)
    x, dy = (model.layers - n_moe) * x, (model.layers - n_moe) * dy
    if n_moe:
        xm, dym = quantised_elements(model, lay, etp, moe=True)
        x, dy = x + n_moe * xm, dy + n_moe * dym
    return per_el * x, per_el * dy

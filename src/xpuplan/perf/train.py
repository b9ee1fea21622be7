"""Training step time and memory for arrays of layouts (one code path for one or millions).

References, by term:

* Matmul FLOPs ``2·tokens·params`` forward, backward twice that (Kaplan et al. 2020 §2.1;
  Narayanan et al. 2021 Eq. 3 with recomputation adding one forward).
* Fused attention backward ≈ 2.5× its forward (FlashAttention-2, Dao 2023: five matmuls vs two).
* Achievable GEMM speed: chip efficiency × ``n / (n + knee)`` with ``n`` the smallest GEMM dimension
  (small matmuls do not reach peak); element-wise ops by bytes moved over memory bandwidth.
* Activation memory per layer: Korthikanti et al. 2022 §4 (34·s·b·h + 5·a·s²·b with dropout and
  without flash attention; 10 + 24/t with TP; everything /t with SP; 2·s·b·h per layer under full
  recomputation), generalised here to GQA, gated MLPs and MoE.
* Pipeline bubble ``(p-1)/(v·m)`` of the ideal time (Narayanan et al. 2021 §2.2); in-flight
  micro-batches: ``p`` on the first stage of 1F1B, × (1 + (p-1)/(p·v)) when interleaved
  (Korthikanti et al. 2022 §4.2.3).
* Training state: 2 + 2 + 12 bytes per parameter, sharded by ZeRO stage (Rajbhandari et al. 2020).
* MFU per PaLM App. B: model FLOPs per token ``6N + 12·L·H·Q·T`` (non-causal), no recomputation,
  over the chip's dense bf16 (fp16 where it has no bf16) peak; HFU adds recomputation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from xpuplan.layout.layout import LayoutArray, Reason, Recompute
from xpuplan.perf import collectives as coll
from xpuplan.perf import precision as prec
from xpuplan.perf import xp
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.units import GIB
from xpuplan.workload.job import TrainJob
from xpuplan.workload.model import Model, StateBytes, state_bytes

F = np.ndarray
_FULL, _SEL = int(Recompute.FULL), int(Recompute.SELECTIVE)  # plain ints: cheap comparisons
_OFF_NONE = int(Recompute.NONE)
_OFF = int(Recompute.OFFLOAD)


def _by_recompute(rc: F, full: F | float, selective: F | float, none: F | float) -> F:
    """Pick per layout by recompute policy (a where-chain; np.select is slow on small arrays).
    Host offload recomputes the whole layer, as full recomputation does."""
    return xp.where(rc >= _FULL, full, xp.where(rc == _SEL, selective, none))


TIME_PARTS = (
    "compute",
    "recompute",
    "tp_comm",
    "cp_comm",
    "ep_comm",
    "host",
    "offload",
    "pp_comm",
    "dp_comm",
    "bubble",
    "optimizer",
)
MEM_PARTS = ("weights", "grads", "optimizer", "activations", "reserved")


@dataclass(frozen=True)
class TrainArrays:
    """Per-layout results (arrays of equal length). Times in s, memory in bytes per device."""

    step_time: F
    time: dict[str, F]  # TIME_PARTS: seconds per step on the critical path
    memory: dict[str, F]  # MEM_PARTS: bytes on the most loaded device
    mem_total: F
    mem_capacity: float
    tokens_per_s: F
    mfu: F
    hfu: F
    reason: F  # Reason code per layout (0 = feasible)

    @property
    def feasible(self) -> F:
        return self.reason == 0


def _half(dtype: str) -> str:
    """Format of the non-GEMM-quantised work (attention, LM head): fp32 stays fp32, else 16-bit."""
    return "fp32" if dtype == "fp32" else "bf16"


def stage_layers(L: int, p: F, v: F) -> F:
    """Layers on the slowest pipeline stage: ``ceil(L / (p·v))`` per virtual chunk, ``v`` chunks."""
    return xp.ceil(L / (p * v)) * v


def recompute_share(lay: LayoutArray, L: int) -> F:
    """Share of a stage's layers that full recomputation (or offload) re-runs: all of them, or
    with Megatron-LM's block method the first N of each model chunk (``--recompute-method block
    --recompute-num-layers N``: "checkpoint the input activations of only a set number of
    individual Transformer layers per pipeline stage and do the rest without any checkpointing",
    megatron/training/arguments.py); N = ``lay.recompute_layers``, 0 = every layer."""
    n = xp.fl(lay.recompute_layers)
    chunk = stage_layers(L, xp.fl(lay.pp), xp.fl(lay.vpp)) / xp.fl(lay.vpp)
    return xp.where(n > 0, xp.minimum(n / chunk, 1.0), 1.0)


def _eff(m: Machine, n: F, dtype: str) -> F:
    """Achieved fraction of peak for a GEMM whose smallest dimension is ``n``."""
    e = m.chip.efficiency
    top: float = getattr(e, e.gemm_param(dtype))  # fp4 -> matmul_fp4, fp8 -> matmul_fp8 where set
    return top * n / (n + e.matmul_knee)


def _gemm_time(m: Machine, peak: float, flops: F, n_min: F, dtype: str = "bf16") -> F:
    return flops / (peak * _eff(m, xp.maximum(n_min, 1.0), dtype))


def expert_tp(lay: LayoutArray) -> F:
    """Tensor-parallel ranks of one expert. Megatron-Core MoE parallel folding (Liu et al. 2025,
    arXiv:2504.14960 §3; ``expert_tensor_parallel_size``, default TP) re-slices the TP·CP·DP
    ranks of the expert layers as ETP·EP·EDP: EP carved from DP·CP keeps ETP = TP; an EP that
    also spans the TP ranks (Qwen3-235B on H100: TP2 DP16 EP32) holds each expert whole, ETP = 1."""
    t, d, c, e = (xp.fl(getattr(lay, k)) for k in ("tp", "dp", "cp", "ep"))
    return xp.where((d * c) % e == 0, t, 1.0)


def _ffn_act_elems(model: Model) -> int:
    """Element-wise activations an FFN writes per token and per unit of its width: 3 for a gated
    FFN (SwiGLU, GeGLU), 2 for a plain one (the training-time MLP traffic and the activations
    kept for backward)."""
    return 3 if model.ffn_type.matrices == 3 else 2


def expert_capacity(model: Model, s: int, cf: float) -> float:
    """Rows per expert per sequence when dropping: ``ceil(s·k/E)·cf`` (MaxText moe.py
    ``generate_masks``: tokens_per_batch = seq_len·top_k, capacity per batch element)."""
    assert model.moe is not None
    return float(int(max(math.ceil(s * model.moe.top_k / model.moe.experts) * cf, cf)))


def moe_expert_work(model: Model, lay: LayoutArray, s: int, params: PerfParams) -> tuple[F, F, F]:
    """(work factor on the routed experts' GEMMs, rows per expert GEMM, dispatch FLOPs per token).

    Dropping (capacity factor > 0): every expert computes its full capacity ``C`` per sequence,
    so the routed GEMMs do ``E·C / (s·k)`` times the useful work; dispatch and combine are one-hot
    einsums ``BSM,BSEC->EBCM`` and back, ``2·E·C·h`` FLOPs per token each (MaxText dense_matmul).
    Dropless grouped GEMM: the ``T`` rows routed to a device's ``G`` local experts are tiled by
    ``tm`` rows and a tile shared by two groups is computed once per group (megablox gmm
    ``make_group_metadata``), so ``(T/tm + G - 1)·tm`` rows are computed for ``T``.
    """
    assert model.moe is not None
    E, k, h = model.moe.experts, model.moe.top_k, model.hidden
    tok = lay.microbatch * s / lay.cp
    cf = params.moe_capacity_factor
    if cf > 0:
        C = expert_capacity(model, s, cf)
        rows = C * lay.microbatch / lay.cp + 0.0 * lay.ep  # rows per expert per micro-batch
        return E * C / (s * k) + 0.0 * tok, rows, 2.0 * 2.0 * E * C * h + 0.0 * tok
    G = xp.maximum(E / lay.ep, 1.0)  # local experts
    T = tok * k * expert_tp(lay) / lay.tp  # routed rows a device computes (balanced over EP)
    tm = params.moe_gmm_tile
    return 1.0 + (G - 1.0) * tm / xp.maximum(T, 1.0), T / G, 0.0 * tok


def _mlp_time(st: _Step, moe: bool) -> tuple[F, F | float]:
    """MLP GEMM time of one layer for one micro-batch on one device, and the element-wise
    activations per token it writes (elements; MoE: the routed and shared experts' and the token
    permutation's)."""
    model, lay, m, dtype, s, params = st.model, st.lay, st.m, st.dtype, st.job.seq_len, st.params
    peak = m.peak(dtype)
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp  # tokens per device per micro-batch
    h = model.hidden
    if not (moe and model.moe):
        f = model.dense_ffn
        flops = 2.0 * tok * model.mlp_params(f) / t
        t_mlp = _gemm_time(m, peak, flops, xp.minimum(xp.minimum(tok, h), f / t), dtype)
        return t_mlp, f * _ffn_act_elems(model)
    k = model.moe.top_k + model.moe.shared_experts
    fe = model.moe.expert_ffn
    work, tok_per_expert, dispatch = moe_expert_work(model, lay, s, params)
    routed = 2.0 * tok * model.moe.top_k * model.mlp_params(fe) / t * work
    shared = 2.0 * tok * model.moe.shared_experts * model.mlp_params(fe) / t
    n_exp = xp.minimum(xp.minimum(tok_per_expert, h), fe / expert_tp(lay))
    t_mlp = _gemm_time(m, peak, routed, n_exp, dtype)
    t_mlp = t_mlp + _gemm_time(m, peak, shared, xp.minimum(xp.minimum(tok, h), fe / t), dtype)
    t_mlp = t_mlp + _gemm_time(m, peak, tok * dispatch, xp.minimum(tok, h) + 0.0 * t, dtype)
    act_elems: float = k * fe * _ffn_act_elems(model)
    # token permutation for dispatch and combine: each routed copy of a token's hidden state is
    # read and written twice (permute, unpermute), plus the router's gate values
    return t_mlp, act_elems + 4.0 * model.moe.top_k * h


def _core_time(st: _Step) -> F:
    """Attention core (QKᵀ, A·V) of one layer (the layers' average) for one micro-batch on one
    device, in bf16.

    Fused (flash): causal, (s+1)/2 keys per query, at the fused-kernel efficiency; local layers
    compute only the ``block``-row tiles their sliding window reaches (Model.local_attn_share,
    unfused attention computes every score and masks them). Unfused: full
    s×s batched GEMMs with K = head_dim, and the scores written, soft-maxed, masked and dropped out
    through memory (~9 bytes per score forward: fused scale-mask-softmax read+write 4, dropout
    read+write 4, mask 1). Fused and ``block``: the step's ``flash_attention`` and
    ``attention_block``."""
    model, lay, m, dtype, s = st.model, st.lay, st.m, st.dtype, st.job.seq_len
    flash, block = st.params.flash_attention, st.params.attention_block
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp
    bf16_peak = m.peak(_half(dtype))
    if flash:
        core_flops = tok * model.attn_flops_per_token(s, causal=True) / model.layers / t
        core_flops = core_flops * model.local_attn_share(s, block)
        # each rank's query chunk (s / cp) is cut into 128-query tiles; short chunks idle the
        # pipeline (FlashAttention-2, Dao 2023 §3.2: one thread block per 128-row tile)
        q = s / lay.cp
        return core_flops / (bf16_peak * m.chip.efficiency.attention * q / (q + 128.0))
    core_flops = tok * model.attn_flops_per_token(s, causal=False) / model.layers / t
    t_core = _gemm_time(m, bf16_peak, core_flops, xp.minimum(model.head_dim, s) + 0.0 * t)
    return t_core + tok * 9.0 * model.heads * s / t / (m.chip.mem_bw * m.chip.efficiency.memory)


def _layer_times(st: _Step, moe: bool) -> tuple[F, F, F]:
    """Forward time of one dense (or MoE) layer for one micro-batch on one device.

    Returns (matmul + element-wise time, attention-core time, element-wise bytes).
    """
    model, lay, m, dtype, s = st.model, st.lay, st.m, st.dtype, st.job.seq_len
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp  # tokens per device per micro-batch
    h = model.hidden
    attn_flops = 2.0 * tok * model.attn_params() / t
    t_attn = _gemm_time(m, m.peak(dtype), attn_flops, xp.minimum(xp.minimum(tok, h), model.q_dim / t), dtype)
    t_mlp, act_elems = _mlp_time(st, moe)
    t_core = _core_time(st)
    # Element-wise traffic per token: norms and residuals (10·h elements read+written, replicated
    # over TP unless SP), activation function and RoPE (sharded over TP).
    rep = 10.0 * h / xp.where(lay.sp == 1, t, 1.0)
    shard = (act_elems + 2.0 * (model.heads + model.kv_heads) * model.head_dim) / t
    ew_bytes = tok * (rep + shard) * 2.0
    t_ew = ew_bytes / (m.chip.mem_bw * m.chip.efficiency.memory)
    return t_attn + t_mlp + t_ew, t_core, ew_bytes


def _kept_bytes_per_token(
    model: Model,
    act_bytes: float,
    moe: bool,
    dropout: bool,
    frozen: frozenset[str],
    fn_bytes: float | None,
    lin_bytes: float | None = None,
) -> tuple[float, float]:
    """(replicated, TP-sharded) bytes per token one layer keeps without recompute
    (:func:`activation_bytes_per_layer`): the norms' inputs (2h) and outputs, which are the QKV and
    fc1 inputs (h each, not kept for a frozen linear), dropout masks; q/k/v, the attention output
    (the proj input), the activation function's input (2f gated, f plain, at ``fn_bytes``) and
    fc2's input (f). ``lin_bytes``: bytes per element of the four linear inputs where the stack
    keeps them quantised (Transformer Engine's low-precision recipes; None: ``act_bytes``)."""
    h = model.hidden
    kept = {m: 0.0 if m in frozen else 1.0 for m in ("qkv", "fc1", "fc2")}
    fn = act_bytes if fn_bytes is None else fn_bytes
    lin = act_bytes if lin_bytes is None else lin_bytes
    up = model.ffn_type.matrices - 1  # the activation function reads the gate and up (or fc1) outputs
    if moe and model.moe:
        k = model.moe.top_k + model.moe.shared_experts
        width = k * model.moe.expert_ffn
        mlp_bytes = width * (up * fn + kept["fc2"] * lin) + kept["fc1"] * k * h * lin
    else:
        mlp_bytes = model.dense_ffn * (up * fn + kept["fc2"] * lin)
    rep = 2.0 * h * act_bytes + (kept["qkv"] + kept["fc1"]) * h * lin + (2.0 * h if dropout else 0.0)
    shard = (model.heads + 2 * model.kv_heads) * model.head_dim * act_bytes + model.q_dim * lin + mlp_bytes
    return rep, shard


def _core_out_bytes(model: Model, act_bytes: float, lin_bytes: float | None) -> float:
    """TP-sharded bytes per token the fused attention keeps of its own output where the proj
    input is kept quantised (``lin_bytes``): the kernel's backward reads its 16-bit output
    (FlashAttention's rowsum(dO * O); Transformer Engine's FusedAttnFunc saves q, k, v and out),
    a second copy beside the proj's; 0 in 16 bits, where the two are one tensor."""
    return 0.0 if lin_bytes is None else model.q_dim * act_bytes


def _dots_only_values(model: Model, moe: bool, no_fc1: bool = False) -> tuple[float, float]:
    """(replicated, TP-sharded) values per token the ``dots_only`` selective policy keeps: the layer
    input and the two output projections' results (3h); q/k/v and the MLP's input projections
    (``no_fc1``: not those, PerfParams.selective_recomputes_fc1; MoE: the experts' output
    projections' results are kept either way)."""
    h = model.hidden
    up = 0 if no_fc1 else model.ffn_type.matrices - 1  # the MLP's input projections kept
    if moe and model.moe:
        k = model.moe.top_k + model.moe.shared_experts
        dots_mlp = k * (up * model.moe.expert_ffn + h)
    else:
        dots_mlp = up * model.dense_ffn
    return 3.0 * h, float((model.heads + 2 * model.kv_heads) * model.head_dim + dots_mlp)


def activation_bytes_per_layer(
    model: Model,
    lay: LayoutArray,
    s: int,
    act_bytes: float,
    moe: bool,
    flash: bool = True,
    dropout: bool = False,
    dots_only: bool = False,
    frozen: frozenset[str] = frozenset(),
    fn_bytes: float | None = None,
    no_fc1: bool = False,
    lin_bytes: float | None = None,
) -> F:
    """Activation bytes one layer keeps for backward, one micro-batch, one device.

    Korthikanti et al. 2022 Eq. 1-2 generalised: replicated terms (norm inputs, QKV and fc1
    inputs, dropout masks) are split over TP only with SP; the rest always. ``flash`` drops the
    5·a·s score terms (fused attention keeps only softmax statistics). ``dots_only``: the
    selective policy keeps the layer input and the weight matmuls' outputs only (MaxText
    ``minimal``, PerfParams.selective_saves_dots): replicated, the input and the two output
    projections' results (3h); sharded, q/k/v and the MLP's input projections (2f gated, f plain;
    MoE: per routed and shared expert, and its output projection's result).

    ``frozen``: the linears a LoRA fine-tune leaves without an adapter (TrainJob.frozen_linears).
    A frozen weight takes no gradient, so its input is not kept for one (Transformer Engine's
    Linear saves its input only when the weight requires a gradient; an adapter on the layer
    keeps the same input for its own A matrix): the QKV input (the first norm's output), the
    fc1 input (the second norm's output; MoE: the routed copies) and the fc2 input (the
    activation function's output). The norms' inputs, q/k/v, the attention output (the fused
    kernel keeps it for its own backward) and the activation function's input stay.
    ``fn_bytes``: bytes per element of the activation function's input where it is kept in
    another format than ``act_bytes`` (1: fp8, Megatron ``activation_func_fp8_input_store``).
    """
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp
    rep, shard = _kept_bytes_per_token(model, act_bytes, moe, dropout, frozen, fn_bytes, lin_bytes)
    scores = 0.0 if flash else 5.0 * model.heads * s + 0.0 * lay.cp  # 2+1+2 bytes per score, s keys
    # the core's own output, kept where nothing recomputes it (the selective policy redoes the core)
    core_out = _core_out_bytes(model, act_bytes, lin_bytes)
    per_tok = rep / xp.where(lay.sp == 1, t, 1.0) + (shard + scores + core_out) / t
    full = tok * per_tok
    inputs_only = tok * model.hidden * act_bytes / xp.where(lay.sp == 1, t, 1.0)
    if not dots_only:
        sel = tok * (rep / xp.where(lay.sp == 1, t, 1.0) + shard / t)
    else:
        rep_d, shard_d = _dots_only_values(model, moe, no_fc1)
        sel = tok * act_bytes * (rep_d / xp.where(lay.sp == 1, t, 1.0) + shard_d / t)
    # host offload: the layer inputs live in host memory, nothing per layer stays on the device;
    # with block recompute the layers not recomputed keep everything (the stage's average)
    kept = xp.where(lay.recompute == _OFF, 0.0, inputs_only)
    f = recompute_share(lay, model.layers)
    kept = f * kept + (1.0 - f) * full
    return _by_recompute(
        lay.recompute,
        kept,
        sel,
        full,
    )


def lora_fraction(model: Model, rank: int | None) -> float:
    """Trainable share of the parameters: 1 without LoRA; with LoRA of rank r on every attention
    and MLP matrix, r·(d_in + d_out) per matrix (Hu et al. 2021) over the total."""
    if not rank:
        return 1.0
    h, qd = model.hidden, model.q_dim
    kvd = 2 * model.kv_heads * model.head_dim
    f = model.moe.expert_ffn * (model.moe.top_k + model.moe.shared_experts) if model.moe else model.dense_ffn
    per_layer = rank * ((h + qd) + (h + kvd) + (qd + h) + model.ffn_type.matrices * (h + f))
    return min(1.0, model.layers * per_layer / model.params())


def _embedding_tables(model: Model, p: F) -> F:
    """Embedding tables on the most loaded device: the input embedding and the LM head share a
    device only without pipelining (and are one table when tied)."""
    return xp.where((p == 1) & (not model.tied_embeddings), 2.0, 1.0)


def _params_per_device(model: Model, lay: LayoutArray) -> tuple[F, F]:
    """(non-expert, expert) parameters held by the most loaded device (a first or last stage)."""
    t = xp.fl(lay.tp)
    p = xp.fl(lay.pp)
    L = model.layers
    share = stage_layers(L, p, xp.fl(lay.vpp)) / L
    # shared experts and the router are replicated on every EP rank: they are dense parameters
    shared = 0.0
    if model.moe:
        shared = model.moe_layers * (
            model.moe.shared_experts * model.mlp_params(model.moe.expert_ffn) + model.router_params()
        )
    dense = (
        (
            L * (model.attn_params() + model.norm_params())
            + model.dense_mlp_layers * model.mlp_params(model.dense_ffn)
            + shared
        )
        * share
        / t
    )
    emb = model.vocab * model.hidden / t
    # replicated over TP: learned positions and an embedding norm on the first stage, the final
    # norm on the last (with the LM head); both on one device without pipelining
    first = float(model.embedding_params() - model.vocab * model.hidden)
    last = float(model.norm.params_per_dim * model.hidden)
    dense = dense + _embedding_tables(model, p) * emb + xp.where(p == 1, first + last, max(first, last))
    expert = xp.zeros_like(dense)
    if model.moe:
        per_layer = model.moe.experts / lay.ep * model.mlp_params(model.moe.expert_ffn) / expert_tp(lay)
        expert = model.moe_layers * per_layer * share
    return dense, expert


@dataclass(frozen=True)
class _Step:
    """What every term of one training step shares: the job, the layouts' degrees as floats, the
    micro-batch count, the slowest stage's share of the layers and the parameters per device."""

    job: TrainJob
    lay: LayoutArray
    m: Machine
    params: PerfParams
    dtype: str  # linear GEMMs' format by the recipe (perf/precision.py); bf16, fp16: 16-bit rate
    t: F
    p: F
    d: F
    c: F
    e: F
    v: F
    b: F
    mb: F  # micro-batches per step per pipeline
    per_stage: F  # share of the layers on the slowest stage
    tok: F  # tokens per device per micro-batch
    dense_p: F  # non-expert parameters on the most loaded device
    expert_p: F

    @property
    def model(self) -> Model:
        return self.job.model

    @property
    def dpc(self) -> F:
        return self.d * self.c

    @property
    def etp(self) -> F:
        return expert_tp(self.lay)

    @property
    def edp(self) -> F:
        """Expert-data-parallel ranks: TP×DP×CP divided by ETP×EP (DP×CP / EP unless folded)."""
        return xp.maximum(self.t * self.dpc / (self.etp * self.e), 1.0)

    @property
    def ep_stride(self) -> F:
        """Rank stride of an EP group: past TP×CP, or past ETP when EP spans the TP ranks."""
        return xp.where(self.etp < self.t, self.etp, self.t * self.c)

    @property
    def zero3(self) -> F:
        return self.lay.zero >= 3

    def shards(self, n: F, inner: F) -> tuple[F, F]:
        """(ranks the ZeRO state of a DP group of ``n`` at stride ``inner`` is sharded over, and
        whether the group runs DP across domains): all ``n``, or with ``dcn_data_parallel`` the
        group's ranks inside one domain when it spans several (MaxText multislice)."""
        n_in, n_out = self.m.split(n, inner)
        across = (n_out > 1) & (self.params.dcn_data_parallel > 0)
        return xp.where(across, n_in, n), across

    @property
    def full_rc(self) -> F:
        return self.lay.recompute >= _FULL

    @property
    def rc_layers(self) -> F:
        """Share of the layers re-run in backward under full recompute (0 without it)."""
        return self.full_rc * recompute_share(self.lay, self.model.layers)


def _step_context(job: TrainJob, lay: LayoutArray, m: Machine, params: PerfParams) -> _Step:
    dtype = prec.recipe(job.precision).gemm
    t, p, d, c, e, v = (xp.fl(getattr(lay, k)) for k in ("tp", "pp", "dp", "cp", "ep", "vpp"))
    b = xp.fl(lay.microbatch)
    mb = xp.maximum(xp.floor(job.global_batch / (d * b)), 1.0)
    L = job.model.layers
    dense_p, expert_p = _params_per_device(job.model, lay)
    per_stage = stage_layers(L, p, v) / L
    tok = b * job.seq_len / c
    return _Step(job, lay, m, params, dtype, t, p, d, c, e, v, b, mb, per_stage, tok, dense_p, expert_p)


@dataclass(frozen=True)
class _Compute:
    fwd: F  # forward of one micro-batch on the slowest stage, LM head included
    bwd: F
    recompute: F
    core: F  # the attention core's share of the forward


def _compute(st: _Step) -> _Compute:
    """Forward and backward of one micro-batch on the slowest (last) stage: GEMMs at their shape's
    efficiency, the attention core, element-wise traffic and the LM head. Backward = input
    gradients (1×) + weight gradients (1×) (Narayanan et al. 2021 Eq. 3); LoRA freezes the base
    weights, so only input gradients flow through them (Hu et al. 2021 §4.2); fused attention's
    backward ≈ 2.5× its forward (Dao 2023). Low-precision recipes add their casts (perf/precision.py:
    x in forward, dy in backward). Recompute re-runs the forward (full) or the core."""
    model, m, lay, params, s = st.model, st.m, st.lay, st.params, st.job.seq_len
    n_moe = model.moe_layers
    n_dense = model.layers - n_moe
    flash = params.flash_attention
    dense_fwd, dense_core, _ = _layer_times(st, moe=False)
    if n_moe:
        moe_fwd, moe_core, _ = _layer_times(st, moe=True)
    else:
        moe_fwd, moe_core = 0.0 * dense_fwd, 0.0 * dense_core
    fwd_layers = st.per_stage * (n_dense * (dense_fwd + dense_core) + n_moe * (moe_fwd + moe_core))
    core_layers = st.per_stage * (n_dense * dense_core + n_moe * moe_core)
    t, tok = st.t, st.tok
    head_flops = 2.0 * tok * model.vocab * model.hidden / t
    t_head = _gemm_time(
        m, m.peak(_half(st.dtype)), head_flops, xp.minimum(xp.minimum(tok, model.hidden), model.vocab / t)
    )
    t_head = t_head + 3.0 * tok * model.vocab / t * 4.0 / (m.chip.mem_bw * m.chip.efficiency.memory)
    wgrad = 0.0 if st.job.lora_rank else 1.0
    # the fused backward kernel's own tiles where a sliding window leaves some empty (its share
    # over the forward's: 1 without a window, and unfused attention computes every score)
    bwd_block = params.attention_block_bwd or params.attention_block
    core_bwd = model.local_attn_share(s, bwd_block) / model.local_attn_share(s, params.attention_block)
    core_bwd = core_bwd if flash else 1.0
    bwd = (1.0 + wgrad) * (fwd_layers - core_layers) + 2.5 * core_bwd * core_layers + (1.0 + wgrad) * t_head
    q_fwd, q_bwd = prec.quant_times(model, lay, m, prec.recipe(st.job.precision), tok, st.etp)
    casts = st.per_stage * params.cast_traffic  # the recipe's casts, where priced (PerfParams)
    fwd_layers, bwd = fwd_layers + casts * q_fwd, bwd + casts * q_bwd
    selective = core_layers + _fc1_redo(st, n_dense, n_moe)
    full = fwd_layers - _mlp_out_share(st, n_dense, n_moe)
    rc = _by_recompute(lay.recompute, st.rc_layers * full, selective, 0.0 * t_head)
    return _Compute(fwd_layers + t_head, bwd, rc, core_layers)


def _fc1_redo(st: _Step, n_dense: int, n_moe: int) -> F | float:
    """The MLP's first matmul (wi: gate and up when gated, of every routed and shared expert in
    an MoE layer) once more per layer of the stage, where the selective policy keeps no output of
    it (PerfParams.selective_recomputes_fc1): its share of the MLP's GEMM time, ``up / (up + 1)``
    of the FLOPs (up = 2 gated, 1 plain)."""
    p = st.params
    if not (p.selective_saves_dots > 0 and p.selective_recomputes_fc1 > 0):
        return 0.0
    up = st.model.ffn_type.matrices - 1
    return up / (up + 1.0) * _stage_mlp_time(st, n_dense, n_moe)


def _stage_mlp_time(st: _Step, n_dense: int, n_moe: int) -> F:
    """The MLP GEMM time of the stage's layers for one micro-batch on one device."""
    t_dense = _mlp_time(st, False)[0] if n_dense else 0.0
    t_moe = _mlp_time(st, True)[0] if n_moe else 0.0
    return st.per_stage * (n_dense * t_dense + n_moe * t_moe)


def _mlp_out_share(st: _Step, n_dense: int, n_moe: int) -> F | float:
    """The forward time full recompute does not redo where the stack re-runs only what backward
    reads (PerfParams.remat_skips_layer_output): the layer's last matmul, the MLP's output
    projection (wo, fc2, the down projection; every routed and shared expert's in an MoE layer),
    ``1 / (up + 1)`` of the MLP's GEMM time (up = 2 gated, 1 plain), per layer of the stage."""
    if not st.params.remat_skips_layer_output > 0:
        return 0.0
    return _stage_mlp_time(st, n_dense, n_moe) / st.model.ffn_type.matrices


def _tp_time(st: _Step) -> F:
    """Tensor parallel per micro-batch: 2 all-reduces (or RS+AG with SP) per layer forward, 2
    backward, 2 more under full recompute (Narayanan et al. 2021 §2.3; 1 where the recompute skips
    the layer's last matmul and the all-reduce after it, PerfParams.remat_skips_layer_output, 1.5
    with sequence parallelism, where the skipped collective is the reduce-scatter), less the
    overlapped share."""
    m = st.m
    _, _, bw_tp, _ = m.group_bw(st.t, xp.ones_like(st.t))
    # skipped under sequence parallelism: the reduce-scatter after wo, half an all-reduce's volume
    skip = min(st.params.remat_skips_layer_output, 1.0) * xp.where(st.lay.sp == 1, 0.5, 1.0)
    n_tp = (4.0 + (2.0 - skip) * st.rc_layers) * st.model.layers * st.per_stage
    one = coll.all_reduce(st.tok * st.model.hidden * st.params.act_bytes, st.t, bw_tp, m.up_lat)
    return n_tp * one * (1.0 - st.params.tp_overlap * st.lay.tp_overlap)


def _cp_time(st: _Step, core: F) -> F:
    """Context parallel per micro-batch: the ring exchange of K,V per layer (forward all-gather,
    backward all-gather + reduce-scatter, + one under full recompute), hidden behind attention."""
    model, m = st.model, st.m
    kv_shard = 1.0 if model.mla else xp.minimum(st.t, model.kv_heads)  # KV heads replicate beyond n_kv
    kv_layer = (
        st.b * st.job.seq_len * model.kv_values_per_token() / model.layers * st.params.act_bytes / kv_shard
    )
    _, n_out_c, bw_c_in, bw_c_out = m.group_bw(st.c, st.t)
    bw_c = xp.where(n_out_c > 1, bw_c_out, bw_c_in)
    one = coll.all_gather(kv_layer, st.c, bw_c, xp.where(n_out_c > 1, m.out_lat, m.up_lat))
    n_cp = 3.0 + 1.0 * st.rc_layers
    return xp.maximum(n_cp * one * model.layers * st.per_stage - 3.5 * core, 0.0)


def _ep_time(st: _Step) -> F:
    """Expert parallel per micro-batch: dispatch + combine all-to-all per MoE layer, forward and
    backward (+ recompute); ranks in one domain move on the fast fabric while the rest cross the
    scale-out network at the same time, so the slower of the two sets the pace."""
    model, m, e = st.model, st.m, st.e
    if not model.moe:
        return 0.0 * st.t
    a2a = st.tok * model.moe.top_k * model.hidden * st.params.act_bytes / st.t
    n_in_e, n_out_e, bw_e_in, bw_e_out = m.group_bw(e, st.ep_stride)
    inside = (n_in_e - 1.0) / e * a2a / bw_e_in
    outside = (e - n_in_e) / e * a2a / bw_e_out
    lat = xp.where(n_out_e > 1, m.out_lat, m.up_lat) * xp.ceil(xp.log2(xp.maximum(e, 2.0)))
    one = xp.where(e > 1, xp.maximum(inside, outside) + lat, 0.0)
    # full recompute redoes dispatch and combine, but not the combine after the experts' wo where
    # the recompute skips the layer's last matmul (PerfParams.remat_skips_layer_output)
    n_a2a = 4.0 + (2.0 - min(st.params.remat_skips_layer_output, 1.0)) * st.rc_layers
    return n_a2a * model.moe_layers * st.per_stage * one * (1.0 - st.params.ep_overlap)


def _host_time(st: _Step) -> F:
    """Host time to issue one micro-batch on the slowest stage when the MoE dispatch syncs.

    Dropless dispatch needs the per-expert token counts on the host in every MoE layer's forward
    (Megatron-Core token_dispatcher.py ``_maybe_dtoh_and_synchronize``, experts.py TEGroupedMLP
    ``tokens_per_expert.tolist()`` @ 92c8482e; the shapes are dynamic, so CUDA graphs cannot
    capture the layer, moe/README.md "CUDA Graph Support"): the CPU cannot queue work ahead of
    the GPU, and a layer takes the longer of issuing and running it (the README's "CPU Overhead
    Bottleneck" since 0888a06d: fewer launches or a bigger micro-batch). ``moe_host_s`` per layer
    forward, twice that backward, once more per recomputed forward; padded dropping is sync-free."""
    p = st.params
    if not st.model.moe or p.moe_capacity_factor > 0:
        return 0.0 * st.t
    return st.model.moe_layers * st.per_stage * p.moe_host_s * (3.0 + st.rc_layers)


def _pp_time(st: _Step, mb_time: F) -> tuple[F, F]:
    """(p2p time, bubble) of a step: 2·(m·v + p - 1) sends of one micro-batch's activations split
    over the TP ranks' links (Megatron's scatter/gather, Narayanan et al. 2021 §4.1), and the
    (p-1)/v bubble of the interleaved 1F1B schedule (§2.2)."""
    m, p, v = st.m, st.p, st.v
    _, n_out_p, _, _ = m.group_bw(p, st.t * st.c * st.d)
    bw_p = xp.where(n_out_p > 1, m.out_bw, m.up_bw)
    lat = xp.where(n_out_p > 1, m.out_lat, m.up_lat)
    p2p = coll.p2p(st.tok * st.model.hidden * st.params.act_bytes / st.t, bw_p, lat)
    return xp.where(p > 1, 2.0 * (st.mb * v + p - 1.0) * p2p, 0.0), (p - 1.0) / v * mb_time


def _dp_collectives(st: _Step, size_dense: F, size_expert: F, both: bool) -> F:
    """A hierarchical DP collective over DP×CP (dense parameters) plus one over the expert-data-
    parallel ranks (experts; none for a dense model): all-reduce if ``both``, else all-gather."""
    m = st.m
    a = coll.hierarchical_all_reduce if both else coll.hierarchical_all_gather
    n_in, n_out, bw_in, bw_out = m.group_bw(st.dpc, st.t)
    out = a(size_dense, n_in, n_out, bw_in, m.up_lat, bw_out, m.out_lat)
    if st.model.moe:
        n_in_x, n_out_x, bw_x_in, bw_x_out = m.group_bw(st.edp, st.etp * st.e)
        out = out + a(size_expert, n_in_x, n_out_x, bw_x_in, m.up_lat, bw_x_out, m.out_lat)
    return out


def _slice_dp(st: _Step, size_dense: F, size_expert: F, dcn: bool) -> F:
    """DP across domains (``dcn_data_parallel``, MaxText multislice): the ICI all-gather (or
    reduce-scatter) of the full ``size`` over a group's ranks inside one domain, or (``dcn``) the
    all-reduce of one rank's 1/n_in share across the domains over DCN (the hierarchical recipe:
    ReduceScatter on ICI, AllReduce over DCN, AllGather on ICI; MaxText sharding guide)."""
    m = st.m
    out = 0.0 * st.t
    groups = [(st.dpc, st.t, size_dense)]
    if st.model.moe:
        groups.append((st.edp, st.etp * st.e, size_expert))
    for n, inner, size in groups:
        n_in, n_out, bw_in, bw_out = m.group_bw(n, inner)
        if dcn:
            out = out + coll.all_reduce(size / n_in, n_out, bw_out, m.out_lat)
        else:
            out = out + coll.all_gather(size, n_in, bw_in, m.up_lat)
    return out


def _flat_gather(st: _Step, size_dense: F, size_expert: F) -> F:
    """An all-gather (or reduce-scatter) as one flat ring over the DP×CP ranks (and the expert-
    data-parallel ranks): once the group leaves the scale-up domain, every rank's (n-1)/n share
    crosses the scale-out network at its own NIC's rate (``zero3_flat_gather``)."""
    m = st.m
    _, n_out, bw_in, bw_out = m.group_bw(st.dpc, st.t)
    out = coll.all_gather(
        size_dense, st.dpc, xp.where(n_out > 1, bw_out, bw_in), xp.where(n_out > 1, m.out_lat, m.up_lat)
    )
    if st.model.moe:
        _, n_out_x, bw_x_in, bw_x_out = m.group_bw(st.edp, st.etp * st.e)
        bw_x = xp.where(n_out_x > 1, bw_x_out, bw_x_in)
        out = out + coll.all_gather(size_expert, st.edp, bw_x, xp.where(n_out_x > 1, m.out_lat, m.up_lat))
    return out


def _dp_time(st: _Step, mb_time: F, bwd: F) -> F:
    """Exposed data-parallel time (Rajbhandari et al. 2020): ZeRO 0 all-reduces gradients, ZeRO
    1/2 reduce-scatter + all-gather (the same volume), ZeRO-3 reduce-scatters gradients and
    all-gathers parameters in forward and backward of every micro-batch. Without ZeRO-3 the
    bucketed reduction hides behind the last micro-batch's backward; with it the prefetched
    gathers share the whole step's micro-batches (compute and the exchanges it does not hide).
    One window per step, so faster compute never hides more (issue 19's invariant)."""
    sb = state_bytes(st.job.precision)
    gbytes = max(st.params.grad_comm_bytes, sb.grads)  # fp32 training communicates 4-byte gradients
    lora_share = lora_fraction(st.model, st.job.lora_rank)
    dense, expert = st.dense_p, st.expert_p
    full_red = _dp_collectives(st, dense * gbytes, expert * gbytes, both=True)
    scatter = _dp_collectives(st, dense * gbytes, expert * gbytes, both=False)
    flat = st.params.zero3_flat_gather > 0
    if flat:
        scatter = _flat_gather(st, dense * gbytes, expert * gbytes)
    grad_red = lora_share * xp.where(st.zero3, scatter, full_red)
    if flat:
        gather = _flat_gather(st, dense * sb.weights, expert * sb.weights)
    else:
        gather = _dp_collectives(st, dense * sb.weights, expert * sb.weights, both=False)
    dcn = 0.0 * st.t
    if st.params.dcn_data_parallel > 0:  # FSDP inside each slice, one DCN all-reduce per step
        _, across = st.shards(st.dpc, st.t)
        ici = lora_share * _slice_dp(st, dense * gbytes, expert * gbytes, dcn=False)
        grad_red = xp.where(across, xp.where(st.zero3, ici, 2.0 * ici), grad_red)
        gather = xp.where(across, _slice_dp(st, dense * sb.weights, expert * sb.weights, dcn=False), gather)
        dcn = xp.where(across, lora_share * _slice_dp(st, dense * gbytes, expert * gbytes, dcn=True), 0.0)
    ov = st.params.dp_overlap * st.lay.dp_overlap
    z3_total = xp.where(st.zero3 & (st.dpc > 1), st.mb * 2.0 * gather, 0.0)
    window = xp.where(st.zero3, st.mb * mb_time, bwd)
    return xp.maximum(grad_red + z3_total - ov * window, 0.0) + dcn


def _optimizer_params(st: _Step) -> F:
    """Trainable parameters one device updates: its shard under ZeRO ≥ 1 (LoRA: the adapters)."""
    shard = xp.where(st.lay.zero >= 1, st.shards(st.dpc, st.t)[0], 1.0)
    expert_shard = xp.where(st.lay.zero >= 1, st.shards(st.edp, st.etp * st.e)[0], 1.0)
    return lora_fraction(st.model, st.job.lora_rank) * (st.dense_p / shard + st.expert_p / expert_shard)


def _optimizer_time(st: _Step) -> F:
    """The memory-bound Adam update over the local shard (``optimizer_bytes_per_param`` moved)."""
    bw = st.m.chip.mem_bw * st.m.chip.efficiency.memory
    return st.params.optimizer_bytes_per_param * _optimizer_params(st) / bw


def _state_bytes(st: _Step) -> StateBytes:
    """Bytes per parameter of the stored state: mixed precision (2 + 2 + 12, Rajbhandari et al.
    2020), or with ``weight_bytes`` the stack's one weight format for parameters, gradients and
    both Adam moments (MaxText base.yml: weight_dtype, mu_dtype "inherits from weight_dtype",
    nu always does; gradients in the parameters' format before grad_dtype, 2025-09)."""
    wb = st.params.weight_bytes
    if wb > 0 and st.job.precision != "fp32":
        return StateBytes(wb, wb, 2.0 * wb)
    return replace(state_bytes(st.job.precision), weights=_compute_copy_bytes(st))


def _compute_copy_bytes(st: _Step) -> float:
    """Bytes per parameter of the weights the GEMMs read: the training format's compute copy, or 1
    where it is stored in fp8 (``PerfParams.fp8_weight_store``; a master copy stays in the
    optimizer state)."""
    return 1.0 if st.params.fp8_weight_store > 0 else state_bytes(st.job.precision).weights


def _state_memory(st: _Step) -> tuple[F, F, F]:
    """(weights, gradients, optimizer) bytes per device that persist through the step: each
    sharded by its ZeRO stage (Rajbhandari et al. 2020; FSDP is ZeRO-3)."""
    lay, sb = st.lay, _state_bytes(st)
    lora_share = lora_fraction(st.model, st.job.lora_rank)
    dpc, edp = st.shards(st.dpc, st.t)[0], st.shards(st.edp, st.etp * st.e)[0]
    w_div, w_div_x = xp.where(st.zero3, dpc, 1.0), xp.where(st.zero3, edp, 1.0)
    g_div, g_div_x = xp.where(lay.zero >= 2, dpc, 1.0), xp.where(lay.zero >= 2, edp, 1.0)
    mem_w = sb.weights * (st.dense_p / w_div + st.expert_p / w_div_x)
    mem_g = lora_share * sb.grads * (st.dense_p / g_div + st.expert_p / g_div_x)
    return mem_w, mem_g, sb.optimizer * _optimizer_params(st)


def _largest_matrix(model: Model, lay: LayoutArray) -> F:
    """Parameters of a layer's largest weight array on one device: Q / output projection, an MLP
    matrix, or the stacked experts of a MoE layer (one array ``[E/ep, h, f]`` in MaxText)."""
    h, t = model.hidden, xp.fl(lay.tp)
    big = float(max(h * model.q_dim, h * model.dense_ffn if model.dense_mlp_layers else 0))
    if model.moe:
        return xp.maximum(big / t, model.moe.experts / lay.ep * h * model.moe.expert_ffn / expert_tp(lay))
    return big / t


def _gathered_memory(st: _Step) -> tuple[F, F]:
    """ZeRO-3 / FSDP buffers gathered for use (layers phase, LM-head phase), in the compute
    format: the unit in use and the next one prefetched, plus the unit's unsharded gradient
    before its reduce-scatter. The unit is a layer (PyTorch FSDP, DeepSpeed ZeRO-3 modules) or,
    with ``fsdp_gather_matrix``, one weight array (XLA gathers each array, one ahead). The LM head
    (or tied embedding) is gathered with its gradient while the loss runs."""
    model, sb = st.model, _state_bytes(st)
    cw = _compute_copy_bytes(st)  # the compute copy that is gathered
    g = lora_fraction(model, st.job.lora_rank) * sb.grads
    emb_dev = model.vocab * model.hidden / st.t
    layers = xp.maximum(stage_layers(model.layers, st.p, st.v), 1.0)
    layer_dev = (st.dense_p - _embedding_tables(model, st.p) * emb_dev + st.expert_p) / layers
    unit = xp.where(st.params.fsdp_gather_matrix > 0, _largest_matrix(model, st.lay), layer_dev)
    on = st.zero3 & (st.dpc > 1)
    return xp.where(on, (2.0 * cw + g) * unit, 0.0), xp.where(on, (cw + g) * emb_dev, 0.0)


@dataclass(frozen=True)
class _Activations:
    saved_first: F  # what the first stage keeps for its in-flight micro-batches
    saved_last: F  # what the last stage keeps for its one micro-batch
    working: F  # one layer's full activations while it is recomputed
    logits: F  # the loss's logits on the last stage


def _activation_memory(st: _Step, saved: _Saved) -> _Activations:
    """Activation terms on the first and the last stage: the stage's layers (Korthikanti et al.
    2022) for the micro-batches in flight on the first stage of 1F1B, × (1 + (p-1)/(p·v))
    interleaved (§4.2.3); one layer's full activations while it is recomputed; the logits."""
    model, lay, s, ab, flash = (
        st.model,
        st.lay,
        st.job.seq_len,
        st.params.act_bytes,
        st.params.flash_attention,
    )
    n_moe = model.moe_layers
    act_layer = xp.maximum(saved.dense, saved.moe) if n_moe else saved.dense
    # activations offloaded to host memory (PerfParams.cpu_offload_layers): their share of every
    # stage's layers leaves the device, one layer's stays in flight
    off = offload_share(st)
    act_stage = (1.0 - off) * saved.stage
    p, v = st.p, st.v
    inflight = xp.minimum(st.mb, p) * xp.where(v > 1, 1.0 + (p - 1.0) / (p * v), 1.0)
    plain = replace(lay, recompute=xp.zeros_like(lay.recompute))
    one_layer = activation_bytes_per_layer(model, plain, s, ab, moe=n_moe > 0, flash=flash)
    working = xp.where(st.full_rc, one_layer, 0.0) + (off > 0) * act_layer
    logits = st.tok * model.vocab / st.t * st.params.logits_bytes / max(st.params.vocab_tiles, 1.0)
    return _Activations(inflight * act_stage, act_stage, working, logits)


def _saved_per_layer(st: _Step, moe: bool) -> F:
    """Activation bytes one (dense or MoE) layer keeps for backward under the step's recompute
    policy and the stack's saving rules, one micro-batch, one device."""
    p = st.params
    dots = p.selective_saves_dots > 0
    return activation_bytes_per_layer(
        st.model,
        st.lay,
        st.job.seq_len,
        p.act_bytes,
        moe=moe,
        flash=p.flash_attention,
        dots_only=dots,
        frozen=st.job.frozen_linears,
        fn_bytes=1.0 if p.fp8_act_fn_store > 0 else None,
        no_fc1=dots and p.selective_recomputes_fc1 > 0,
        lin_bytes=saved_input_bytes(st),
    )


def saved_input_bytes(st: _Step) -> float | None:
    """Bytes per element of the linear layers' inputs a low-precision recipe keeps for the
    weight gradient where the stack keeps them quantised (PerfParams.quantised_inputs_saved:
    Transformer Engine saves the cast input, the column-wise copy the wgrad GEMM reads): the
    recipe's value plus its block scale (fp8 1, MXFP8 1 + 1/32, NVFP4 1/2 + 1/16); None: 16-bit
    (and for LoRA, whose adapters keep the 16-bit inputs)."""
    rec = prec.recipe(st.job.precision)
    # LoRA: a frozen base linear saves no input, and an adapter keeps the 16-bit one for its A
    if st.params.quantised_inputs_saved <= 0 or rec.value_bytes <= 0 or st.job.lora_rank:
        return None
    return rec.value_bytes + (rec.scale_bytes / rec.block if rec.block else 0.0)


@dataclass(frozen=True)
class _Saved:
    """Activation bytes kept for backward, one micro-batch, one device: per dense layer, per MoE
    layer (0 without), and the stage's layers together."""

    dense: F
    moe: F
    stage: F


def _saved(st: _Step) -> _Saved:
    """The step's saved activations, computed once for the memory and the offload's copies."""
    n_moe = st.model.moe_layers
    dense = _saved_per_layer(st, False)
    moe = _saved_per_layer(st, True) if n_moe else 0.0 * dense
    return _Saved(dense, moe, ((st.model.layers - n_moe) * dense + n_moe * moe) * st.per_stage)


def offload_share(st: _Step) -> F:
    """Share of the model's layers whose activations are offloaded to host memory
    (PerfParams.cpu_offload_layers of the model's layers): only where Megatron-Core allows it,
    one pipeline stage and no recompute (it rejects CPU offloading with pipeline parallelism or a
    recompute granularity), and on a chip whose host link is on record (``Chip.host_bw``: the
    copies are priced over it); 0 elsewhere."""
    n = min(max(st.params.cpu_offload_layers, 0.0), float(st.model.layers))
    if n <= 0 or not st.m.chip.host_bw:
        return 0.0 * st.p
    return xp.where((st.p == 1) & (st.lay.recompute == _OFF_NONE), n / st.model.layers, 0.0)


def _offload_time(st: _Step, saved: _Saved, fwd: F, bwd: F) -> F:
    """Exposed time of one micro-batch's activation offload: its share of the stage's saved
    activations leaves for host memory during forward and returns during backward, each way over
    the chip's host link (``Chip.host_bw``, one direction), overlapped with that pass's compute
    (Transformer Engine's offload runs on its own stream), so only a copy longer than its pass
    shows. A chip with no host link on record prices none."""
    bw = st.m.chip.host_bw
    if not bw or st.params.cpu_offload_layers <= 0:
        return 0.0 * fwd
    copy = offload_share(st) * saved.stage / bw
    return xp.maximum(copy - fwd, 0.0) + xp.maximum(copy - bwd, 0.0)


def _memory(st: _Step, saved: _Saved) -> dict[str, F]:
    """Bytes on the most loaded device by MEM_PARTS: the persistent state and saved activations,
    plus the larger of two phases that are never live together. While the layers run backward a
    recomputed layer's activations and the gathered layer weights are live; while the loss and
    the LM head run, the logits and the gathered head are (the head's backward frees the logits
    before the last layer is recomputed). The first stage of a pipeline holds no head."""
    mem_w, mem_g, mem_o = _state_memory(st)
    a = _activation_memory(st, saved)
    w_layer, w_head = _gathered_memory(st)
    layer_phase = a.working + w_layer >= a.logits + w_head
    last_a = a.saved_last + xp.where(layer_phase, a.working, a.logits)
    last_w = xp.where(layer_phase, w_layer, w_head)
    first_a, first_w = a.saved_first + a.working, w_layer
    use_first = (st.p > 1) & (first_a + first_w > last_a + last_w)
    mem_a = xp.where(use_first, first_a, last_a)
    cap = st.m.chip.mem_bytes
    mem_r = xp.full_like(mem_a, st.params.reserved_gib * GIB + st.params.reserved_fraction * cap)
    return {
        "weights": mem_w + xp.where(use_first, first_w, last_w),
        "grads": mem_g,
        "optimizer": mem_o,
        "activations": mem_a,
        "reserved": mem_r,
    }


def _utilisation(st: _Step, tokens_s: F) -> tuple[F, F]:
    """(MFU, HFU) per PaLM App. B: model FLOPs per token (6N + attention, no recomputation; LoRA
    without the frozen weights' gradients) over the dense peak of the training format (16-bit for
    fp8); HFU adds the recomputed FLOPs."""
    model, s, lay = st.model, st.job.seq_len, st.lay
    wgrad = 0.0 if st.job.lora_rank else 1.0
    model_flops = model.train_flops_per_token(s, causal=False) - (1.0 - wgrad) * 2.0 * model.matmul_params()
    full = recompute_share(lay, model.layers) * model_flops / 3.0
    extra = _by_recompute(lay.recompute, full, model.attn_flops_per_token(s, causal=False), 0.0)
    peak = st.m.peak(_half(st.dtype))
    chips = st.t * st.p * st.d * st.c
    return tokens_s * model_flops / (chips * peak), tokens_s * (model_flops + extra) / (chips * peak)


def evaluate_train(job: TrainJob, lay: LayoutArray, m: Machine, params: PerfParams) -> TrainArrays:
    """Step time, its breakdown and memory for every layout in ``lay`` (already structurally valid
    or not: structural reasons are the caller's; this adds MEMORY and DTYPE). One function per term
    above; the step adds them: micro-batches × (compute + recompute + exposed TP/CP/EP) + bubble +
    p2p + exposed DP + optimizer."""
    st = _step_context(job, lay, m, params)
    cp = _compute(st)
    comp_mb = cp.fwd + cp.bwd
    tp_mb, cp_mb, ep_mb = _tp_time(st), _cp_time(st, cp.core), _ep_time(st)
    mb_dev = comp_mb + cp.recompute + tp_mb + ep_mb + cp_mb
    # the host's issue time floors the device's (per micro-batch: both split 1:2 forward/backward)
    host_mb = xp.maximum(_host_time(st) - mb_dev, 0.0)
    saved = _saved(st)
    off_mb = _offload_time(st, saved, cp.fwd, cp.bwd)
    mb_time = mb_dev + host_mb + off_mb
    pp_time, bubble = _pp_time(st, mb_time)
    dp_exposed = _dp_time(st, mb_time, cp.bwd)
    t_opt = _optimizer_time(st)
    step = st.mb * mb_time + bubble + pp_time + dp_exposed + t_opt
    memory = _memory(st, saved)
    cap = m.chip.mem_bytes
    total = memory["weights"] + memory["grads"] + memory["optimizer"] + memory["activations"]
    total = total + memory["reserved"]
    tokens_s = job.global_batch * job.seq_len / step
    mfu, hfu = _utilisation(st, tokens_s)
    reason = xp.where((total > cap) & (not params.ignore_memory), int(Reason.MEMORY), 0)
    if not math.isfinite(m.peak(st.dtype)):
        reason = xp.full_like(reason, int(Reason.DTYPE))
    mb = st.mb
    time = {
        "compute": mb * comp_mb + 0.0,
        "recompute": mb * cp.recompute,
        "tp_comm": mb * tp_mb,
        "cp_comm": mb * cp_mb,
        "ep_comm": mb * ep_mb,
        "host": mb * host_mb,
        "offload": mb * off_mb,
        "pp_comm": pp_time,
        "dp_comm": dp_exposed,
        "bubble": bubble,
        "optimizer": t_opt,
    }
    return TrainArrays(step, time, memory, total, cap, tokens_s, mfu, hfu, reason)

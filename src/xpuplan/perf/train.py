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
from xpuplan.perf import xp
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.units import GIB
from xpuplan.workload.job import TrainJob
from xpuplan.workload.model import Model, state_bytes

F = np.ndarray
_FULL, _SEL = int(Recompute.FULL), int(Recompute.SELECTIVE)  # plain ints: cheap comparisons
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


def _eff(m: Machine, n: F, dtype: str = "bf16") -> F:
    """Achieved fraction of peak for a GEMM whose smallest dimension is ``n``."""
    e = m.chip.efficiency
    top = e.matmul_fp8 if (dtype == "fp8" and e.matmul_fp8 is not None) else e.matmul
    return top * n / (n + e.matmul_knee)


def _gemm_time(m: Machine, peak: float, flops: F, n_min: F, dtype: str = "bf16") -> F:
    return flops / (peak * _eff(m, xp.maximum(n_min, 1.0), dtype))


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
    T = tok * k  # routed rows a device computes (balanced over the EP group)
    tm = params.moe_gmm_tile
    return 1.0 + (G - 1.0) * tm / xp.maximum(T, 1.0), T / G, 0.0 * tok


def _layer_times(
    model: Model,
    lay: LayoutArray,
    m: Machine,
    dtype: str,
    s: int,
    moe: bool,
    flash: bool,
    params: PerfParams | None = None,
) -> tuple[F, F, F]:
    """Forward time of one dense (or MoE) layer for one micro-batch on one device.

    Returns (matmul + element-wise time, attention-core time, element-wise bytes).
    """
    peak = m.peak(dtype)
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp  # tokens per device per micro-batch
    h = model.hidden
    attn_flops = 2.0 * tok * model.attn_params() / t
    t_attn = _gemm_time(m, peak, attn_flops, xp.minimum(xp.minimum(tok, h), model.q_dim / t), dtype)
    if moe and model.moe:
        k = model.moe.top_k + model.moe.shared_experts
        fe = model.moe.expert_ffn
        work, tok_per_expert, dispatch = moe_expert_work(model, lay, s, params or PerfParams())
        routed = 2.0 * tok * model.moe.top_k * model.mlp_params(fe) / t * work
        shared = 2.0 * tok * model.moe.shared_experts * model.mlp_params(fe) / t
        n_exp = xp.minimum(xp.minimum(tok_per_expert, h), fe / t)
        t_mlp = _gemm_time(m, peak, routed, n_exp, dtype)
        t_mlp = t_mlp + _gemm_time(m, peak, shared, xp.minimum(xp.minimum(tok, h), fe / t), dtype)
        t_mlp = t_mlp + _gemm_time(m, peak, tok * dispatch, xp.minimum(tok, h) + 0.0 * t, dtype)
        act_elems: float = k * fe * (3 if model.ffn_type.matrices == 3 else 2)
        # token permutation for dispatch and combine: each routed copy of a token's hidden state is
        # read and written twice (permute, unpermute), plus the router's gate values
        act_elems = act_elems + 4.0 * model.moe.top_k * h
    else:
        f = model.dense_ffn
        t_mlp = _gemm_time(
            m,
            peak,
            2.0 * tok * model.mlp_params(f) / t,
            xp.minimum(xp.minimum(tok, h), f / t),
            dtype,
        )
        act_elems = f * (3 if model.ffn_type.matrices == 3 else 2)
    # Attention core (QKᵀ, A·V) in bf16. Fused (flash): causal, (s+1)/2 keys per query, at the
    # fused-kernel efficiency. Unfused: full s×s batched GEMMs with K = head_dim, and the scores
    # written, soft-maxed, masked and dropped out through memory (~9 bytes per score forward:
    # fused scale-mask-softmax read+write 4, dropout read+write 4, mask 1).
    bf16_peak = m.peak(_half(dtype))
    if flash:
        core_flops = tok * model.attn_flops_per_token(s, causal=True) / model.layers / t
        # each rank's query chunk (s / cp) is cut into 128-query tiles; short chunks idle the
        # pipeline (FlashAttention-2, Dao 2023 §3.2: one thread block per 128-row tile)
        q = s / lay.cp
        t_core = core_flops / (bf16_peak * m.chip.efficiency.attention * q / (q + 128.0))
    else:
        core_flops = tok * model.attn_flops_per_token(s, causal=False) / model.layers / t
        t_core = _gemm_time(m, bf16_peak, core_flops, xp.minimum(model.head_dim, s) + 0.0 * t)
        t_core = t_core + tok * 9.0 * model.heads * s / t / (m.chip.mem_bw * m.chip.efficiency.memory)
    # Element-wise traffic per token: norms and residuals (10·h elements read+written, replicated
    # over TP unless SP), activation function and RoPE (sharded over TP).
    rep = 10.0 * h / xp.where(lay.sp == 1, t, 1.0)
    shard = (act_elems + 2.0 * (model.heads + model.kv_heads) * model.head_dim) / t
    ew_bytes = tok * (rep + shard) * 2.0
    t_ew = ew_bytes / (m.chip.mem_bw * m.chip.efficiency.memory)
    return t_attn + t_mlp + t_ew, t_core, ew_bytes


def activation_bytes_per_layer(
    model: Model,
    lay: LayoutArray,
    s: int,
    act_bytes: float,
    moe: bool,
    flash: bool = True,
    dropout: bool = False,
) -> F:
    """Activation bytes one layer keeps for backward, one micro-batch, one device.

    Korthikanti et al. 2022 Eq. 1-2 generalised: replicated terms (norm inputs, QKV and fc1
    inputs, dropout masks) are split over TP only with SP; the rest always. ``flash`` drops the
    5·a·s score terms (fused attention keeps only softmax statistics).
    """
    t = xp.fl(lay.tp)
    tok = lay.microbatch * s / lay.cp
    h = model.hidden
    if moe and model.moe:
        k = model.moe.top_k + model.moe.shared_experts
        mlp = k * model.moe.expert_ffn * (3 if model.ffn_type.matrices == 3 else 2) + k * h
    else:
        mlp = model.dense_ffn * (3 if model.ffn_type.matrices == 3 else 2)
    rep = 4.0 * h * act_bytes + (2.0 * h if dropout else 0.0)  # bytes per token
    shard = ((model.heads + 2 * model.kv_heads) * model.head_dim + model.q_dim + mlp) * act_bytes
    scores = 0.0 if flash else 5.0 * model.heads * s + 0.0 * lay.cp  # 2+1+2 bytes per score, s keys
    per_tok = rep / xp.where(lay.sp == 1, t, 1.0) + (shard + scores) / t
    full = tok * per_tok
    inputs_only = tok * h * act_bytes / xp.where(lay.sp == 1, t, 1.0)
    sel = tok * (rep / xp.where(lay.sp == 1, t, 1.0) + shard / t)
    # host offload: the layer inputs live in host memory, nothing per layer stays on the device
    kept = xp.where(lay.recompute == _OFF, 0.0, inputs_only)
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
    dense = dense + _embedding_tables(model, p) * emb
    expert = xp.zeros_like(dense)
    if model.moe:
        per_layer = model.moe.experts / lay.ep * model.mlp_params(model.moe.expert_ffn) / t
        expert = model.moe_layers * per_layer * share
    return dense, expert


def evaluate_train(job: TrainJob, lay: LayoutArray, m: Machine, params: PerfParams) -> TrainArrays:
    """Step time, its breakdown and memory for every layout in ``lay`` (already structurally valid
    or not: structural reasons are the caller's; this adds MEMORY and DTYPE)."""
    model, s, B = job.model, job.seq_len, job.global_batch
    # matmul format: fp8/int8/fp32 as asked; bf16 and fp16 run at the 16-bit rate
    dtype = job.precision if job.precision in ("fp8", "int8", "fp32") else "bf16"
    peak = m.peak(dtype)
    t, p, d, c, e, v = (xp.fl(getattr(lay, k)) for k in ("tp", "pp", "dp", "cp", "ep", "vpp"))
    b = xp.fl(lay.microbatch)
    mb = xp.maximum(xp.floor(B / (d * b)), 1.0)  # micro-batches per step per pipeline
    L = model.layers
    n_moe = model.moe_layers
    n_dense = L - n_moe
    ab = params.act_bytes

    # ---- compute per micro-batch, slowest (last) stage ------------------------------------------
    flash = params.flash_attention
    dense_fwd, dense_core, _ = _layer_times(model, lay, m, dtype, s, moe=False, flash=flash)
    if n_moe:
        moe_fwd, moe_core, _ = _layer_times(model, lay, m, dtype, s, moe=True, flash=flash, params=params)
    else:
        moe_fwd, moe_core = 0.0 * dense_fwd, 0.0 * dense_core
    per_stage = stage_layers(L, p, v) / L  # share of the layers on the slowest stage
    fwd_layers = per_stage * (n_dense * (dense_fwd + dense_core) + n_moe * (moe_fwd + moe_core))
    core_layers = per_stage * (n_dense * dense_core + n_moe * moe_core)
    tok = b * s / c
    head_flops = 2.0 * tok * model.vocab * model.hidden / t
    t_head = _gemm_time(
        m, m.peak(_half(dtype)), head_flops, xp.minimum(xp.minimum(tok, model.hidden), model.vocab / t)
    )
    t_head = t_head + 3.0 * tok * model.vocab / t * 4.0 / (m.chip.mem_bw * m.chip.efficiency.memory)
    fwd = fwd_layers + t_head
    # backward = input gradients (1×) + weight gradients (1×); LoRA freezes the base weights, so
    # only input gradients flow through the frozen GEMMs (Hu et al. 2021, §4.2)
    wgrad = 0.0 if job.lora_rank else 1.0
    bwd = (1.0 + wgrad) * (fwd_layers - core_layers) + 2.5 * core_layers + (1.0 + wgrad) * t_head
    rc = _by_recompute(
        lay.recompute,
        fwd_layers,
        core_layers,
        0.0 * fwd,
    )
    comp_mb = fwd + bwd

    # ---- tensor parallel: 2 all-reduces (or RS+AG with SP) per layer fwd, 2 bwd, 2 more if full rc
    _, _, bw_tp, _ = m.group_bw(t, xp.ones_like(t))
    n_tp = (4.0 + 2.0 * (lay.recompute >= _FULL)) * L * per_stage
    t_tp_one = coll.all_reduce(tok * model.hidden * ab, t, bw_tp, m.up_lat)
    tp_mb = n_tp * t_tp_one * (1.0 - params.tp_overlap * lay.tp_overlap)

    # ---- context parallel: ring exchange of K,V per layer (fwd AG, bwd AG + RS), hidden by attention
    kv_shard = 1.0 if model.mla else xp.minimum(t, model.kv_heads)  # KV heads replicate beyond TP = n_kv
    kv_layer = b * s * model.kv_values_per_token() / L * ab / kv_shard
    _, n_out_c, bw_c_in, bw_c_out = m.group_bw(c, t)
    bw_c = xp.where(n_out_c > 1, bw_c_out, bw_c_in)
    cp_one = coll.all_gather(kv_layer, c, bw_c, xp.where(n_out_c > 1, m.out_lat, m.up_lat))
    n_cp = 3.0 + 1.0 * (lay.recompute >= _FULL)  # fwd all-gather, bwd all-gather + reduce-scatter
    cp_mb = xp.maximum(n_cp * cp_one * L * per_stage - 3.5 * core_layers, 0.0)

    # ---- expert parallel: dispatch + combine all-to-all per MoE layer, fwd and bwd
    if model.moe:
        a2a = tok * model.moe.top_k * model.hidden * ab / t
        n_in_e, n_out_e, bw_e_in, bw_e_out = m.group_bw(e, t * c)
        # the share bound for ranks in the same domain moves on the fast fabric while the rest
        # crosses the scale-out network, at the same time: the slower of the two sets the pace
        inside = (n_in_e - 1.0) / e * a2a / bw_e_in
        outside = (e - n_in_e) / e * a2a / bw_e_out
        lat = xp.where(n_out_e > 1, m.out_lat, m.up_lat) * xp.ceil(xp.log2(xp.maximum(e, 2.0)))
        one_a2a = xp.where(e > 1, xp.maximum(inside, outside) + lat, 0.0)
        n_a2a = 4.0 + 2.0 * (lay.recompute >= _FULL)  # dispatch + combine, fwd and bwd (+ recompute)
        ep_mb = n_a2a * n_moe * per_stage * one_a2a
        ep_mb = ep_mb * (1.0 - params.ep_overlap)
    else:
        ep_mb = 0.0 * fwd

    # ---- pipeline: p2p per micro-batch per boundary, bubble (p-1)/v stage-times
    mb_time = comp_mb + rc + tp_mb + ep_mb + cp_mb
    _, n_out_p, _, _ = m.group_bw(p, t * c * d)
    bw_p = xp.where(n_out_p > 1, m.out_bw, m.up_bw)
    # Megatron's scatter/gather optimisation (Narayanan et al. 2021 §4.1) splits each p2p over the
    # TP ranks' links, as SP does.
    p2p = coll.p2p(tok * model.hidden * ab / t, bw_p, xp.where(n_out_p > 1, m.out_lat, m.up_lat))
    pp_time = xp.where(p > 1, 2.0 * (mb * v + p - 1.0) * p2p, 0.0)
    bubble = (p - 1.0) / v * mb_time

    # ---- data parallel: gradient reduction (+ parameter gathers for ZeRO-3) over DP×CP
    dense_p, expert_p = _params_per_device(model, lay)
    sb = state_bytes(job.precision)
    dpc = d * c
    n_in_d, n_out_d, bw_d_in, bw_d_out = m.group_bw(dpc, t)
    edp = xp.maximum(dpc / e, 1.0)
    n_in_x, n_out_x, bw_x_in, bw_x_out = m.group_bw(edp, t * e)

    def dp_coll(size: F, both: bool) -> F:
        a = coll.hierarchical_all_reduce if both else coll.hierarchical_all_gather
        return a(size, n_in_d, n_out_d, bw_d_in, m.up_lat, bw_d_out, m.out_lat)

    def ep_dp_coll(size: F, both: bool) -> F:
        if not model.moe:  # no experts, no expert-data-parallel collective (nor its latency)
            return 0.0 * size
        a = coll.hierarchical_all_reduce if both else coll.hierarchical_all_gather
        return a(size, n_in_x, n_out_x, bw_x_in, m.up_lat, bw_x_out, m.out_lat)

    gbytes = max(params.grad_comm_bytes, sb.grads)  # fp32 training communicates 4-byte gradients
    # trainable parameters: all, or only the LoRA adapters (frozen weights have no grads/optimizer)
    lora_share = lora_fraction(model, job.lora_rank)
    zero3 = lay.zero >= 3
    full_red = dp_coll(dense_p * gbytes, both=True) + ep_dp_coll(expert_p * gbytes, both=True)
    # ZeRO-3 only reduce-scatters gradients (its parameter gathers are priced in z3_total)
    scatter = dp_coll(dense_p * gbytes, both=False) + ep_dp_coll(expert_p * gbytes, both=False)
    grad_red = lora_share * xp.where(zero3, scatter, full_red)
    gather = dp_coll(dense_p * sb.weights, both=False) + ep_dp_coll(expert_p * sb.weights, both=False)
    # ZeRO 0: all-reduce. ZeRO 1/2: reduce-scatter grads + all-gather params (same volume).
    # ZeRO 3: all-gather params in forward and in backward of every micro-batch, prefetched.
    # Overlap: without ZeRO-3 the bucketed gradient reduction hides behind the last micro-batch's
    # backward; with ZeRO-3 the prefetched parameter gathers and the reduction share the whole
    # step's micro-batches as their window: compute and the TP/CP/EP exchanges it does not hide
    # (issue 19: a window of compute alone shrank faster than faster compute saved, when the CP
    # exchange it hid grew back). One window per step, so faster compute never hides more.
    ov = params.dp_overlap * lay.dp_overlap
    z3_total = xp.where(zero3 & (dpc > 1), mb * 2.0 * gather, 0.0)
    window = xp.where(zero3, mb * mb_time, bwd)
    dp_exposed = xp.maximum(grad_red + z3_total - ov * window, 0.0)

    # ---- optimizer: memory-bound Adam update over the local shard
    shard_div = xp.where(lay.zero >= 1, dpc, 1.0)
    opt_params = lora_share * (dense_p / shard_div + expert_p / xp.where(lay.zero >= 1, edp, 1.0))
    t_opt = params.optimizer_bytes_per_param * opt_params / (m.chip.mem_bw * m.chip.efficiency.memory)

    step = mb * mb_time + bubble + pp_time + dp_exposed + t_opt

    # ---- memory per device -----------------------------------------------------------------------
    w_div = xp.where(zero3, dpc, 1.0)
    w_div_x = xp.where(zero3, edp, 1.0)
    g_div = xp.where(lay.zero >= 2, dpc, 1.0)
    g_div_x = xp.where(lay.zero >= 2, edp, 1.0)
    mem_w = sb.weights * (dense_p / w_div + expert_p / w_div_x)
    # ZeRO-3 holds gathered copies too: the current and the prefetched layer (weights) and the
    # current layer's unsharded gradient, plus the gathered embedding / LM head on an end stage
    emb_dev = model.vocab * model.hidden / t
    layer_dev = (dense_p - _embedding_tables(model, p) * emb_dev + expert_p) / xp.maximum(
        stage_layers(L, p, v), 1.0
    )
    gathered = (2.0 * sb.weights + lora_share * sb.grads) * layer_dev + sb.weights * emb_dev
    mem_w = mem_w + xp.where(zero3 & (dpc > 1), gathered, 0.0)
    mem_g = lora_share * sb.grads * (dense_p / g_div + expert_p / g_div_x)
    mem_o = sb.optimizer * opt_params
    act_dense = activation_bytes_per_layer(model, lay, s, ab, moe=False, flash=flash)
    act_moe = (
        activation_bytes_per_layer(model, lay, s, ab, moe=True, flash=flash) if n_moe else 0.0 * act_dense
    )
    act_stage = (n_dense * act_dense + n_moe * act_moe) * per_stage
    inflight = xp.minimum(mb, p) * xp.where(v > 1, 1.0 + (p - 1.0) / (p * v), 1.0)
    one_layer = activation_bytes_per_layer(
        model,
        replace(lay, recompute=xp.zeros_like(lay.recompute)),
        s,
        ab,
        moe=n_moe > 0,
        flash=flash,
    )
    working = xp.where(lay.recompute >= _FULL, one_layer, 0.0)
    act_first = inflight * act_stage + working
    logits = tok * model.vocab / t * 6.0  # bf16 logits + fp32 copy for the loss
    act_last = act_stage + working + logits
    mem_a = xp.maximum(act_first, xp.where(p > 1, act_last, act_first + logits))
    cap = m.chip.mem_bytes
    mem_r = xp.full_like(mem_a, params.reserved_gib * GIB + params.reserved_fraction * cap)
    total = mem_w + mem_g + mem_o + mem_a + mem_r

    tokens_s = B * s / step
    model_flops = model.train_flops_per_token(s, causal=False) - (1.0 - wgrad) * 2.0 * model.matmul_params()
    hw_flops = model_flops + _by_recompute(
        lay.recompute,
        model_flops / 3.0,
        model.attn_flops_per_token(s, causal=False),
        0.0,
    )
    peak_mfu = m.peak(_half(dtype))  # PaLM App. B: the dense peak of the training format (16-bit for fp8)
    chips = t * p * d * c
    mfu = tokens_s * model_flops / (chips * peak_mfu)
    hfu = tokens_s * hw_flops / (chips * peak_mfu)
    reason = xp.where((total > cap) & (not params.ignore_memory), int(Reason.MEMORY), 0)
    if not math.isfinite(peak):
        reason = xp.full_like(reason, int(Reason.DTYPE))
    time = {
        "compute": mb * comp_mb + 0.0,
        "recompute": mb * rc,
        "tp_comm": mb * tp_mb,
        "cp_comm": mb * cp_mb,
        "ep_comm": mb * ep_mb,
        "pp_comm": pp_time,
        "dp_comm": dp_exposed,
        "bubble": bubble,
        "optimizer": t_opt,
    }
    memory = {
        "weights": mem_w,
        "grads": mem_g,
        "optimizer": mem_o,
        "activations": mem_a,
        "reserved": mem_r,
    }
    return TrainArrays(step, time, memory, total, cap, tokens_s, mfu, hfu, reason)

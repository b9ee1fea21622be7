"""Serving: prefill and decode time, KV-cache capacity, latency and throughput (arrays of configs).

References:

* Prefill is compute-bound: ``2·P`` FLOPs per prompt token plus causal attention; decode is
  memory-bound: every step reads the weights once and each sequence's KV cache (Pope et al. 2022,
  "Efficiently Scaling Transformer Inference", §2-3; the JAX scaling book, "All about inference").
  Each is priced as a smooth roofline (perf/machine.py ``roofline``) of ``FLOPs / achieved FLOP/s``
  and ``bytes / achieved bytes/s`` (the larger of the two where ``roofline_p`` is infinite), with
  the same shape-dependent GEMM efficiency as training.
* MoE decode reads only the experts the batch touches: ``E·(1 - (1 - k/E)^B)`` per layer.
* Continuous batching (Orca, Yu et al. 2022; chunked prefill, Sarathi, Agrawal et al. 2024): in a
  steady state at concurrency ``C`` each step decodes ``C`` tokens and prefills the prompts of the
  ``C/O`` requests that replaced finished ones; TPOT is that step time.
* TP all-reduces two per layer (Megatron); PP passes activations stage to stage, and a token visits
  every stage in turn. A step of several sequences runs as up to ``pp`` micro-batches in flight,
  one per stage (:func:`pipeline_microbatches`), so the stages work at once instead of in turn.
* Attention data parallelism (``PerfParams.attention_dp``: TensorRT-LLM ``enable_attention_dp``,
  SGLang ``--enable-dp-attention``): inside the TP group each rank runs attention for its own
  sequences with the whole attention weights, so a sequence's KV cache lives on one rank, and the
  MoE layers exchange tokens with their experts' ranks by all-to-all (DeepSeek-V3 report §3.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xpuplan.perf import collectives as coll
from xpuplan.perf.machine import Machine, roofline
from xpuplan.perf.params import PerfParams
from xpuplan.units import GIB
from xpuplan.workload.job import ServeJob
from xpuplan.workload.model import Model

F = np.ndarray

# Serving-side reasons (codes continue the training ones in layout.Reason's spirit).
OK, TP_HEADS, TP_DOMAIN, PP_LAYERS, EP_EXPERTS, MEMORY, KV_CAPACITY, DTYPE, TTFT, TPOT, RATE = range(11)
SERVE_REASON_TEXT = {
    OK: "fits",
    TP_HEADS: "attention heads must be divisible by TP",
    TP_DOMAIN: "TP group is larger than the scale-up domain",
    PP_LAYERS: "more pipeline stages than layers",
    EP_EXPERTS: "experts must be divisible by EP (EP > 1 needs an MoE model)",
    MEMORY: "the weights do not fit in device memory",
    KV_CAPACITY: "the KV cache for this batch does not fit next to the weights",
    DTYPE: "the chip has no compute path for this number format",
    TTFT: "misses the time-to-first-token target",
    TPOT: "misses the time-per-output-token target",
    RATE: "cannot sustain the request rate at any batch that fits",
}


@dataclass(frozen=True)
class ServeConfig:
    """Serving configurations as equal-length columns: TP, PP, EP and sequences in flight."""

    tp: F
    pp: F
    ep: F
    batch: F

    @classmethod
    def one(cls, tp: int = 1, pp: int = 1, ep: int = 1, batch: int = 1) -> ServeConfig:
        return cls(*(np.array([v], dtype=np.int64) for v in (tp, pp, ep, batch)))


@dataclass(frozen=True)
class ServeArrays:
    """Per-config results: seconds, tokens/s, bytes per device."""

    ttft: F  # time to first token (prefill of one request's prompt, plus waiting one step)
    tpot: F  # time per output token (one decode step)
    e2e: F  # end-to-end latency of one request
    output_tokens_per_s: F
    total_tokens_per_s: F
    requests_per_s: F
    prefill_s: F  # prefill of the whole batch (static batching)
    weights_bytes: F
    kv_bytes: F
    max_batch: F  # sequences the KV cache can hold
    reason: F


def compute_dtype(job: ServeJob, m: Machine) -> str:
    """Format the matmuls run in: fp8 weights on fp8 hardware run in fp8; other quantised formats
    are dequantised to 16-bit (weight-only quantisation, e.g. AWQ/GPTQ W4A16)."""
    if job.weights == "fp4" and m.chip.supports("fp4"):
        return "fp4"
    if job.weights in ("fp8", "fp4") and m.chip.supports("fp8"):
        return "fp8"
    return "bf16" if m.chip.supports("bf16") else "fp16"


def gemm_path(
    job: ServeJob, m: Machine, params: PerfParams | None = None, rows: F | float | None = None
) -> tuple[str, F | float]:
    """(format, peak FLOP/s) the step's GEMMs run at. 4-bit block weights on a CPU under a stack
    with an integer kernel (``params.cpu_q4_int8_fraction``, llama.cpp's q4_0 x q8_0 kernels:
    weights unpacked to int8 per block, activations quantised to q8_0; over repacked weights its
    GEMM and, ``params.cpu_q4_gemv_fraction``, its GEMV) run on the chip's int8 path at the share
    of its peak the kernels' instruction mix allows for a step of ``rows`` tokens
    (:func:`cpu_rows_share`; None: the GEMM's); everything else at :func:`compute_dtype`'s format
    and peak."""
    k = params.cpu_q4_int8_fraction if params is not None else 0.0
    if k > 0 and job.weights == "int4" and m.chip.category == "cpu" and m.chip.supports("int8"):
        gemv = params.cpu_q4_gemv_fraction if params is not None else 0.0
        tail = params.cpu_q4_tail_fraction if params is not None else 0.0
        share = k if rows is None else cpu_rows_share(rows, k, gemv, tail)
        return "int8", _peak(m, "int8") * share
    dt = compute_dtype(job, m)
    return dt, _peak(m, dt)


# token rows the repacked GEMM takes at a time (llama.cpp repack.cpp: the largest multiple of 4;
# the 0-3 rows left run through the GEMV one at a time), and the rows of its main loop's block
# (arch/arm/repack.cpp: 16 rows an iteration; the rows past the last whole block, four at a time,
# in its row-tail loop)
GEMM_ROWS = 4
GEMM_BLOCK_ROWS = 16


def cpu_rows_share(rows: F | float, gemm: float, gemv: float, tail: float = 0.0) -> F | float:
    """Share of the int8 peak a step of ``rows`` token rows reaches when a GEMM takes them in
    multiples of :data:`GEMM_ROWS`, those in whole blocks of :data:`GEMM_BLOCK_ROWS` at ``gemm``
    and the rest of them at ``tail`` (0: ``gemm``), and a GEMV the rows left at ``gemv``: the rows
    over the time they take, ``rows / (b / gemm + t / tail + r / gemv)`` (a decode step's one
    row: ``gemv``). ``gemv`` 0: one kernel for every count."""
    if gemv <= 0:
        return gemm + 0.0 * rows
    tail = tail if tail > 0 else gemm
    n = np.maximum(rows, 1.0)
    g = np.floor(n / GEMM_ROWS) * GEMM_ROWS
    b = np.floor(g / GEMM_BLOCK_ROWS) * GEMM_BLOCK_ROWS
    return n / (b / gemm + (g - b) / tail + (n - g) / gemv)


def _peak(m: Machine, dtype: str) -> float:
    p = m.chip.peak(dtype)
    if p is None:
        p = m.chip.peak("fp16") or m.chip.peak("bf16") or m.chip.peak("fp32") or float("nan")
    return p


def _gemm(m: Machine, peak: F | float, flops: F, n: F, fp8: bool) -> F:
    """GEMM time at the serving-engine fraction of the chip (``Efficiency.matmul_serve``, fitted
    on its compute-bound serving cases), else the large-GEMM fraction of the format."""
    e = m.chip.efficiency
    top = e.matmul_serve
    if top is None:
        top = e.matmul_fp8 if (fp8 and e.matmul_fp8 is not None) else e.matmul
    return flops / (peak * top * n / (n + e.matmul_knee))


def weight_bytes(model: Model, job: ServeJob, tp: F, pp: F, ep: F, adp: bool = False) -> tuple[F, F]:
    """(bytes per device, bytes per expert per device) of the weights. ``adp`` (attention data
    parallelism): every rank of the TP group holds the whole attention weights."""
    w = job.weight_bytes_per_param
    dense = (model.params() - _expert_params(model)) * w / (tp * pp)
    if adp:
        dense = dense + model.layers * model.attn_params() * w * (1.0 - 1.0 / tp) / pp
    # EP spreads whole experts over the TP group's ranks (ep = tp) or TP slices each expert (ep = 1):
    # either way a rank holds 1/tp of the expert weights, and one expert there weighs ep/tp of one
    experts = _expert_params(model) * w / (tp * pp)
    per_expert = 0.0 * tp
    if model.moe:
        per_expert = model.mlp_params(model.moe.expert_ffn) * model.moe_layers * w * ep / (tp * pp)
    return dense + experts, per_expert


def _expert_params(model: Model) -> float:
    if not model.moe:
        return 0.0
    return float(model.moe_layers * model.moe.experts * model.mlp_params(model.moe.expert_ffn))


def _routed_params(model: Model) -> float:
    """The routed-expert weights one token runs through (top-k experts over the MoE layers)."""
    if not model.moe:
        return 0.0
    return float(model.moe_layers * model.moe.top_k * model.mlp_params(model.moe.expert_ffn))


def kv_bytes_per_token(
    model: Model, job: ServeJob, tp: F, pp: F, ranks: float = 1.0, adp: bool = False, to_mha: float = 0.0
) -> F:
    """KV bytes one token occupies on one device (GQA heads split over TP up to the KV-head count;
    MLA's latent is replicated over TP). With ``ranks`` > 1 TP ranks per chip each rank keeps its
    own whole KV heads (:func:`_rank_kv_heads`; ``to_mha``: PerfParams.gqa_convert_to_mha). With
    ``adp`` each sequence's whole KV lives on one of the ``tp`` ranks, so a device holds ``1/tp`` of
    the batch's: per token of the batch, ``1/tp``."""
    shard = np.ones_like(tp, dtype=float) if model.mla else np.minimum(tp, model.kv_heads).astype(float)
    if adp:
        shard = np.asarray(tp, dtype=float)
    elif ranks > 1:
        n = 1 if model.mla else model.kv_heads
        heads = _rank_heads(n, tp, ranks) if model.mla else _rank_kv_heads(model, tp, ranks, to_mha)
        shard = n / heads
    return model.kv_bytes_per_token(job.kv_bytes_per_value) / (shard * pp)


def _rank_kv_heads(model: Model, tp: F, ranks: float, to_mha: float) -> F:
    """KV heads one chip holds when it hosts ``ranks`` of the ``R = ranks·tp`` TP ranks. KV heads
    that divide over the ranks are split; GQA KV heads that do not are replicated one per rank
    where R is a multiple of them (GQA.REPLICATE_TO_TP_DEGREE), else (or always, ``to_mha``)
    replicated up to the padded query heads, as many as the chip's query heads (GQA.CONVERT_TO_MHA;
    neuronx-distributed-inference@4bcdc54b modules/attention/gqa.py get_shardable_head_counts)."""
    kv, R = model.kv_heads, ranks * tp
    split = kv % R == 0
    mha = ~split & ((to_mha > 0) | (R % kv != 0))
    return np.where(mha, _rank_heads(model.heads, tp, ranks), _rank_heads(kv, tp, ranks))


def _rank_heads(heads: int, tp: F, ranks: float) -> F:
    """Attention heads one chip holds when it hosts ``ranks`` of the ``ranks·tp`` TP ranks and each
    rank takes a whole number of them, at least one: heads that do not divide are padded and KV
    heads fewer than the ranks are replicated, one per rank (NxD Inference GQA sharding:
    REPLICATE_TO_TP_DEGREE, '8 K/V heads with tp_degree=32 results in 32 K/V heads', else
    CONVERT_TO_MHA; aws-neuron-sdk@81ce03ae libraries/nxd-inference/developer_guides/
    feature-guide.rst; vllm-neuron docs/design/parallelism/tensor_parallelism.md 'KV heads per
    rank: 1 (replicated)')."""
    return ranks * np.maximum(1.0, np.ceil(heads / (ranks * tp)))


def _weights_read(
    model: Model, job: ServeJob, tp: F, pp: F, ep: F, tokens: F, adp: bool = False
) -> tuple[F, F]:
    """(dense, routed-expert) weight bytes one device reads in a step of ``tokens`` tokens.

    The dense part (attention, shared experts, routers, norms, LM head) is read once per step; an
    untied input embedding is a lookup, so only the batch's rows are read. Of the routed experts
    only those the batch touches are read, each once (fused MoE kernels: TensorRT-LLM
    ``fused_moe``, vLLM ``fused_moe`` run one grouped GEMM over the experts with tokens, each
    expert's weights streamed once for all its tokens): the expected number of distinct experts
    hit by ``tokens`` top-k draws, ``E·(1 - (1 - k/E)^T)``, spread over the EP ranks."""
    dense_w, per_expert = weight_bytes(model, job, tp, pp, ep, adp)
    w = job.weight_bytes_per_param
    if not model.tied_embeddings:
        dense_w = dense_w - float(model.vocab * model.hidden) * w / (tp * pp)
    if not model.moe:
        return dense_w, 0.0 * dense_w
    E, k = model.moe.experts, model.moe.top_k
    touched = E * (1.0 - (1.0 - k / E) ** np.maximum(tokens, 1.0))
    dense_only = dense_w - _expert_params(model) * w / (tp * pp)
    return dense_only, per_expert * touched / ep


def _expert_gemm_time(
    model: Model,
    m: Machine,
    peak: F | float,
    fp8: bool,
    tp: F,
    pp: F,
    ep: F,
    tokens: F,
    read: F,
    bw: float,
    p: float = math.inf,
) -> F:
    """Routed-expert GEMMs of one step on one device, a roofline of their own (the grouped GEMM
    is a kernel apart from the dense ones): the step's ``2·T·k·P_expert`` FLOPs (``P_expert`` =
    one expert's weights over the MoE layers, 1/tp of them per device) at the GEMM efficiency of
    the expert's weight sides, ``hidden`` and its FFN width (whole with EP, ``ep = tp``; 1/tp of
    it when TP slices every expert, ``ep = 1``), against reading the touched experts' weights.

    The tokens routed to an expert (its ``M``) are not in the efficiency, as for the dense GEMMs:
    ``n / (n + knee)`` at ``n = M`` tends to ``2·N·K·knee / peak`` as ``M -> 0``, a full knee of
    padded rows (256 on H100), which makes one-token expert decode compute-bound on chips with few
    FLOPs per byte (M2 Ultra int4: 9x its weight read) where engines stream the weights; the
    weight-read term prices small ``M``."""
    if not model.moe:
        return 0.0 * tokens
    flops = 2.0 * _routed_params(model) * tokens / (tp * pp)
    n = np.minimum(model.hidden, model.moe.expert_ffn * ep / tp) + 0.0 * tokens
    return roofline(_gemm(m, peak, flops, n, fp8), read / bw, p)


def _comm_time(model: Model, m: Machine, tp: F, pp: F, tokens: F) -> tuple[F, F]:
    """(TP, PP) communication of one step: the TP all-reduce of the step's activations twice per
    layer (Megatron-LM, Shoeybi 2019 §3), and pp − 1 point-to-point hand-offs of them."""
    act = tokens * model.hidden * 2.0
    _, _, bw_tp, _ = m.group_bw(tp, np.ones_like(tp))
    t_tp = 2.0 * model.layers / pp * coll.all_reduce(act, tp, bw_tp, m.up_lat)
    _, n_out_p, _, _ = m.group_bw(pp, tp)
    bw_p = np.where(n_out_p > 1, m.out_bw, m.up_bw)
    lat_p = np.where(n_out_p > 1, m.out_lat, m.up_lat)  # hand-offs inside a domain pay its latency
    return t_tp, (pp - 1.0) * coll.p2p(act / tp, bw_p, lat_p)


def decode_attn_flops(model: Model) -> float:
    """Attention FLOPs of one decode token per context position. MLA decodes in its latent space
    (weight absorption: MQA with QK head dim ``kv_lora_rank + qk_rope_head_dim`` and V head dim
    ``kv_lora_rank`` against the cached latent; DeepSeek-V2, arXiv 2405.04434 §2.1.2; vLLM
    vllm-project/vllm@15daa36 vllm/attention/backends/mla/common.py, 'Data-Movement Friendly
    Approach (i.e. _forward_decode)'), every head over ``d_qk + d_v`` = 576 + 512 for DeepSeek-V3;
    prefill keeps the decompressed heads (:meth:`Model.attn_flops_per_token`)."""
    if model.mla is None:
        return model.attn_flops_per_token(1.0, causal=False)
    d = 2 * model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
    return 2.0 * model.layers * model.heads * d


def _adp_comm_time(model: Model, m: Machine, tp: F, pp: F, tokens: F) -> F:
    """Communication of one step under attention data parallelism over the ``tp`` ranks: each MoE
    layer dispatches every token's hidden state to the ranks of its ``top_k`` experts and combines
    the results back, two all-to-alls of ``tokens/tp · k · hidden`` 16-bit values per rank
    (DeepSeek-V3 report §3.4; TensorRT-LLM wide-EP dispatch and combine); a dense layer gathers
    the group's tokens and scatters its result (an all-gather and a reduce-scatter: one
    all-reduce's bytes). PP hand-offs are priced by :func:`_comm_time`."""
    act = tokens * model.hidden * 2.0  # the step's activations over the whole group, bytes
    _, _, bw, _ = m.group_bw(tp, np.ones_like(tp))
    k = model.moe.top_k if model.moe else 1
    a2a = coll.all_to_all(act / tp * k, tp, bw, m.up_lat)
    dense = model.layers - model.moe_layers
    return (2.0 * model.moe_layers * a2a + dense * coll.all_reduce(act, tp, bw, m.up_lat)) / pp


def _rank_hops_latency(m: Machine, tp: F, ranks: float) -> F:
    """Extra latency of one TP all-reduce when each chip hosts ``ranks`` TP ranks: the collective
    runs over all ``ranks·tp`` ranks (Neuron's collectives span NeuronCores, aws-neuron-sdk@81ce03ae
    neuron-runtime/about/collectives.rst), so its tree takes ``2·log2(ranks·tp)`` latency steps,
    not the ``2·log2(tp)`` of one rank per chip (perf/collectives.py all_reduce); 0 for one rank."""
    if ranks <= 1:
        return 0.0 * tp
    return 2.0 * (np.ceil(np.log2(ranks * tp)) - np.ceil(np.log2(np.maximum(tp, 1.0)))) * m.up_lat


def decode_context(I: float, O: float, bucket: float) -> float:
    """Mean context the decode steps' attention reads over an ``O``-token output after an
    ``I``-token prompt: ``I + O/2``; with token-generation buckets (``bucket`` > 0, the smallest)
    each step reads the KV cache of the smallest bucket that holds its position, the buckets
    doubling from ``bucket`` up to ``I + O``, the last one ``I + O`` itself (static shapes: the
    attention spans the whole bucket; Transformers NeuronX developer guide, 'Token generation
    buckets', aws-neuron-sdk@81ce03ae archive/transformers-neuronx/
    transformers-neuronx-developer-guide.rst; transformers-neuronx@0623de2 bucket.py token_sizes)."""
    if bucket <= 0:
        return I + O / 2.0
    top, lo, total = I + O, I, 0.0
    while lo < top:
        hi = min(bucket, top)
        if hi > lo:
            total += (hi - lo) * hi  # positions lo+1 .. hi run in bucket hi
            lo = hi
        bucket *= 2.0
    return total / O


def pipeline_microbatches(pp: F, decode: F, prefill: F, prefill_ctx: float) -> F:
    """Micro-batches a pipelined engine splits one step's sequences into: ``min(pp, sequences)``,
    at least 1. Its sequences are the ``decode`` ones plus the prompts its ``prefill`` tokens
    belong to (``prefill / prefill_ctx``). TensorRT-LLM's in-flight batching runs PP micro-batches
    (``mNumMicroBatches = getPipelineParallelism()``, NVIDIA/TensorRT-LLM@00825c4e cpp/
    tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp); vLLM runs one virtual engine per
    stage (``pipeline_parallel_size`` schedulers). A single sequence (one prompt, a batch of one)
    cannot be split: it visits the stages in turn while the others idle."""
    seqs = np.floor(decode + prefill / max(prefill_ctx, 1.0))
    return np.maximum(np.minimum(pp, seqs), 1.0)


def _attention_time(
    model: Model, m: Machine, split: F, kv_tok: F, decode: F, ctx: F, prefill: F, prefill_ctx: float, p: float
) -> F:
    """Attention of one stage pass: decode reads each sequence's KV cache (``kv_tok`` bytes per
    token per device); prefill is compute-bound, causal; the FLOPs are split ``split`` ways (TP·PP
    over the padding of the heads), at the chip's attention fraction of the 16-bit peak."""
    flops = decode * decode_attn_flops(model) * ctx + prefill * model.attn_flops_per_token(
        prefill_ctx, causal=True
    )
    bw = m.chip.mem_bw * m.chip.efficiency.memory
    compute = flops / split / (_peak(m, "bf16") * m.chip.efficiency.attention)
    return roofline(compute, (decode * ctx + prefill) * kv_tok / bw, p)


def _step(
    model: Model,
    job: ServeJob,
    m: Machine,
    cfg: ServeConfig,
    decode: F,
    ctx: F,
    prefill: F,
    prefill_ctx: float,
    params: PerfParams | None = None,
) -> F:
    """Time of one forward step: ``decode`` tokens at context ``ctx`` plus ``prefill`` prompt tokens
    (causal attention over ``prefill_ctx``) through all stages. With ``pp`` stages the step's
    sequences run as ``u`` micro-batches (:func:`pipeline_microbatches`): a micro-batch takes ``pp``
    stage passes of ``1/u`` of the tokens, and the ``u`` of them overlap on the stages, so the step
    (every sequence one token further) is ``pp`` passes of ``1/u`` of the tokens; each pass reads
    the stage's weights again (the memory-bound decode gains nothing, the compute-bound step up to
    ``pp``-fold)."""
    tp, pp, ep = (x.astype(float) for x in (cfg.tp, cfg.pp, cfg.ep))
    u = pipeline_microbatches(pp, decode, prefill, prefill_ctx)
    decode, prefill = decode / u, prefill / u  # one micro-batch's share of the step
    tokens = decode + prefill
    dt, peak = gemm_path(job, m, params, tokens)
    fp8 = dt in ("fp8", "fp4")  # low-precision GEMMs reach the chip's fp8 fraction
    bw = m.chip.mem_bw * m.chip.efficiency.memory
    adp = params is not None and params.attention_dp
    w_dense, w_exp = _weights_read(model, job, tp, pp, ep, tokens, adp)
    vh = float(model.vocab * model.hidden)
    ranks = params.tp_ranks_per_chip if params is not None else 1.0
    pad = 1.0 if adp else _rank_heads(model.heads, tp, ranks) * tp / model.heads  # padded heads (>= 1)
    dense_body = model.matmul_params(active=True) - vh - _routed_params(model)
    attn = model.layers * model.attn_params()
    # the LM head runs for decode tokens and for the last token of each prompt only
    head_tokens = decode + prefill / max(prefill_ctx, 1.0)
    gemm_flops = (2.0 * (dense_body + attn * (pad - 1.0)) * tokens + 2.0 * vh * head_tokens) / (tp * pp)
    # dense GEMM shape efficiency from the weight dimensions only: with few tokens (decode) the GEMM
    # is memory-bound and the roofline's weight-read term already sets its time
    n_min = np.minimum(np.minimum(model.hidden, model.dense_ffn / tp), model.q_dim / tp) + 0.0 * tokens
    rp = params.roofline_p if params is not None else math.inf  # machine.roofline's exponent
    t_gemm = roofline(_gemm(m, peak, gemm_flops, n_min, fp8), w_dense / bw, rp)
    # the routed experts' grouped GEMMs run after the dense ones, each kernel its own roofline
    # llama.cpp's repacked weights run every routed expert's rows through the GEMV (repack.cpp
    # forward_mul_mat_id), one row at a time whatever the step's token count
    peak_exp = gemm_path(job, m, params, 1.0)[1]
    t_gemm = t_gemm + _expert_gemm_time(model, m, peak_exp, fp8, tp, pp, ep, tokens, w_exp, bw, rp)
    kv_tok = kv_bytes_per_token(model, job, tp, pp, ranks, adp, params.gqa_convert_to_mha if params else 0.0)
    t_attn = _attention_time(model, m, tp * pp / pad, kv_tok, decode, ctx, prefill, prefill_ctx, rp)
    t_tp, t_pp = _comm_time(model, m, tp, pp, tokens)
    t_tp = _adp_comm_time(model, m, tp, pp, tokens) if adp else t_tp
    t_tp = t_tp + 2.0 * model.layers / pp * _rank_hops_latency(m, tp, ranks)
    # the stack's fixed time per layer per pass (kernel gaps and dispatch, PerfParams.
    # layer_overhead_s): a stage pass runs its layers/pp layers
    t_fixed = (params.layer_overhead_s if params is not None else 0.0) * model.layers / pp
    # a micro-batch passes through all pp stages; each stage holds 1/pp of the layers (already
    # divided); the u micro-batches in flight fill the stages the others left
    return pp * (t_gemm + t_attn + t_tp + t_fixed) + t_pp


def evaluate_serve(
    job: ServeJob, cfg: ServeConfig, m: Machine, params: PerfParams, mode: str = "static"
) -> ServeArrays:
    """Latency and throughput of every config. ``mode``: ``static`` (a batch of ``batch`` requests
    start together) or ``continuous`` (``batch`` requests in flight, steady state)."""
    model = job.model
    I, O = float(job.input_len), float(job.output_len)
    tp, pp, ep = (x.astype(float) for x in (cfg.tp, cfg.pp, cfg.ep))
    B = cfg.batch.astype(float)
    zero = 0.0 * B
    # memory
    w, _ = weight_bytes(model, job, tp, pp, ep, params.attention_dp)
    kv_tok = kv_bytes_per_token(
        model, job, tp, pp, params.tp_ranks_per_chip, params.attention_dp, params.gqa_convert_to_mha
    )
    act = (I * model.hidden * 2.0 * 4.0 + model.vocab * 4.0) / tp  # one prompt's buffers; logits: last token
    free = (
        m.chip.mem_bytes - w - act - (params.reserved_gib * GIB + params.reserved_fraction * m.chip.mem_bytes)
    )
    # paged KV cache (vLLM): static batches hold full-length sequences at the end; in a continuous
    # steady state sequences are on average half-way through their output, unless the scheduler
    # reserves each request's whole length when it admits it (PerfParams.kv_reserve_full)
    held = I + O if mode == "static" or params.kv_reserve_full else I + O / 2.0
    max_batch = np.floor(np.maximum(free, 0.0) / (kv_tok * held))
    kv = B * held * kv_tok
    # times
    one_prefill = _step(model, job, m, cfg, zero, zero, I + zero, I, params)
    ctx = decode_context(I, O, params.decode_bucket) + zero  # the decode steps' mean context
    if mode == "static":
        prefill_all = _step(model, job, m, cfg, zero, zero, B * I, I, params)
        tpot = _step(model, job, m, cfg, B, ctx, zero, I, params)
        ttft = prefill_all
        e2e = ttft + (O - 1.0) * tpot
        out_tps = B * O / e2e
    else:
        # steady state: each step decodes B tokens and prefills B/O new prompts (I tokens each)
        tpot = _step(model, job, m, cfg, B, ctx, B * I / O, I, params)
        if params.chunked_prefill == 0:  # prompts in steps of their own (vLLM V0 default)
            tpot = prefill_first_step(job, m, cfg, params)
        ttft = one_prefill + tpot
        e2e = ttft + (O - 1.0) * tpot
        out_tps = B / tpot
        prefill_all = one_prefill
    reqs = out_tps / O
    reason = np.where(w > m.chip.mem_bytes, MEMORY, np.where(max_batch < B, KV_CAPACITY, OK))
    return ServeArrays(ttft, tpot, e2e, out_tps, reqs * (I + O), reqs, prefill_all, w, kv, max_batch, reason)


def check_serve(cfg: ServeConfig, model: Model, m: Machine) -> F:
    """Structural validity of serving configs (a reason code per config, 0 = valid)."""
    r = np.zeros(len(cfg.tp), dtype=np.int64)

    def flag(mask: F, code: int) -> None:
        r[(r == 0) & mask] = code

    # heads that do not divide evenly are padded (Neuron, vLLM pad to a multiple of TP; the padded
    # share is wasted work, see _step); more TP ranks than heads is invalid
    flag(cfg.tp > model.heads, TP_HEADS)
    flag(cfg.tp > m.domain, TP_DOMAIN)
    flag(cfg.pp > model.layers, PP_LAYERS)
    experts = model.moe.experts if model.moe else 1
    flag((experts % np.maximum(cfg.ep, 1) != 0) | ((cfg.ep > 1) & (model.moe is None)), EP_EXPERTS)
    return r


def prefill_first_step(job: ServeJob, m: Machine, cfg: ServeConfig, params: PerfParams) -> F:
    """Mean TPOT under prefill-first scheduling without chunked prefill: a step runs either the
    waiting prompts or the decodes, never both ("vLLM scheduler prioritizes prefills and doesn't
    batch prefill and decode to the same batch", vLLM docs, Performance and Tuning: Chunked
    Prefill, v0.6; vllm/core/scheduler.py ``_schedule_default`` schedules the running decodes
    only when no prefill was scheduled). Requests arrive at ``B/O`` per decode step; a scheduler
    call every ``n`` decode steps (``params.scheduler_steps``) prefills the ``N ~ Poisson(n·B/O)``
    prompts that arrived in one step of their own, so the decodes stall for it (Agrawal et al.,
    OSDI 2024, §3: generation stalls). Per decode step: ``t_dec(B) + P(N >= 1) · t_pre(E[N | N
    >= 1] · I) / n``; the prefill step reads the weights again instead of hiding under the
    decodes' reads."""
    model = job.model
    I, O = float(job.input_len), float(job.output_len)
    B = cfg.batch.astype(float)
    zero = 0.0 * B
    n = max(float(params.scheduler_steps), 1.0)
    lam = n * B / O
    p_any = 1.0 - np.exp(-lam)  # a window with at least one prompt to prefill
    per = lam / np.maximum(p_any, 1e-300)  # prompts in such a window, on average
    t_dec = _step(model, job, m, cfg, B, I + O / 2.0 + zero, zero, I, params)
    t_pre = _step(model, job, m, cfg, zero, zero, per * I, I, params)
    return t_dec + p_any * t_pre / n

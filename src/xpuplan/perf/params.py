"""Software-stack constants of the performance model (``data/perf.toml``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.errors import DataError
from xpuplan.hardware.records import Chip
from xpuplan.hardware.stacks import Stack, stack_for


@dataclass(frozen=True, slots=True)
class PerfParams:
    tp_overlap: float = 0.7
    dp_overlap: float = 0.9
    ep_overlap: float = 0.5
    grad_comm_bytes: float = 2.0
    act_bytes: float = 2.0
    reserved_gib: float = 2.0
    reserved_fraction: float = 0.06
    optimizer_bytes_per_param: float = 30.0
    # Fused attention (FlashAttention, Dao et al. 2022; in Megatron-LM, NeMo, MaxText since 2023).
    # Off: QKᵀ and A·V run as batched GEMMs and the s×s scores go through memory (softmax,
    # masking, dropout), as in Megatron-LM 2021-2022 (Narayanan et al., Korthikanti et al.).
    flash_attention: bool = True
    # What the stack's selective policy keeps per layer. 0: Megatron-LM's selective recomputation
    # (Korthikanti et al. 2022 §5: the attention core is recomputed, every other activation kept,
    # the inputs of the recomputed ops included). > 0: only the weight matmuls' outputs and the
    # layer input (MaxText remat_policy "minimal", jax.checkpoint_policies.
    # checkpoint_dots_with_no_batch_dims: q/k/v, the attention and MLP output projections, the MLP
    # input projections; norms, activations and the attention core recomputed).
    selective_saves_dots: float = 0.0
    # 1 (with selective_saves_dots): the selective policy keeps no output of the MLP's input
    # projections and redoes them in backward (MaxText remat_policy save_dot_except_mlpwi:
    # jax.checkpoint_policies.save_only_these_names over query/key/value/qkv/out projections and
    # mlpwo, maxtext layers/decoders.py): the layer keeps q/k/v, the two output projections' results
    # and its input, and pays the MLP's first matmul (wi, gate and up when gated) once more.
    selective_recomputes_fc1: float = 0.0
    # 1: full recompute re-runs only what the backward pass reads, so the layer's last MLP matmul
    # (wo / fc2 / the down projection, whose output no gradient needs: a matmul's transpose reads
    # its input and weight) and the collective after it are not redone. JAX rematerialises a
    # jax.checkpoint'd layer inside the backward pass as the residuals it consumes need it ('any
    # residuals consumed on the backward pass are re-computed from those inputs as needed', JAX
    # docs notebooks/autodiff_remat), where XLA drops the unused rest; PyTorch's
    # torch.utils.checkpoint re-runs the whole forward (0).
    remat_skips_layer_output: float = 0.0
    # Activation offloading as Megatron-Core runs it (``cpu_offloading_num_layers``, Transformer
    # Engine's CPU offload context): the activations this many of the model's layers keep for
    # backward (the same share of each stage's layers) go to host memory during forward and come
    # back for backward, not recomputed; one layer's stay in flight on the device. The copies
    # run over the chip's host link beside compute (perf/train.py _offload_time). 0: none.
    cpu_offload_layers: float = 0.0
    # 1: under a low-precision recipe the linear layers' inputs kept for backward are the cast
    # copies the weight-gradient GEMM reads (Transformer Engine's Linear and LayerNormLinear save
    # the quantised input, column-wise, not the 16-bit one; perf/train.py saved_input_bytes);
    # 0: kept in the activations' 16-bit format.
    quantised_inputs_saved: float = 0.0
    # Query and key rows per tile of the fused attention kernel, the grain at which a sliding
    # window's masked tiles are skipped (Model.local_attn_share): FlashAttention-2 tiles of 128
    # (Dao 2023 §3.1); MaxText's splash attention sa_block_q = sa_block_kv = 512 (data/stacks),
    # or what a case states (sa_block_q / sa_block_kv: the larger). ``attention_block_bwd``: the
    # backward kernel's (splash sa_block_q_dkv / sa_block_kv_dkv); 0: the forward's.
    attention_block: float = 128.0
    attention_block_bwd: float = 0.0
    power_fraction: float = 0.8  # average chip power / TDP while busy (energy)
    # MoE as the stack's kernels run it. Capacity factor > 0: token dropping through dense one-hot
    # dispatch/combine einsums with per-sequence expert capacity (MaxText moe.py generate_masks,
    # capacity_factor); 0: dropless grouped GEMM (megablox / tokamax gmm, Megatron grouped_gemm).
    moe_capacity_factor: float = 0.0
    # Rows per tile of the grouped-GEMM kernel (megablox gmm tm: MaxText tile_batch_seq = 512;
    # CUTLASS/cuBLAS grouped GEMM tiles of 128 rows in Megatron-Core / TransformerEngine).
    moe_gmm_tile: float = 128.0
    # Seconds the host takes to issue one MoE layer's forward for one micro-batch (its kernels
    # through PyTorch eager), backward twice that. Dropless dispatch copies the per-expert token
    # counts to the host in every MoE layer's forward (Megatron-Core MoEAlltoAllTokenDispatcher
    # cuda_sync_point, TEGroupedMLP ``tokens_per_expert.tolist()``), so the host cannot run ahead
    # of the GPU and a micro-batch takes the longer of the two (perf/train.py _host_time); dropping
    # with padding to capacity (moe_capacity_factor > 0) is sync-free. 0: compiled (XLA) stacks.
    moe_host_s: float = 0.0
    # Bytes per logit the loss keeps at its peak (last stage, before the LM head's backward).
    # Megatron-LM casts the bf16 logits to fp32 for vocab_parallel_cross_entropy, which keeps the
    # fp32 softmax and writes its gradient in place; the head's backward takes a bf16 copy: 4 + 2.
    logits_bytes: float = 6.0
    # MaxText num_vocab_tiling: the loss runs over this many chunks of the tokens, so one chunk's
    # logits are live at a time (configs/base.yml "Vocab Tiling Configs").
    vocab_tiles: float = 1.0
    # Bytes of the stored weights when the stack keeps no separate master copy (MaxText
    # weight_dtype: parameters, their gradients and both Adam moments in that format); 0: mixed
    # precision with fp32 master weights and moments, 2 + 2 + 12 bytes (Rajbhandari et al. 2020).
    weight_bytes: float = 0.0
    # 1: ZeRO-3/FSDP gathers each weight array on its own, one ahead of its use (XLA SPMD with the
    # latency-hiding scheduler); 0: one layer (module) at a time with the next prefetched
    # (PyTorch FSDP, DeepSpeed ZeRO-3).
    fsdp_gather_matrix: float = 0.0
    # 1: ZeRO-3's parameter all-gathers and gradient reduce-scatters run as one flat collective
    # over all the DP ranks, each GPU's whole (n-1)/n share crossing the scale-out network through
    # its own NIC at the per-GPU rate (no hierarchical step over NVLink, no aggregation of the
    # node's rails): DeepSpeed ZeRO-3 as of 2021, per-parameter all-gathers over the flat DP group
    # (Narayanan et al. 2021 Table 2: step flat while compute halves, ~22 GB/s per GPU moved);
    # 0: a two-level collective, the node's share over its NICs together (NCCL rings, rails).
    zero3_flat_gather: float = 0.0
    # 1: a DP group that spans several scale-up domains (TPU slices over DCN) shards the weights,
    # gradients and optimizer state inside each domain and replicates them across domains
    # (MaxText's default mesh: ici_fsdp_parallelism over ICI, dcn_data_parallelism = -1 over DCN,
    # configs/base.yml; docs/guides/optimization/sharding.md "Hierarchical Mesh" @e591f30):
    # FSDP's all-gathers and reduce-scatters stay on ICI, and each step all-reduces the domain's
    # one copy of the gradients across the domains, ReduceScatter on ICI, AllReduce over DCN,
    # AllGather on ICI. The DCN all-reduce runs once the backward pass has produced the
    # gradients ("as the model completes its backward pass we need to complete the AllReduce",
    # JAX scaling book ch. 5 "Scaling Between Pods"), so it is exposed. 0: FSDP over every rank.
    dcn_data_parallel: float = 0.0
    # 4-bit block weights on a CPU (llama.cpp q4_0 x q8_0): > 0, the GEMMs run as int8 x int8
    # (activations quantised to 8-bit blocks) at this share of the chip's int8 matrix peak, the
    # bound the kernel's instruction mix sets on that core (a stack's [cpu_kernels], or over
    # repacked weights its GEMM's [cpu_kernels_repacked], per chip, e.g.
    # data/stacks/llama.cpp.toml; perf/params.py cpu_kernel_share); 0: dequantised to 16-bit.
    cpu_q4_int8_fraction: float = 0.0
    # > 0: the weights are repacked into an interleaved layout whose GEMM takes the token rows in
    # multiples of 4 at ``cpu_q4_int8_fraction`` and leaves the rest, one row at a time, to a GEMV
    # at this share (llama.cpp repack.cpp; a stack's [cpu_kernels_repacked_gemv]; perf/serve.py
    # cpu_rows_share); 0: one kernel for every row count.
    cpu_q4_gemv_fraction: float = 0.0
    # with it: the share the GEMM's row-tail loop reaches, for the rows past its last whole block
    # of 16 (a stack's [cpu_kernels_repacked_tail]); 0: the GEMM's own share.
    cpu_q4_tail_fraction: float = 0.0
    # Tensor-parallel ranks one chip hosts (a stack's [tp_ranks_per_chip], per chip): Neuron's TP
    # degree counts NeuronCores, 2 per Trainium1/Inferentia2 chip, 4 logical per Trainium2 at the
    # default LNC=2; each rank pads its attention heads to a whole number and keeps at least one
    # KV head of its own (perf/serve.py _rank_heads). 1: one rank per chip (GPUs, TPUs).
    tp_ranks_per_chip: float = 1.0
    # GQA KV heads on Neuron TP ranks (``tp_ranks_per_chip`` > 1) when they do not divide over the
    # ranks. 0: NxD Inference's default, GQA.REPLICATE_TO_TP_DEGREE (one KV head per rank) where
    # the ranks are a multiple of the KV heads, else GQA.CONVERT_TO_MHA (neuronx-distributed-
    # inference@4bcdc54b modules/attention/gqa.py determine_sharding_strategy,
    # get_shardable_head_counts); 1: always converted to MHA, the KV heads replicated up to the
    # padded query heads (Transformers NeuronX 0.10, Neuron SDK 2.18: GQA.REPLICATED_HEADS with
    # ratio n_head / n_kv_head, transformers-neuronx@0623de2 decoder.py to_neuron).
    gqa_convert_to_mha: float = 0.0
    # Token-generation buckets (static-shape compilers): > 0, the smallest bucket, tokens; the
    # buckets double up to the request's length and each decode step's attention reads the KV
    # cache of the whole bucket its position falls in (perf/serve.py decode_context); 0: the
    # context itself (paged attention reads the tokens held).
    decode_bucket: float = 0.0
    # Served requests (dynamic batching) on an engine that does not wait to fill a batch: > 0, each
    # of its instances runs the requests queued when it frees, this many sequences at the load it
    # sustains, so the GEMMs see that many sequences' tokens (their shape efficiency) and the
    # weights are read once per that many (Intel's MLPerf CPU SUT, BertServerSUT::thInstance:
    # an instance wakes on the first queued sample, no batching timeout); 0: the whole batch.
    dynamic_batch_seqs: float = 0.0
    # Multi-step scheduling (vLLM V0 ``num_scheduler_steps``, a case's ``inference_setup.
    # scheduler_steps``): the scheduler runs this many decode steps per call and admits new prompts
    # only between calls, so an arrival waits out the window in flight (perf/serve_tail.py
    # scheduling_window). 1: a scheduling decision every step.
    scheduler_steps: float = 1.0
    # Attention data parallelism inside the TP group (a case's ``parallel.other`` "attention
    # data-parallel": TensorRT-LLM ``enable_attention_dp``, SGLang ``--enable-dp-attention``): each
    # rank runs attention for its own sequences with the whole attention weights, so a sequence's
    # KV cache lives on one rank, and MoE layers exchange tokens by all-to-all (perf/serve.py).
    attention_dp: bool = False
    # Token budget of one continuous-batching step (vLLM ``max_num_batched_tokens``, TensorRT-LLM
    # ``max_num_tokens``; a stack's default, a case's ``inference_setup.max_num_batched_tokens``):
    # the running decodes plus prompt tokens, a prompt longer than what is left split into chunks
    # over several steps (Sarathi-Serve, Agrawal et al. OSDI 2024; perf/serve_tail.py). 0: no
    # budget, every waiting prompt whole in the next step.
    max_num_batched_tokens: float = 0.0
    # 1: prompts ride in the decode steps (mixed batches: TensorRT-LLM in-flight batching, vLLM V1
    # "always uses chunked prefills"); 0: prefill-first scheduling, prompts in steps of their own
    # while the decodes wait (vLLM V0 without --enable-chunked-prefill, its default below a 32K
    # max_model_len; perf/serve.py prefill_first_step).
    chunked_prefill: float = 1.0
    # 1: the scheduler admits a request only once the KV blocks for its whole length (prompt plus
    # its maximum new tokens) are free and holds them until it ends, so a request in flight keeps
    # I + O tokens of KV (TensorRT-LLM's default capacity scheduler policy GUARANTEED_NO_EVICT,
    # "a started request is never paused": KVCacheManager::getRemainingBlocksToCompletion, the
    # blocks "to advance a request to completion (i.e. for maxNewTokens)", NVIDIA/TensorRT-LLM
    # cpp/include/tensorrt_llm/batch_manager/kvCacheManager.h; docs performance-tuning-guide/
    # useful-runtime-flags.md); 0: blocks as the sequence grows, pre-empting when they run out
    # (vLLM, Kwon et al. SOSP 2023 section 4.5; TensorRT-LLM MAX_UTILIZATION), I + O/2 on average.
    kv_reserve_full: float = 0.0
    # 1: an engine's stated largest batch holds per pipeline micro-batch, and its capacity
    # scheduler admits that many times the micro-batches (TensorRT-LLM: ``CapacityScheduler(
    # getMaxBatchSize() * mNumMicroBatches, ...)`` with ``mNumMicroBatches`` = PP, NVIDIA/
    # TensorRT-LLM@00825c4e cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp); 0: the
    # stated batch is every sequence in flight (validation/validate.py engine_capacity).
    batch_per_microbatch: float = 0.0
    # Share of a low-precision recipe's cast traffic (perf/precision.py: amax passes, both
    # orientations of every quantised GEMM operand) priced as separate memory-bound kernels at the
    # chip's ``memory`` fraction. 0 (default): not priced. Measured with it at 1 the cross-validated
    # AMD training median goes 11.9% -> 19.5% and GB200 fp8cs cases fall 10-20 points: the fitted
    # ``memory`` comes from decode (0.22-0.32 on B200/GB200/MI355X), not from streaming cast kernels.
    cast_traffic: float = 0.0
    # 1: the model's copy of the weights is stored in fp8 (Transformer Engine ``fp8_model_init``:
    # NeMo ``fp8_params``, Megatron ``--fp8-param-gather``), 1 byte per parameter instead of the
    # 16-bit copy; any master copy stays in the optimizer state. 0: the training format's.
    fp8_weight_store: float = 0.0
    # 1: the MLP activation function's input is kept for backward in fp8 and cast back for it
    # (Megatron-Core ``activation_func_fp8_input_store``, NVIDIA's MLPerf LoRA ``FP8_ACT=1``).
    fp8_act_fn_store: float = 0.0
    # Seconds per transformer layer per forward step that no roofline term prices and nothing
    # overlaps: the gaps between a layer's kernels (launch and dispatch latency, the tail of each
    # small kernel, the host's per-layer work), which set a floor under a decode step of small
    # kernels (llama.cpp's Metal back end runs ~15 dispatches per layer; TensorRT-LLM and vLLM
    # launch one to two dozen kernels per decoder layer). Fitted per serving stack and chip
    # category on the suite's serving cases (validation/fit.py, ``fit.toml`` [stacks]), applied by
    # :func:`chip_params`; 0 where a stack has no case (not priced).
    layer_overhead_s: float = 0.0
    # Exponent of the smooth roofline a decoder serving step's kernels follow (perf/machine.py
    # roofline; perf/serve.py _step: the dense GEMMs, the routed experts' grouped GEMMs,
    # attention): ``(compute^p + memory^p)^(1/p)``. Infinite is the ideal roofline,
    # ``max(compute, memory)`` (Williams et al. 2009, an upper bound on attainable speed); 1 adds
    # them. A GEMM near its ridge point reaches neither roof: the tile's loads and its math overlap
    # only once the pipeline is full, and a decode GEMM of a few hundred rows runs a handful of
    # waves with their prologue and epilogue exposed; far from the ridge the kernel approaches its
    # roof (the smooth form keeps the penalty at the ridge, 2^(1/p) there). One value for every
    # chip and stack, chosen on the suite's serving cases by validation/fit.py (``fit.toml``
    # [model]) and applied by :func:`default_params`; infinite where no fit is in effect. Encoder
    # passes (perf/encoder.py: GEMMs of batch x sequence rows, far from the ridge) keep the ideal
    # roofline.
    roofline_p: float = math.inf
    # Validation only: report the time of layouts the memory model rejects.
    ignore_memory: bool = False


def default_params() -> PerfParams:
    """The model constants of ``data/perf.toml`` with the model-wide fitted parameters in effect
    (:func:`model_fits`: ``fit.toml`` [model], or the fit being run)."""
    over = _MODEL_FITS.get()
    if over is None:
        return _packaged_params()
    return replace(_toml_params(), **over) if over else _toml_params()  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _packaged_params() -> PerfParams:
    """``perf.toml``'s constants with ``fit.toml``'s [model] values, built once per process."""
    fitted = _packaged_model_fits()
    return replace(_toml_params(), **fitted) if fitted else _toml_params()  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _toml_params() -> PerfParams:
    path = data_dir() / "perf.toml"
    d = read_toml(path)
    kw: dict[str, float | bool] = {}
    for f in fields(PerfParams):
        if f.name in d:
            v = d[f.name]
            if f.name in ("flash_attention", "ignore_memory", "attention_dp"):
                kw[f.name] = bool(v)
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise DataError(f"'{f.name}' must be a non-negative number", "Fix the value", str(path))
            kw[f.name] = float(v)
    return PerfParams(**kw)  # type: ignore[arg-type]


def params_for(stack: Stack | None, year: int | None = None, base: PerfParams | None = None) -> PerfParams:
    """The model constants under a software stack (``data/stacks``): its ``[params]`` over the
    defaults (or over ``base``), and fused attention from the year it reached that stack
    (``year``: the run's)."""
    p = base or default_params()
    if stack is None:
        return p
    p = replace(p, **stack.params)  # type: ignore[arg-type]
    if year is not None and stack.flash_attention_from is not None:
        p = replace(p, flash_attention=year >= stack.flash_attention_from)
    return p


# ---- parameters fitted per software stack (validation/fit.py writes fit.toml [stacks]) -----------

FITTED_STACK_PARAMS = ("layer_overhead_s",)
_STACK_FITS: ContextVar[Mapping[str, Mapping[str, float]] | None] = ContextVar("stack_fits", default=None)


def with_stack_values(p: PerfParams, values: Mapping[str, float] | None) -> PerfParams:
    """``p`` with fitted stack parameters (:data:`FITTED_STACK_PARAMS`) set to ``values``."""
    if not values:
        return p
    bad = set(values) - set(FITTED_STACK_PARAMS)
    if bad:
        raise ValueError(f"not a fitted stack parameter: {', '.join(sorted(bad))}")
    return replace(p, **{k: float(v) for k, v in values.items()})  # type: ignore[arg-type]


def stack_fit_key(stack_id: str, category: str, era: str = "") -> str:
    """Key of a stack's fitted parameters on one kind of chip: the back end is part of the stack
    (llama.cpp's Metal kernels on Apple silicon are not its CPU kernels), and so is an era whose
    code differs on that back end (hardware.stacks.Era: ``llama.cpp@pre-threadpool/cpu``)."""
    return f"{stack_id}@{era}/{category}" if era else f"{stack_id}/{category}"


@lru_cache(maxsize=1)
def _packaged_stack_fits() -> dict[str, dict[str, float]]:
    path = data_dir() / "fit.toml"
    table = read_toml(path).get("stacks", {}) if path.exists() else {}
    out: dict[str, dict[str, float]] = {}
    for key, row in table.items():
        vals = {}
        for k in FITTED_STACK_PARAMS:
            v = (row.get(k) or {}).get("value") if isinstance(row.get(k), dict) else row.get(k)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1.0:
                    raise DataError(
                        f'[stacks."{key}"] {k} must be seconds in [0, 1)',
                        "Run xpuplan fit --write",
                        str(path),
                    )
                vals[k] = float(v)
        out[str(key)] = vals
    return out


def stack_fits() -> Mapping[str, Mapping[str, float]]:
    """The fitted stack parameters in effect: those of the fit being run (:func:`using_stack_fits`),
    else the packaged ``fit.toml``'s."""
    over = _STACK_FITS.get()
    return over if over is not None else _packaged_stack_fits()


@contextmanager
def using_stack_fits(values: Mapping[str, Mapping[str, float]]) -> Iterator[None]:
    """Price with these fitted stack parameters instead of ``fit.toml``'s (the fit itself, which
    must not start from an earlier fit's values)."""
    token = _STACK_FITS.set(values)
    try:
        yield
    finally:
        _STACK_FITS.reset(token)


# ---- parameters fitted once for the whole model (validation/fit.py writes fit.toml [model]) -------

FITTED_MODEL_PARAMS = ("roofline_p",)
_MODEL_FITS: ContextVar[Mapping[str, float] | None] = ContextVar("model_fits", default=None)


@lru_cache(maxsize=1)
def _packaged_model_fits() -> dict[str, float]:
    path = data_dir() / "fit.toml"
    table = read_toml(path).get("model", {}) if path.exists() else {}
    out: dict[str, float] = {}
    for k in FITTED_MODEL_PARAMS:
        row = table.get(k)
        v = row.get("value") if isinstance(row, dict) else row
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 1.0:
            raise DataError(
                f"[model] {k} must be an exponent >= 1 (inf: the ideal roofline)",
                "Run xpuplan fit --write",
                str(path),
            )
        out[k] = float(v)
    return out


def model_fits() -> Mapping[str, float]:
    """The model-wide fitted parameters in effect (:data:`FITTED_MODEL_PARAMS`): those of the fit
    being run (:func:`using_model_fits`), else the packaged ``fit.toml``'s."""
    over = _MODEL_FITS.get()
    return over if over is not None else _packaged_model_fits()


@contextmanager
def using_model_fits(values: Mapping[str, float]) -> Iterator[None]:
    """Price with these model-wide fitted parameters instead of ``fit.toml``'s (the fit itself,
    trying each value of its grid)."""
    bad = set(values) - set(FITTED_MODEL_PARAMS)
    if bad:
        raise ValueError(f"not a fitted model parameter: {', '.join(sorted(bad))}")
    token = _MODEL_FITS.set(dict(values))
    try:
        yield
    finally:
        _MODEL_FITS.reset(token)


def chip_params(
    stack: Stack | None,
    chip_id: str,
    year: int | None = None,
    base: PerfParams | None = None,
    category: str | None = None,
    date: str | None = None,
    software: str | None = None,
    repacked: bool | None = None,
) -> PerfParams:
    """:func:`params_for` on one chip: also the stack's kernel for that chip (``[cpu_kernels]``:
    the share of the chip's int8 peak its 4-bit block kernel issues, over ``repacked`` weights
    its interleaved kernel's, :func:`cpu_kernel_share`; ``[tp_ranks_per_chip]``: the
    TP ranks one chip hosts) and the stack's fitted parameters on the chip's ``category``
    (:func:`stack_fits`), of the stack's era ``date`` falls in or the mode ``software`` states
    (hardware.stacks.Era: a validation case's; None: today's defaults).
    The one place both the validator (a case's stack) and the public API (the chip's default
    stack) resolve them."""
    p = params_for(stack, year, base)
    if stack is not None and category is not None:
        key = stack_fit_key(stack.id, category, stack.era(category, date, software))
        p = with_stack_values(p, stack_fits().get(key))
    if stack is not None:
        share = cpu_kernel_share(stack, chip_id, repacked)
        if share is not None:
            p = replace(
                p, cpu_q4_int8_fraction=share[0], cpu_q4_gemv_fraction=share[1], cpu_q4_tail_fraction=share[2]
            )
    if stack is not None and chip_id in stack.tp_ranks:
        p = replace(p, tp_ranks_per_chip=stack.tp_ranks[chip_id])
    return p


def cpu_kernel_share(
    stack: Stack, chip_id: str, repacked: bool | None = None
) -> tuple[float, float, float] | None:
    """(GEMM, GEMV, GEMM row-tail) shares of ``chip_id``'s int8 peak the stack's 4-bit block
    kernels issue: over weights repacked into an interleaved layout (``[cpu_kernels_repacked]``,
    ``_gemv``, ``_tail``) when ``repacked``, or when None (a plan for today: llama.cpp repacks
    Q4_0 at load on i8mm CPUs) and the stack has such a kernel for the chip; else its plain
    kernel's (``[cpu_kernels]``, one kernel for every row count: the others 0); None: no integer
    kernel."""
    if repacked is not False and chip_id in stack.cpu_kernels_repacked:
        return (
            stack.cpu_kernels_repacked[chip_id],
            stack.cpu_kernels_repacked_gemv.get(chip_id, 0.0),
            stack.cpu_kernels_repacked_tail.get(chip_id, 0.0),
        )
    share = stack.cpu_kernels.get(chip_id)
    return None if share is None else (share, 0.0, 0.0)


def serve_params(chip: Chip, software: str | None = None, base: PerfParams | None = None) -> PerfParams:
    """The model constants serving on ``chip`` runs under: the stack ``software`` names, else the
    chip's default serving stack (``data/stacks`` ``default_for``: TensorRT-LLM's KV admission and
    token budget on NVIDIA, llama.cpp's int8 kernels on Graviton, Neuron's TP ranks per chip), over
    ``base`` (default: :func:`default_params`). The one place every serving search (the ``serve``
    command, the planner, claims, sweeps and the report) resolves them."""
    return chip_params(serve_stack(chip, software), chip.id, base=base, category=chip.category)


def train_params(chip: Chip, software: str | None = None, base: PerfParams | None = None) -> PerfParams:
    """The model constants training on ``chip`` runs under: the stack ``software`` names, else the
    chip's default training stack (``data/stacks`` ``default_for``: Megatron-LM on NVIDIA and AMD,
    MaxText on TPUs, NeuronX Distributed on Trainium, optimum-habana on Gaudi), over ``base``
    (default: :func:`default_params`). The one place every training search (``train``, the
    planner, claims and the report) resolves them, as the validator does a case's."""
    return chip_params(train_stack(chip, software), chip.id, base=base, category=chip.category)


def train_stack(chip: Chip, software: str | None = None) -> Stack | None:
    """The training stack :func:`train_params` prices ``chip`` under (None: the bare defaults)."""
    return stack_for(software, "train", chip.vendor, chip.category)


def serve_stack(chip: Chip, software: str | None = None) -> Stack | None:
    """The serving stack :func:`serve_params` prices ``chip`` under (None: the bare defaults)."""
    return stack_for(software, "serve", chip.vendor, chip.category)

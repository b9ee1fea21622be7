"""Encoder inference (BERT-class): one bidirectional forward pass per sequence, no decode.

A batch of ``B`` sequences of ``s`` tokens on one chip (an encoder fits on any one chip, so a
cluster runs one replica per chip). References and formulas:

* FLOPs per sequence: ``s·(2·P_layers + 4·L·s·n_q·d)`` — the layers' matmuls (Kaplan et al. 2020
  §2.1) and attention over the *whole* sequence (non-causal: every query sees all ``s`` keys,
  Devlin et al. 2019); no LM head. BERT-large at 384 tokens: 246.7 GFLOP
  (:meth:`~xpuplan.workload.model.Model.encoder_flops_per_sequence`).
* Time: a roofline per operation kind, as in :mod:`xpuplan.perf.serve`: the GEMMs at the chip's
  peak for the format (int8 where the chip has an int8 path and the job asks for it, W8A8) times
  the shape-dependent GEMM efficiency, or the bytes they move (weights once per batch, activations
  ``12h + 2f`` values per token per layer: GEMM inputs and outputs, LayerNorms, residuals),
  whichever is longer; attention at the 16-bit peak times the fused-attention efficiency, or the
  Q/K/V/output bytes (plus the ``s×s`` scores through memory where attention is not fused).
* Padding: an engine that drops it (``job.mean_len``: TensorRT's variable-length BERT plugins,
  closed/NVIDIA/code/bert/tensorrt/README.md "Variable Sequence Lengths"; Intel's MLPerf SUT
  concatenating the batch's sequences, ``ServerAssembleSamples``) runs the real tokens only, so
  ``s`` above is the mean real length; the attention term then uses ``s̄²`` for the mean of ``s²``
  (a lower bound: at BERT-large's ~177 real SQuAD tokens attention is ~3% of the FLOPs).
* Activations in cache: where one pass's activations of one layer fit in the chip's on-chip memory
  (``sram_bytes``: L2 on a GPU, the last-level cache on a CPU) they go from one GEMM to the next
  without DRAM traffic; only the weights stream.
* Per-request instances (``params.dynamic_batch_seqs``, a stack's): Intel's MLPerf CPU SUT
  (inference_results_v3.0 closed/Intel/code/bert-99/pytorch-cpu/csrc/torch_sut.cpp,
  BertServerSUT::thInstance) pins instances to a few cores each; under served requests an idle
  instance wakes on the first queued sample and runs what is queued (no batching timeout). At a
  load it sustains, the requests queued when an instance frees are λ·T/N (rate, its pass time,
  instances): about one. Each pass is then a GEMM over one sequence's tokens (shape efficiency
  ``n/(n + knee)`` at ``n = s``) that reads all the weights, so the batch reads them ``B/k`` times.
* Latency under load (dynamic batching, MLPerf's Server scenario): a request that arrives while a
  batch runs waits for it and then runs in the next, so its latency is at most two batch times
  (Crankshaw et al. 2017, Clipper §4.3, adaptive batching). Offline (a static batch): one batch time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.units import GIB
from xpuplan.workload.job import EncoderJob

F = np.ndarray

ENCODER_MODES = ("dynamic", "static")  # served requests (Server) | one batch at a time (Offline)
OK, MEMORY, DTYPE, LATENCY, RATE = range(5)
ENCODER_REASON_TEXT = {
    OK: "fits",
    MEMORY: "the weights and the batch's activations do not fit in device memory",
    DTYPE: "the chip has no compute path for this number format",
    LATENCY: "misses the latency target",
    RATE: "cannot sustain the request rate at any batch that fits",
}


@dataclass(frozen=True)
class EncoderArrays:
    """Per batch size (one replica, one chip): seconds, sequences/s, bytes."""

    batch_s: F  # one forward pass of the batch
    latency_s: F  # a request's latency (dynamic: ≤ 2 batch times; static: one)
    sequences_per_s: F
    gemm_s: F
    attention_s: F
    memory_bound: F  # True where the GEMMs' bytes, not their FLOPs, set their time
    weights_bytes: float
    activation_bytes: F
    reason: F


def compute_format(job: EncoderJob, m: Machine) -> str:
    """The format the GEMMs run in: int8 (W8A8) or fp8 where asked for and the chip has it, else
    bf16, fp16 or fp32, the first the chip has. Returns '' where the asked format has no path."""
    if job.weights in ("int8", "fp8"):
        return job.weights if m.chip.supports(job.weights) else ""
    for fmt in (job.weights, "bf16", "fp16", "fp32"):
        if m.chip.supports(fmt):
            return fmt
    return ""


def _bytes(fmt: str) -> float:
    return {"int8": 1.0, "fp8": 1.0, "fp32": 4.0}.get(fmt, 2.0)


def _attention_peak(m: Machine) -> float:
    for fmt in ("bf16", "fp16", "fp32"):
        p = m.chip.peak(fmt)
        if p:
            return p
    return float("nan")


def _activation_traffic(m: Machine, tokens: F, pass_tokens: F, per_token: float, layers: float) -> F:
    """Activation bytes through DRAM: none where one pass's activations of one layer fit in the
    chip's on-chip memory (they stay in cache from one GEMM to the next), else all of them."""
    sram = m.chip.sram_bytes
    if not sram:
        return tokens * per_token
    return np.where(pass_tokens * per_token / layers <= sram, 0.0, tokens * per_token)


def gemm_group(batch: F, params: PerfParams, mode: str) -> F:
    """Sequences one pass of the GEMMs runs: the whole batch, except for served requests on an
    engine whose instances run what is queued when they free (``params.dynamic_batch_seqs``)."""
    B = np.asarray(batch, dtype=float)
    k = params.dynamic_batch_seqs
    if mode != "dynamic" or k <= 0:
        return B
    return np.minimum(B, k)


def evaluate_encoder(
    job: EncoderJob, m: Machine, batch: F, params: PerfParams, mode: str = "dynamic"
) -> EncoderArrays:
    """Time, throughput and memory of one replica at every batch size in ``batch``."""
    model, s = job.model, job.tokens_per_sequence  # real tokens where padding is dropped
    B = np.asarray(batch, dtype=float)
    fmt = compute_format(job, m)
    e = m.chip.efficiency
    L, h, f = float(model.layers), float(model.hidden), float(model.dense_ffn)
    wb = _bytes(fmt or "bf16")  # weights and activations in the compute format (W8A8: both int8)
    tokens = B * s
    # GEMMs: 2·P_layers FLOPs per token at the format's peak and the shape's efficiency
    peak = m.chip.peak(fmt) if fmt else None
    top = getattr(e, e.gemm_param(fmt)) if fmt in ("int8", "fp8") else e.matmul  # the 8-bit fraction
    group = gemm_group(B, params, mode)  # sequences one GEMM runs (all B but per-request engines)
    n = np.minimum(min(h, f), group * s)  # the GEMMs' smallest dimension (M = the group's tokens)
    gemm_flops = 2.0 * model.layer_params(active=True) * tokens
    t_gemm_c = gemm_flops / ((peak or float("nan")) * top * n / (n + e.matmul_knee))
    bw = m.chip.mem_bw * e.memory
    w_bytes = model.layer_params(active=True) * wb * (B / group)  # read once per GEMM group
    act_bytes = _activation_traffic(m, tokens, group * s, L * (12.0 * h + 2.0 * f) * wb, L)
    emb_bytes = tokens * h * wb  # the embedding rows the batch looks up
    t_gemm_m = (w_bytes + act_bytes + emb_bytes) / bw
    gemm_s = np.maximum(t_gemm_c, t_gemm_m)
    # attention: bidirectional over s keys, at the 16-bit rate; Q, K, V in and the output out
    attn_flops = tokens * model.attn_flops_per_token(s, causal=False)
    t_attn_c = attn_flops / (_attention_peak(m) * e.attention)
    attn_bytes = tokens * L * 4.0 * h * wb
    if not params.flash_attention:  # the s×s scores go through memory (written, read back) in fp16
        attn_bytes = attn_bytes + B * L * model.heads * s * s * 2.0 * 2.0
    attention_s = np.maximum(t_attn_c, attn_bytes / bw)
    batch_s = gemm_s + attention_s
    latency_s = 2.0 * batch_s if mode == "dynamic" else batch_s
    # memory: all weights (embeddings too) plus one layer's live activations for the batch
    weights_total = model.params() * wb
    live = tokens * (f + 4.0 * h) * wb
    if not params.flash_attention:
        live = live + B * model.heads * s * s * 2.0
    free = m.chip.mem_bytes - (params.reserved_gib * GIB + params.reserved_fraction * m.chip.mem_bytes)
    reason = np.where(weights_total + live > free, MEMORY, OK)
    if not fmt:
        reason = np.full_like(reason, DTYPE)
    return EncoderArrays(
        batch_s,
        latency_s,
        B / batch_s,
        gemm_s,
        attention_s,
        t_gemm_m > t_gemm_c,
        float(weights_total),
        live,
        reason,
    )


def encoder_sequences_per_s(
    job: EncoderJob, m: Machine, batch: int, params: PerfParams, mode: str = "static"
) -> float:
    """Sequences/s of ``m.chips`` replicas at one batch size (the validator's and the fit's entry
    point for ``model.kind: encoder`` cases: price the chosen batch again under other efficiencies)."""
    r = evaluate_encoder(job, m, np.array([batch]), params, mode)
    return float(r.sequences_per_s[0]) * m.chips

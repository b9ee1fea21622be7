"""The serving model term by term, against hand computations (Pope et al. 2022; the JAX scaling
book, "All about inference"; DeepSeek-V2 §2.1 for MLA).

Decode is memory-bound: a step reads every weight once (but the input embedding, a row lookup) and
every sequence's KV cache; prefill is compute-bound. The model and machine are the small round ones
of ``test_train_terms``: L = 4, h = 1024, 8 heads of 128, f = 4h, V = 32000, on one catalog chip
with GEMMs at 0.5 of peak at every shape, attention at 0.25, streaming at 0.5 of bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from handsized import EFF, LAYER, MOE, PARAMS, TINY, UP_BW, UP_LAT, L, V, a, d, f, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.perf import serve as sv
from xpuplan.units import GIB
from xpuplan.workload.job import ServeJob
from xpuplan.workload.model import Model

ONE = np.array([1])
ATTN = {
    "mha": 4 * h * h,  # Q, K, V, O: h × (8 + 2·8) × 128 + 8 × 128 × h
    "gqa": h * (8 + 2 * 2) * d + a * d * h,  # 2 KV heads
    # MLA without a low-rank query: Q h × 8 × (128 + 64); joint KV down-projection to 512 + 64, its
    # norm, up-projection 512 × 8 × (128 + 128); O 8 × 128 × h
    "mla": h * a * 192 + h * (512 + 64) + 512 + 512 * a * (128 + 128) + a * 128 * h,
}
MLA = {
    "q_lora_rank": 0,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
}


def model(kind: str) -> Model:
    if kind == "gqa":
        return tiny(kv_heads=2)
    if kind == "mla":
        return tiny(mla=MLA)
    return tiny()


def read_bytes(kind: str, wbytes: float = 2.0) -> float:
    """Weights one decode step reads: every layer, the final norm and the LM head; not the input
    embedding (a lookup of the batch's rows)."""
    layer = ATTN[kind] + 2 * h * f + 2 * h
    return (L * layer + h + V * h) * wbytes


# ---- KV cache per token by attention type ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, tp, pp, kv_fmt, want",
    [
        ("mha", 1, 1, "bf16", 2 * L * 8 * d * 2),  # K and V of 8 heads per layer
        ("gqa", 1, 1, "bf16", 2 * L * 2 * d * 2),  # 2 KV heads (Ainslie et al. 2023)
        ("mla", 1, 1, "bf16", L * (512 + 64) * 2),  # latent + RoPE key (DeepSeek-V2 §2.1.2)
        ("mha", 1, 1, "fp8", 2 * L * 8 * d * 1),
        ("mha", 4, 1, "bf16", 2 * L * 8 * d * 2 / 4),  # TP splits the heads
        ("gqa", 4, 1, "bf16", 2 * L * 2 * d * 2 / 2),  # ... but not beyond the 2 KV heads
        ("mla", 4, 1, "bf16", L * (512 + 64) * 2),  # the latent is replicated over TP
        ("gqa", 1, 2, "bf16", 2 * L * 2 * d * 2 / 2),  # PP: each stage caches its layers
    ],
)
def test_kv_bytes_per_token(kind: str, tp: int, pp: int, kv_fmt: str, want: float) -> None:
    job = ServeJob(model(kind), 128, 16, kv=kv_fmt)
    got = sv.kv_bytes_per_token(job.model, job, np.array([float(tp)]), np.array([float(pp)]))
    assert got[0] == pytest.approx(want, rel=1e-12)


# ---- decode: weights once per step, each sequence's KV cache ----------------------------------------------


@pytest.mark.parametrize("kind", ["mha", "gqa", "mla"])
@pytest.mark.parametrize("B", [1, 8])
def test_decode_step_reads_weights_and_kv(catalog: Catalog, kind: str, B: int) -> None:
    m = machine(catalog, 1)
    I, O = 4096, 256
    job = ServeJob(model(kind), I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=B), m, PARAMS, "static")
    kv_tok = {"mha": 2 * L * 8 * d * 2, "gqa": 2 * L * 2 * d * 2, "mla": L * 576 * 2}[kind]
    ctx = I + O / 2  # a sequence's mean context over its output
    bw = m.chip.mem_bw * 0.5
    assert r.tpot[0] == pytest.approx((read_bytes(kind) + B * ctx * kv_tok) / bw, rel=1e-12)
    assert r.kv_bytes[0] == pytest.approx(B * (I + O) * kv_tok, rel=1e-12)
    assert r.e2e[0] == pytest.approx(r.ttft[0] + (O - 1) * r.tpot[0], rel=1e-12)
    assert r.output_tokens_per_s[0] == pytest.approx(B * O / r.e2e[0], rel=1e-12)
    assert r.requests_per_s[0] == pytest.approx(r.output_tokens_per_s[0] / O, rel=1e-12)
    assert r.total_tokens_per_s[0] == pytest.approx(r.requests_per_s[0] * (I + O), rel=1e-12)


@pytest.mark.parametrize("pp", [1, 2])
def test_a_stacks_fixed_time_per_layer_adds_to_every_step(catalog: Catalog, pp: int) -> None:
    """PerfParams.layer_overhead_s: each forward step pays it once per decoder layer (kernel gaps and
    dispatch, priced by no roofline term). One sequence, so PP runs no micro-batches: L layers in
    all, L/pp on each of the pp stage passes; the rest of the step is unchanged."""
    m = machine(catalog, pp, domain=pp)
    job = ServeJob(tiny(), 2048, 128)
    cfg = sv.ServeConfig.one(pp=pp, batch=1)
    ovh = 70e-6
    r0 = sv.evaluate_serve(job, cfg, m, PARAMS, "static")
    r1 = sv.evaluate_serve(job, cfg, m, replace(PARAMS, layer_overhead_s=ovh), "static")
    assert r1.tpot[0] - r0.tpot[0] == pytest.approx(L * ovh, rel=1e-9)
    assert r1.ttft[0] - r0.ttft[0] == pytest.approx(L * ovh, rel=1e-9)  # the prefill step too


@pytest.mark.parametrize("p", [math.inf, 2.0, 1.0])
def test_a_decode_step_near_its_ridge_follows_the_smooth_roofline(catalog: Catalog, p: float) -> None:
    """PerfParams.roofline_p (perf/machine.py roofline): each kernel of the step takes
    ``(compute^p + memory^p)^(1/p)``. B = 256 decodes: the GEMMs' 2 FLOPs per weight per token at
    0.5 of peak against one read of the weights; attention's 4·L·a·d FLOPs per context position
    per token (QKᵀ and A·V) at 0.25 against each sequence's KV cache."""
    m = machine(catalog, 1)
    I, O, B = 1024, 64, 256
    job = ServeJob(tiny(), I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=B), m, replace(PARAMS, roofline_p=p), "static")
    peak = m.chip.peak("bf16") or math.nan
    bw = m.chip.mem_bw * 0.5
    ctx = I + O / 2
    gemm_c = 2 * (L * LAYER + V * h) * B / (peak * 0.5)
    gemm_m = read_bytes("mha") / bw
    attn_c = B * 4 * L * a * d * ctx / (peak * 0.25)
    attn_m = B * ctx * 2 * L * 8 * d * 2 / bw

    def roof(c: float, mem: float) -> float:
        return max(c, mem) if math.isinf(p) else (c**p + mem**p) ** (1 / p)

    assert 0.2 < gemm_c / gemm_m < 5  # near the ridge: the form matters
    assert r.tpot[0] == pytest.approx(roof(gemm_c, gemm_m) + roof(attn_c, attn_m), rel=1e-12)


@pytest.mark.parametrize("p", [math.inf, 2.0])
def test_moe_decode_prices_its_expert_gemms_on_a_smooth_roofline_of_their_own(
    catalog: Catalog, p: float
) -> None:
    """The routed experts' grouped GEMMs are a kernel apart from the dense ones, each on its own
    smooth roofline: 2·B·k FLOPs per expert weight (k = 2 of E = 8 experts per token) at 0.5 of
    peak against reading the experts the batch touches, E·(1 - (1 - k/E)^B) per layer. B = 512:
    the expert GEMMs near their ridge."""
    moe = tiny(moe=MOE)
    m = machine(catalog, 1)
    B, I, O = 512, 1024, 64
    job = ServeJob(moe, I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=B), m, replace(PARAMS, roofline_p=p), "static")
    peak = m.chip.peak("bf16") or math.nan
    bw = m.chip.mem_bw * 0.5
    ctx = I + O / 2
    touched = 8 * (1 - (1 - 2 / 8) ** B)
    expert = 2 * h * 1024  # one expert's 2-matrix MLP
    layer_fixed = 4 * h * h + 2 * h + h * 8  # attention, norms, router
    dense_c = 2 * (L * layer_fixed + V * h) * B / (peak * 0.5)
    dense_m = (L * layer_fixed + h + V * h) * 2 / bw
    expert_c = 2 * B * 2 * L * expert / (peak * 0.5)
    expert_m = L * touched * expert * 2 / bw
    attn_c = B * 4 * L * a * d * ctx / (peak * 0.25)
    attn_m = B * ctx * 2 * L * 8 * d * 2 / bw

    def roof(c: float, mem: float) -> float:
        return max(c, mem) if math.isinf(p) else (c**p + mem**p) ** (1 / p)

    assert 0.2 < expert_c / expert_m < 5
    want = roof(dense_c, dense_m) + roof(expert_c, expert_m) + roof(attn_c, attn_m)
    assert r.tpot[0] == pytest.approx(want, rel=1e-12)


def test_roofline_by_hand() -> None:
    from xpuplan.perf.machine import roofline

    assert roofline(3.0, 1.0, math.inf) == 3.0  # the ideal roofline: the longer
    assert roofline(4.0, 3.0, 2.0) == pytest.approx(5.0)  # 3-4-5
    assert roofline(2.0, 2.0, 1.0) == pytest.approx(4.0)  # one after the other
    assert roofline(1.0, 1.0, 2.0) == pytest.approx(math.sqrt(2))  # at the ridge: 2^(1/p)
    np.testing.assert_allclose(roofline(np.array([0.0, 5.0]), np.array([0.0, 12.0]), 2.0), [0.0, 13.0])


def test_decode_step_of_two_ranks_per_chip(catalog: Catalog) -> None:
    """serve_tail's decode step (no prefill share, mean context I + O/2) under a stack that runs 2
    TP ranks per chip (Neuron: a collective spans the NeuronCores): the one-chip decode reads the
    weights and the KV cache as before (8 heads split whole over the 2 ranks, nothing padded),
    and each of the 2 all-reduces per layer takes 2·log2(2) = 2 latency steps more, 2·L·2·1 µs."""
    from xpuplan.perf.serve_tail import decode_step

    m, B, I, O = machine(catalog, 1), 8, 4096, 256
    job = ServeJob(tiny(), I, O)
    cfg = sv.ServeConfig.one(batch=B)
    kv_tok = 2 * L * 8 * d * 2
    read = (read_bytes("mha") + B * (I + O / 2) * kv_tok) / (m.chip.mem_bw * 0.5)
    two = decode_step(job, cfg, m, replace(PARAMS, tp_ranks_per_chip=2.0))
    assert two[0] == pytest.approx(read + 2 * L * 2 * UP_LAT, rel=1e-12)


@pytest.mark.parametrize("weights, wbytes", [("bf16", 2.0), ("int8", 1.0), ("int4", 0.5)])
def test_quantised_weights_are_read_at_their_width(catalog: Catalog, weights: str, wbytes: float) -> None:
    m = machine(catalog, 1)
    job = ServeJob(tiny(), 128, 2, weights=weights)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(), m, PARAMS, "static")
    bw = m.chip.mem_bw * 0.5
    assert r.tpot[0] == pytest.approx((read_bytes("mha", wbytes) + 129 * 2 * L * 8 * d * 2) / bw, rel=1e-12)
    w, _ = sv.weight_bytes(job.model, job, ONE * 1.0, ONE * 1.0, ONE * 1.0)
    assert w[0] == pytest.approx(job.model.params() * wbytes)
    palettised = ServeJob(tiny(), 128, 2, weights="int4", weight_bits=3.5)
    assert palettised.weight_bytes_per_param == 3.5 / 8


def test_moe_decode_reads_the_experts_the_batch_touches(catalog: Catalog) -> None:
    """A batch of B tokens, each routed to k of E experts, touches E·(1 - (1 - k/E)^B) experts
    per layer on average; only those are read."""
    moe = tiny(moe=MOE)
    m = machine(catalog, 1)
    B, I, O = 4, 1024, 64
    job = ServeJob(moe, I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=B), m, PARAMS, "static")
    touched = 8 * (1 - (1 - 2 / 8) ** B)
    expert = 2 * h * 1024  # one expert's 2-matrix MLP
    layer_fixed = 4 * h * h + 2 * h + h * 8  # attention, norms, router
    read = (L * (layer_fixed + touched * expert) + h + V * h) * 2
    kv = B * (I + O / 2) * 2 * L * 8 * d * 2
    assert r.tpot[0] == pytest.approx((read + kv) / (m.chip.mem_bw * 0.5), rel=1e-12)


def test_tp_decode_adds_two_all_reduces_per_layer(catalog: Catalog) -> None:
    """TP 2: each rank reads half the weights and half the KV heads, and the step all-reduces its
    B·h bf16 activations twice per layer (after attention and after the MLP, Megatron)."""
    m = machine(catalog, 2, domain=2)
    B, I, O = 8, 2048, 128
    job = ServeJob(tiny(), I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(tp=2, batch=B), m, PARAMS, "static")
    bw = m.chip.mem_bw * 0.5
    mem = (read_bytes("mha") / 2 + B * (I + O / 2) * 2 * L * 8 * d * 2 / 2) / bw
    ar = 2 * (1 / 2) * B * h * 2 / UP_BW + 2 * 1 * UP_LAT
    assert r.tpot[0] == pytest.approx(mem + 2 * L * ar, rel=1e-12)


def test_pp_decode_visits_every_stage(catalog: Catalog) -> None:
    """PP 2, 8 sequences: two micro-batches of 4 in flight, one per stage. A micro-batch passes both
    stages (each with half the layers and weights; each pass reads the stage's weights and its 4
    sequences' half of the KV cache) and one hand-off of its 4 tokens; the step is those two passes,
    the other micro-batch in the stage the first left. Per device: the weights twice (W/2 a pass),
    the KV cache of all 8 sequences over its layers once (KV/2)."""
    m = machine(catalog, 2, domain=2)
    B, I, O = 8, 2048, 128
    job = ServeJob(tiny(), I, O)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(pp=2, batch=B), m, PARAMS, "static")
    bw = m.chip.mem_bw * 0.5
    kv = B * (I + O / 2) * 2 * L * 8 * d * 2
    mem = (read_bytes("mha") + kv / 2) / bw
    send = (B / 2) * h * 2 / UP_BW + UP_LAT  # one micro-batch's tokens, inside the scale-up domain
    assert r.tpot[0] == pytest.approx(mem + send, rel=1e-12)


def test_pp_single_sequence_visits_the_stages_in_turn(catalog: Catalog) -> None:
    """PP 2, one sequence: nothing to split, the stages run in turn (each its half of the weights and
    of the KV cache) and one hand-off of its token."""
    m = machine(catalog, 2, domain=2)
    I, O = 2048, 128
    r = sv.evaluate_serve(ServeJob(tiny(), I, O), sv.ServeConfig.one(pp=2, batch=1), m, PARAMS, "static")
    bw = m.chip.mem_bw * 0.5
    mem = (read_bytes("mha") + (I + O / 2) * 2 * L * 8 * d * 2) / bw
    assert r.tpot[0] == pytest.approx(mem + h * 2 / UP_BW + UP_LAT, rel=1e-12)


def test_pp_microbatches_by_hand() -> None:
    """min(pp, sequences), at least one: the decodes plus the prompts the prefill tokens make."""
    pp = np.array([4.0, 4.0, 4.0, 2.0, 8.0])
    dec = np.array([3.0, 0.0, 100.0, 0.0, 5.0])
    pre = np.array([0.0, 512.0, 0.0, 4 * 512.0, 512.0])
    got = sv.pipeline_microbatches(pp, dec, pre, 512.0)
    assert got.tolist() == [3.0, 1.0, 4.0, 2.0, 6.0]


def test_pp_compute_bound_prefill_fills_the_pipeline(catalog: Catalog) -> None:
    """Prompts of many sequences are compute-bound: on twice the chips PP 2 halves the step (two
    micro-batches keep both stages busy, each stage half the layers and half the tokens a pass),
    where a pipeline without micro-batches would take as long as one chip. The hand-off of a
    micro-batch's activations is the only extra: (tokens/2)·h·2 bytes over the link."""
    B, I, O = 64, 2048, 128
    job = ServeJob(tiny(), I, O)
    one = sv.evaluate_serve(job, sv.ServeConfig.one(batch=B), machine(catalog, 1), PARAMS, "static")
    two = sv.evaluate_serve(
        job, sv.ServeConfig.one(pp=2, batch=B), machine(catalog, 2, domain=2), PARAMS, "static"
    )
    send = (B / 2) * I * h * 2 / UP_BW + UP_LAT
    assert two.prefill_s[0] == pytest.approx(one.prefill_s[0] / 2 + send, rel=1e-9)


# ---- prefill: compute-bound ---------------------------------------------------------------------------------


def test_prefill_is_compute_bound(catalog: Catalog) -> None:
    """2 FLOPs per weight per prompt token (layers), the LM head for the last token only, plus causal
    attention ((I+1)/2 keys per query on average), at 0.5 (GEMM) and 0.25 (attention) of peak."""
    m = machine(catalog, 1)
    I = 2048
    job = ServeJob(tiny(), I, 8)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=1), m, PARAMS, "static")
    peak = m.chip.peak("bf16") or math.nan
    body = L * (12 * h * h + 2 * h)
    gemm = (2 * body * I + 2 * V * h) / (peak * 0.5)
    attn = I * 2 * 2 * L * a * d * (I + 1) / 2 / (peak * 0.25)
    assert gemm > read_bytes("mha") / (m.chip.mem_bw * 0.5)  # really compute-bound
    assert r.ttft[0] == pytest.approx(gemm + attn, rel=1e-12)
    assert r.prefill_s[0] == r.ttft[0]


def test_continuous_batching_steady_state(catalog: Catalog) -> None:
    """Orca / Sarathi: at concurrency C each step decodes C tokens and prefills the prompts of the
    C/O requests that replaced finished ones; TTFT is one prompt's prefill plus a step."""
    m = machine(catalog, 1)
    I, O, C = 512, 64, 16
    job = ServeJob(tiny(), I, O)
    cont = sv.evaluate_serve(job, sv.ServeConfig.one(batch=C), m, PARAMS, "continuous")
    one = sv.evaluate_serve(job, sv.ServeConfig.one(batch=1), m, PARAMS, "static")
    assert cont.ttft[0] == pytest.approx(one.ttft[0] + cont.tpot[0], rel=1e-12)
    assert cont.output_tokens_per_s[0] == pytest.approx(C / cont.tpot[0], rel=1e-12)
    assert cont.e2e[0] == pytest.approx(cont.ttft[0] + (O - 1) * cont.tpot[0], rel=1e-12)
    # paged KV: sequences are on average half-way through their output
    kv_tok = 2 * L * 8 * d * 2
    assert cont.kv_bytes[0] == pytest.approx(C * (I + O / 2) * kv_tok, rel=1e-12)
    # the step does more than a pure decode step (it prefills C·I/O prompt tokens too)
    decode_only = (read_bytes("mha") + C * (I + O / 2) * kv_tok) / (m.chip.mem_bw * 0.5)
    assert cont.tpot[0] > decode_only


# ---- capacity -------------------------------------------------------------------------------------------------


def test_kv_capacity_bounds_the_batch(catalog: Catalog) -> None:
    """What the weights, one prompt's buffers and the reserve leave, in whole sequences."""
    cap = 2 * GIB
    m = machine(catalog, 1, mem_bytes=cap)
    I, O = 1024, 1024
    job = ServeJob(tiny(), I, O)
    w = tiny().params() * 2
    act = I * h * 2 * 4 + V * 4
    free = cap - w - act - (2 * GIB + 0.06 * cap)
    assert free < 0  # 2 GiB is eaten by the fixed reserve: nothing fits
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=1), m, PARAMS, "static")
    assert r.max_batch[0] == 0 and r.reason[0] == sv.KV_CAPACITY
    cap = 8 * GIB
    m = machine(catalog, 1, mem_bytes=cap)
    free = cap - w - act - (2 * GIB + 0.06 * cap)
    kv_seq = (I + O) * 2 * L * 8 * d * 2
    want = math.floor(free / kv_seq)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=want + 1), m, PARAMS, "static")
    assert r.max_batch[0] == want and r.reason[0] == sv.KV_CAPACITY
    r = sv.evaluate_serve(job, sv.ServeConfig.one(batch=want), m, PARAMS, "static")
    assert r.reason[0] == sv.OK
    cont = sv.evaluate_serve(job, sv.ServeConfig.one(batch=want), m, PARAMS, "continuous")
    assert cont.max_batch[0] == math.floor(free / ((I + O / 2) * 2 * L * 8 * d * 2))


def test_a_scheduler_that_reserves_the_whole_request_holds_its_output_too(catalog: Catalog) -> None:
    """TensorRT-LLM's GUARANTEED_NO_EVICT admits a request with the KV blocks to run it to
    completion (KVCacheManager::getRemainingBlocksToCompletion, "for maxNewTokens"): in a continuous
    steady state each request in flight holds I + O tokens of KV, not the I + O/2 of blocks taken as
    the sequence grows (vLLM; TensorRT-LLM MAX_UTILIZATION). The attention still reads I + O/2."""
    cap = 8 * GIB
    m = machine(catalog, 1, mem_bytes=cap)
    I, O, C = 128, 2048, 4
    job = ServeJob(tiny(), I, O)
    free = cap - tiny().params() * 2 - (I * h * 2 * 4 + V * 4) - (2 * GIB + 0.06 * cap)
    kv_tok = 2 * L * 8 * d * 2
    cfg = sv.ServeConfig.one(batch=C)
    grow = sv.evaluate_serve(job, cfg, m, PARAMS, "continuous")
    held = sv.evaluate_serve(job, cfg, m, replace(PARAMS, kv_reserve_full=1.0), "continuous")
    assert grow.kv_bytes[0] == pytest.approx(C * (I + O / 2) * kv_tok, rel=1e-12)
    assert held.kv_bytes[0] == pytest.approx(C * (I + O) * kv_tok, rel=1e-12)
    assert grow.max_batch[0] == math.floor(free / ((I + O / 2) * kv_tok))
    assert held.max_batch[0] == math.floor(free / ((I + O) * kv_tok))
    assert held.tpot[0] == pytest.approx(grow.tpot[0], rel=1e-12)  # same reads, fewer sequences fit


def test_weights_larger_than_memory(catalog: Catalog) -> None:
    m = machine(catalog, 1, mem_bytes=0.1 * GIB)
    job = ServeJob(tiny(), 128, 16)
    assert tiny().params() * 2 > 0.1 * GIB
    r = sv.evaluate_serve(job, sv.ServeConfig.one(), m, PARAMS, "static")
    assert r.reason[0] == sv.MEMORY


@pytest.mark.parametrize(
    "cfg, code",
    [
        (dict(tp=16), sv.TP_HEADS),  # 16 ranks for 8 heads
        (dict(tp=8), sv.OK),  # the domain is 8
        (dict(pp=5), sv.PP_LAYERS),  # 5 stages for 4 layers
        (dict(ep=2), sv.EP_EXPERTS),  # EP without experts
    ],
)
def test_serve_structural_reasons(catalog: Catalog, cfg: dict[str, int], code: int) -> None:
    m = machine(catalog, 16, domain=8)
    assert sv.check_serve(sv.ServeConfig.one(**cfg), tiny(), m)[0] == code
    assert sv.SERVE_REASON_TEXT[code]


def test_tp_beyond_the_domain(catalog: Catalog) -> None:
    m = machine(catalog, 16, domain=4)
    assert sv.check_serve(sv.ServeConfig.one(tp=8), tiny(), m)[0] == sv.TP_DOMAIN
    moe = tiny(moe=MOE)
    assert sv.check_serve(sv.ServeConfig.one(ep=3), moe, m)[0] == sv.EP_EXPERTS
    assert sv.check_serve(sv.ServeConfig.one(ep=4), moe, m)[0] == sv.OK


def test_compute_dtype(catalog: Catalog) -> None:
    m = machine(catalog, 1)
    fmt = {w: sv.compute_dtype(ServeJob(tiny(), 8, 8, weights=w), m) for w in ("bf16", "fp8", "int4", "fp4")}
    # H100: fp8 GEMMs; int4 is dequantised to 16-bit (W4A16); no fp4 tensor cores, so fp4 runs in fp8
    assert fmt == {"bf16": "bf16", "fp8": "fp8", "int4": "bf16", "fp4": "fp8"}
    v100 = replace(
        m, chip=replace(m.chip, peak_flops={k: v for k, v in m.chip.peak_flops.items() if k != "bf16"})
    )
    assert sv.compute_dtype(ServeJob(tiny(), 8, 8), v100) == "fp16"
    assert EFF.matmul == 0.5 and TINY["layers"] == L


def test_an_infinite_roof_stays_infinite() -> None:
    """A format the chip does not run has an infinite compute time; the smooth roofline keeps it
    infinite (the larger of the two would), and two zero times take zero."""
    from xpuplan.perf.machine import roofline

    got = roofline(np.array([math.inf, 0.0, 1.0]), np.array([1.0, 0.0, math.inf]), 2.0)
    assert math.isinf(got[0]) and got[1] == 0.0 and math.isinf(got[2])

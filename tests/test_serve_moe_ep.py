"""MoE serving with expert parallelism and attention data parallelism, term by term against hand
computations (the hand-sized model and machine of ``handsized``: L = 4, h = 1024, 8 heads of 128;
switch domains of 8 chips with links at 0.5 × 100 GB/s and 1 µs).

* Attention data parallelism (TensorRT-LLM ``enable_attention_dp``): each of the ``tp`` ranks keeps
  the whole attention weights and the KV cache of its own sequences only, and each MoE layer
  dispatches and combines its tokens by all-to-all (DeepSeek-V3 report §3.4).
* MLA decodes in its latent space (DeepSeek-V2 §2.1.2; vLLM's ``_forward_decode``): per context
  position each head spends ``2·(d_qk + d_v)`` FLOPs with ``d_qk = kv_lora + rope``, ``d_v = kv_lora``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from handsized import MOE, PARAMS, UP_BW, UP_LAT, L, a, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.perf import serve as sv
from xpuplan.workload.job import ServeJob

MLA = {
    "q_lora_rank": 0,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
}
ADP = replace(PARAMS, attention_dp=True)
T8 = np.array([8.0])
ONE = np.array([1.0])


def test_mla_decode_attention_runs_in_the_latent_space() -> None:
    """Per context position and head: QK over 512 + 64 latent dims, AV over the 512-dim latent,
    2 FLOPs each: 2·(576 + 512) = 2,176 per head, 8 heads, 4 layers = 69,632. Without MLA decode
    is the plain MHA count, 2·(128 + 128) per head per layer."""
    assert sv.decode_attn_flops(tiny(mla=MLA)) == 2 * L * a * (576 + 512) == 69_632
    assert sv.decode_attn_flops(tiny()) == 2 * L * a * (128 + 128)


def test_attention_dp_keeps_a_sequence_kv_on_one_rank() -> None:
    """MLA's latent (512 + 64 values per layer, bf16: 4 · 576 · 2 = 4,608 B per token) is whole on
    every TP rank without attention DP; with it a rank holds only its own sequences, 1/8 of the
    batch: 576 B per token of the batch. GQA heads split over TP likewise give way to 1/tp."""
    job = ServeJob(tiny(mla=MLA), 128, 8)
    assert sv.kv_bytes_per_token(job.model, job, T8, ONE)[0] == 4 * 576 * 2 == 4_608
    assert sv.kv_bytes_per_token(job.model, job, T8, ONE, adp=True)[0] == 4_608 / 8
    gqa = ServeJob(tiny(kv_heads=2), 128, 8)  # 2 KV heads: TP 8 splits them 2 ways, ADP 8 ways
    full = 2 * L * 2 * 128 * 2
    assert sv.kv_bytes_per_token(gqa.model, gqa, T8, ONE)[0] == full / 2
    assert sv.kv_bytes_per_token(gqa.model, gqa, T8, ONE, adp=True)[0] == full / 8


def test_attention_dp_replicates_the_attention_weights() -> None:
    """TP 8 holds 1/8 of every dense weight; with attention DP a rank holds the whole attention
    (4h² per layer, bf16): 4 · 4 · 1024² · 2 · (1 - 1/8) = 29,360,128 B more per device."""
    moe = tiny(moe=MOE)
    job = ServeJob(moe, 128, 8)
    w, _ = sv.weight_bytes(moe, job, T8, ONE, T8)
    w_adp, _ = sv.weight_bytes(moe, job, T8, ONE, T8, adp=True)
    assert w_adp[0] - w[0] == pytest.approx(L * 4 * h * h * 2 * 7 / 8) == 29_360_128


def test_attention_dp_moe_layers_all_to_all_their_tokens(catalog: Catalog) -> None:
    """8 ranks, 256 tokens in the step (32 per rank), top-2 of 8 experts: each MoE layer sends
    32 · 2 · 1024 · 2 B = 131,072 B per rank out and back, each an all-to-all of 7/8 of it over the
    link plus log2(8) = 3 latency steps; 4 MoE layers, 2 all-to-alls each."""
    m = machine(catalog, 8)
    moe = tiny(moe=MOE)
    tokens = np.array([256.0])
    one = 7 / 8 * 32 * 2 * h * 2 / UP_BW + 3 * UP_LAT
    assert sv._adp_comm_time(moe, m, T8, ONE, tokens)[0] == pytest.approx(2 * L * one, rel=1e-12)


def test_attention_dp_communication_is_per_stage(catalog: Catalog) -> None:
    """With PP each stage runs L/pp of the layers, so one device's step communicates for those
    only: at pp = 2 the 4 MoE layers' 2 all-to-alls each (as above, 7/8 of 131,072 B per rank
    plus 3 latency steps) are 2 layers' worth on a stage, half of pp = 1's. A dense model's layers
    each all-gather the group's tokens and reduce-scatter the result, one ring all-reduce of the
    256 · 1024 · 2 B of the step's activations, 2·(7/8)·size/bw + 2·3 latency steps; at pp = 2,
    2 layers per stage."""
    m = machine(catalog, 8)
    tokens = np.array([256.0])
    pp2 = np.array([2.0])
    one = 7 / 8 * 32 * 2 * h * 2 / UP_BW + 3 * UP_LAT
    assert sv._adp_comm_time(tiny(moe=MOE), m, T8, pp2, tokens)[0] == pytest.approx(
        2 * (L / 2) * one, rel=1e-12
    )
    ar = 2 * 7 / 8 * 256 * h * 2 / UP_BW + 2 * 3 * UP_LAT
    assert sv._adp_comm_time(tiny(), m, T8, ONE, tokens)[0] == pytest.approx(L * ar, rel=1e-12)
    assert sv._adp_comm_time(tiny(), m, T8, pp2, tokens)[0] == pytest.approx(L / 2 * ar, rel=1e-12)


def test_attention_dp_decode_step_by_hand(catalog: Catalog) -> None:
    """An MLA + MoE decode step at TP 8 = EP 8 with attention DP, batch 64 at context 1,024 + 4:
    weights (1/8 of the experts the batch touches, the whole attention and the rest at 1/8) and
    each rank's KV (8 sequences) at 0.5 of the memory bandwidth, plus the all-to-alls."""
    moe = tiny(moe=MOE, mla=MLA)
    m = machine(catalog, 8)
    B, I, O = 64, 1024, 8
    job = ServeJob(moe, I, O)
    cfg = sv.ServeConfig.one(tp=8, ep=8, batch=B)
    r = sv.evaluate_serve(job, cfg, m, ADP, "static")
    touched = 8 * (1 - (1 - 2 / 8) ** B)
    attn = moe.attn_params()
    norms_router = 2 * h + h * 8
    dense = L * (norms_router / 8 + attn) + h / 8 + moe.vocab * h / 8  # LM head at 1/8; no embedding read
    read = (dense + L * touched * 2 * h * 1024 / 8) * 2
    kv = B / 8 * (I + O / 2) * L * 576 * 2
    bw = m.chip.mem_bw * 0.5
    a2a = 2 * L * (7 / 8 * (B / 8) * 2 * h * 2 / UP_BW + 3 * UP_LAT)
    gemm = 2 * (moe.matmul_params(active=True) - moe.vocab * h) * B / 8 + 2 * moe.vocab * h * B / 8
    t_gemm = max(gemm / (m.chip.peak("bf16") * 0.5), read / bw)
    flops = B * sv.decode_attn_flops(moe) * (I + O / 2) / 8
    t_attn = max(flops / (m.chip.peak("bf16") * 0.25), kv / bw)
    assert r.tpot[0] == pytest.approx(t_gemm + t_attn + a2a, rel=1e-9)


def test_one_token_reads_its_top_k_experts_whole() -> None:
    """One token, top-2 of 8: 8·(1 - 6/8) = 2 experts touched, each read whole once (2 matrices of
    1024 x 1024 per layer over 4 layers, bf16: 16,777,216 B; the two: 33,554,432 B). The dense
    part is the rest of the weights less the untied input embedding (a lookup)."""
    moe = tiny(moe=MOE)
    job = ServeJob(moe, 128, 8)
    dense, experts = sv._weights_read(moe, job, ONE, ONE, ONE, ONE)
    assert experts[0] == pytest.approx(2 * 2 * 1024 * 1024 * L * 2) == 33_554_432
    everything, _ = sv.weight_bytes(moe, job, ONE, ONE, ONE)
    assert dense[0] == pytest.approx(everything[0] - L * 8 * 2 * h * 1024 * 2 - moe.vocab * h * 2)


@pytest.mark.parametrize(
    ("tokens", "ep", "tp"),
    [
        (64.0, 1.0, 1.0),  # 64 tokens: nearly all 8 experts touched, 16 rows each
        (4096.0, 1.0, 1.0),  # 1,024 rows per expert
        (256.0, 8.0, 8.0),  # EP 8: whole experts, one per rank: n = min(h, 1024) = 1024
        (256.0, 1.0, 8.0),  # TP 8 slices every expert: N = 1024/8 = 128 is the smallest side
    ],
)
def test_expert_gemms_run_at_their_weight_sides(
    catalog: Catalog, tokens: float, ep: float, tp: float
) -> None:
    """The routed experts' GEMMs: 2·T·k·P_expert / tp FLOPs (P_expert = 4 layers of 2·h·1024) at
    0.5 of the bf16 peak times n/(n + 256), n the smaller weight side (h, 1024·ep/tp; the rows per
    expert, T·k/touched, are not a side: small M is the weight read's), or reading the touched
    experts' weights at 0.5 of a memory bandwidth 100x the H100's (so the compute side binds),
    whichever is longer."""
    m = machine(catalog, 8, mem_bw=335e12)
    m = replace(m, chip=replace(m.chip, efficiency=replace(m.chip.efficiency, matmul_knee=256.0)))
    moe = tiny(moe=MOE)
    job = ServeJob(moe, 128, 8)
    T, E, k = np.array([tokens]), 8, 2
    tpa, epa = np.array([tp]), np.array([ep])
    _, read = sv._weights_read(moe, job, tpa, ONE, epa, T)
    touched = E * (1 - (1 - k / E) ** tokens)
    assert read[0] == pytest.approx(touched * 2 * h * 1024 * L * 2 / tp)  # 1/tp of the touched, bf16
    flops = 2 * tokens * k * (L * 2 * h * 1024) / tp
    n = min(h, 1024 * ep / tp)
    compute = flops / (m.chip.peak("bf16") * 0.5 * n / (n + 256))
    want = max(compute, read[0] / (335e12 * 0.5))
    got = sv._expert_gemm_time(moe, m, m.chip.peak("bf16"), False, tpa, ONE, epa, T, read, 335e12 * 0.5)
    assert got[0] == pytest.approx(want, rel=1e-12)
    assert compute > read[0] / (335e12 * 0.5)  # the compute side is the one under test


def test_a_moe_step_adds_the_expert_roofline_to_the_dense_one(catalog: Catalog) -> None:
    """The dense GEMMs and the routed experts' grouped GEMMs are separate kernels, each its own
    roofline: a step's GEMM time is their sum, not one max over both totals. A dense model has no
    expert term."""
    moe = tiny(moe=MOE)
    m = machine(catalog, 8)
    job = ServeJob(moe, 128, 8)
    T = np.array([512.0])
    _, read = sv._weights_read(moe, job, ONE, ONE, ONE, T)
    bw = m.chip.mem_bw * 0.5
    t_exp = sv._expert_gemm_time(moe, m, m.chip.peak("bf16"), False, ONE, ONE, ONE, T, read, bw)
    cfg = sv.ServeConfig.one(batch=512)
    zero, ctx = np.array([0.0]), 128.0
    step = sv._step(moe, job, m, cfg, T, np.array([ctx]), zero, ctx, PARAMS)
    vh = moe.vocab * h
    dense_params = moe.matmul_params(active=True) - vh - L * 2 * (2 * h * 1024)  # less 2 routed experts
    dense_read = (moe.params() - L * 8 * 2 * h * 1024 - vh) * 2  # no routed expert, no embedding
    t_dense = max((2 * dense_params * 512 + 2 * vh * 512) / (m.chip.peak("bf16") * 0.5), dense_read / bw)
    kv = 512 * ctx * L * 2 * h * 2  # K and V, bf16, MHA
    t_attn = max(512 * sv.decode_attn_flops(moe) * ctx / (m.chip.peak("bf16") * 0.25), kv / bw)
    assert step[0] == pytest.approx(t_dense + t_exp[0] + t_attn, rel=1e-9)
    no_experts = replace(moe, moe=None)
    assert sv._expert_gemm_time(no_experts, m, 1.0, False, ONE, ONE, ONE, T, read, bw)[0] == 0.0

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

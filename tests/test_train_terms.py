"""The training model term by term, each against a hand computation from the paper it cites.

Every test prices the hand-sized transformer of ``handsized.py`` (L = 4, h = 1024, 8 heads, f = 4h,
V = 32000) on a catalog chip in a made-up system with round numbers, through the public
``estimate_train`` and its per-term breakdown (``time_s`` and ``memory_bytes``), and writes the
expected figure from first principles, so the tests hold whatever shape the model code takes.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from handsized import (
    EMB,
    GB,
    LAYER,
    MOE,
    NO_FLASH,
    OUT_LAT,
    PARAMS,
    UP_BW,
    UP_LAT,
    L,
    V,
    a,
    d,
    f,
    h,
    machine,
    tiny,
)
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Dtype, Interval, Topology
from xpuplan.layout import Layout, Reason, Recompute
from xpuplan.layout.layout import LayoutArray
from xpuplan.perf import Machine, PerfParams, estimate_train
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.train import lora_fraction
from xpuplan.units import GIB
from xpuplan.workload.job import TrainJob
from xpuplan.workload.model import Model


def est(
    catalog: Catalog,
    lay: Layout,
    batch: int,
    seq: int = 2048,
    model: Model | None = None,
    params: PerfParams = PARAMS,
    m: Machine | None = None,
    **job: object,
) -> TrainEstimate:
    j = TrainJob(model or tiny(), batch, seq, **job)  # type: ignore[arg-type]
    e = estimate_train(j, lay, m or machine(catalog, lay.chips), params)
    assert e.reason in (Reason.OK, Reason.MEMORY), e.reason
    return e


def peak(catalog: Catalog) -> float:
    return catalog.chip("nvidia-h100-sxm").peak("bf16") or math.nan


def flash_core_s(catalog: Catalog, tokens: float, s: float, q: float, t: int = 1) -> float:
    """Forward time of one layer's causal attention core (QKᵀ and A·V, 2 FLOPs per MAC, (s+1)/2
    keys per query on average) for ``tokens`` queries, at the fused-kernel efficiency with its
    128-query tiles (FlashAttention-2, Dao 2023 §3.2): ``q / (q + 128)`` of it for ``q`` queries."""
    flops = tokens * 2 * 2 * (a / t) * d * (s + 1) / 2
    return flops / (peak(catalog) * 0.25 * q / (q + 128))


# ---- compute: 6N (Kaplan et al. 2020), flash backward 2.5× forward (Dao 2023) --------------------------


def test_compute_is_6n_plus_attention(catalog: Catalog) -> None:
    """With memory bandwidth out of the way (element-wise ops free), a micro-batch of b·s tokens
    costs 2·N FLOPs forward and 4·N backward over every matmul weight (layers and LM head,
    Kaplan et al. 2020 §2.1), at 0.5 of peak; the attention core costs its forward and 2.5× that
    backward (FlashAttention-2: five matmuls against two)."""
    m = machine(catalog, 1, mem_bw=1e30)
    s, B = 2048, 2
    e = est(catalog, Layout(microbatch=1), B, s, m=m)
    n_matmul = L * 12 * h * h + V * h
    gemm = 6 * s * n_matmul / (peak(catalog) * 0.5)
    core = 3.5 * L * flash_core_s(catalog, s, s, s)
    assert e.time_s["compute"] == pytest.approx(B * (gemm + core), rel=1e-6)
    assert e.time_s["recompute"] == 0.0


def test_recompute_reruns_the_forward(catalog: Catalog) -> None:
    """Korthikanti et al. 2022: full recomputation re-runs each layer's forward in backward;
    selective recomputation only the attention core."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 2048
    fwd_layers = 2 * s * L * 12 * h * h / (peak(catalog) * 0.5) + L * flash_core_s(catalog, s, s, s)
    full = est(catalog, Layout(recompute=Recompute.FULL), 1, s, m=m)
    assert full.time_s["recompute"] == pytest.approx(fwd_layers, rel=1e-6)
    sel = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, m=m)
    assert sel.time_s["recompute"] == pytest.approx(L * flash_core_s(catalog, s, s, s), rel=1e-9)
    assert full.time_s["compute"] == pytest.approx(sel.time_s["compute"], rel=1e-12)


def test_jax_full_remat_skips_the_layers_last_matmul(catalog: Catalog) -> None:
    """JAX rematerialises a checkpointed layer in backward only as its residuals need it (JAX docs,
    notebooks/autodiff_remat; PerfParams.remat_skips_layer_output, MaxText): full recompute
    re-runs the forward less the MLP's output projection fc2 (2·s·f·h FLOPs per layer of the plain
    2-matrix MLP, f = 4h, at 0.5 of peak), whose output no gradient reads; the step's own
    forward and backward are unchanged."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 2048
    fwd_layers = 2 * s * L * 12 * h * h / (peak(catalog) * 0.5) + L * flash_core_s(catalog, s, s, s)
    fc2 = L * 2 * s * f * h / (peak(catalog) * 0.5)
    jax = replace(PARAMS, remat_skips_layer_output=1.0)
    full = est(catalog, Layout(recompute=Recompute.FULL), 1, s, params=jax, m=m)
    assert full.time_s["recompute"] == pytest.approx(fwd_layers - fc2, rel=1e-6)
    torch = est(catalog, Layout(recompute=Recompute.FULL), 1, s, m=m)
    assert full.time_s["compute"] == pytest.approx(torch.time_s["compute"], rel=1e-12)
    # a selective policy is not full recompute: the switch leaves it alone
    sel = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, params=jax, m=m)
    assert sel.time_s["recompute"] == pytest.approx(L * flash_core_s(catalog, s, s, s), rel=1e-9)
    # a gated MLP (SwiGLU, 3 matrices of h x f): the down projection is a third of its FLOPs
    glu = tiny(ffn_type="swiglu")
    g_fwd = 2 * s * L * (4 * h * h + 3 * h * f) / (peak(catalog) * 0.5) + L * flash_core_s(catalog, s, s, s)
    g_full = est(catalog, Layout(recompute=Recompute.FULL), 1, s, model=glu, params=jax, m=m)
    assert g_full.time_s["recompute"] == pytest.approx(
        g_fwd - L * 2 * s * f * h / (peak(catalog) * 0.5), rel=1e-6
    )


def test_save_dot_except_mlpwi_redoes_the_mlps_first_matmul(catalog: Catalog) -> None:
    """MaxText remat_policy save_dot_except_mlpwi (PerfParams.selective_recomputes_fc1 with
    selective_saves_dots): the selective recompute also re-runs the MLP's wi, 2·h·f FLOPs per
    token per layer of the plain 2-matrix MLP (f = 4h) at 0.5 of peak, and the layer keeps no
    output of it: per token the layer input and the two output projections' results (3h) and
    q/k/v (3h for 8 heads of 128 = h) instead of also the f outputs of wi."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 2048
    dots = replace(PARAMS, selective_saves_dots=1.0)
    wi = replace(dots, selective_recomputes_fc1=1.0)
    sel = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, params=dots, m=m)
    redo = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, params=wi, m=m)
    fc1 = L * 2 * s * h * f / (peak(catalog) * 0.5)
    assert redo.time_s["recompute"] - sel.time_s["recompute"] == pytest.approx(fc1, rel=1e-9)
    assert redo.time_s["compute"] == pytest.approx(sel.time_s["compute"], rel=1e-12)
    # without selective_saves_dots the switch does nothing (it refines MaxText's dots policy)
    plain = est(
        catalog,
        Layout(recompute=Recompute.SELECTIVE),
        1,
        s,
        params=replace(PARAMS, selective_recomputes_fc1=1.0),
        m=m,
    )
    assert plain.time_s["recompute"] == pytest.approx(
        est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, m=m).time_s["recompute"], rel=1e-12
    )
    from xpuplan.perf.train import activation_bytes_per_layer

    lay = LayoutArray.from_layout(Layout(recompute=Recompute.SELECTIVE))
    kept = activation_bytes_per_layer(tiny(), lay, s, 2.0, moe=False, dots_only=True, no_fc1=True)
    assert float(kept[0]) == pytest.approx(s * 2.0 * (3 * h + 3 * h), rel=1e-12)
    with_wi = activation_bytes_per_layer(tiny(), lay, s, 2.0, moe=False, dots_only=True)
    assert float(with_wi[0]) - float(kept[0]) == pytest.approx(s * 2.0 * f, rel=1e-12)


def test_unfused_attention_core_by_hand(catalog: Catalog) -> None:
    """Without a fused kernel the core is two batched GEMMs over all s keys (the causal mask is
    applied after: 2·2·a·d·s FLOPs per token) at 0.5 of peak, plus ~9 bytes per score through
    memory (scale-mask-softmax read + write 4, dropout read + write 4, the mask 1) at 0.5 of the
    memory bandwidth. Selective recomputation re-runs exactly the L layers' cores."""
    s = 2048
    e = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, params=NO_FLASH)
    gemm = s * 2 * 2 * a * d * s / (peak(catalog) * 0.5)
    scores = s * 9 * a * s / (catalog.chip("nvidia-h100-sxm").mem_bw * 0.5)
    assert e.time_s["recompute"] == pytest.approx(L * (gemm + scores), rel=1e-9)


def test_fp32_training_runs_attention_at_the_fp32_peak(catalog: Catalog) -> None:
    """fp32 training keeps the attention core in fp32 too (only 16-bit formats run it at the
    16-bit rate): the selectively recomputed cores of the L layers at the chip's fp32 peak."""
    s = 2048
    e = est(catalog, Layout(recompute=Recompute.SELECTIVE), 1, s, precision="fp32")
    fp32 = catalog.chip("nvidia-h100-sxm").peak("fp32") or math.nan
    core = s * 2 * 2 * a * d * (s + 1) / 2 / (fp32 * 0.25 * s / (s + 128))
    assert e.time_s["recompute"] == pytest.approx(L * core, rel=1e-9)


def test_lm_head_and_its_logits_split_over_tp(catalog: Catalog) -> None:
    """The LM head is vocabulary-parallel (Megatron-LM: each of the t ranks holds V/t rows of it):
    2·tok·h·V/t FLOPs forward at 0.5 of peak, and the loss streams that rank's V/t fp32 logits
    three times (4 bytes each) at 0.5 of memory bandwidth; backward is input + weight gradients,
    twice the forward (Narayanan et al. 2021 Eq. 3), so the head costs 3× its forward. Halving the
    vocabulary at TP 2 leaves the layers unchanged: the difference is the head of 16,000 rows."""
    m = machine(catalog, 2)
    s, t = 2048, 2
    big = est(catalog, Layout(tp=t), 1, s, m=m)
    half = est(catalog, Layout(tp=t), 1, s, m=m, model=tiny(vocab=V // 2))
    rows = (V - V // 2) / t  # 8,000 vocabulary rows per rank
    gemm = 2 * s * h * rows / (peak(catalog) * 0.5)
    logits = 3 * s * rows * 4 / (catalog.chip("nvidia-h100-sxm").mem_bw * 0.5)
    assert big.time_s["compute"] - half.time_s["compute"] == pytest.approx(3 * (gemm + logits), rel=1e-9)


@pytest.mark.parametrize(
    "block, keys",
    [
        (128.0, 256),  # FlashAttention-2's 128-row tiles: the diagonal tile and the one before it
        (512.0, 1024),  # splash attention's 512-row tiles (MaxText sa_block_q = sa_block_kv = 512)
    ],
)
def test_sliding_window_layers_compute_the_tiles_they_reach(
    catalog: Catalog, block: float, keys: int
) -> None:
    """gpt-oss's window: 128 keys on 2 of the 4 layers. A fused kernel computes whole tiles and
    skips the empty ones (FlashAttention-2 §3.1.1), so a local layer's query tile costs the
    diagonal tile and the one before it, ``keys`` keys per query against (s+1)/2 causal; the
    global layers are unchanged, and so are the GEMMs."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 4096
    params = replace(PARAMS, attention_block=block)
    plain = est(catalog, Layout(microbatch=1), 1, s, m=m, params=params)
    local = est(
        catalog,
        Layout(microbatch=1),
        1,
        s,
        model=tiny(sliding_window=128, window_layers=2),
        m=m,
        params=params,
    )
    core = 3.5 * flash_core_s(catalog, s, s, s)  # one layer's causal core, forward + backward
    saved = 2 * core * (1 - keys / ((s + 1) / 2))
    assert plain.time_s["compute"] - local.time_s["compute"] == pytest.approx(saved, rel=1e-6)


def test_the_backward_kernel_prices_its_own_tiles(catalog: Catalog) -> None:
    """Splash attention's backward has tiles of its own (tpu-recipes gpt-oss-120b on Ironwood:
    sa_block_q 1024 forward, sa_block_q_dkv 2048 backward, 8,192 tokens): a local layer's
    forward costs 2·1024 keys per query of the (8192+1)/2 causal ones, its backward 2·2048, i.e.
    nearly all of them."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 8192
    params = replace(PARAMS, attention_block=1024.0, attention_block_bwd=2048.0)
    plain = est(catalog, Layout(microbatch=1), 1, s, m=m, params=params)
    local = est(
        catalog,
        Layout(microbatch=1),
        1,
        s,
        model=tiny(sliding_window=128, window_layers=2),
        m=m,
        params=params,
    )
    fwd = flash_core_s(catalog, s, s, s)  # one layer's causal core forward
    causal = (s + 1) / 2
    saved = 2 * (fwd * (1 - 2048 / causal) + 2.5 * fwd * (1 - 4096 / causal))
    assert saved > 0.9 * fwd  # the forward's half is saved, the backward's barely anything
    assert plain.time_s["compute"] - local.time_s["compute"] == pytest.approx(saved, rel=1e-6)


def test_a_window_wider_than_the_causal_span_changes_nothing() -> None:
    """A window over more keys than a causal query averages ((s+1)/2) is global attention."""
    assert tiny(sliding_window=4096, window_layers=2).local_attn_share(4096, 128.0) == 1.0
    assert tiny(sliding_window=128).local_attn_share(8192) == pytest.approx(
        128 / 4096.5
    )  # all layers, no tiles
    assert tiny().local_attn_share(8192, 512.0) == 1.0


def test_lora_backward_skips_weight_gradients(catalog: Catalog) -> None:
    """LoRA freezes the base weights (Hu et al. 2021): backward computes input gradients only, so
    the GEMMs cost 2N forward + 2N backward instead of 6N."""
    m = machine(catalog, 1, mem_bw=1e30)
    s = 2048
    e = est(catalog, Layout(), 1, s, m=m, lora_rank=8)
    gemm = 4 * s * (L * 12 * h * h + V * h) / (peak(catalog) * 0.5)
    assert e.time_s["compute"] == pytest.approx(gemm + 3.5 * L * flash_core_s(catalog, s, s, s), rel=1e-6)


def test_lora_trainable_share() -> None:
    """Hu et al. 2021: rank-r adapters add r·(d_in + d_out) per adapted matrix: Q, K, V, O and both
    MLP matrices of every layer."""
    r = 8
    per_layer = r * ((h + h) + (h + 2 * h) + (h + h) + 2 * (h + f))  # Q, fused KV, O, fc1 and fc2
    model = tiny()
    assert lora_fraction(model, r) == pytest.approx(L * per_layer / model.params(), rel=1e-12)
    assert lora_fraction(model, None) == 1.0


# ---- tensor parallel: 4 all-reduces per layer per micro-batch (Megatron), +2 with full recompute -------


TP_AR = 2 * (1 / 2) * (1 * 2048 * h * 2) / UP_BW + 2 * 1 * UP_LAT  # all-reduce of b·s·h bf16 over 2 ranks


@pytest.mark.parametrize(
    "lay, want",
    [
        # 2 all-reduces forward (after attention and after the MLP) and 2 backward, per layer
        (Layout(tp=2), 4 * L * TP_AR),
        # sequence parallelism swaps each for a reduce-scatter + all-gather: the same volume
        (Layout(tp=2, sp=True), 4 * L * TP_AR),
        # full recomputation re-runs the forward's 2 (Korthikanti et al. 2022 §5)
        (Layout(tp=2, recompute=Recompute.FULL), 6 * L * TP_AR),
        (Layout(tp=2, recompute=Recompute.SELECTIVE), 4 * L * TP_AR),
        # JAX's recompute skips the layer's last matmul and so the collective after it: 1 more
        (Layout(tp=2, recompute=Recompute.FULL), ("jax", 5 * L * TP_AR)),
        # with sequence parallelism the collective it skips is the reduce-scatter: half of one
        (Layout(tp=2, sp=True, recompute=Recompute.FULL), ("jax", 5.5 * L * TP_AR)),
        # overlap with the GEMMs hides tp_overlap = 0.7 of it
        (Layout(tp=2, tp_overlap=True), 4 * L * TP_AR * (1 - 0.7)),
    ],
)
def test_tp_all_reduces_per_layer(catalog: Catalog, lay: Layout, want: float | tuple[str, float]) -> None:
    B = 3  # three micro-batches of one sequence
    params = PARAMS
    if isinstance(want, tuple):
        params, want = replace(PARAMS, remat_skips_layer_output=1.0), want[1]
    e = est(catalog, lay, B, 2048, params=params)
    assert e.time_s["tp_comm"] == pytest.approx(B * want, rel=1e-12)


@pytest.mark.parametrize(
    "topology, domain, dims, share",
    [
        (Topology.MESH, 8, (), 1 / 7),  # 2 ranks of a full mesh of 8 share one of 7 links
        (Topology.TORUS, 8, (2, 4), 1 / 2),  # along the 2-axis of a 2x4 torus: half the links
    ],
)
def test_tp_uses_the_bandwidth_its_group_reaches(
    catalog: Catalog, topology: Topology, domain: int, dims: tuple[int, ...], share: float
) -> None:
    m = machine(catalog, 8, domain, topology, dims)  # a full domain: TP 2 × DP 4
    e = est(catalog, Layout(tp=2, dp=4), 4, 2048, m=m)
    ar = 2 * (1 / 2) * (2048 * h * 2) / (UP_BW * share) + 2 * UP_LAT
    assert e.time_s["tp_comm"] == pytest.approx(4 * L * ar, rel=1e-12)


# ---- context parallel: K, V ring exchange per layer, hidden behind the attention core ------------------


def test_cp_kv_exchange(catalog: Catalog) -> None:
    """Each layer all-gathers the sequence's K and V (2·h values per token, bf16) over the CP
    ranks forward, all-gathers again and reduce-scatters their gradients backward; the exchange
    overlaps the attention core (forward + 2.5× backward) of the rank's s/cp queries."""
    s, cp = 4096, 2
    kv = 1 * s * 2 * h * 2  # bytes of K and V of one layer, the whole sequence
    one = (cp - 1) / cp * kv / UP_BW + 1 * UP_LAT
    core = flash_core_s(catalog, s / cp, s, s / cp)
    per_mb = 3 * L * one - 3.5 * L * core
    assert per_mb > 0  # the exchange is not fully hidden here
    e = est(catalog, Layout(cp=cp), 2, s)
    assert e.time_s["cp_comm"] == pytest.approx(2 * per_mb, rel=1e-9)
    full = est(catalog, Layout(cp=cp, recompute=Recompute.FULL), 2, s)  # recompute re-gathers forward
    assert full.time_s["cp_comm"] == pytest.approx(2 * (4 * L * one - 3.5 * L * core), rel=1e-9)


def test_cp_ring_across_two_domains_runs_at_the_scale_out_bandwidth(catalog: Catalog) -> None:
    """A CP group of 2 whose ranks sit in 2 different scale-up domains (one chip per node here)
    exchanges K and V over the scale-out network: each chip's NIC share, 40 GB/s × 0.5 achieved,
    and its 2 µs latency per ring step. As above, 3 exchanges per layer forward and backward, less
    the attention core they hide behind."""
    s, cp = 4096, 2
    m = machine(catalog, 2, domain=1, node_bw=40 * GB)
    kv = 1 * s * 2 * h * 2
    one = (cp - 1) / cp * kv / (40 * GB * 0.5) + 1 * OUT_LAT
    core = flash_core_s(catalog, s / cp, s, s / cp)
    per_mb = 3 * L * one - 3.5 * L * core
    assert per_mb > 0
    e = est(catalog, Layout(cp=cp), 2, s, m=m)
    assert e.time_s["cp_comm"] == pytest.approx(2 * per_mb, rel=1e-9)


@pytest.mark.parametrize("tp, sp", [(1, False), (2, False), (2, True)])
def test_element_wise_traffic_by_hand(catalog: Catalog, tp: int, sp: bool) -> None:
    """Element-wise kernels stream their tensors at 0.5 of the memory bandwidth. Per token and
    layer: the norms and residuals, 10·h elements read and written, replicated over TP unless
    sequence parallelism splits them too (Korthikanti et al. 2022 §4.2.2); the MLP activation,
    2·f for a 2-matrix MLP, and RoPE on the queries and keys, 2·(a + n_kv)·d, split over TP; 2
    bytes each. Forward and the two backward passes (input and weight gradients) stream them once
    each: 3·L times a micro-batch. The LM head's fp32 logits add 3·V·4 bytes per token over TP,
    also 3 times. GQA with 2 KV heads; the extra time is that at the H100's bandwidth over that at
    an unbounded one."""
    s, kv = 2048, 2
    model = tiny(kv_heads=kv)
    lay = Layout(tp=tp, sp=sp)
    bw = catalog.chip("nvidia-h100-sxm").mem_bw * 0.5
    fast = est(catalog, lay, 1, s, model=model, m=machine(catalog, tp, mem_bw=1e30))
    real = est(catalog, lay, 1, s, model=model, m=machine(catalog, tp))
    per_tok = 10 * h / (tp if sp else 1) + (2 * f + 2 * (a + kv) * d) / tp
    layers = 3 * L * s * per_tok * 2 / bw
    head = 3 * s * 3 * V / tp * 4 / bw
    got = real.time_s["compute"] - fast.time_s["compute"]
    assert got == pytest.approx(layers + head, rel=1e-9)


def test_cp_ranks_compute_their_share_of_the_tokens(catalog: Catalog) -> None:
    """Context parallelism cuts each sequence into cp chunks: a rank runs every GEMM (attention
    projections, the MLP, the LM head) on its s/cp tokens, 6·(s/cp)·N FLOPs at 0.5 of peak, and
    the attention core of its s/cp queries against all s keys (forward + 2.5× backward)."""
    m = machine(catalog, 2, mem_bw=1e30)
    s, cp, B = 4096, 2, 2  # two micro-batches of one sequence
    e = est(catalog, Layout(cp=cp), B, s, m=m)
    gemm = 6 * (s / cp) * (L * 12 * h * h + V * h) / (peak(catalog) * 0.5)
    core = 3.5 * L * flash_core_s(catalog, s / cp, s, s / cp)
    assert e.time_s["compute"] == pytest.approx(B * (gemm + core), rel=1e-6)


def test_cp_exchange_is_hidden_when_attention_is_long(catalog: Catalog) -> None:
    # the exchange grows with s, the attention core with s²: at 16k tokens it hides entirely
    s = 16384
    kv = s * 2 * h * 2
    exposed = 3 * L * (kv / 2 / UP_BW + UP_LAT) - 3.5 * L * flash_core_s(catalog, s / 2, s, s / 2)
    assert exposed < 0
    assert est(catalog, Layout(cp=2), 1, s).time_s["cp_comm"] == 0.0


# ---- expert parallel: dispatch + combine all-to-all per MoE layer, forward and backward --------------


def test_ep_all_to_all_inside_a_domain(catalog: Catalog) -> None:
    """Each token's hidden state goes to its top_k = 2 experts and comes back (dispatch, combine),
    forward and backward: 4 all-to-alls per MoE layer, each sending top_k·b·s·h bf16 bytes per
    rank of which (e-1)/e leave it; ep_overlap = 0.5 of it hides behind expert compute."""
    model = tiny(moe=MOE)
    s, e_ = 2048, 8
    a2a = 2 * s * h * 2
    one = (e_ - 1) / e_ * a2a / UP_BW + UP_LAT * math.ceil(math.log2(e_))
    e = est(catalog, Layout(dp=8, ep=8), 8, s, model=model)
    assert e.time_s["ep_comm"] == pytest.approx(4 * L * one * (1 - 0.5), rel=1e-12)
    full = est(catalog, Layout(dp=8, ep=8, recompute=Recompute.FULL), 8, s, model=model)
    assert full.time_s["ep_comm"] == pytest.approx(6 * L * one * (1 - 0.5), rel=1e-12)
    dense = est(catalog, Layout(dp=8), 8, s)
    assert dense.time_s["ep_comm"] == 0.0


def test_ep_all_to_all_across_domains(catalog: Catalog) -> None:
    """EP 8 over two 4-chip domains: 3/8 of each rank's share moves on the fast fabric while 4/8
    crosses the slow network at the same time; the slower sets the pace, plus log2(8) steps of
    the scale-out latency."""
    model = tiny(moe=MOE)
    m = machine(catalog, 8, domain=4, node_bw=40 * GB)  # 4 chips per node: 5 GB/s each achieved
    s = 2048
    a2a = 2 * s * h * 2
    inside = 3 / 8 * a2a / UP_BW
    outside = 4 / 8 * a2a / (40 * GB / 4 * 0.5)
    assert outside > inside
    one = max(inside, outside) + 3 * OUT_LAT
    e = est(catalog, Layout(dp=8, ep=8), 8, s, model=model, m=m)
    assert e.time_s["ep_comm"] == pytest.approx(4 * L * one * 0.5, rel=1e-12)


# ---- MoE host-bound: dropless dispatch syncs each MoE layer (Megatron-Core token_dispatcher.py) -------


def _device_mb(e: TrainEstimate, m: int) -> float:
    t = e.time_s
    return (t["compute"] + t["recompute"] + t["tp_comm"] + t["cp_comm"] + t["ep_comm"]) / m


def test_moe_host_bound_micro_batch(catalog: Catalog) -> None:
    """The host issues each of the L = 4 MoE layers' forward in h and backward in 2h; a sync per
    layer keeps it from running ahead, so a micro-batch takes max(3·L·h, device): with h = 1 s
    the step is 4 micro-batches × 12 s + the optimizer, and the breakdown names the gap."""
    model = tiny(moe=MOE)
    base = est(catalog, Layout(), 4, 2048, model=model)
    hb = 1.0
    e = est(catalog, Layout(), 4, 2048, model=model, params=replace(PARAMS, moe_host_s=hb))
    assert base.time_s["host"] == 0.0
    assert e.step_time_s == pytest.approx(4 * 3 * L * hb + e.time_s["optimizer"], rel=1e-12)
    assert e.time_s["host"] == pytest.approx(4 * (3 * L * hb - _device_mb(base, 4)), rel=1e-12)
    assert e.step_time_s == pytest.approx(sum(e.time_s.values()), rel=1e-12)
    # full recompute re-runs (and re-syncs) every forward: 4 issues of h per layer
    full = est(
        catalog, Layout(recompute=Recompute.FULL), 4, 2048, model=model, params=replace(PARAMS, moe_host_s=hb)
    )
    assert full.step_time_s == pytest.approx(4 * 4 * L * hb + full.time_s["optimizer"], rel=1e-12)


def test_moe_host_issues_only_its_stages_layers(catalog: Catalog) -> None:
    """With PP 2 each stage's host issues its L/p = 2 MoE layers (forward h, backward 2h each), so
    a micro-batch takes 3·2·h = 6 s; 4 micro-batches and the (p-1)/v = 1 micro-batch of bubble
    (Narayanan et al. 2021 §2.2) make 5 × 6 s, plus the p2p sends and the optimizer."""
    model = tiny(moe=MOE)
    p, B, hb = 2, 4, 1.0
    e = est(catalog, Layout(pp=p), B, 2048, model=model, params=replace(PARAMS, moe_host_s=hb))
    mb_s = 3 * (L / p) * hb
    want = (B + p - 1) * mb_s + e.time_s["pp_comm"] + e.time_s["optimizer"]
    assert e.step_time_s == pytest.approx(want, rel=1e-12)
    assert e.time_s["bubble"] == pytest.approx((p - 1) * mb_s, rel=1e-12)


def test_moe_host_hidden_when_device_is_longer(catalog: Catalog) -> None:
    """A host time below the device's is hidden: the step does not change. Padded dropping (a
    capacity factor) is sync-free and a dense model has no dispatch: no host term at any h."""
    model = tiny(moe=MOE)
    base = est(catalog, Layout(), 4, 2048, model=model)
    small = 0.5 * _device_mb(base, 4) / (3 * L)
    e = est(catalog, Layout(), 4, 2048, model=model, params=replace(PARAMS, moe_host_s=small))
    assert e.step_time_s == pytest.approx(base.step_time_s, rel=1e-12) and e.time_s["host"] == 0.0
    padded = replace(PARAMS, moe_host_s=1.0, moe_capacity_factor=1.25)
    assert est(catalog, Layout(), 4, 2048, model=model, params=padded).time_s["host"] == 0.0
    assert est(catalog, Layout(), 4, 2048, params=replace(PARAMS, moe_host_s=1.0)).time_s["host"] == 0.0


# ---- pipeline: bubble (p-1)/(v·m) and p2p (Narayanan et al. 2021) -------------------------------------


@pytest.mark.parametrize("p, v, B", [(2, 1, 4), (4, 1, 8), (4, 2, 8), (2, 2, 16)])
def test_pipeline_bubble_fraction(catalog: Catalog, p: int, v: int, B: int) -> None:
    """Narayanan et al. 2021 §2.2: the bubble is (p-1)/(v·m) of the ideal time of m micro-batches."""
    model = tiny(layers=8)
    e = est(catalog, Layout(pp=p, vpp=v), B, 2048, model=model)
    t = e.time_s
    ideal = t["compute"] + t["recompute"] + t["tp_comm"] + t["cp_comm"] + t["ep_comm"]
    assert t["bubble"] == pytest.approx((p - 1) / (v * B) * ideal, rel=1e-12)
    if p == 1:
        assert t["bubble"] == 0.0


def test_no_pipeline_no_bubble(catalog: Catalog) -> None:
    e = est(catalog, Layout(), 4, 2048)
    assert e.time_s["bubble"] == 0.0 and e.time_s["pp_comm"] == 0.0


def test_pipeline_p2p(catalog: Catalog) -> None:
    """Activations of b·s·h bf16 cross each stage boundary forward and their gradients backward,
    for every micro-batch on every virtual chunk (×v, Narayanan et al. 2021 §2.2.2), plus the p-1
    sends of the fill: 2·(m·v + p - 1) sends on the critical path."""
    model = tiny(layers=8)
    send = 2048 * h * 2 / UP_BW + UP_LAT
    e = est(catalog, Layout(pp=4, vpp=2), 8, 2048, model=model)
    assert e.time_s["pp_comm"] == pytest.approx(2 * (8 * 2 + 4 - 1) * send, rel=1e-12)
    # with TP the send is split over the TP ranks' links (Megatron's scatter/gather, §4.1)
    e = est(catalog, Layout(pp=4, tp=2), 8, 2048, model=model)
    assert e.time_s["pp_comm"] == pytest.approx(2 * (8 + 3) * (2048 * h * 2 / 2 / UP_BW + UP_LAT), rel=1e-12)
    # stages in different 2-chip domains: the scale-out NIC share and latency
    m = machine(catalog, 4, domain=2, node_bw=40 * GB)
    e = est(catalog, Layout(pp=4), 8, 2048, model=model, m=m)
    slow = 2048 * h * 2 / (40 * GB / 2 * 0.5) + OUT_LAT
    assert e.time_s["pp_comm"] == pytest.approx(2 * (8 + 3) * slow, rel=1e-12)


# ---- data parallel and ZeRO: time (Rajbhandari et al. 2020) -------------------------------------------


P_DEV = L * LAYER + 2 * EMB + h  # on one device without TP/PP: layers, embedding, LM head, final norm


def _ring_ag(size: float, n: int) -> float:
    return (n - 1) / n * size / UP_BW + math.ceil(math.log2(n)) * UP_LAT


@pytest.mark.parametrize("zero", [0, 1, 2])
def test_dp_gradient_all_reduce(catalog: Catalog, zero: int) -> None:
    """ZeRO 0-2 reduce 2-byte gradients of every parameter over the DP ranks once per step:
    an all-reduce (ZeRO 1/2: reduce-scatter + all-gather of the same volume). No overlap here."""
    e = est(catalog, Layout(dp=8, zero=zero, dp_overlap=False), 16, 2048)
    assert e.time_s["dp_comm"] == pytest.approx(2 * _ring_ag(2 * P_DEV, 8), rel=1e-12)


def test_zero3_gathers_parameters_every_micro_batch(catalog: Catalog) -> None:
    """ZeRO-3 (FSDP) reduce-scatters the gradients once, and all-gathers the 2-byte parameters
    twice per micro-batch (forward and backward)."""
    B, dp = 32, 8
    mb = B // dp
    e = est(catalog, Layout(dp=dp, zero=3, dp_overlap=False), B, 2048)
    want = _ring_ag(2 * P_DEV, dp) + mb * 2 * _ring_ag(2 * P_DEV, dp)
    assert e.time_s["dp_comm"] == pytest.approx(want, rel=1e-12)


def test_fp32_training_reduces_4_byte_gradients(catalog: Catalog) -> None:
    e = est(catalog, Layout(dp=8, zero=1, dp_overlap=False), 16, 2048, precision="fp32")
    assert e.time_s["dp_comm"] == pytest.approx(2 * _ring_ag(4 * P_DEV, 8), rel=1e-12)


def test_dp_across_nodes_is_hierarchical(catalog: Catalog) -> None:
    """16 DP ranks in two 8-chip domains: reduce-scatter and all-gather inside, an all-reduce of
    the 1/8 shard across the two domains on the NIC share (400 GB/s / 8 × 0.5)."""
    e = est(catalog, Layout(dp=16, zero=1, dp_overlap=False), 16, 2048)
    S = 2 * P_DEV
    out_bw = 400 * GB / 8 * 0.5
    want = 2 * _ring_ag(S, 8) + 2 * 1 / 2 * (S / 8) / out_bw + 2 * OUT_LAT
    assert e.time_s["dp_comm"] == pytest.approx(want, rel=1e-12)


def test_zero3_flat_gather_runs_at_each_nic(catalog: Catalog) -> None:
    """zero3_flat_gather (DeepSpeed ZeRO-3, 2021): 16 ZeRO-3 ranks in two 8-chip domains gather and
    reduce-scatter as one flat ring, each chip's 15/16 share of the 2-byte parameters through its
    own NIC (400 GB/s / 8 × 0.5), ceil(log2 16) = 4 hops of the scale-out latency; once for the
    gradients and twice (forward, backward) per micro-batch. No overlap here."""
    B, dp = 32, 16
    mb = B // dp
    flat = replace(PARAMS, zero3_flat_gather=1.0)
    e = est(catalog, Layout(dp=dp, zero=3, dp_overlap=False), B, 2048, params=flat)
    out_bw = 400 * GB / 8 * 0.5
    one = 15 / 16 * 2 * P_DEV / out_bw + 4 * OUT_LAT
    assert e.time_s["dp_comm"] == pytest.approx(one + mb * 2 * one, rel=1e-12)
    # inside one domain there is no NIC to cross: the scale-up ring as without the setting
    e8 = est(catalog, Layout(dp=8, zero=3, dp_overlap=False), 32, 2048, params=flat)
    assert e8.time_s["dp_comm"] == pytest.approx(_ring_ag(2 * P_DEV, 8) * (1 + 4 * 2), rel=1e-12)
    # ZeRO-1 is untouched: its reduction stays hierarchical
    z1 = est(catalog, Layout(dp=dp, zero=1, dp_overlap=False), 16, 2048, params=flat)
    z1_ref = est(catalog, Layout(dp=dp, zero=1, dp_overlap=False), 16, 2048)
    assert z1.time_s["dp_comm"] == pytest.approx(z1_ref.time_s["dp_comm"], rel=1e-12)


def test_zero3_flat_gather_of_the_experts(catalog: Catalog) -> None:
    """The same flat rings with experts (8 experts of f_e = 1024 on every layer): EP 8 over the
    16 ZeRO-3 ranks leaves expert-data-parallel groups of 16 / 8 = 2 ranks, one in each 8-chip
    domain (Megatron-Core's EDP = DP / EP). Per step: a reduce-scatter of the 2-byte gradients and
    two all-gathers of the 2-byte parameters per micro-batch, over
    * the dense parameters, 16 ranks: 15/16 of them through each NIC, 4 hops of the scale-out
      latency; a layer's are 4h² attention, 2h norms and the h×8 router (replicated over EP),
      plus both tables and the final norm;
    * each device's one expert per layer (L·2·h·f_e), 2 ranks: 1/2 through the NIC, 1 hop."""
    B, mb = 32, 2  # 2 micro-batches of one sequence per rank
    flat = replace(PARAMS, zero3_flat_gather=1.0)
    lay = Layout(dp=16, ep=8, zero=3, dp_overlap=False)
    e = est(catalog, lay, B, 2048, model=tiny(moe=MOE), params=flat)
    out_bw = 400 * GB / 8 * 0.5
    dense = L * (4 * h * h + 2 * h + 8 * h) + 2 * EMB + h
    expert = L * 2 * h * MOE["expert_ffn"]
    one = 15 / 16 * 2 * dense / out_bw + 4 * OUT_LAT + 1 / 2 * 2 * expert / out_bw + 1 * OUT_LAT
    assert e.time_s["dp_comm"] == pytest.approx(one + mb * 2 * one, rel=1e-12)
    # EP 4 over 8 ranks of one domain: 2 experts per device, EDP groups of 2 inside the domain,
    # so both rings stay on the scale-up links at their latency
    e8 = est(
        catalog, Layout(dp=8, ep=4, zero=3, dp_overlap=False), 16, 2048, model=tiny(moe=MOE), params=flat
    )
    one8 = 7 / 8 * 2 * dense / UP_BW + 3 * UP_LAT + 1 / 2 * 2 * (2 * expert) / UP_BW + 1 * UP_LAT
    assert e8.time_s["dp_comm"] == pytest.approx(one8 + mb * 2 * one8, rel=1e-12)


def test_dp_overlap_hides_behind_backward(catalog: Catalog) -> None:
    """With overlap the reduction hides behind dp_overlap = 0.9 of the last micro-batch's backward
    (2/3 of its compute when nothing is recomputed, plus 2.5/3.5 of the attention core...): at
    most the all-reduce, never negative."""
    off = est(catalog, Layout(dp=8, zero=1, dp_overlap=False), 16, 2048)
    on = est(catalog, Layout(dp=8, zero=1, dp_overlap=True), 16, 2048)
    assert 0.0 <= on.time_s["dp_comm"] < off.time_s["dp_comm"]


def test_optimizer_step_is_memory_bound(catalog: Catalog) -> None:
    """Adam reads fp32 master, m, v and the gradient and writes master, m, v and the bf16 weight:
    30 bytes per parameter of the local shard, at 0.5 of memory bandwidth."""
    bw = catalog.chip("nvidia-h100-sxm").mem_bw * 0.5
    e0 = est(catalog, Layout(dp=8, zero=0), 16, 2048)
    assert e0.time_s["optimizer"] == pytest.approx(30 * P_DEV / bw, rel=1e-12)
    for zero in (1, 2, 3):  # ZeRO 1+ shards the optimizer state: each rank updates 1/8
        e = est(catalog, Layout(dp=8, zero=zero), 16, 2048)
        assert e.time_s["optimizer"] == pytest.approx(30 * P_DEV / 8 / bw, rel=1e-12)


def test_step_is_the_sum_of_its_terms(catalog: Catalog) -> None:
    model = tiny(layers=8, moe=MOE)
    lay = Layout(tp=2, pp=2, dp=4, ep=2, zero=1, sp=True, recompute=Recompute.SELECTIVE)
    e = est(catalog, lay, 16, 2048, model=model, m=machine(catalog, 16))
    assert e.step_time_s == pytest.approx(sum(e.time_s.values()), rel=1e-12)
    assert all(v >= 0 for v in e.time_s.values())
    assert e.tokens_per_s == pytest.approx(16 * 2048 / e.step_time_s, rel=1e-12)


# ---- memory: ZeRO stages (Rajbhandari et al. 2020, Fig. 1: 2 + 2 + K bytes, K = 12) ------------------


@pytest.mark.parametrize(
    "zero, w, g, o",
    [
        (0, 2.0, 2.0, 12.0),  # baseline: (2 + 2 + 12)·Ψ
        (1, 2.0, 2.0, 12.0 / 8),  # P_os: optimizer state sharded over N_d = 8
        (2, 2.0, 2.0 / 8, 12.0 / 8),  # P_os+g
        (3, 2.0 / 8, 2.0 / 8, 12.0 / 8),  # P_os+g+p (plus the gathered working copies)
    ],
)
def test_zero_memory_by_stage(catalog: Catalog, zero: int, w: float, g: float, o: float) -> None:
    e = est(catalog, Layout(dp=8, zero=zero), 8, 2048)
    mem = e.memory_bytes
    gathered = 0.0
    if zero == 3:
        # two phases never live together: the layer in use and the one prefetched (2 bytes each)
        # with the current layer's full gradient (2 bytes), or, while the loss runs, the gathered
        # LM head and its gradient (2 + 2 bytes) beside the logits; here the head phase is larger
        layer_phase, head_phase = (2 * 2 + 2) * LAYER, (2 + 2) * EMB
        assert head_phase + _logits(2048) > layer_phase
        gathered = head_phase
    assert mem["weights"] == pytest.approx(w * P_DEV + gathered, rel=1e-12)
    assert mem["grads"] == pytest.approx(g * P_DEV, rel=1e-12)
    assert mem["optimizer"] == pytest.approx(o * P_DEV, rel=1e-12)


def test_fp32_training_state_is_4_4_8(catalog: Catalog) -> None:
    e = est(catalog, Layout(dp=1, zero=0), 1, 2048, precision="fp32")
    mem = e.memory_bytes
    assert (mem["weights"], mem["grads"], mem["optimizer"]) == (
        pytest.approx(4 * P_DEV),
        pytest.approx(4 * P_DEV),
        pytest.approx(8 * P_DEV),
    )


def test_lora_keeps_state_only_for_adapters(catalog: Catalog) -> None:
    share = lora_fraction(tiny(), 8)
    e = est(catalog, Layout(), 1, 2048, lora_rank=8)
    assert e.memory_bytes["weights"] == pytest.approx(2 * P_DEV, rel=1e-12)
    assert e.memory_bytes["grads"] == pytest.approx(2 * share * P_DEV, rel=1e-12)
    assert e.memory_bytes["optimizer"] == pytest.approx(12 * share * P_DEV, rel=1e-12)


def test_tp_and_pp_divide_the_weights(catalog: Catalog) -> None:
    """TP splits every matrix over its ranks; PP gives the most loaded stage ceil(L/p) layers and
    one of the embedding / LM head (tied: one table in all); the last stage's final norm (h)
    is replicated over TP."""
    model = tiny(layers=8)
    e = est(catalog, Layout(tp=2, pp=4, zero=0), 4, 2048, model=model)
    assert e.memory_bytes["weights"] == pytest.approx(2 * ((2 * LAYER + EMB) / 2 + h), rel=1e-12)
    e = est(catalog, Layout(pp=3, zero=0), 3, 2048, model=model)  # 8 layers on 3 stages: 3 on the worst
    assert e.memory_bytes["weights"] == pytest.approx(2 * (3 * LAYER + EMB + h), rel=1e-12)
    tied = tiny(tied_embeddings=True)
    e = est(catalog, Layout(zero=0), 1, 2048, model=tied)
    assert e.memory_bytes["weights"] == pytest.approx(2 * (L * LAYER + EMB + h), rel=1e-12)


def test_reserved_memory(catalog: Catalog) -> None:
    m = machine(catalog, 1, mem_bytes=80 * GIB)
    e = est(catalog, Layout(), 1, 2048, m=m)
    assert e.memory_bytes["reserved"] == pytest.approx(2 * GIB + 0.06 * 80 * GIB)
    assert e.memory_capacity_bytes == 80 * GIB
    assert e.memory_total_bytes == pytest.approx(sum(e.memory_bytes.values()), rel=1e-12)


# ---- memory: activations (Korthikanti et al. 2022) -----------------------------------------------------


def _logits(s: int, b: int = 1, t: int = 1) -> float:
    return 6.0 * s * b * V / t  # bf16 logits and their fp32 copy for the loss


@pytest.mark.parametrize(
    "lay, per_layer",
    [
        # Korthikanti Eq. 1 without dropout (its two sbh masks): 32·sbh + 5·a·s²·b bytes per layer
        (Layout(), lambda s, b: s * b * h * 32 + 5 * a * s * s * b),
        # TP without SP: layer norms and GEMM inputs replicated (8·sbh), the rest split (24/t)
        (Layout(tp=2), lambda s, b: s * b * h * (8 + 24 / 2) + 5 * a * s * s * b / 2),
        # SP splits the replicated part too: everything / t
        (Layout(tp=2, sp=True), lambda s, b: (s * b * h * 32 + 5 * a * s * s * b) / 2),
        # selective recomputation drops the 5·a·s²·b of the attention core
        (Layout(recompute=Recompute.SELECTIVE), lambda s, b: s * b * h * 32),
        (Layout(microbatch=2), lambda s, b: s * b * h * 32 + 5 * a * s * s * b),
    ],
)
def test_activation_memory_korthikanti(catalog: Catalog, lay: Layout, per_layer: object) -> None:
    s = 2048
    b = lay.microbatch
    e = est(catalog, lay, 2 * b, s, params=NO_FLASH, m=machine(catalog, lay.chips))
    want = L * per_layer(s, b) + _logits(s, b, lay.tp)  # type: ignore[operator]
    assert e.memory_bytes["activations"] == pytest.approx(want, rel=1e-12)


def test_flash_attention_keeps_no_scores(catalog: Catalog) -> None:
    s = 2048
    e = est(catalog, Layout(), 2, s)
    assert e.memory_bytes["activations"] == pytest.approx(L * 32 * s * h + _logits(s), rel=1e-12)


def test_te_fp8_keeps_the_linear_inputs_quantised(catalog: Catalog) -> None:
    """Transformer Engine's fp8 recipes save each linear's input as its fp8 column-wise copy
    (PerfParams.quantised_inputs_saved): per token per layer the QKV and fc1 inputs (h each),
    the proj input (h) and the fc2 input (f = 4h) at 1 byte instead of 2, the norms' inputs (2h),
    q/k/v (3h) and the activation function's input (f) at 2: 32·h -> 25·h bytes, plus the fused
    attention's own 16-bit output (2h), no longer the proj input's tensor: 27·h. The selective
    policy recomputes the core, so keeps 25·h; MXFP8 adds its E8M0 scale per 32 values; a 16-bit
    run, and a LoRA fine-tune (its adapters keep the 16-bit inputs), keep 2 bytes."""
    s = 2048
    te = replace(PARAMS, quantised_inputs_saved=1.0)
    e = est(catalog, Layout(), 2, s, params=te, precision="fp8")
    assert e.memory_bytes["activations"] == pytest.approx(L * 27 * s * h + _logits(s), rel=1e-12)
    sel = est(catalog, Layout(recompute=Recompute.SELECTIVE), 2, s, params=te, precision="fp8")
    assert sel.memory_bytes["activations"] == pytest.approx(L * 25 * s * h + _logits(s), rel=1e-12)
    mx = est(catalog, Layout(), 2, s, params=te, precision="mxfp8")
    lin = (2 * h + h + f) * s * (1 + 1 / 32)
    assert mx.memory_bytes["activations"] == pytest.approx(L * (27 * s * h - 7 * h * s + lin) + _logits(s))
    assert est(catalog, Layout(), 2, s, params=te).memory_bytes["activations"] == pytest.approx(
        L * 32 * s * h + _logits(s), rel=1e-12
    )
    lora = est(catalog, Layout(), 2, s, params=te, precision="fp8", lora_rank=16)
    plain = est(catalog, Layout(), 2, s, params=PARAMS, precision="fp8", lora_rank=16)
    assert lora.memory_bytes["activations"] == pytest.approx(plain.memory_bytes["activations"], rel=1e-12)


def test_megatron_activation_offload_by_hand(catalog: Catalog) -> None:
    """Megatron-Core's activation offloading (PerfParams.cpu_offload_layers, 2 of the 4 layers):
    their 32·sbh each leaves the device, so it keeps 2 layers' and the logits; nothing is
    recomputed. Each way the copy moves 2 x 32·sbh over the host link, beside its pass: at 1 GB/s
    it outlasts both passes, so the step shows 2 x copy - (forward + backward)."""
    s = 2048
    m = machine(catalog, 1)
    m = replace(m, chip=replace(m.chip, host_bw=1e9))
    off = replace(PARAMS, cpu_offload_layers=2.0)
    base = est(catalog, Layout(), 1, s, m=m)
    e = est(catalog, Layout(), 1, s, params=off, m=m)
    assert e.memory_bytes["activations"] == pytest.approx(2 * 32 * s * h + _logits(s), rel=1e-12)
    assert e.time_s["recompute"] == 0.0 and e.time_s["compute"] == pytest.approx(base.time_s["compute"])
    copy = 2 * 32 * s * h / 1e9
    assert e.time_s["offload"] == pytest.approx(2 * copy - e.time_s["compute"], rel=1e-9)
    # a link fast enough hides it; a chip with no host link on record prices none
    fast = replace(m, chip=replace(m.chip, host_bw=1e15))
    assert est(catalog, Layout(), 1, s, params=off, m=fast).time_s["offload"] == 0.0
    assert est(catalog, Layout(), 1, s, params=off, m=machine(catalog, 1)).time_s["offload"] == 0.0
    # Megatron-Core offloads only without pipeline stages and without recompute, and the model
    # offloads nothing on a chip whose host link is not on record
    full = est(catalog, Layout(recompute=Recompute.FULL), 1, s, params=off, m=m)
    assert full.time_s["offload"] == 0.0
    assert full.memory_bytes["activations"] == pytest.approx(
        est(catalog, Layout(recompute=Recompute.FULL), 1, s, m=m).memory_bytes["activations"]
    )
    bare = est(catalog, Layout(), 1, s, params=off, m=machine(catalog, 1))
    assert bare.memory_bytes["activations"] == pytest.approx(base.memory_bytes["activations"])


def test_full_recompute_keeps_layer_inputs(catalog: Catalog) -> None:
    """Full recomputation stores 2·sbh per layer (its bf16 input), plus the larger of the working
    set of the one layer being recomputed (32·sbh) and the logits: the LM head's backward frees
    the logits before the last layer is recomputed. V = 32000: 6·V > 32·h, the logits."""
    s = 2048
    e = est(catalog, Layout(recompute=Recompute.FULL), 1, s)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h + _logits(s), rel=1e-12)
    e = est(catalog, Layout(tp=2, sp=True, recompute=Recompute.FULL), 1, s)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h / 2 + _logits(s, 1, 2), rel=1e-12)
    # a 1000-token vocabulary: 6·1000 < 32·1024 bytes per token, the recomputed layer is larger
    small = tiny(vocab=1000)
    e = est(catalog, Layout(recompute=Recompute.FULL), 1, s, model=small)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h + 32 * s * h, rel=1e-12)


def test_logits_bytes_and_vocab_tiling(catalog: Catalog) -> None:
    """The loss keeps ``logits_bytes`` per logit (MaxText: bf16 logits + bf16 gradient, 4) for
    one of ``vocab_tiles`` chunks of the tokens at a time (MaxText num_vocab_tiling)."""
    s, b = 2048, 2
    params = replace(PARAMS, logits_bytes=4.0, vocab_tiles=4.0)
    e = est(catalog, Layout(microbatch=b), b, s, params=params)
    assert e.memory_bytes["activations"] == pytest.approx(L * 32 * s * b * h + 4 * s * b * V / 4, rel=1e-12)


@pytest.mark.parametrize("wb, w, g, o", [(4.0, 4, 4, 8), (2.0, 2, 2, 4)])
def test_state_in_one_weight_format(catalog: Catalog, wb: float, w: float, g: float, o: float) -> None:
    """MaxText keeps parameters, gradients and both Adam moments in weight_dtype, with no other
    master copy: float32 (its default) 4 + 4 + 8 bytes, bfloat16 2 + 2 + 4."""
    e = est(catalog, Layout(zero=0), 1, 2048, params=replace(PARAMS, weight_bytes=wb))
    mem = e.memory_bytes
    assert (mem["weights"], mem["grads"], mem["optimizer"]) == (
        pytest.approx(w * P_DEV),
        pytest.approx(g * P_DEV),
        pytest.approx(o * P_DEV),
    )


def test_fsdp_gathers_one_array_at_a_time(catalog: Catalog) -> None:
    """XLA gathers each weight array on its own (fsdp_gather_matrix): the largest array in use and
    the next (h·f, an MLP matrix, 2 bytes each) with its gradient, not two layers. A 1000-token
    vocabulary with full recomputation makes the layer phase the larger: 2·s·h·32 bytes of the
    recomputed layer and 6·h·f of arrays against 6·s·1000 of logits and 4·1000·h of the head."""
    s, small = 2048, tiny(vocab=1000)
    lay = Layout(dp=8, zero=3, recompute=Recompute.FULL)
    e = est(catalog, lay, 8, s, model=small, params=replace(PARAMS, fsdp_gather_matrix=1.0))
    p_dev = L * LAYER + 2 * 1000 * h + h
    assert e.memory_bytes["weights"] == pytest.approx(2 * p_dev / 8 + (2 * 2 + 2) * h * f, rel=1e-12)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h + 32 * s * h, rel=1e-12)


def test_zero3_gathers_a_layer_at_a_time(catalog: Catalog) -> None:
    """Without fsdp_gather_matrix the unit is a layer (PyTorch FSDP, DeepSpeed ZeRO-3 modules): the
    one in use and the next prefetched, 2 bytes each, with its unsharded gradient, 2 bytes: 6
    bytes of the device's non-table parameters per layer, (L·LAYER + h)/L (the final norm goes
    with the layers). A 1000-token vocabulary with full recomputation: the layer phase (32·s·h
    bytes of the recomputed layer and the gathered layer) is the larger, against 6·s·1000 of
    logits and (2 + 2)·1000·h of the gathered head and its gradient."""
    s, small = 2048, tiny(vocab=1000)
    lay = Layout(dp=8, zero=3, recompute=Recompute.FULL)
    e = est(catalog, lay, 8, s, model=small)
    p_dev = L * LAYER + 2 * 1000 * h + h
    unit = (L * LAYER + h) / L
    layer_phase, head_phase = 32 * s * h + 6 * unit, 6 * s * 1000 + 4 * 1000 * h
    assert layer_phase > head_phase
    assert e.memory_bytes["weights"] == pytest.approx(2 * p_dev / 8 + 6 * unit, rel=1e-12)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h + 32 * s * h, rel=1e-12)


def test_fsdp_gathers_the_stacked_experts_of_one_device(catalog: Catalog) -> None:
    """MaxText stacks a MoE layer's experts as one array [E/ep, h, f_e]: with EP 8 each of the 8
    devices holds 8/8 = 1 expert, an h·f_e = h² array, as large as the Q projection (h × a·d =
    h²), so the gathered unit is 6·h² bytes. EDP = DP / EP = 1: the experts are not sharded.
    The layer phase is the larger: a recomputed MoE layer keeps 28·s·h bytes, 2 bytes of each of
    Korthikanti's 4h replicated values (norm and GEMM inputs) and of q, k, v (3h), the attention
    output (h), the top-2 experts' two f_e activations (4h) and the two routed copies of the
    hidden state (2h), against 6·s·1000 of logits and 4·1000·h of the head."""
    s, small = 2048, tiny(vocab=1000, moe=MOE)
    lay = Layout(dp=8, ep=8, zero=3, recompute=Recompute.FULL)
    e = est(catalog, lay, 8, s, model=small, params=replace(PARAMS, fsdp_gather_matrix=1.0))
    dense = L * (4 * h * h + 2 * h + 8 * h) + 2 * 1000 * h + h  # attention, norms, router; tables
    expert = L * 2 * h * MOE["expert_ffn"]
    assert 28 * s * h + 6 * h * h > 6 * s * 1000 + 4 * 1000 * h
    assert e.memory_bytes["weights"] == pytest.approx(2 * (dense / 8 + expert) + 6 * h * h, rel=1e-12)
    assert e.memory_bytes["activations"] == pytest.approx(L * 2 * s * h + 28 * s * h, rel=1e-12)


@pytest.mark.parametrize(
    "p, v, B, inflight",
    [
        (2, 1, 8, 2),  # 1F1B: the first stage holds p micro-batches in flight
        (4, 1, 2, 2),  # ... or all of them when there are fewer than p
        (4, 2, 8, 4 * (1 + 3 / 8)),  # interleaved: × (1 + (p-1)/(p·v)) (Korthikanti §4.2.3)
    ],
)
def test_pipeline_activations_in_flight(catalog: Catalog, p: int, v: int, B: int, inflight: float) -> None:
    model = tiny(layers=8)
    s = 2048
    e = est(catalog, Layout(pp=p, vpp=v), B, s, model=model)
    stage = 8 / p * 32 * s * h  # the first stage's layers
    first = inflight * stage
    last = stage + _logits(s)  # the last stage: one micro-batch and the logits
    # (weights: 2 bytes of 2 layers and one table on either stage, so activations decide)
    assert e.memory_bytes["activations"] == pytest.approx(max(first, last), rel=1e-12)


def test_two_stages_the_first_holds_two_micro_batches(catalog: Catalog) -> None:
    """1F1B with p = 2: the first stage keeps p = 2 micro-batches of its 4 layers (32·s·h bytes
    each); with a 1000-token vocabulary the last stage's one micro-batch and its logits (6·s·1000)
    are the smaller, so the first stage is the most loaded."""
    s = 2048
    e = est(catalog, Layout(pp=2), 8, s, model=tiny(layers=8, vocab=1000))
    stage = 4 * 32 * s * h
    assert 2 * stage > stage + 6 * s * 1000
    assert e.memory_bytes["activations"] == pytest.approx(2 * stage, rel=1e-12)


def test_block_recompute_keeps_the_other_layers_whole(catalog: Catalog) -> None:
    """Megatron-LM's --recompute-method block --recompute-num-layers 2: of the stage's 4 layers
    the first 2 keep only their 2·s·h-byte inputs, the other 2 everything (32·s·h); plus the
    logits (6·s·V, larger than the 32·s·h of the one layer recomputed at a time)."""
    s = 2048
    e = est(catalog, Layout(recompute=Recompute.FULL, recompute_layers=2), 1, s)
    assert e.memory_bytes["activations"] == pytest.approx(
        2 * 2 * s * h + 2 * 32 * s * h + _logits(s), rel=1e-12
    )


def test_memory_over_capacity_is_a_reason(catalog: Catalog) -> None:
    m = machine(catalog, 1, mem_bytes=4 * GIB)  # 2 GiB + 6% reserved leaves < 2 GiB
    j = TrainJob(tiny(), 1, 2048)
    e = estimate_train(j, Layout(zero=0), m, PARAMS)
    assert e.reason is Reason.MEMORY and not e.feasible
    assert e.memory_total_bytes > 4 * GIB
    e = estimate_train(j, Layout(zero=0), m, replace(PARAMS, ignore_memory=True))
    assert e.reason is Reason.OK


# ---- MFU (PaLM, Chowdhery et al. 2022, App. B) ----------------------------------------------------------


def test_mfu_per_palm_appendix_b(catalog: Catalog) -> None:
    """Model FLOPs per token 6N + 12·L·H·Q·T (N the matmul weights, non-causal attention over the
    whole sequence T), no recomputation counted, over the chips' dense bf16 peak."""
    s, B = 2048, 8
    e = est(catalog, Layout(dp=4, recompute=Recompute.FULL), B, s)
    n = L * LAYER + V * h  # every parameter but the input embedding (a lookup)
    per_token = 6 * n + 12 * L * a * d * s
    assert e.mfu == pytest.approx(B * s / e.step_time_s * per_token / (4 * peak(catalog)), rel=1e-12)
    # HFU adds the recomputed forward (a third of the model FLOPs) under full recomputation
    assert e.hfu == pytest.approx(e.mfu * 4 / 3, rel=1e-12)
    sel = est(catalog, Layout(dp=4, recompute=Recompute.SELECTIVE), B, s)
    assert sel.hfu == pytest.approx(sel.mfu * (per_token + 4 * L * a * d * s) / per_token, rel=1e-12)
    none = est(catalog, Layout(dp=4), B, s)
    assert none.hfu == pytest.approx(none.mfu, rel=1e-12)


def test_fp8_mfu_is_over_the_16_bit_peak(catalog: Catalog) -> None:
    s, B = 2048, 4
    e = est(catalog, Layout(), B, s, precision="fp8")
    per_token = 6 * (L * LAYER + V * h) + 12 * L * a * d * s
    assert e.mfu == pytest.approx(B * s / e.step_time_s * per_token / peak(catalog), rel=1e-12)


def test_time_to_train(catalog: Catalog) -> None:
    e = est(catalog, Layout(), 4, 2048, tokens=4 * 2048 * 1000.0)
    assert e.time_to_train_s == pytest.approx(1000 * e.step_time_s, rel=1e-12)


# ---- the scalar face: names to a machine, the estimate as a record ---------------------------------------


def test_machine_from_names(catalog: Catalog) -> None:
    from xpuplan.errors import InputError
    from xpuplan.perf import machine as machine_for

    m = machine_for("aws-p5.48xlarge", 16, catalog)  # a system: its chip
    assert (m.system.id, m.chip.id, m.chips) == ("aws-p5.48xlarge", "nvidia-h100-sxm", 16)
    m = machine_for("h100", 16, catalog, system="aws-p5.48xlarge")  # a chip alias and a system
    assert (m.system.id, m.chip.id) == ("aws-p5.48xlarge", "nvidia-h100-sxm")
    for bad in (0, -8, True, 2.5, 10_000_001):
        with pytest.raises(InputError):
            machine_for("h100", bad, catalog)  # type: ignore[arg-type]
    with pytest.raises(InputError) as err:
        machine_for("h100", 0, catalog)
    assert err.value.hint == "Give --chips N with N ≥ 1"  # the fix, not only the complaint
    assert machine_for("h100", 10_000_000, catalog).chips == 10_000_000
    with pytest.raises(InputError, match="holds"):
        machine_for("h100", 8, catalog, system="nvidia-dgx-a100")


def test_machine_refusals_say_what_and_how_to_fix(catalog: Catalog) -> None:
    """The refusals carry the complaint and the fix as separate fields (errors.XpuplanError: the
    CLI prints "message. Hint"): 10 M chips is the largest cluster planned (machine.MAX_CHIPS),
    and a chip no system record holds cannot be planned without one."""
    from xpuplan.errors import InputError
    from xpuplan.perf import default_system
    from xpuplan.perf import machine as machine_for

    with pytest.raises(InputError) as err:
        machine_for("h100", 10_000_001, catalog)
    assert err.value.message == "chip count 10,000,001 is beyond any cluster (10 M chips)"
    assert err.value.hint == "Give a realistic --chips"
    with pytest.raises(InputError) as err:
        default_system(replace(catalog, systems={}), "nvidia-h100-sxm")
    assert err.value.message == "no system in the catalog uses chip 'nvidia-h100-sxm'"
    assert err.value.hint == "Add a system record for it (docs/catalog.md)"
    assert str(err.value) == (
        "no system in the catalog uses chip 'nvidia-h100-sxm'. Add a system record for it (docs/catalog.md)"
    )


def test_default_system_prefers_the_largest_domain_then_the_fastest_network(catalog: Catalog) -> None:
    from xpuplan.errors import InputError
    from xpuplan.perf import default_system

    base = catalog.systems["aws-p5.48xlarge"]

    def sys_(sid: str, domain: int, gbyte_s: float, kind: str = "instance") -> object:
        return replace(
            base,
            id=sid,
            kind=kind,
            chip="nvidia-h100-sxm",
            scale_up=replace(base.scale_up, domain_chips=domain),
            scale_out=replace(base.scale_out, bw_per_node=gbyte_s * GB),
        )

    only = {
        "z-small": sys_("z-small", 8, 400),
        "b-big-slow": sys_("b-big-slow", 72, 100),
        "c-big-fast": sys_("c-big-fast", 72, 400),
        "a-big-fast": sys_("a-big-fast", 72, 400),  # a tie with c: id order
        "d-device": sys_("d-device", 1000, 1000, kind="device"),  # a device is the last resort
    }
    cat = replace(catalog, systems=only)
    assert default_system(cat, "nvidia-h100-sxm").id == "a-big-fast"
    cat = replace(catalog, systems={"d-device": only["d-device"], "z-small": only["z-small"]})
    assert default_system(cat, "nvidia-h100-sxm").id == "z-small"
    with pytest.raises(InputError):
        default_system(replace(catalog, systems={}), "nvidia-h100-sxm")


def test_estimate_record(catalog: Catalog) -> None:
    e = est(catalog, Layout(dp=4, recompute=Recompute.SELECTIVE), 8, 2048, tokens=8 * 2048 * 10.0)
    d = e.to_dict()
    assert d["layout"]["recompute"] == "selective" and d["chips"] == 4
    assert d["feasible"] is True and d["reason"] is None
    assert d["tokens_per_s_per_chip"] == pytest.approx(e.tokens_per_s / 4)
    assert d["memory_gib"]["weights"] == pytest.approx(e.memory_bytes["weights"] / GIB)
    assert d["memory_total_gib"] == pytest.approx(e.memory_total_bytes / GIB)
    assert d["memory_capacity_gib"] == pytest.approx(e.memory_capacity_bytes / GIB)
    assert (d["step_time_s"], d["mfu"], d["hfu"]) == (e.step_time_s, e.mfu, e.hfu)
    assert d["time_s"] == e.time_s and d["time_to_train_s"] == pytest.approx(10 * e.step_time_s)
    assert est(catalog, Layout(), 1, 2048).time_to_train_s is None
    bad = estimate_train(
        TrainJob(tiny(), 1, 2048), Layout(zero=0), machine(catalog, 1, mem_bytes=GIB), PARAMS
    )
    assert bad.to_dict()["reason"] == Reason.MEMORY.text and not bad.to_dict()["feasible"]


def test_estimate_carries_the_chips_training_interval(catalog: Catalog) -> None:
    """An estimate carries its chip's cross-validated training interval, not the inference one:
    the measured rate lies in [0.8, 1.25] × the predicted, so the step time in [1/1.25, 1/0.8] ×
    the predicted step."""
    m = machine(catalog, 1)
    train_iv, infer_iv = Interval(0.8, 1.25, "test/train", 10), Interval(0.5, 2.0, "test/infer", 10)
    m = replace(m, chip=replace(m.chip, intervals={"train": train_iv, "infer": infer_iv}))
    e = est(catalog, Layout(), 1, 2048, m=m)
    assert e.interval == train_iv
    lo, hi = e.to_dict()["interval"]["step_time_s"]
    assert (lo, hi) == (pytest.approx(e.step_time_s / 1.25), pytest.approx(e.step_time_s / 0.8))


def test_a_cluster_larger_than_the_system_builds_is_a_reason(catalog: Catalog) -> None:
    """A provider that builds clusters of at most 16 chips (scale_out.max_chips): 16 chips are a
    cluster it sells, 32 (strictly more) are not."""
    m16 = machine(catalog, 16)
    capped = replace(m16.system, scale_out=replace(m16.system.scale_out, max_chips=16))
    at = estimate_train(TrainJob(tiny(), 16, 2048), Layout(dp=16), Machine(m16.chip, capped, 16), PARAMS)
    assert at.reason is Reason.OK
    over = estimate_train(TrainJob(tiny(), 32, 2048), Layout(dp=32), Machine(m16.chip, capped, 32), PARAMS)
    assert over.reason is Reason.CLUSTER


def test_peak_of_the_training_format(catalog: Catalog) -> None:
    """bf16 runs at the chip's bf16 peak; a chip without bf16 (V100) runs it at its fp16 peak; a
    format the chip lacks altogether is a DTYPE reason, not a number."""
    m = machine(catalog, 1)
    odd = replace(m, chip=replace(m.chip, peak_flops={Dtype.BF16: 4e14, Dtype.FP16: 2e14}))
    assert odd.peak("bf16") == 4e14 and odd.peak("fp16") == 2e14
    no_bf16 = replace(m, chip=replace(m.chip, peak_flops={Dtype.FP16: 2e14}))
    assert no_bf16.peak("bf16") == 2e14
    assert math.isnan(no_bf16.peak("fp8"))
    e = estimate_train(TrainJob(tiny(), 1, 2048), Layout(), no_bf16, PARAMS)
    assert e.reason is Reason.OK and e.mfu == pytest.approx(
        2048 / e.step_time_s * (6 * (L * LAYER + V * h) + 12 * L * a * d * 2048) / 2e14, rel=1e-12
    )


@pytest.mark.parametrize("tp", [1, 2])
def test_shared_experts_run_on_every_token(catalog: Catalog, tp: int) -> None:
    """A shared expert (DeepSeekMoE, Dai et al. 2024 §2) is a dense MLP of the expert's width that
    every token passes through beside its top-k routed experts: per MoE layer and micro-batch
    2·tok·(2·h·f_e) more forward FLOPs (gelu MLP: two h×f_e matrices) at the GEMM efficiency, and
    its activation written and read (2 elements of f_e per token, 2 bytes each), forward and twice
    in backward; TP splits both over its ranks as it does a dense MLP (Megatron: f_e / t columns
    each). Compared at the same layout with and without one shared expert."""
    s, fe = 2048, MOE["expert_ffn"]
    lay = Layout(tp=tp, dp=8 // tp)
    routed = est(catalog, lay, 8 // tp, s, model=tiny(moe=MOE))
    shared = est(catalog, lay, 8 // tp, s, model=tiny(moe={**MOE, "shared_experts": 1}))
    tok = 1 * s  # one sequence per micro-batch, one micro-batch per rank
    gemm = 2 * tok * (2 * h * fe) / tp / (peak(catalog) * 0.5)
    ew = tok * 2 * fe / tp * 2 / (catalog.chip("nvidia-h100-sxm").mem_bw * 0.5)
    want = 3 * L * (gemm + ew)  # forward, and backward's input and weight gradients
    got = shared.time_s["compute"] - routed.time_s["compute"]
    assert got == pytest.approx(want, rel=1e-9)


# ---- mutation survivors: terms pinned by hand ------------------------------------------------------------


def test_fp32_training_runs_the_lm_head_at_the_fp32_peak(catalog: Catalog) -> None:
    """fp32 training keeps the LM head in fp32 (only 16-bit and lower formats run it at the 16-bit
    rate, train._half): its 2·tok·h·V FLOPs forward at 0.5 of the fp32 peak (67 TFLOP/s on the
    H100) and 3 passes over the fp32 logits (4 bytes) at 0.5 of memory bandwidth, 3× that with
    the backward's input and weight gradients (Narayanan et al. 2021 Eq. 3). Halving the
    vocabulary leaves the layers unchanged: the difference is the head of 16,000 rows."""
    s = 2048
    big = est(catalog, Layout(), 1, s, precision="fp32")
    half = est(catalog, Layout(), 1, s, model=tiny(vocab=V // 2), precision="fp32")
    rows = V - V // 2
    fp32 = catalog.chip("nvidia-h100-sxm").peak("fp32") or math.nan
    gemm = 2 * s * h * rows / (fp32 * 0.5)  # 2.0 ms: at the bf16 peak it would be 0.14 ms
    logits = 3 * s * rows * 4 / (catalog.chip("nvidia-h100-sxm").mem_bw * 0.5)
    assert big.time_s["compute"] - half.time_s["compute"] == pytest.approx(3 * (gemm + logits), rel=1e-9)


def test_moe_dropping_at_capacity_one_is_sync_free(catalog: Catalog) -> None:
    """Any capacity factor > 0 (here exactly 1.0: each expert takes its share s·k/E of the tokens
    and drops the rest) pads the dispatch to a static shape, so no per-layer token counts go to
    the host (Megatron-Core token_dispatcher.py: the sync is for dropless dispatch only): with a
    host time of 1 s per layer forward the host term is still 0 and the step is the device's."""
    model = tiny(moe=MOE)
    drop = replace(PARAMS, moe_capacity_factor=1.0)
    base = est(catalog, Layout(), 4, 2048, model=model, params=drop)
    e = est(catalog, Layout(), 4, 2048, model=model, params=replace(drop, moe_host_s=1.0))
    assert e.time_s["host"] == 0.0
    assert e.step_time_s == pytest.approx(base.step_time_s, rel=1e-12)
    assert e.step_time_s < 4 * 3 * L * 1.0  # a host-bound micro-batch would take 3·L·h = 12 s


def test_zero1_shards_the_expert_optimizer_state_over_expert_dp(catalog: Catalog) -> None:
    """ZeRO-1 (P_os, Rajbhandari et al. 2020) shards the 12 bytes of optimizer state per parameter
    over the ranks that hold a replica of it: the dense parameters over DP = 8, the experts over the
    expert-data-parallel group DP / EP = 8 / 2 = 4 (each EP rank holds E / EP = 4 of the 8 experts
    of every layer). Dense: L·(4h² + 2h + 8h) attention, norms and router, the two tables and the
    final norm; experts: L·4·(2·h·f_e). Weights and gradients stay whole (2 bytes each)."""
    model = tiny(moe=MOE)
    e = est(catalog, Layout(dp=8, ep=2, zero=1), 8, 2048, model=model)
    dense = L * (4 * h * h + 2 * h + 8 * h) + 2 * EMB + h
    expert = L * 4 * 2 * h * MOE["expert_ffn"]
    assert e.memory_bytes["optimizer"] == pytest.approx(12 * (dense / 8 + expert / 4), rel=1e-12)
    assert e.memory_bytes["weights"] == pytest.approx(2 * (dense + expert), rel=1e-12)
    assert e.memory_bytes["grads"] == pytest.approx(2 * (dense + expert), rel=1e-12)
    # the update reads and writes 30 bytes per parameter of that shard, at 0.5 of memory bandwidth
    bw = catalog.chip("nvidia-h100-sxm").mem_bw * 0.5
    assert e.time_s["optimizer"] == pytest.approx(30 * (dense / 8 + expert / 4) / bw, rel=1e-12)


@pytest.mark.parametrize("pp", [1, 2])
def test_first_and_last_stage_extras_by_pipeline(catalog: Catalog, pp: int) -> None:
    """An embedding norm (h weights, replicated over TP) sits on the first stage with the input
    embedding, the final norm (h) on the last with the LM head. Without PP one device holds both
    tables and both norms: 2·(L·LAYER + 2·V·h + 2h) bytes; with PP 2 the most loaded stage holds
    2 layers, one table and one of the two norms: 2·(2·LAYER + V·h + h) (ZeRO 0, bf16)."""
    model = tiny(embedding_norm=True)
    e = est(catalog, Layout(pp=pp, zero=0), 2, 2048, model=model)
    want = 2 * (L * LAYER + 2 * EMB + 2 * h) if pp == 1 else 2 * (2 * LAYER + EMB + h)
    assert e.memory_bytes["weights"] == pytest.approx(want, rel=1e-12)


def test_zero3_gathers_the_one_layer_of_a_one_layer_stage(catalog: Catalog) -> None:
    """A one-layer model under ZeRO-3 over DP = 8: the gathered unit is that layer with the final
    norm, LAYER + h parameters, 6 bytes each (the copy in use and the one prefetched, 2 bytes each,
    and its unsharded 2-byte gradient), on top of the 2·p_dev/8 bytes of sharded weights
    (p_dev = LAYER + 2·1000·h + h with a 1000-token vocabulary). Full recomputation makes the
    layer phase (32·s·h of the recomputed layer + the gathered layer) the larger against the
    loss phase (6·s·1000 of logits + 4·1000·h of the gathered head and its gradient)."""
    s, small = 2048, tiny(layers=1, vocab=1000)
    e = est(catalog, Layout(dp=8, zero=3, recompute=Recompute.FULL), 8, s, model=small)
    p_dev = LAYER + 2 * 1000 * h + h
    unit = LAYER + h
    assert 32 * s * h + 6 * unit > 6 * s * 1000 + 4 * 1000 * h
    assert e.memory_bytes["weights"] == pytest.approx(2 * p_dev / 8 + 6 * unit, rel=1e-12)
    assert e.memory_bytes["activations"] == pytest.approx(2 * s * h + 32 * s * h, rel=1e-12)


def test_dense_layers_of_a_moe_model_keep_dense_activations(catalog: Catalog) -> None:
    """A MoE model whose first layer is dense (DeepSeek's first_k_dense_replace = 1): that layer
    keeps Korthikanti et al. 2022's 32·s·h bytes (flash attention, no dropout: 2 bytes of the 4h
    replicated values, q, k, v and the attention output 4h, and the MLP's 2·f = 8h), each of the
    3 MoE layers 28·s·h (the top-2 experts' two f_e = h activations, 4h, and the two routed copies
    of the hidden state, 2h, for the MLP's 8h); plus the 6·s·V bytes of logits."""
    s = 2048
    model = tiny(moe={**MOE, "dense_layers": 1})
    assert model.moe_layers == 3
    e = est(catalog, Layout(), 2, s, model=model)
    want = s * h * (32 + 3 * 28) + 6 * s * V
    assert e.memory_bytes["activations"] == pytest.approx(want, rel=1e-12)


def test_machine_refuses_a_system_of_another_chip(catalog: Catalog) -> None:
    """A chip named with a system built of another chip: the refusal names both chips, and the fix
    (name a system of that chip, or let the default system be chosen) is its hint, verbatim."""
    from xpuplan.errors import InputError
    from xpuplan.perf import machine as machine_for

    with pytest.raises(InputError) as err:
        machine_for("nvidia-h100-sxm", 8, catalog, system="gcp-tpu-v4-pod")
    assert err.value.message == "system 'gcp-tpu-v4-pod' holds tpu-v4, not nvidia-h100-sxm"
    assert err.value.hint == "Name a system built of that chip, or leave --system out"


def test_fp8_weight_store_keeps_one_byte_per_weight(catalog: Catalog) -> None:
    """Transformer Engine fp8_model_init (NeMo fp8_params): the model's copy of the weights in fp8,
    1 byte per parameter; gradients and the optimizer's master and moments as before."""
    e = est(catalog, Layout(), 1, 2048, params=replace(PARAMS, fp8_weight_store=1.0), lora_rank=8)
    share = lora_fraction(tiny(), 8)
    assert e.memory_bytes["weights"] == pytest.approx(1 * P_DEV, rel=1e-12)
    assert e.memory_bytes["grads"] == pytest.approx(2 * share * P_DEV, rel=1e-12)
    assert e.memory_bytes["optimizer"] == pytest.approx(12 * share * P_DEV, rel=1e-12)


def test_lora_frozen_linears_keep_no_inputs_by_hand() -> None:
    """MLPerf Llama 2 70B LoRA (adapters on linear_qkv and linear_proj, NVIDIA train.py), TP1, no
    recompute, flash attention, micro-batch 1 of 8,192 tokens, bf16 activations. Per token and layer
    a full fine-tune keeps 4h replicated (both norms' inputs and outputs) and q/k/v, the attention
    output, the SwiGLU input (2f) and the fc2 input (f). With fc1 and fc2 frozen, the second norm's
    output (fc1's input) and fc2's input go: 3h + (64 + 2·8)·128 + h + 2f values; with FP8_ACT the
    2f SwiGLU input takes 1 byte each."""
    from xpuplan.layout import LayoutArray
    from xpuplan.perf.train import activation_bytes_per_layer
    from xpuplan.workload import get_model

    m = get_model("llama-2-70b")
    h, f, s = 8192, 28672, 8192
    lay = LayoutArray.from_layout(Layout(microbatch=1))
    qkv = (64 + 2 * 8) * 128
    full = s * 2.0 * (4 * h + qkv + h + 3 * f)
    assert float(activation_bytes_per_layer(m, lay, s, 2.0, moe=False)[0]) == pytest.approx(full, rel=1e-12)
    frozen = frozenset({"fc1", "fc2"})
    lora = s * 2.0 * (3 * h + qkv + h + 2 * f)
    got = activation_bytes_per_layer(m, lay, s, 2.0, moe=False, frozen=frozen)
    assert float(got[0]) == pytest.approx(lora, rel=1e-12)
    fp8_act = s * (2.0 * (3 * h + qkv + h) + 1.0 * 2 * f)
    got = activation_bytes_per_layer(m, lay, s, 2.0, moe=False, frozen=frozen, fn_bytes=1.0)
    assert float(got[0]) == pytest.approx(fp8_act, rel=1e-12)
    # adapters on the MLP only (PEFT gate/up/down_proj): the QKV input goes, fc1's and fc2's stay
    got = activation_bytes_per_layer(m, lay, s, 2.0, moe=False, frozen=frozenset({"qkv", "proj"}))
    assert float(got[0]) == pytest.approx(s * 2.0 * (3 * h + qkv + h + 3 * f), rel=1e-12)
    # the adapters on every linear (or full training) keep every input
    all_on = TrainJob(m, 8, s, lora_rank=16, lora_targets=("qkv", "proj", "fc1", "fc2"))
    assert all_on.frozen_linears == frozenset()
    assert TrainJob(m, 8, s, lora_targets=("qkv",)).frozen_linears == frozenset()  # full training
    assert TrainJob(m, 8, s, lora_rank=16, lora_targets=("qkv", "proj")).frozen_linears == frozen

"""Transformer shapes and their exact arithmetic: parameters, FLOPs, KV cache, state bytes.

Formulas and where they come from:

* Parameters per layer: attention ``h·(n_q + 2·n_kv)·d + n_q·d·h`` (GQA: Ainslie et al. 2023),
  gated MLP ``3·h·f`` (SwiGLU, Shazeer 2020) or plain MLP ``2·h·f``; MoE replicates the MLP per
  expert and adds a router ``h·E`` (DeepSeek-V3 report, Mixtral paper); MLA per DeepSeek-V2/V3
  (low-rank Q and joint KV compression with a decoupled RoPE key).
* FLOPs per token: ``2·P_matmul`` forward, ``6·P_matmul`` training (Kaplan et al. 2020, §2.1),
  plus the attention score and value matmuls ``4·L·s·n_q·d`` forward at context ``s``
  (Narayanan et al. 2021 Eq. 3; PaLM App. B counts the full ``s``, i.e. *non-causal*). With
  ``causal=True`` only the lower triangle is counted: the mean context of a sequence of length ``s``
  is ``(s+1)/2``.
* KV cache per token: ``2·L·n_kv·d`` values (MHA/GQA); MLA stores the compressed latent plus the
  RoPE key, ``L·(r_kv + d_rope)`` values (DeepSeek-V2 §2.1.2).
* Encoders (``kind = "encoder"``, BERT: Devlin et al. 2019): one forward pass over the whole
  sequence with bidirectional (non-causal) attention and no decode; the task head (pooler, span or
  class scores, ``O(h)`` per token) replaces the LM head: ``s·(2·P_layers + 4·L·s·n_q·d)`` FLOPs
  per sequence of ``s`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


class FfnType(str, Enum):
    SWIGLU = "swiglu"  # gated, 3 matrices (SwiGLU, GeGLU)
    GEGLU = "geglu"
    GELU_MLP = "gelu_mlp"  # 2 matrices
    RELU_MLP = "relu_mlp"

    @property
    def matrices(self) -> int:
        return 3 if self in (FfnType.SWIGLU, FfnType.GEGLU) else 2


class Norm(str, Enum):
    RMSNORM = "rmsnorm"  # weight only
    LAYERNORM = "layernorm"  # weight and bias

    @property
    def params_per_dim(self) -> int:
        return 1 if self is Norm.RMSNORM else 2


MODEL_KINDS = ("decoder", "encoder")  # decoder-only LM | bidirectional encoder (BERT-class)


class Position(str, Enum):
    ROPE = "rope"
    LEARNED = "learned"  # adds max_positions × h parameters
    ALIBI = "alibi"


@dataclass(frozen=True, slots=True)
class Moe:
    """Mixture-of-experts MLP (Mixtral, DeepSeek-V3)."""

    experts: int  # routed experts per MoE layer
    top_k: int  # routed experts active per token
    expert_ffn: int  # hidden size of one expert
    shared_experts: int = 0  # always-active experts (DeepSeek)
    dense_layers: int = 0  # leading layers that use a dense MLP instead
    dense_ffn: int = 0  # hidden size of those dense MLPs

    def __post_init__(self) -> None:
        if not 0 < self.top_k <= self.experts:
            raise ValueError(f"moe.top_k must be in 1..experts, got {self.top_k}")
        if self.expert_ffn <= 0:
            raise ValueError("moe.expert_ffn must be > 0")


@dataclass(frozen=True, slots=True)
class Mla:
    """Multi-head latent attention (DeepSeek-V2/V3)."""

    q_lora_rank: int  # 0 = no low-rank query projection
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True, slots=True)
class Model:
    """A decoder-only transformer. Fields mirror a Hugging Face ``config.json``."""

    id: str
    name: str
    layers: int  # L
    hidden: int  # h
    heads: int  # n_q
    kv_heads: int  # n_kv (== heads for MHA)
    head_dim: int  # d
    ffn: int  # f, MLP hidden size (dense layers)
    ffn_type: FfnType
    vocab: int  # V
    max_seq_len: int
    source: str
    as_of: str
    tied_embeddings: bool = False
    norm: Norm = Norm.RMSNORM
    norms_per_layer: int = 2  # Gemma 2 has 4 (pre and post norms)
    position: Position = Position.ROPE
    linear_bias: bool = False  # biases on every linear layer (GPT-3, OPT, BLOOM)
    qkv_bias: bool = False  # biases on Q, K, V only (Qwen2)
    embedding_norm: bool = False  # a norm right after the token embedding (BLOOM)
    moe: Moe | None = None
    mla: Mla | None = None
    published_params: float | None = None  # total parameters as published
    published_active_params: float | None = None
    params_source: str = ""
    family: str = ""
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    kind: str = "decoder"  # decoder | encoder (MODEL_KINDS)
    # Local (sliding-window) attention: each query attends to the last ``sliding_window`` keys in
    # ``window_layers`` of the layers (0: every layer), the rest attend globally (gpt-oss: 128 on
    # every other layer; Gemma 3: 1024 on 5 of 6). 0: global attention everywhere.
    sliding_window: int = 0
    window_layers: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MODEL_KINDS)}, got {self.kind!r}")
        for name in (
            "layers",
            "hidden",
            "heads",
            "kv_heads",
            "head_dim",
            "ffn",
            "vocab",
            "max_seq_len",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.sliding_window < 0 or not 0 <= self.window_layers <= self.layers:
            raise ValueError("sliding_window must be >= 0 and window_layers in 0..layers")
        if self.window_layers and not self.sliding_window:
            raise ValueError("window_layers needs a sliding_window")

    # ---- shapes -------------------------------------------------------------------------------

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def is_encoder(self) -> bool:
        return self.kind == "encoder"

    @property
    def q_dim(self) -> int:
        """Width of the attention output projection input (n_q · d_v)."""
        if self.mla:
            return self.heads * self.mla.v_head_dim
        return self.heads * self.head_dim

    @property
    def moe_layers(self) -> int:
        return self.layers - self.moe.dense_layers if self.moe else 0

    @property
    def dense_mlp_layers(self) -> int:
        return self.moe.dense_layers if self.moe else self.layers

    @property
    def dense_ffn(self) -> int:
        return self.moe.dense_ffn if self.moe and self.moe.dense_ffn else self.ffn

    # ---- parameters per block ------------------------------------------------------------------

    def attn_params(self) -> int:
        """Attention weights (and biases) of one layer."""
        h, d, nq, nkv = self.hidden, self.head_dim, self.heads, self.kv_heads
        if self.mla:
            m = self.mla
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            if m.q_lora_rank:
                q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * nq * qk  # down, norm, up
            else:
                q = h * nq * qk
            kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
            kv += m.kv_lora_rank * nq * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + nq * m.v_head_dim * h
        p = h * (nq + 2 * nkv) * d + nq * d * h
        if self.linear_bias:
            p += (nq + 2 * nkv) * d + h
        elif self.qkv_bias:
            p += (nq + 2 * nkv) * d
        return p

    def mlp_params(self, ffn: int) -> int:
        """One dense MLP (or one expert) of hidden size ``ffn``."""
        p = self.ffn_type.matrices * self.hidden * ffn
        if self.linear_bias:
            p += (self.ffn_type.matrices - 1) * ffn + self.hidden
        return p

    def norm_params(self) -> int:
        return self.norms_per_layer * self.norm.params_per_dim * self.hidden

    def router_params(self) -> int:
        return self.hidden * self.moe.experts if self.moe else 0

    def embedding_params(self) -> int:
        """Token (and learned position) embeddings, plus an embedding norm."""
        p = self.vocab * self.hidden
        if self.position is Position.LEARNED:
            p += self.max_seq_len * self.hidden
        if self.embedding_norm:
            p += self.norm.params_per_dim * self.hidden
        return p

    def head_params(self) -> int:
        """LM head (0 when tied to the embedding) plus the final norm; an encoder's pooler
        (``h·h + h``, BERT) in place of an LM head."""
        final_norm = self.norm.params_per_dim * self.hidden
        if self.is_encoder:
            return final_norm + self.hidden * self.hidden + self.hidden
        return final_norm + (0 if self.tied_embeddings else self.vocab * self.hidden)

    # ---- totals -------------------------------------------------------------------------------

    def layer_params(self, active: bool = False) -> int:
        """All transformer layers. ``active``: only the experts a token uses (MoE)."""
        per_layer_fixed = self.attn_params() + self.norm_params()
        total = self.layers * per_layer_fixed + self.dense_mlp_layers * self.mlp_params(self.dense_ffn)
        if self.moe:
            n_exp = (self.moe.top_k if active else self.moe.experts) + self.moe.shared_experts
            total += self.moe_layers * (n_exp * self.mlp_params(self.moe.expert_ffn) + self.router_params())
        return total

    def params(self) -> int:
        """Total parameters (embeddings counted once when tied)."""
        return self.embedding_params() + self.layer_params() + self.head_params()

    def active_params(self) -> int:
        """Parameters a token touches (== params() for dense models)."""
        return self.embedding_params() + self.layer_params(active=True) + self.head_params()

    def matmul_params(self, active: bool = True) -> int:
        """Parameters that take part in matmuls per token: layers + LM head, not the lookup."""
        return self.layer_params(active=active) + self.vocab * self.hidden

    # ---- FLOPs --------------------------------------------------------------------------------

    def attn_flops_per_token(self, context: float, causal: bool = True) -> float:
        """Forward FLOPs of QKᵀ and A·V for one token attending over ``context`` positions.

        ``causal``: average over a causal sequence of length ``context`` ((s+1)/2 keys per query).
        """
        d_qk = self.mla.qk_nope_head_dim + self.mla.qk_rope_head_dim if self.mla else self.head_dim
        d_v = self.mla.v_head_dim if self.mla else self.head_dim
        s = (context + 1) / 2 if causal else context
        return 2.0 * self.layers * self.heads * s * (d_qk + d_v)

    def local_attn_share(self, context: float, block: float = 0.0) -> float:
        """Attention-core work of a causal sequence of length ``context`` with the local layers'
        window, as a share of the same work with global attention in every layer (1 without a
        window, or where the window covers the causal span).

        A fused kernel computes whole ``block`` × ``block`` tiles and skips the tiles the mask
        leaves empty (FlashAttention-2, Dao 2023 §3.1.1 for the causal mask; block-sparse
        FlashAttention, Dao et al. 2022 §3.3; splash attention's block masks): an aligned query tile meets the diagonal key tile and the ``ceil((w-1)/block)``
        before it, ``block·(1 + ceil((w-1)/block))`` keys per query against ``(s+1)/2`` causal
        (gpt-oss, w = 128: 256 keys with 128-row tiles, 1,024 with 512). ``block`` 0: the
        ``w`` keys alone."""
        w = self.sliding_window
        if not w:
            return 1.0
        causal = (context + 1) / 2
        keys = block * (1 + math.ceil((w - 1) / block)) if block > 0 else float(w)
        local = self.window_layers or self.layers
        return (self.layers - local + local * min(keys, causal) / causal) / self.layers

    def forward_flops_per_token(self, seq_len: float, causal: bool = True, attention: bool = True) -> float:
        """Forward FLOPs per token: 2·P_matmul (+ attention over ``seq_len``)."""
        f = 2.0 * self.matmul_params(active=True)
        if attention:
            f += self.attn_flops_per_token(seq_len, causal)
        return f

    def train_flops_per_token(self, seq_len: float, causal: bool = False, attention: bool = True) -> float:
        """Model FLOPs per trained token, forward + backward = 3× forward (no recompute).

        The default ``causal=False`` follows PaLM App. B (MFU accounting: 6N + 12·L·H·Q·T).
        """
        return 3.0 * self.forward_flops_per_token(seq_len, causal, attention)

    def encoder_flops_per_sequence(self, seq_len: float) -> float:
        """Forward FLOPs of one encoder pass over ``seq_len`` tokens: ``s·(2·P_layers + 4·L·s·n_q·d)``,
        every token attending to every other (bidirectional); no LM head (the task head's ``O(h)``
        per token is left out). BERT-large at 384 tokens: 246.7 GFLOP."""
        return seq_len * (
            2.0 * self.layer_params(active=True) + self.attn_flops_per_token(seq_len, causal=False)
        )

    def kv_values_per_token(self) -> int:
        """Values stored in the KV cache per token (all layers)."""
        if self.mla:
            return self.layers * (self.mla.kv_lora_rank + self.mla.qk_rope_head_dim)
        return 2 * self.layers * self.kv_heads * self.head_dim

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        return self.kv_values_per_token() * bytes_per_value


# ---- training state bytes (Rajbhandari et al. 2020, ZeRO §3: mixed-precision Adam = 2+2+12) ----


@dataclass(frozen=True, slots=True)
class StateBytes:
    """Bytes per parameter of training state."""

    weights: float  # compute copy of the weights
    grads: float
    optimizer: float  # master weights + Adam moments


STATE_BYTES: dict[str, StateBytes] = {
    # bf16/fp16 weights and grads, fp32 master + m + v (ZeRO paper, K = 12).
    "bf16": StateBytes(2.0, 2.0, 12.0),
    "fp16": StateBytes(2.0, 2.0, 12.0),
    # FP8 training keeps bf16 weights for the matmul casts (Transformer Engine, DeepSeek-V3 §3.3):
    # state bytes are those of bf16; only matmul throughput changes.
    "fp8": StateBytes(2.0, 2.0, 12.0),
    # The Transformer Engine recipes by name (perf/precision.py): fp8 above is per-tensor delayed
    # scaling; fp8cs per-tensor current scaling; mxfp8 32-element E8M0 block scales; nvfp4 4-bit
    # GEMMs with 16-element E4M3 block scales. Megatron-Bridge keeps bf16 parameters and fp32 main
    # weights and Adam moments for all of them (training/mixed_precision.py bf16_with_*_mixed:
    # params_dtype bf16; nvfp4 "fp8_param_gather = False"), so the state is bf16's.
    "fp8cs": StateBytes(2.0, 2.0, 12.0),
    "mxfp8": StateBytes(2.0, 2.0, 12.0),
    "nvfp4": StateBytes(2.0, 2.0, 12.0),
    # int8 matmuls with bf16 weights and fp32 master (AQT in MaxText; Google TPU recipes).
    "int8": StateBytes(2.0, 2.0, 12.0),
    # Pure fp32 training: fp32 weights, grads, Adam m and v.
    "fp32": StateBytes(4.0, 4.0, 8.0),
}


def state_bytes(precision: str) -> StateBytes:
    return STATE_BYTES[precision]


# Bytes per stored value by number format (weights for serving, KV cache).
BYTES_PER_VALUE: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}

"""The model library against published parameter counts, and model.py's transformer arithmetic."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpuplan.workload.library import get_model, model_library
from xpuplan.workload.model import FfnType, Model, Norm, Position

TOL = 0.005  # 0.5 %

# One case per library model: (id, one-line source of the published figure).
CASES = [
    # Apple, arXiv 2407.21075 Table 1: 2.58B non-embedding + 0.15B embedding (ffn derived from it).
    ("apple-afm-on-device", "AFM report Table 1"),
    # transformers BertModel of bert-base-uncased: 109,482,240 (Devlin et al. 2019: 110M).
    ("bert-base", "BERT-base BertModel count"),
    # transformers BertModel of bert-large-uncased: 335,141,888 (Devlin et al. 2019: 340M).
    ("bert-large", "BERT-large BertModel count"),
    # bigscience/bloom model card: 176,247,271,424 parameters (exact).
    ("bloom-176b", "BLOOM model card"),
    # DeepSeek-V3 report (arXiv 2412.19437): 671B total (without the 14B MTP module), 37B active.
    ("deepseek-v3", "DeepSeek-V3 report §1"),
    # google/gemma-2-27b model page: 27.2B (Gemma 2 report Table 2).
    ("gemma-2-27b", "Gemma 2 model page"),
    # Brown et al. 2020 Table 2.1: 175.0B.
    ("gpt-3-175b", "GPT-3 paper Table 2.1"),
    # meta-llama/Llama-2-13b-hf model page: 13B.
    ("llama-2-13b", "Llama 2 13B model page"),
    # meta-llama/Llama-2-70b-hf model page: 69B (the paper says 70B).
    ("llama-2-70b", "Llama 2 70B model page"),
    # meta-llama/Llama-2-7b-hf model page: 6.74B.
    ("llama-2-7b", "Llama 2 7B model page"),
    # meta-llama/Meta-Llama-3-70B model page: 70.6B.
    ("llama-3-70b", "Llama 3 70B model page"),
    # meta-llama/Meta-Llama-3-8B model page: 8.03B.
    ("llama-3-8b", "Llama 3 8B model page"),
    # meta-llama/Llama-3.1-405B safetensors: 405,853,388,800.
    ("llama-3.1-405b", "Llama 3.1 405B model page"),
    # mistralai/Mistral-7B-v0.1 model page: 7.24B.
    ("mistral-7b", "Mistral 7B model page"),
    # Mistral announcement: 141B total, 39B active.
    ("mixtral-8x22b", "Mixtral 8x22B announcement"),
    # Mistral announcement / Mixtral paper: 46.7B total, 12.9B active.
    ("mixtral-8x7b", "Mixtral 8x7B announcement"),
    # Zhang et al. 2022 Table 1: 175B.
    ("opt-175b", "OPT paper Table 1"),
    # Qwen/Qwen2.5-72B model card: 72.7B.
    ("qwen2.5-72b", "Qwen2.5 72B model card"),
    # Qwen/Qwen2.5-7B model card: 7.61B.
    ("qwen2.5-7b", "Qwen2.5 7B model card"),
]

# Active-parameter conventions that differ from model.py's active_params() (which counts the
# embedding lookup and the LM head): model id -> (what to compare, relative tolerance, why).
ACTIVE_CONVENTION = {
    # DeepSeek publishes activated parameters without the input-embedding lookup (the convention
    # that reproduces V2's 21B and V2-Lite's 2.4B too), rounded to two figures: 37B means
    # 36.5..37.5B, so the tolerance is the rounding (0.5B / 37B), not 0.5 %.
    "deepseek-v3": ("no_input_embedding", 0.5 / 37, "37B is rounded to two figures"),
}


def _rel(a: float, b: float) -> float:
    return a / b - 1.0


def test_every_library_model_has_a_case() -> None:
    assert sorted(model_library()) == sorted(mid for mid, _ in CASES)


@pytest.mark.parametrize(("model_id", "source"), CASES, ids=[c[0] for c in CASES])
def test_params_match_published(model_id: str, source: str) -> None:
    m = model_library()[model_id]
    assert m.published_params, f"{model_id}: no published_params ({source})"
    assert m.params_source, model_id
    assert abs(_rel(m.params(), m.published_params)) <= TOL, (
        f"{model_id}: params {m.params() / 1e9:.3f}B vs {m.published_params / 1e9:.3f}B ({source})"
    )
    if not m.is_moe:
        assert m.active_params() == m.params()
        return
    assert m.published_active_params, f"{model_id}: MoE without published_active_params"
    active = m.active_params()
    tol = TOL
    if model_id in ACTIVE_CONVENTION:
        what, tol, _why = ACTIVE_CONVENTION[model_id]
        assert what == "no_input_embedding"
        active -= m.embedding_params()
    assert abs(_rel(active, m.published_active_params)) <= tol, (
        f"{model_id}: active {active / 1e9:.3f}B vs {m.published_active_params / 1e9:.3f}B ({source})"
    )


def test_bloom_is_exact() -> None:
    # The BLOOM card gives the count to the parameter; model.py reproduces it exactly.
    m = get_model("bloom-176b")
    assert m.params() == 176_247_271_424


def test_kv_bytes_llama_3_70b() -> None:
    # 2 (K and V) * 80 layers * 8 KV heads * 128 head dim * 2 bytes (bf16).
    assert get_model("llama-3-70b").kv_bytes_per_token(2.0) == 2 * 80 * 8 * 128 * 2 == 327_680


def test_kv_bytes_deepseek_v3_mla() -> None:
    # MLA caches the 512-wide latent plus the 64-wide RoPE key per layer (DeepSeek-V2 §2.1.2).
    assert get_model("deepseek-v3").kv_bytes_per_token(2.0) == 61 * (512 + 64) * 2 == 70_272


def test_gpt3_train_flops_palm_formula() -> None:
    # PaLM (Chowdhery et al. 2022) App. B: training FLOPs per token = 6N + 12*L*H*Q*T,
    # N = non-embedding matmul parameters (here, as model.py's matmul_params: layer weights,
    # biases and norms, plus the LM head), L layers, H heads, Q head dim, T sequence length.
    m = get_model("gpt-3-175b")
    L, h, H, Q, V = 96, 12288, 96, 128, 50257
    T = 2048
    attn = 4 * h * h + 4 * h  # Q, K, V, O weights and biases
    mlp = 8 * h * h + 5 * h  # h->4h->h weights and biases
    norms = 2 * 2 * h  # two LayerNorms (weight and bias)
    N = L * (attn + mlp + norms) + V * h  # + LM head (tied, but it is still a matmul)
    assert m.matmul_params() == N
    expected = 6 * N + 12 * L * H * Q * T
    got = m.train_flops_per_token(T, causal=False)
    assert got == pytest.approx(expected, rel=1e-12)
    assert 6 * N / got > 0.95  # the weight matmuls dominate at T = 2048


@st.composite
def dense_shapes(draw: st.DrawFn) -> Model:
    kv_heads = draw(st.integers(1, 8))
    heads = kv_heads * draw(st.integers(1, 4))
    return Model(
        id="t",
        name="t",
        source="test",
        as_of="test",
        layers=draw(st.integers(1, 48)),
        hidden=draw(st.integers(8, 4096)),
        heads=heads,
        kv_heads=kv_heads,
        head_dim=draw(st.integers(8, 256)),
        ffn=draw(st.integers(8, 16384)),
        ffn_type=draw(st.sampled_from(list(FfnType))),
        vocab=draw(st.integers(2, 65536)),
        max_seq_len=draw(st.integers(1, 8192)),
        tied_embeddings=draw(st.booleans()),
        norm=draw(st.sampled_from(list(Norm))),
        position=draw(st.sampled_from(list(Position))),
        linear_bias=draw(st.booleans()),
        qkv_bias=draw(st.booleans()),
        embedding_norm=draw(st.booleans()),
    )


@settings(max_examples=200, deadline=None)
@given(dense_shapes(), st.integers(1, 16), st.integers(1, 1024))
def test_params_increase_with_layers_and_hidden(m: Model, more_layers: int, more_hidden: int) -> None:
    p = m.params()
    assert m.active_params() == p
    assert replace(m, layers=m.layers + more_layers).params() > p
    assert replace(m, hidden=m.hidden + more_hidden).params() > p

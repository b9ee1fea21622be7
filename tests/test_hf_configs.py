"""Hugging Face config.json import: one config per family, written from the public config.json
(architecture keys only), against the parameter count its model card publishes; models by path
and from the local Hugging Face cache; the CLI takes --model PATH/config.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from xpuplan.errors import ConfigError
from xpuplan.workload import get_model, load_hf_config

# (repository, config.json keys, published total parameters, published active parameters or None)
FAMILIES: list[tuple[str, dict[str, Any], float, float | None]] = [
    (  # model card: 3.8B parameters
        "microsoft/Phi-3-mini-4k-instruct",
        {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
         "max_position_embeddings": 4096, "tie_word_embeddings": False},
        3.8e9, None,
    ),
    (  # Phi-3.5-mini: same architecture as Phi-3-mini, 128K context; model card: 3.8B
        "microsoft/Phi-3.5-mini-instruct",
        {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
         "max_position_embeddings": 131072, "tie_word_embeddings": False},
        3.8e9, None,
    ),
    (  # model card: 16x3.8B experts, 41.9B total, 6.6B active
        "microsoft/Phi-3.5-MoE-instruct",
        {"model_type": "phimoe", "hidden_size": 4096, "intermediate_size": 6400, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 16,
         "num_experts_per_tok": 2, "vocab_size": 32064, "max_position_embeddings": 131072,
         "attention_bias": True, "tie_word_embeddings": False},
        41.9e9, 6.6e9,
    ),
    (  # model card: 7.6B
        "Qwen/Qwen2-7B",
        {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
         "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
         "max_position_embeddings": 131072, "tie_word_embeddings": False},
        7.6e9, None,
    ),
    (  # Qwen2.5-0.5B: tied embeddings; model card: 0.49B
        "Qwen/Qwen2.5-0.5B",
        {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
         "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
         "max_position_embeddings": 32768, "tie_word_embeddings": True},
        0.49e9, None,
    ),
    (  # model card: 14.3B total, 2.7B activated
        "Qwen/Qwen1.5-MoE-A2.7B",
        {"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 60, "num_experts_per_tok": 4,
         "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632, "decoder_sparse_step": 1,
         "vocab_size": 151936, "max_position_embeddings": 8192, "tie_word_embeddings": False},
        14.3e9, 2.7e9,
    ),
    (  # model card: 8.2B
        "Qwen/Qwen3-8B",
        {"model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
         "max_position_embeddings": 40960, "attention_bias": False, "tie_word_embeddings": False},
        8.2e9, None,
    ),
    (  # model card: 30.5B total, 3.3B activated
        "Qwen/Qwen3-30B-A3B",
        {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
         "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
         "num_experts_per_tok": 8, "moe_intermediate_size": 768, "decoder_sparse_step": 1,
         "mlp_only_layers": [], "vocab_size": 151936, "max_position_embeddings": 40960,
         "attention_bias": False, "tie_word_embeddings": False},
        30.5e9, 3.3e9,
    ),
    (  # Gemma 2 9B; model card / paper: 9.24B
        "google/gemma-2-9b",
        {"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
         "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
         "max_position_embeddings": 8192},
        9.24e9, None,
    ),
    (  # Gemma 3 27B (language model under text_config; the ~0.4B vision tower is not counted): 27B
        "google/gemma-3-27b-it",
        {"model_type": "gemma3", "text_config": {
            "model_type": "gemma3_text", "hidden_size": 5376, "intermediate_size": 21504,
            "num_hidden_layers": 62, "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128,
            "vocab_size": 262208, "max_position_embeddings": 131072},
         "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152}},
        27.0e9, None,
    ),
    (  # model card: 8B (8.03B)
        "meta-llama/Llama-3.1-8B",
        {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
         "max_position_embeddings": 131072, "tie_word_embeddings": False},
        8.03e9, None,
    ),
    (  # model card: 1.23B, tied embeddings
        "meta-llama/Llama-3.2-1B",
        {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
         "max_position_embeddings": 131072, "tie_word_embeddings": True},
        1.23e9, None,
    ),
    (  # model card: 109B total, 17B active, 16 experts (the vision encoder is not counted here)
        "meta-llama/Llama-4-Scout-17B-16E",
        {"model_type": "llama4", "text_config": {
            "model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
            "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
            "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16, "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 1, "vocab_size": 202048, "max_position_embeddings": 10485760,
            "tie_word_embeddings": False}},
        109e9, 17e9,
    ),
    (  # model card: 400B total, 17B active, 128 experts; MoE on every other layer
        "meta-llama/Llama-4-Maverick-17B-128E",
        {"model_type": "llama4", "text_config": {
            "model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
            "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
            "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 128, "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 2, "vocab_size": 202048, "max_position_embeddings": 1048576,
            "tie_word_embeddings": False}},
        400e9, 17e9,
    ),
    (  # Mistral 7B paper: 7.3B (7.24B)
        "mistralai/Mistral-7B-v0.1",
        {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
         "max_position_embeddings": 32768, "tie_word_embeddings": False},
        7.24e9, None,
    ),
    (  # Mixtral paper: 46.7B total, 12.9B active
        "mistralai/Mixtral-8x7B-v0.1",
        {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8,
         "num_experts_per_tok": 2, "vocab_size": 32000, "max_position_embeddings": 32768,
         "tie_word_embeddings": False},
        46.7e9, 12.9e9,
    ),
    (  # model card: 15.7B total, 2.4B activated (the activated count leaves out the input embedding)
        "deepseek-ai/DeepSeek-V2-Lite",
        {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "num_hidden_layers": 27,
         "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": None, "kv_lora_rank": 512,
         "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_intermediate_size": 1408,
         "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
         "vocab_size": 102400, "max_position_embeddings": 163840, "tie_word_embeddings": False},
        15.7e9, 2.4e9,
    ),
    (  # technical report: 671B total, 37B activated (the MTP module's 14B not counted)
        "deepseek-ai/DeepSeek-V3",
        {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "num_hidden_layers": 61,
         "num_attention_heads": 128, "num_key_value_heads": 128, "q_lora_rank": 1536, "kv_lora_rank": 512,
         "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_intermediate_size": 2048,
         "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
         "vocab_size": 129280, "max_position_embeddings": 163840, "tie_word_embeddings": False},
        671e9, 37e9,
    ),
    (  # OLMo 7B paper / model card: 6.9B
        "allenai/OLMo-7B-0724-hf",
        {"model_type": "olmo", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 50304,
         "max_position_embeddings": 4096, "tie_word_embeddings": False},
        6.9e9, None,
    ),
    (  # model card: 7.3B
        "allenai/OLMo-2-1124-7B",
        {"model_type": "olmo2", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 100352,
         "max_position_embeddings": 4096, "tie_word_embeddings": False},
        7.3e9, None,
    ),
]  # fmt: skip


EMBEDDING_NOT_ACTIVE = {"deepseek-ai/DeepSeek-V2-Lite"}


@pytest.mark.parametrize("repo, cfg, total, active", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_parameter_count_matches_the_published_figure(
    tmp_path: Path, repo: str, cfg: dict[str, Any], total: float, active: float | None
) -> None:
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"_name_or_path": repo, **cfg}))
    m = load_hf_config(str(f))  # a str path works
    assert m.id == repo  # the id is _name_or_path
    assert m.params() == pytest.approx(total, rel=0.03)
    if active is not None:
        got = m.active_params() - (m.embedding_params() if repo in EMBEDDING_NOT_ACTIVE else 0)
        assert got == pytest.approx(active, rel=0.06)


def test_id_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    f = tmp_path / "models" / "my-llama.json"
    f.parent.mkdir()
    f.write_text(json.dumps(FAMILIES[10][1]))
    assert load_hf_config(f).id == "my-llama"
    assert get_model(str(f)).id == "my-llama"  # a path works wherever a model name does


def _cache(root: Path, repo: str, cfg: dict[str, Any]) -> Path:
    snap = root / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(cfg))
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    return snap / "config.json"


def test_a_repo_id_resolves_from_the_local_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _cache(tmp_path / "hf" / "hub", "Qwen/Qwen3-8B", FAMILIES[6][1])
    m = get_model("Qwen/Qwen3-8B")
    assert m.id == "Qwen/Qwen3-8B" and m.params() == pytest.approx(8.2e9, rel=0.03)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))  # HF_HUB_CACHE wins over HF_HOME
    with pytest.raises(ConfigError, match="local Hugging Face cache") as e:
        get_model("Qwen/Qwen3-8B")
    assert "huggingface-cli download Qwen/Qwen3-8B" in (e.value.hint or "")


def test_unsupported_family_says_which_are(tmp_path: Path) -> None:
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"model_type": "rwkv", "hidden_size": 8}))
    with pytest.raises(ConfigError, match="rwkv") as e:
        load_hf_config(f)
    assert "phi3" in (e.value.hint or "")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_train_serve_and_plan_take_a_config_json(tmp_path: Path) -> None:
    f = tmp_path / "phi3" / "config.json"
    f.parent.mkdir()
    f.write_text(json.dumps({"_name_or_path": "microsoft/Phi-3-mini-4k-instruct", **FAMILIES[0][1]}))
    r = _cli("train", "--model", str(f), "--chip", "h100", "--chips", "8", "--global-batch", "64",
             "--search", "--top", "1", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["best"] is not None
    r = _cli("serve", "--model", str(f), "--chip", "h100", "--chips", "1", "--json")
    assert r.returncode == 0, r.stderr
    sc = tmp_path / "s.toml"
    sc.write_text(
        '[[jobs]]\nkind = "serve"\nmodel = "phi3/config.json"\nrate = 5\nhours = 10\n'
        '[candidates]\nsystems = ["aws-p5.48xlarge"]\n'
    )
    r = _cli("plan", str(sc), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fleet"]["status"] == "optimal"

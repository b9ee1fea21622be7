"""The model library (one TOML file per model under ``data/models``) and Hugging Face import.

A model file holds about fifteen keys, named as in :class:`~xpuplan.workload.model.Model`, a
``[moe]`` and/or ``[mla]`` table where they apply, and ``source`` / ``as_of`` citing the config it
was copied from. ``docs/models.md`` lists the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from xpuplan.datafiles import data_dir, read_json, read_toml
from xpuplan.errors import ConfigError, DataError, UnknownNameError
from xpuplan.workload.model import MODEL_KINDS, FfnType, Mla, Model, Moe, Norm, Position

_SCALARS = {
    "layers": int,
    "hidden": int,
    "heads": int,
    "kv_heads": int,
    "head_dim": int,
    "ffn": int,
    "vocab": int,
    "max_seq_len": int,
    "norms_per_layer": int,
}
_FLAGS = ("tied_embeddings", "linear_bias", "qkv_bias", "embedding_norm")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def model_from_dict(d: Mapping[str, Any], where: str) -> Model:
    """Build a :class:`Model` from a model-file mapping; errors name ``where``."""
    kw: dict[str, Any] = {}
    for key in ("id", "name", "source", "as_of"):
        if not d.get(key):
            raise DataError(f"missing required key '{key}'", f"Add '{key} = ...'", where)
        kw[key] = str(d[key])
    for key, typ in _SCALARS.items():
        if key in d:
            if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] <= 0:
                raise DataError(f"'{key}' must be a positive integer, got {d[key]!r}", "Fix it", where)
            kw[key] = typ(d[key])
        elif key not in ("head_dim", "kv_heads", "norms_per_layer"):
            raise DataError(f"missing required key '{key}'", f"Add '{key} = ...'", where)
    kw.setdefault("kv_heads", kw["heads"])
    kw.setdefault("head_dim", kw["hidden"] // kw["heads"])
    for key in _FLAGS:
        if key in d:
            kw[key] = bool(d[key])
    try:
        kw["ffn_type"] = FfnType(d.get("ffn_type", "swiglu"))
        kw["norm"] = Norm(d.get("norm", "rmsnorm"))
        kw["position"] = Position(d.get("position", "rope"))
        if d.get("moe"):
            kw["moe"] = Moe(**d["moe"])
        if d.get("mla"):
            kw["mla"] = Mla(**d["mla"])
    except (ValueError, TypeError) as e:
        raise DataError(str(e), "See docs/models.md for the allowed keys and values", where) from e
    for key in ("published_params", "published_active_params"):
        if d.get(key) is not None:
            kw[key] = float(d[key])
    for key in ("params_source", "family", "notes"):
        if key in d:
            kw[key] = str(d[key])
    if "kind" in d:
        if d["kind"] not in MODEL_KINDS:
            raise DataError(
                f"'kind' = {d['kind']!r} is not a model kind", "Use " + " or ".join(MODEL_KINDS), where
            )
        kw["kind"] = str(d["kind"])
    kw["aliases"] = tuple(str(a) for a in d.get("aliases", ()))
    try:
        return Model(**kw)
    except (ValueError, TypeError) as e:
        raise DataError(str(e), "Fix the model's shape", where) from e


def load_model_file(path: Path) -> Model:
    return model_from_dict(read_toml(path), str(path))


@lru_cache(maxsize=1)
def model_library() -> dict[str, Model]:
    """Every packaged model, by id."""
    out: dict[str, Model] = {}
    for path in sorted((data_dir() / "models").glob("*.toml")):
        m = load_model_file(path)
        if m.id in out:
            raise DataError(f"duplicate model id '{m.id}'", "Ids must be unique", str(path))
        out[m.id] = m
    return out


def get_model(name: str) -> Model:
    """A library model by id or alias (case-, '_'- and space-insensitive)."""
    lib = model_library()
    key = _normalise(name)
    for m in lib.values():
        if key == _normalise(m.id) or key in (_normalise(a) for a in m.aliases):
            return m
    raise UnknownNameError("model", name, lib.keys())


# ---- Hugging Face config.json import ------------------------------------------------------------

_HF_FAMILIES = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "gemma2",
    "gemma",
    "deepseek_v3",
    "deepseek_v2",
)


def _hf_int(cfg: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    v = cfg.get(key, default)
    if v is None:
        raise ConfigError(f"config.json has no '{key}'", "Give a complete Hugging Face config.json", where)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConfigError(f"'{key}' must be a positive integer, got {v!r}", "Fix the config", where)
    return v


def model_from_hf_config(cfg: Mapping[str, Any], name: str, where: str = "config.json") -> Model:
    """Translate a Hugging Face ``config.json`` (Llama, Mistral, Mixtral, Qwen2, Gemma 2, DeepSeek-V3)."""
    mtype = cfg.get("model_type")
    if mtype not in _HF_FAMILIES:
        raise ConfigError(
            f"model_type {mtype!r} is not supported",
            "Supported: " + ", ".join(_HF_FAMILIES),
            where,
        )
    heads = _hf_int(cfg, "num_attention_heads", where)
    hidden = _hf_int(cfg, "hidden_size", where)
    d: dict[str, Any] = {
        "id": name,
        "name": name,
        "source": f"Hugging Face config.json ({where})",
        "as_of": "local",
        "layers": _hf_int(cfg, "num_hidden_layers", where),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": _hf_int(cfg, "num_key_value_heads", where, heads),
        "head_dim": _hf_int(cfg, "head_dim", where, hidden // heads)
        if cfg.get("head_dim")
        else hidden // heads,
        "ffn": _hf_int(cfg, "intermediate_size", where),
        "vocab": _hf_int(cfg, "vocab_size", where),
        "max_seq_len": _hf_int(cfg, "max_position_embeddings", where, 4096),
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "ffn_type": "geglu" if str(mtype).startswith("gemma") else "swiglu",
        "qkv_bias": bool(cfg.get("attention_bias", mtype in ("qwen2", "qwen2_moe"))),
        "family": str(mtype),
    }
    if str(mtype).startswith("gemma"):
        d["tied_embeddings"] = bool(cfg.get("tie_word_embeddings", True))
        d["norms_per_layer"] = 4 if mtype == "gemma2" else 2
    if mtype == "mixtral":
        d["moe"] = {
            "experts": _hf_int(cfg, "num_local_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": d["ffn"],
        }
    if mtype in ("deepseek_v3", "deepseek_v2"):
        d["moe"] = {
            "experts": _hf_int(cfg, "n_routed_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": _hf_int(cfg, "moe_intermediate_size", where),
            "shared_experts": int(cfg.get("n_shared_experts") or 0),
            "dense_layers": int(cfg.get("first_k_dense_replace") or 0),
            "dense_ffn": d["ffn"],
        }
        d["mla"] = {
            "q_lora_rank": int(cfg.get("q_lora_rank") or 0),
            "kv_lora_rank": _hf_int(cfg, "kv_lora_rank", where),
            "qk_nope_head_dim": _hf_int(cfg, "qk_nope_head_dim", where),
            "qk_rope_head_dim": _hf_int(cfg, "qk_rope_head_dim", where),
            "v_head_dim": _hf_int(cfg, "v_head_dim", where),
        }
        d["head_dim"] = d["mla"]["qk_nope_head_dim"] + d["mla"]["qk_rope_head_dim"]
    return model_from_dict(d, where)


def load_hf_config(path: Path) -> Model:
    cfg = read_json(path)
    return model_from_hf_config(cfg, path.parent.name or path.stem, str(path))

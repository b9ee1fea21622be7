"""The model library (one TOML file per model under ``data/models``) and Hugging Face import.

A model file holds about fifteen keys, named as in :class:`~xpuplan.workload.model.Model`, a
``[moe]`` and/or ``[mla]`` table where they apply, and ``source`` / ``as_of`` citing the config it
was copied from. ``docs/models.md`` lists the keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from xpuplan.datafiles import data_dir, is_dir, is_file, read_json, read_toml
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
    "sliding_window": int,
    "window_layers": int,
}
_FLAGS = ("tied_embeddings", "linear_bias", "qkv_bias", "embedding_norm")
MODEL_KEYS: tuple[str, ...] = (
    *("id", "name", "source", "as_of", "aliases", "family", "notes", "params_source"),
    *_SCALARS,
    *_FLAGS,
    *("ffn_type", "norm", "position", "moe", "mla", "published_params", "published_active_params"),
)
"""Every key a model file (or a ``[models.<id>]`` table of a claim file) may hold."""


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
        elif key not in ("head_dim", "kv_heads", "norms_per_layer", "sliding_window", "window_layers"):
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
    """A model by library id or alias (case-, '_'- and space-insensitive), by the path of a Hugging
    Face ``config.json`` (or of the folder holding one), or by a Hugging Face repository id
    (``ORG/NAME``) found in the local Hugging Face cache (:func:`hf_cache_config`; never online)."""
    lib = model_library()
    key = _normalise(name)
    for m in lib.values():
        if key == _normalise(m.id) or key in (_normalise(a) for a in m.aliases):
            return m
    path = Path(name).expanduser()
    if name.endswith(".json") or is_file(path) or is_file(path / "config.json"):
        return load_hf_config(path / "config.json" if is_dir(path) else path)
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        cached = hf_cache_config(name)
        if cached is not None:
            return load_hf_config(cached, name=name)
        raise ConfigError(
            f"model '{name}' is neither in the library nor in the local Hugging Face cache "
            f"({hf_cache_dir()}); xpuplan works offline and does not download it",
            f"Fetch its config with 'huggingface-cli download {name} config.json', "
            "or give --model PATH/config.json",
        )
    raise UnknownNameError("model", name, lib.keys())


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``~/.cache/huggingface/hub`` (the ``huggingface_hub`` defaults)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def hf_cache_config(repo: str) -> Path | None:
    """``config.json`` of ``repo`` (``ORG/NAME``) in the local cache: the snapshot ``refs/main``
    names, else the newest snapshot that has one; None when the repository is not cached."""
    root = hf_cache_dir() / ("models--" + repo.replace("/", "--"))
    ref = root / "refs" / "main"
    if is_file(ref):
        pinned = root / "snapshots" / ref.read_text().strip() / "config.json"
        if is_file(pinned):
            return pinned
    if not is_dir(root / "snapshots"):
        return None
    found = sorted((root / "snapshots").glob("*/config.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


# ---- Hugging Face config.json import ------------------------------------------------------------

_HF_FAMILIES = (
    "llama",
    "llama4",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "phi3",
    "phimoe",
    "deepseek_v2",
    "deepseek_v3",
    "olmo",
    "olmo2",
)
# a multimodal config keeps its language model under text_config (Gemma 3, Llama 4)
_TEXT_TYPES = {"gemma3_text": "gemma3", "llama4_text": "llama4"}


# the keys read, each with the largest value any model could have (100x today's largest)
HF_LIMITS: dict[str, int] = {
    "num_hidden_layers": 10_000,
    "hidden_size": 1_000_000,
    "num_attention_heads": 100_000,
    "num_key_value_heads": 100_000,
    "head_dim": 100_000,
    "intermediate_size": 10_000_000,
    "moe_intermediate_size": 10_000_000,
    "vocab_size": 100_000_000,
    "max_position_embeddings": 1_000_000_000,
    "num_local_experts": 100_000,
    "n_routed_experts": 100_000,
    "num_experts_per_tok": 100_000,
    "n_shared_experts": 100_000,
    "first_k_dense_replace": 10_000,
    "q_lora_rank": 1_000_000,
    "kv_lora_rank": 1_000_000,
    "qk_nope_head_dim": 100_000,
    "qk_rope_head_dim": 100_000,
    "v_head_dim": 100_000,
}
_HF_OTHER = ("model_type", "tie_word_embeddings", "attention_bias")


def _hf_int(cfg: Mapping[str, Any], key: str, where: str, default: int | None = None, lo: int = 1) -> int:
    v = cfg.get(key, default)
    if v is None:
        raise ConfigError(f"config.json has no '{key}'", "Give a complete Hugging Face config.json", where)
    hi = HF_LIMITS.get(key, 10**9)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(
            f"'{key}' must be a whole number in [{lo}, {hi:,}], got {v!r}", "Fix the config", where
        )
    return v


def _hf_misspelt(cfg: Mapping[str, Any], where: str) -> None:
    """A key one letter away from a key that is read is a typo, not an extra: refuse it (the
    many other keys of a real config.json are left alone)."""
    import difflib

    known = [*HF_LIMITS, *_HF_OTHER]
    for key in cfg:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.9)
            if close:
                raise ConfigError(f"unknown key '{key}'", f"Did you mean '{close[0]}'?", where)


def _text_config(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The language model's settings and its family (a multimodal config's ``text_config``; the
    vision tower is not counted)."""
    mtype = str(cfg.get("model_type"))
    if isinstance(cfg.get("text_config"), dict) and "hidden_size" not in cfg:
        inner = dict(cfg["text_config"])
        mtype = str(inner.get("model_type") or mtype)
        cfg = inner
    return dict(cfg), _TEXT_TYPES.get(mtype, mtype)


def _hf_moe(cfg: Mapping[str, Any], mtype: str, layers: int, ffn: int, where: str) -> dict[str, Any] | None:
    """The ``[moe]`` table of an MoE family. Interleaved dense layers (Llama 4 Maverick, Qwen's
    mlp_only_layers) are counted as ``dense_layers``: the totals are the same, the order is not kept."""
    if mtype in ("mixtral", "phimoe"):
        return {
            "experts": _hf_int(cfg, "num_local_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": ffn,
        }
    if mtype == "llama4":
        step = int(cfg.get("interleave_moe_layer_step") or 1)
        return {
            "experts": _hf_int(cfg, "num_local_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": ffn,
            "shared_experts": 1,
            "dense_layers": layers - layers // step,
            "dense_ffn": _hf_int(cfg, "intermediate_size_mlp", where, ffn),
        }
    if mtype in ("qwen2_moe", "qwen3_moe"):
        expert = _hf_int(cfg, "moe_intermediate_size", where)
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        step = int(cfg.get("decoder_sparse_step") or 1)
        dense = len(cfg.get("mlp_only_layers") or []) + (layers - layers // step if step > 1 else 0)
        return {
            "experts": _hf_int(cfg, "num_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": expert,
            "shared_experts": round(shared / expert),  # one wide shared expert = k experts' width
            "dense_layers": dense,
            "dense_ffn": ffn,
        }
    if mtype in ("deepseek_v3", "deepseek_v2"):
        return {
            "experts": _hf_int(cfg, "n_routed_experts", where),
            "top_k": _hf_int(cfg, "num_experts_per_tok", where),
            "expert_ffn": _hf_int(cfg, "moe_intermediate_size", where),
            "shared_experts": int(cfg.get("n_shared_experts") or 0),
            "dense_layers": int(cfg.get("first_k_dense_replace") or 0),
            "dense_ffn": ffn,
        }
    return None


def model_from_hf_config(cfg: Mapping[str, Any], name: str, where: str = "config.json") -> Model:
    """Translate a Hugging Face ``config.json``: Llama 2/3.x/4, Mistral, Mixtral, Qwen2/2.5/3
    (dense and MoE), Gemma 1/2/3, Phi-3/3.5 (and Phi-3.5-MoE), DeepSeek-V2/V3, OLMo 1/2."""
    cfg, mtype = _text_config(cfg)
    if mtype not in _HF_FAMILIES:
        raise ConfigError(
            f"model_type {mtype!r} is not supported",
            "Supported: " + ", ".join(_HF_FAMILIES),
            where,
        )
    _hf_misspelt(cfg, where)
    heads = _hf_int(cfg, "num_attention_heads", where)
    hidden = _hf_int(cfg, "hidden_size", where)
    gemma = mtype.startswith("gemma")
    d: dict[str, Any] = {
        "id": name,
        "name": name,
        "source": f"Hugging Face config.json ({where})",
        "as_of": "local",
        "layers": _hf_int(cfg, "num_hidden_layers", where),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": _hf_int(cfg, "num_key_value_heads", where, heads),
        # a stated head_dim is used as stated (0 is an error, not "derive it")
        "head_dim": _hf_int(cfg, "head_dim", where) if cfg.get("head_dim") is not None else hidden // heads,
        "ffn": _hf_int(cfg, "intermediate_size", where),
        "vocab": _hf_int(cfg, "vocab_size", where),
        "max_seq_len": _hf_int(cfg, "max_position_embeddings", where, 4096),
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", gemma)),
        "ffn_type": "geglu" if gemma else "swiglu",
        "qkv_bias": bool(cfg.get("attention_bias", mtype in ("qwen2", "qwen2_moe"))),
        "family": mtype,
    }
    if gemma:
        d["norms_per_layer"] = 4 if mtype in ("gemma2", "gemma3") else 2
    if mtype == "phimoe":
        d["norm"] = "layernorm"
    moe = _hf_moe(cfg, mtype, d["layers"], d["ffn"], where)
    if moe:
        d["moe"] = moe
    if mtype in ("deepseek_v3", "deepseek_v2"):
        d["mla"] = {
            "q_lora_rank": _hf_int(cfg, "q_lora_rank", where, 0, lo=0)
            if cfg.get("q_lora_rank") is not None
            else 0,
            "kv_lora_rank": _hf_int(cfg, "kv_lora_rank", where),
            "qk_nope_head_dim": _hf_int(cfg, "qk_nope_head_dim", where),
            "qk_rope_head_dim": _hf_int(cfg, "qk_rope_head_dim", where),
            "v_head_dim": _hf_int(cfg, "v_head_dim", where),
        }
        d["head_dim"] = d["mla"]["qk_nope_head_dim"] + d["mla"]["qk_rope_head_dim"]
    return model_from_dict(d, where)


def load_hf_config(path: Path | str, name: str | None = None) -> Model:
    """A model from a Hugging Face ``config.json``. Its id is ``name`` when given, else the
    config's ``_name_or_path``, else the file's stem."""
    path = Path(path).expanduser()
    cfg = read_json(path)
    ident = name or str(cfg.get("_name_or_path") or "") or path.stem
    return model_from_hf_config(cfg, ident, str(path))

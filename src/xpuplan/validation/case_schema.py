"""The schema of a validation case file (``docs/validation-schema.md``), for
:func:`xpuplan.datafiles.read_yaml_checked`.

Published cases carry annotations of their own (``*_stat``, ``inference_setup.dataset``), so an
unknown key is a warning, listed once; a key one letter away from a known one ("did you mean")
and a number out of its range (a negative or 1e308 step time, a chip count of 0) are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xpuplan.datafiles import Field, positive, read_yaml_checked
from xpuplan.errors import DataError

MAX_CASE_CHIPS = 10_000_000
TEXT = Field("any")  # free text (a number where the source wrote one is fine)
# Sources write text where a number goes now and then ("~292.7-293.7 tokens/sample"): text is
# left to the validator; a number must be in range.
COUNT = positive(1e9, kind="int|text", nullable=True)
RATE = positive(1e15, kind="num|text", nullable=True)
FRACTION = Field("num|text", 0.0, 1.0, nullable=True, open_lo=True)

CASE: dict[str, Any] = {
    "id": Field("str", doc="unique case id"),
    "vendor": TEXT,
    "task": Field("str", doc="train | infer"),
    "source": {k: TEXT for k in ("title", "url", "locator", "date")},
    "model": {
        **{k: TEXT for k in ("name", "arch_source", "ffn_type")},
        "params_b": positive(1e6, kind="num|text", nullable=True),
        **{
            k: COUNT for k in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "seq_len")
        },
        # local attention: the window in tokens and how many layers use it (Model.sliding_window)
        **{k: COUNT for k in ("sliding_window", "window_layers")},
        "moe": {
            **{k: COUNT for k in ("experts", "top_k", "expert_ffn")},
            "shared_experts": Field("int|text", 0, 1e5, nullable=True),
            "first_dense_layers": Field("int|text", 0, 1e5, nullable=True),
            "active_params_b": positive(1e6, kind="num|text", nullable=True),
        },
    },
    "hardware": {
        "chip_key": Field("str"),
        **{k: TEXT for k in ("chip", "node", "interconnect")},
        "count": positive(MAX_CASE_CHIPS, "chips, not cores", kind="int"),
        # a run on part of a processor: the cores it used of the chip's cores (CPU instance sizes)
        **{k: COUNT for k in ("cores_used", "cores_per_chip")},
    },
    "precision": TEXT,
    "software": TEXT,
    "parallel": {
        **{k: COUNT for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "microbatch", "grad_accum")},
        **{k: COUNT for k in ("global_batch_seqs", "global_batch_tokens")},
        **{k: TEXT for k in ("sp", "fsdp", "recompute", "other")},
        "zero_stage": Field("int|text", 0, 3, nullable=True),
    },
    "inference_setup": {
        "scenario": TEXT,
        **{k: COUNT for k in ("batch", "concurrency", "max_seq_len", "num_requests")},
        **{k: Field("int|text", 0, 1e8, nullable=True) for k in ("input_len", "output_len")},
        # encoders: the mean real tokens per sequence, and whether the engine drops the padding
        "mean_input_len": positive(1e8, kind="num|text", nullable=True),
        "padding": TEXT,
        # the engine's token budget per step (vLLM max_num_batched_tokens, TensorRT-LLM max_num_tokens)
        "max_num_batched_tokens": COUNT,
        # false: prompts run in steps of their own, the decodes waiting (vLLM V0's default)
        "chunked_prefill": Field("bool", nullable=True),
        # the engine's KV admission policy: TensorRT-LLM max_util / guaranteed_no_evict
        "capacity_scheduler": TEXT,
        # true: every request has exactly input_len and output_len tokens (a fixed-length dataset)
        "fixed_lengths": Field("bool", nullable=True),
    },
    "training": {"method": TEXT, "lora_rank": COUNT, "lora_targets": TEXT},
    "measured": {
        "step_time_s": positive(1e6, "seconds per step", kind="num|text", nullable=True),
        **{k: RATE for k in ("tokens_per_s_total", "tokens_per_s_per_chip", "seqs_per_s")},
        "tflops_per_chip": positive(1e5, kind="num|text", nullable=True),
        "tflops_kind": TEXT,
        "mfu": FRACTION,
        "hfu": FRACTION,
        **{k: RATE for k in ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s")},
        **{k: RATE for k in ("prefill_tokens_per_s",)},
        **{k: positive(1e9, "ms", kind="num|text", nullable=True) for k in ("ttft_ms", "tpot_ms", "itl_ms")},
        "e2e_latency_s": positive(1e7, kind="num|text", nullable=True),
    },
    "derived": Field("list"),
    "confidence": TEXT,
    "not_fitted": TEXT,  # why the case informs no fitted efficiency (a term the model does not price)
    "notes": TEXT,
}
SCHEMA = [CASE]
"""A case file is a YAML list of cases."""


def read_cases(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The cases of a case file and the warnings (unknown keys, once each); :class:`DataError`
    for a broken file, a duplicate key, a misspelled key or a number out of range."""
    data, warnings = read_yaml_checked(Path(path), SCHEMA, unknown="warn")  # type: ignore[arg-type]
    if not isinstance(data, list) or not data:
        raise DataError("expected a non-empty YAML list of cases", "See docs/validation-schema.md", str(path))
    return data, warnings

"""Predict published, measured runs and report the error (schema: ``docs/validation-schema.md``).

Each case states its model shape, chip, chip count and (part of) its layout. The prediction uses
the stated layout and chooses the rest with the layout search, constrained to what was stated. The
measured metric is picked by the schema's rule: tokens/s per chip (from whichever field gives it),
else MFU; for inference output tokens/s, TPOT, TTFT, prefill tokens/s, sequences/s (encoders) or
end-to-end latency. Whatever a case leaves out and the prediction assumes is listed in the result.

The built-in suite lives in ``xpuplan/data/validation/*.yaml`` (one file per source family).
Besides the result, each prediction keeps an *evaluator*: the chosen layout (or serving
configuration) priced again under other chip efficiencies, which is what the fit and the
cross-validation in :mod:`xpuplan.validation.fit` vary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from xpuplan.datafiles import data_dir, read_yaml
from xpuplan.errors import DataError, XpuplanError
from xpuplan.hardware.catalog import Catalog, default_catalog, normalise
from xpuplan.hardware.records import Chip, Efficiency
from xpuplan.hardware.stacks import Stack, stack_for
from xpuplan.layout.layout import Reason, Recompute
from xpuplan.perf.estimate import TrainEstimate, estimate_train, machine
from xpuplan.perf.machine import MAX_CHIPS, Machine, slice_shape
from xpuplan.perf.params import PerfParams, chip_params, with_stack_values
from xpuplan.perf.precision import recipe
from xpuplan.perf.serve import ServeConfig, evaluate_serve
from xpuplan.perf.serve_run import RunSegments, quantile_lengths, run_time, schedule
from xpuplan.perf.train import TIME_PARTS
from xpuplan.search.serve_search import search_serve
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.validation.mlperf_limits import dataset_lengths, latency_limit
from xpuplan.workload.job import ServeJob, TrainJob
from xpuplan.workload.library import model_from_dict, model_library
from xpuplan.workload.model import Model

SCHEMA_HINT = "See docs/validation-schema.md for the schema"
# metrics where a larger value is better (throughput); the others are latencies
THROUGHPUT_METRICS = (
    "tokens_per_s_per_chip",
    "mfu",
    "output_tokens_per_s",
    "prefill_tokens_per_s",
    "sequences_per_s",
)


def suite_paths() -> list[Path]:
    """The built-in validation suite: every case file shipped in the package."""
    return sorted((data_dir() / "validation").glob("*.yaml"))


@dataclass(frozen=True)
class CaseResult:
    id: str
    task: str
    vendor: str
    chip: str
    metric: str | None
    predicted: float | None
    measured: float | None
    reason: str | None = None
    layout: str | None = None
    # the published layout's predicted step time, and the best layout of the unconstrained search
    step_time_s: float | None = None
    best_layout: str | None = None
    best_step_time_s: float | None = None
    source: str = ""  # the publication or results page (cross-validation group)
    stack: str | None = None
    # the stack's era the case's date falls in on its chip's category (hardware.stacks.Era; "":
    # today's constants): part of the key its fitted stack parameters are fitted under
    stack_era: str = ""
    assumed: tuple[str, ...] = ()  # what the case leaves out and the prediction assumed
    param: str | None = None  # the efficiency parameter this case informs (fit)
    confidence: str | None = None
    # the case's ``not_fitted`` reason: its time is set by a term the model does not price, so it
    # is predicted and reported but informs no fitted efficiency
    not_fitted: str | None = None
    # set with ``not_fitted`` by validation.fit.binding_param when no chip fraction sets enough of
    # the case's time: the case informs no chip fraction, but may inform its stack's fitted time
    weak: bool = False
    # full 16-bit training only: the predicted MFU of the stated layout, the chips and the
    # model's parameters (the published-MFU reference, ``fit.best_measured_mfu``)
    mfu: float | None = None
    chips: int | None = None
    model_params: float | None = None
    # with ``mfu``: the stated layout's step by term as shares of the step (perf.train
    # TIME_PARTS), so a search result above the run's MFU can say which term differs
    shares: tuple[tuple[str, float], ...] = ()
    # the workload classes the case counts in beyond its vendor and chip (``CLASSES``): its
    # cross-validated figures are also reported per class (``summarise``'s ``by_class``)
    classes: tuple[str, ...] = ()

    @property
    def measured_mfu(self) -> float | None:
        """The MFU the run reached (PaLM App. B model FLOPs over the 16-bit peak): the predicted
        layout's MFU scaled by measured over predicted throughput (FLOPs per token and peak are
        the same on both sides, so this does not depend on the fitted efficiencies)."""
        lr = self.log_ratio
        return None if self.mfu is None or lr is None else self.mfu * float(np.exp(-lr))

    @property
    def error(self) -> float | None:
        if self.predicted is None or not self.measured:
            return None
        return abs(self.predicted - self.measured) / self.measured

    @property
    def log_ratio(self) -> float | None:
        """log(predicted / measured) in the throughput sense (> 0: the model is optimistic)."""
        if self.predicted is None or not self.measured or self.predicted <= 0:
            return None
        r = float(np.log(self.predicted / self.measured))
        return r if self.metric in THROUGHPUT_METRICS else -r

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "task": self.task,
            "vendor": self.vendor,
            "chip": self.chip,
            "source": self.source,
            "stack": self.stack,
            "metric": self.metric,
            "predicted": self.predicted,
            "measured": self.measured,
            "error": self.error,
            "layout": self.layout,
            "assumed": list(self.assumed),
            "step_time_s": self.step_time_s,
            "search_best_layout": self.best_layout,
            "search_best_step_time_s": self.best_step_time_s,
        }
        if self.reason:
            d["reason"] = self.reason
        if self.not_fitted:
            d["not_fitted"] = self.not_fitted
        return d


# Prices a case's chosen layout again under other chip efficiencies and, optionally, other values
# of the fitted stack parameters (perf/params.py FITTED_STACK_PARAMS).
Evaluator = Callable[..., float]


@dataclass(frozen=True)
class Prediction:
    """A case's result and, when it was predicted, how to price its chosen layout again."""

    result: CaseResult
    evaluate: Evaluator | None = field(default=None, compare=False)


# ---- reading a case ---------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, int | float):
        return float(x) if np.isfinite(x) else None
    m = re.match(r"^\s*([0-9.]+)", str(x))
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def source_key(c: dict[str, Any]) -> str:
    """The cross-validation group of a case: its publication or results page (``source.group`` if
    given, else the title, else the URL without its commit pin)."""
    s = c.get("source") or {}
    if not isinstance(s, dict):
        return str(s)
    for key in ("group", "title"):
        if s.get(key):
            return str(s[key]).strip()
    url = str(s.get("url") or "")
    return re.sub(r"/blob/[0-9a-f]{7,40}/", "/blob/-/", url) or str(c.get("id"))


# The vocabulary a case without one is priced with (Llama 2 / Mistral's 32,000-token tokenizer)
ASSUMED_VOCAB = 32_000


def case_model(c: dict[str, Any], assumed: list[str] | None = None) -> Model:
    """The case's model: the library model with the same shape when there is one (it carries
    details such as MLA and tied embeddings), else one built from the case's fields. A vocabulary
    the case leaves out is taken from that library model, else :data:`ASSUMED_VOCAB`, and said in
    ``assumed``."""
    mm = c["model"]
    said = assumed if assumed is not None else []
    for m in model_library().values():
        same = (m.layers, m.hidden, m.heads) == (
            mm.get("layers"),
            mm.get("hidden"),
            mm.get("heads"),
        )
        same = same and bool(mm.get("moe")) == (m.moe is not None)  # Mixtral 8x7B ≠ Mistral 7B
        if same and mm.get("vocab") in (None, m.vocab) and mm.get("ffn") in (None, m.ffn):
            if mm.get("vocab") is None:
                said.append(f"vocabulary not stated: {m.vocab:,} tokens of the library's {m.name}")
            return m
    if mm.get("vocab") is None:
        said.append(f"vocabulary not stated: {ASSUMED_VOCAB:,} tokens assumed")
    ffn_type = str(mm.get("ffn_type") or "gelu_mlp").split()[0]
    d: dict[str, Any] = {
        "id": c["id"],
        "name": mm.get("name", c["id"]),
        "source": mm.get("arch_source") or "case file",
        "as_of": str(c.get("source", {}).get("date", "")) or "case",
        "layers": mm["layers"],
        "hidden": mm["hidden"],
        "heads": mm["heads"],
        "kv_heads": mm.get("kv_heads") or mm["heads"],
        "ffn": mm["ffn"],
        "ffn_type": ffn_type,
        "vocab": mm.get("vocab") or ASSUMED_VOCAB,
        "max_seq_len": mm.get("seq_len") or 2048,
    }
    if mm.get("head_dim"):
        d["head_dim"] = mm["head_dim"]
    for key in ("sliding_window", "window_layers"):
        if mm.get(key):
            d[key] = int(mm[key])
    if ffn_type in ("gelu_mlp", "relu_mlp"):
        d.update(linear_bias=True, norm="layernorm", position="learned", tied_embeddings=True)
    moe = mm.get("moe")
    if moe:
        # interleaved MoE layers (Llama 4: interleave_moe_layer_step) counted as dense layers
        step = int(moe.get("interleave_moe_layer_step") or 1)
        dense = int(moe.get("first_dense_layers") or 0) or int(mm["layers"]) - int(mm["layers"]) // step
        d["moe"] = {
            "experts": moe["experts"],
            "top_k": moe["top_k"],
            "expert_ffn": moe["expert_ffn"],
            "shared_experts": moe.get("shared_experts") or 0,
            "dense_layers": dense,
            "dense_ffn": mm["ffn"],
        }
    return model_from_dict(d, c["id"])


@dataclass(frozen=True)
class Formats:
    """Number formats read from a case's free-text ``precision`` (as sources write them)."""

    compute: str  # training matmul format: bf16 | fp16 | fp8 | int8 | fp32
    weights: str  # serving weight format: bf16 | fp16 | fp8 | int8 | int4 | fp4
    weight_bits: float | None  # bits per weight where the format carries scales (None: nominal)
    kv: str  # KV-cache format: bf16 | fp8
    stated: bool  # False when the text states no format at all
    fp8_weight_store: bool = False  # training: the weights kept in fp8 (TE fp8_model_init, fp8_params)
    fp8_act_fn_store: bool = False  # training: the activation function's input kept in fp8 (FP8_ACT)


# Block formats with their scales, bits per weight (llama.cpp ggml-quants.h block layouts:
# Q4_0 = 32 4-bit weights + one fp16 scale = 4.5 b/w; Q8_0 = 32 int8 + fp16 = 8.5; the k-quants'
# averages from llama.cpp's quantize table; NVFP4: 16 fp4 values + an fp8 scale = 4.5; MXFP4 and
# MXFP8: 32 values + an 8-bit shared exponent (OCP MX spec v1.0) = 4.25 and 8.25; INT4 weight-only
# with fp16 scales per group of 128 (AWQ/GPTQ default) = 4.125).
_WEIGHT_PATTERNS: tuple[tuple[str, str, float | None], ...] = (
    (r"q4_0", "int4", 4.5),
    (r"q4_k_m", "int4", 4.85),
    (r"q4_k", "int4", 4.5),
    (r"q5_k_m", "int4", 5.69),
    (r"q6_k", "int8", 6.56),
    (r"q8_0", "int8", 8.5),
    (r"nvfp4", "fp4", 4.5),
    (r"mxfp4", "fp4", 4.25),
    (r"\bfp4\b|\bfp4 ", "fp4", None),
    (r"mxfp8", "fp8", 8.25),
    (r"\bfp8\b|\bfp8|e4m3", "fp8", None),
    (r"w4a16|\bawq\b|\bgptq\b|\bint4\b|4-bit|4 bit", "int4", 4.125),
    (r"w8a8|\bint8\b|smoothquant|8-bit int", "int8", None),
    (r"\bf16\b|\bfp16\b|float16|half", "fp16", None),
    (r"bf16|bfloat16", "bf16", None),
)


def parse_formats(text: str | None) -> Formats:
    """Weight, compute and KV formats from free text ("FP4 weights", "nvfp4", "INT4 weights
    (group size 128)", "Q4_0", "bf16 mixed precision", "fp8 KV cache", ...)."""
    # a format the weights are converted from is not the one they run in: "bf16 (MXFP4 expert
    # weights dequantized to BF16 at load)" serves bf16 (vLLM-Neuron gpt-oss tutorial)
    was = r"\b[a-z0-9_]+[^;,()]*?dequanti[sz]ed (?:to|into) "
    t = re.sub(was, "", (text or "").lower().replace("-", "_")) + " "
    t_sp = re.sub(was, "", (text or "").lower()) + " "
    if t_sp.strip().startswith(("not stated", "unknown", "n/a")):
        return Formats("bf16", "bf16", None, "bf16", stated=False)
    kv = "fp8" if re.search(r"fp8[ _]kv|kv[ _-]?cache[^,;]*fp8|fp8 kv", t_sp) else "bf16"
    # the KV-cache clause names the cache's format, not the weights' ("bf16 weights, fp8 KV cache")
    kv_clause = r"fp8[ _-]kv(?:[ _-]?cache)?|kv[ _-]?cache(?:[ _-]dtype)?[^,;()]*?fp8|kvfp8"
    t, t_sp = re.sub(kv_clause, " ", t), re.sub(kv_clause, " ", t_sp)
    weights, bits = "bf16", None
    for pat, fmt, b in _WEIGHT_PATTERNS:
        if re.search(pat, t) or re.search(pat, t_sp):
            weights, bits = fmt, b
            break
    stated = weights != "bf16" or "bf16" in t or "bfloat16" in t
    if weights == "fp16" and "bf16" in t:
        weights = "bf16"  # "fp16/bf16 mixed precision": the 16-bit rate either way
    compute = {"fp8": "fp8", "fp4": "fp8", "int8": "int8" if "w8a8" in t or "int8" in t else "bf16"}.get(
        weights, "fp16" if weights == "fp16" else "bf16"
    )
    if "fp32" in t and weights == "bf16" and "bf16" not in t and "mixed" not in t:
        compute = "fp32"
    # storage a training recipe states in its config's words (Transformer Engine / Megatron)
    fp8_w = bool(re.search(r"fp8_model_init|fp8_params|fp8_param_gather\s*=\s*(?:1|true)", t))
    fp8_act = bool(re.search(r"fp8_act\s*=\s*1|activation_func_fp8_input_store", t))
    return Formats(compute, weights, bits, kv, stated, fp8_w, fp8_act)


def train_precision(text: str | None, fm: Formats) -> str:
    """The training recipe a case's ``precision`` names (perf/precision.py), as Megatron-Bridge's
    tables write them: "FP8-CS" / "current scaling" (Float8CurrentScaling), "FP8-MX" / mxfp8
    (MXFP8BlockScaling), NVFP4 / FP4 (NVFP4BlockScaling, the one 4-bit training recipe of TE);
    other fp8 is per-tensor delayed scaling (TE's DelayedScaling, its default)."""
    t = (text or "").lower()
    if fm.weights == "fp4":
        return "nvfp4"
    if fm.weights != "fp8":
        return fm.compute
    if re.search(r"mxfp8|fp8[-_ ]mx\b", t):
        return "mxfp8"
    return "fp8cs" if re.search(r"current[-_ ]scaling|fp8[-_ ]cs\b", t) else "fp8"


def case_stack(c: dict[str, Any], chip: Chip) -> Stack | None:
    return stack_for(str(c.get("software") or ""), str(c.get("task")), chip.vendor, chip.category)


# MaxText's remat policy that keeps every weight matmul's output but the MLP wi's (a selective
# policy, priced with PerfParams.selective_recomputes_fc1)
EXCEPT_MLPWI = "save_dot_except_mlpwi"


def case_date(c: dict[str, Any]) -> str | None:
    """The date of the case's source as written (ISO, e.g. "2024-03"), None when it states none."""
    return str((c.get("source") or {}).get("date") or "") or None


def case_software(c: dict[str, Any]) -> str:
    """The software the case states (its stack's era may be a mode a flag there selects)."""
    return str(c.get("software") or "")


def case_era(c: dict[str, Any], stack: Stack | None, chip: Chip) -> str:
    """The era of the case's stack on its chip: the mode its software states, else the one its
    date falls in ("": today's defaults; hardware.stacks.Stack.era)."""
    return stack.era(chip.category, case_date(c), case_software(c)) if stack else ""


# weights a case states in an interleaved layout for the CPU's matrix kernels: llama.cpp's offline
# Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8 formats, its load-time repacking (system_info AARCH64_REPACK),
# or a prepacked / reordered layout of a kernel PR
REPACKED = re.compile(
    r"q4_0_[48]_[48]|aarch64_repack\s*=\s*1|\brepacked\b|interleaved layout|reordered into|prepacked"
)


def case_repacked(c: dict[str, Any]) -> bool:
    """Whether the case's weights run in an interleaved (repacked) layout: only where it says so,
    the builds of the suite's other CPU runs predating llama.cpp's load-time repacking of Q4_0."""
    return bool(REPACKED.search(f"{c.get('precision') or ''} {c.get('software') or ''}".lower()))


def case_params(c: dict[str, Any], chip: Chip) -> tuple[PerfParams, Stack | None]:
    """Software-stack parameters a case implies: its stack's (data/stacks), of the stack's era
    its date falls in, fused attention from the year it reached that stack, gradients reduced in
    fp32 where the case says so."""
    stack = case_stack(c, chip)
    date = case_date(c) or ""
    year = int(date[:4]) if date[:4].isdigit() else 2024
    prec = str(c.get("precision") or "").lower()
    p = chip_params(
        stack,
        chip.id,
        year,
        category=chip.category,
        date=date or None,
        software=case_software(c),
        repacked=case_repacked(c),
    )
    if "fp32 gradient" in prec:
        p = replace(p, grad_comm_bytes=4.0)
    # MoE dispatch the case states: a capacity factor means token dropping (dense dispatch)
    text = " ".join(str((c.get("parallel") or {}).get(k) or "") for k in ("other",))
    text += " " + str(c.get("notes") or "") + " " + str(c.get("software") or "")
    # MaxText memory settings the case states: the loss in num_vocab_tiling chunks; weight_dtype
    # (parameters, gradients and Adam moments in that format; base.yml default float32)
    # Megatron-Core activation offloading the case states (cpu_offloading_num_layers: that many
    # layers' activations kept in host memory, not recomputed)
    rc_text = str((c.get("parallel") or {}).get("recompute") or "")
    off = re.search(r"cpu_offloading_num_layers\s*=\s*([0-9]+)", text + " " + rc_text)
    if off and int(off.group(1)) > 0:
        p = replace(p, cpu_offload_layers=float(off.group(1)))
    tiles = re.search(r"num_vocab_tiling\s*=\s*([0-9]+)", text)
    if tiles and int(tiles.group(1)) > 1:
        p = replace(p, vocab_tiles=float(tiles.group(1)))
    wd = re.search(r"weight_dtype[\s:=]+(bfloat16|bf16|float32|fp32)", prec)
    if wd:
        p = replace(p, weight_bytes=2.0 if wd.group(1).startswith("b") else 4.0)
    # attention data parallelism the serving layout states (TensorRT-LLM enable_attention_dp)
    if re.search(r"attention data-parallel|enable_attention_dp|dp-attention", text.lower()):
        p = replace(p, attention_dp=True)
    # splash attention tiles the case states (MaxText sa_block_*): forward, and the dK/dV kernel
    fwd = [int(x) for x in re.findall(r"sa_block_(?:q|kv)\s*=\s*([0-9]+)", text)]
    bwd = [int(x) for x in re.findall(r"sa_block_(?:q|kv)_dkv\s*=\s*([0-9]+)", text)]
    if fwd:
        p = replace(p, attention_block=float(max(fwd)))
    if bwd:
        p = replace(p, attention_block_bwd=float(max(bwd)))
    # MaxText remat_policy=save_dot_except_mlpwi: every dot kept but the MLP's wi, redone in backward
    rc_text = str((c.get("parallel") or {}).get("recompute") or "") + " " + text
    if EXCEPT_MLPWI in rc_text:
        p = replace(p, selective_saves_dots=1.0, selective_recomputes_fc1=1.0)
    cf = re.search(r"capacity_factor\s*=\s*([0-9.]+)", text)
    if cf and float(cf.group(1)) > 0 and "dropless" not in text.lower():
        p = replace(p, moe_capacity_factor=float(cf.group(1)))
    # MaxText FSDP across the slices (dcn_fsdp_parallelism > 1) instead of DP over DCN
    dcn_fsdp = re.search(r"dcn_fsdp_parallelism\s*=\s*([0-9]+)", text)
    if dcn_fsdp and int(dcn_fsdp.group(1)) > 1:
        p = replace(p, dcn_data_parallel=0.0)
    # the engine's KV admission policy the harness states (inference_setup.capacity_scheduler)
    reserve = stated_kv_reserve(c)[1]
    if reserve is not None:
        p = replace(p, kv_reserve_full=reserve)
    return p, stack


# words of inference_setup.capacity_scheduler -> PerfParams.kv_reserve_full
KV_POLICIES = (
    ("max_util", 0.0),  # KV blocks as sequences grow (TensorRT-LLM MAX_UTILIZATION)
    ("no_evict", 1.0),  # each request's whole length reserved (GUARANTEED_NO_EVICT)
)


def stated_kv_reserve(c: dict[str, Any]) -> tuple[str, float | None]:
    """(the case's capacity_scheduler text, lower-cased; the kv_reserve_full it names, None when
    it names neither policy or is not stated)."""
    policy = str((c.get("inference_setup") or {}).get("capacity_scheduler") or "").lower()
    return policy, next((v for word, v in KV_POLICIES if word in policy), None)


def stack_params(c: dict[str, Any]) -> PerfParams:
    """The PerfParams of a case (its stack and date), for callers without a chip at hand."""
    chip = default_catalog().chip(c["hardware"]["chip_key"])
    return case_params(c, chip)[0]


def _recompute(text: Any) -> int | None:
    t = str(text or "").lower()
    if not t or (t == "none" and text is None):
        return None
    # MaxText remat policies (maxtext/layers/decoders.py get_remat_policy): decoder_layer_input
    # offloaded: nothing per layer on the device, the layer recomputed; layer input saved on device
    # with the rest offloaded or recomputed (qkv_proj_offloaded, custom ... saved on device): full
    # recomputation of the layer's matmuls (the saved q/k/v/context are not modelled).
    # "minimal", fused SDPA with recompute (Gaudi) and custom policies that only rematerialise
    # q/k/v recompute the attention core: selective.
    if t.startswith("none"):  # no recompute (Megatron's activation offloading recomputes nothing)
        return int(Recompute.NONE)
    offloaded = t.split("offload")[0] if "offload" in t else ""
    if "decoder_layer_input" in offloaded:
        return int(Recompute.OFFLOAD)
    if "qkv_proj_offloaded" in t or "offload" in t or "saved on device" in t:
        return int(Recompute.FULL)
    if "custom" in t and "remat" in t and "device" not in t:
        # MaxText base.yml: under "custom" every named tensor is 'remat' unless set otherwise and
        # decoder_layer_input stays 'device': the layer input kept, the layer recomputed
        return int(Recompute.FULL)
    if "minimal" in t or "sdpa" in t or EXCEPT_MLPWI in t:
        return int(Recompute.SELECTIVE)
    if "selective" in t or "custom" in t:
        return int(Recompute.SELECTIVE)
    if "full" in t or "recomputation" in t or "checkpointing" in t:
        return int(Recompute.FULL)
    if t.startswith("none") or "no activation" in t:
        return int(Recompute.NONE)
    return None


def stated_layout(c: dict[str, Any], count: int) -> dict[str, int]:
    """Layout fields the case states, in chip units (Neuron degrees count cores)."""
    p = c.get("parallel") or {}
    other = str(p.get("other") or "") + " " + str(c.get("notes") or "")
    fixed: dict[str, int] = {}
    for k in ("tp", "pp", "cp", "ep", "vpp", "microbatch"):
        v = _num(p.get(k))
        if v is not None:
            fixed[k] = int(v)
    fsdp = p.get("fsdp")
    dp = _num(p.get("dp"))
    if isinstance(fsdp, int | float) and not isinstance(fsdp, bool) and fsdp > 1:
        fixed["zero"] = 3
        dp = (dp or 1) * fsdp
    elif fsdp not in (None, False) or "3" in str(p.get("zero_stage") or "")[:1]:
        fixed["zero"] = 3
        dp = None  # FSDP over whatever is left
    elif _num(p.get("zero_stage")) is not None:
        fixed["zero"] = int(_num(p.get("zero_stage")) or 0)
    # Neuron: degrees count NeuronCores; convert to chips.
    degrees = fixed.get("tp", 1) * fixed.get("pp", 1) * fixed.get("cp", 1) * int(dp or 1)
    if "neuroncore" in other.lower() and dp and degrees > count and degrees % count == 0:
        fixed["tp"] = max(1, fixed.get("tp", 1) // (degrees // count))
    if dp:
        fixed["dp"] = int(dp)
    elif "zero" in fixed and fixed["zero"] == 3:
        rest = count // (fixed.get("tp", 1) * fixed.get("pp", 1) * fixed.get("cp", 1))
        fixed["dp"] = max(rest, 1)
    if p.get("sp") is True:
        fixed["sp"] = 1
    elif p.get("sp") is False:
        fixed["sp"] = 0  # stated off (Korthikanti et al. Table 5's full-recompute baseline)
    rc = _recompute(p.get("recompute"))
    if rc is None and "no activation checkpointing" in other.lower():
        rc = int(Recompute.NONE)
    soft = (str(c.get("software") or "") + " " + other).lower()
    if fixed.get("zero") == 3 and ("without weight resharding" in soft or "no reshard" in soft):
        fixed["zero"] = 2  # FSDP that keeps the gathered weights: ZeRO-2 (Llama 3 paper §3.3.2)
    if rc is not None:
        fixed["recompute"] = rc
    # Megatron-LM block recompute of N layers per stage (NeMo activations_checkpoint_num_layers)
    n_rc = re.search(r"(\d+) layers per stage", str(p.get("recompute") or ""))
    if rc is not None and rc >= Recompute.FULL and n_rc:
        fixed["recompute_layers"] = int(n_rc.group(1))
    # A MaxText mesh (ici_*_parallelism) without an expert axis runs the experts unsplit: FSDP
    # shards their weights, every chip computes its own tokens on all experts (no EP all-to-all)
    if "ep" not in fixed and "ici_" in other and "expert" not in other.lower():
        fixed["ep"] = 1
    if fixed.get("vpp") == 1 and fixed.get("pp", 1) == 1:
        fixed.pop("vpp")
    return fixed


def measured_metric(c: dict[str, Any]) -> tuple[str, float] | None:
    """The README rule: tokens/s per chip from the first field that gives it, else MFU."""
    m, p, n = c.get("measured") or {}, c.get("parallel") or {}, c["hardware"]["count"]
    seq = c["model"].get("seq_len")
    if _num(m.get("tokens_per_s_per_chip")):
        return "tokens_per_s_per_chip", float(m["tokens_per_s_per_chip"])
    if _num(m.get("tokens_per_s_total")):
        return "tokens_per_s_per_chip", float(m["tokens_per_s_total"]) / n
    if _num(p.get("global_batch_tokens")) and _num(m.get("step_time_s")):
        return "tokens_per_s_per_chip", float(p["global_batch_tokens"]) / float(m["step_time_s"]) / n
    if _num(m.get("seqs_per_s")) and seq:
        return "tokens_per_s_per_chip", float(m["seqs_per_s"]) * seq / n
    for d in c.get("derived") or []:
        if "tokens_per_s_per_chip" in str(d.get("field")) and _num(d.get("value")):
            return "tokens_per_s_per_chip", float(d["value"])
    if _num(m.get("mfu")):
        return "mfu", float(m["mfu"])
    return None


def _system_for(c: dict[str, Any], cat: Catalog, chip_id: str) -> str | None:
    """The catalog system whose id or alias the case's node / interconnect text names, if one does
    (both sides normalised: 'DGX A100' names ``nvidia-dgx-a100``'s alias ``dgx-a100``)."""
    hw = c["hardware"]
    node = normalise(str(hw.get("node") or "") + " " + str(hw.get("interconnect") or ""))
    best: tuple[int, str] | None = None
    for s in cat.systems_for_chip(chip_id):
        for a in (s.id, *s.aliases):
            key = normalise(a).removeprefix("aws-").removeprefix("gcp-").removeprefix("nvidia-")
            if len(key) > 3 and key in node and (best is None or len(key) > best[0]):
                best = (len(key), s.id)
    return best[1] if best else None


def case_machine(c: dict[str, Any], cat: Catalog, chip_id: str, count: int) -> Machine:
    """The machine of case ``c``: its system (:func:`_system_for`) and, on a TPU system, the ICI
    slice its node text states: ``4 x v4-128 slice(s)`` is four slices of 64 chips, each the
    shape Cloud TPU gives 64 chips (4x4x4), joined over DCN; ``tpu7x-4x4x4`` or ``(2x4 topology)``
    states the shape itself."""
    m = machine(chip_id, count, cat, system=_system_for(c, cat, chip_id))
    su = m.system.scale_up
    if not su.torus_wrap:
        return m
    node = str(c["hardware"].get("node") or "")
    many = re.match(r"\s*(\d+)\s*x\s", node)
    slices = int(many.group(1)) if many else 1
    per = count // slices if slices >= 1 and count % slices == 0 else count
    shape = re.search(r"(?<![\w.])(\d+)x(\d+)(?:x(\d+))?(?!\w)", node)
    dims = tuple(sorted(int(g) for g in shape.groups() if g)) if shape else ()
    if not dims or int(np.prod(dims)) != per:
        dims = slice_shape(min(per, su.domain_chips), su.torus_dims, su.torus_wrap)
    return replace(m, slice_dims=dims)


def ran_on(m: Machine) -> str:
    """The system a case ran on and, on a TPU, its ICI slices: 'gcp-tpu-v4-pod, 4 x 4x4x4'."""
    if not m.system.scale_up.torus_wrap:
        return m.system.id
    return f"{m.system.id}, {-(-m.chips // m.domain)} x {'x'.join(map(str, m.torus))}"


# Workload classes reported beside vendors and chips (issue 17: encoders, CPUs, Apple silicon)
CLASSES = ("encoder", "cpu", "apple-silicon")


def case_classes(c: dict[str, Any], cat: Catalog) -> tuple[str, ...]:
    """The classes of ``CLASSES`` case ``c`` belongs to: an encoder model (``model.kind``), a CPU
    or an Apple SoC (the chip's category and vendor in ``cat``)."""
    try:
        chip: Chip | None = cat.chip(str((c.get("hardware") or {}).get("chip_key") or ""))
    except XpuplanError:
        chip = None  # reported with its reason by the prediction
    found = {
        "encoder": str((c.get("model") or {}).get("kind")) == "encoder",
        "cpu": chip is not None and chip.category == "cpu",
        "apple-silicon": chip is not None and chip.vendor == "apple",
    }
    return tuple(k for k in CLASSES if found[k])


def _base(c: dict[str, Any], task: str, metric: tuple[str, float] | None, cat: Catalog) -> dict[str, Any]:
    """The fields every result of case ``c`` shares."""
    return dict(
        classes=case_classes(c, cat),
        id=c["id"],
        task=task,
        vendor=c.get("vendor", ""),
        chip=c["hardware"]["chip_key"],
        metric=metric[0] if metric else None,
        measured=metric[1] if metric else None,
        source=source_key(c),
        confidence=str(c.get("confidence") or "") or None,
        not_fitted=str(c.get("not_fitted") or "") or None,
    )


def _case_machine(
    c: dict[str, Any], cat: Catalog, assumed: list[str] | None = None
) -> tuple[Machine, Chip, int]:
    """The machine case ``c`` ran on (its count of its chip, in its system), the chip, the count.
    A run on part of a processor's cores (``hardware.cores_used`` of ``hardware.cores_per_chip``:
    an instance size that is a share of a socket, a thread count below the core count) has that
    share of the compute peaks and the socket's memory bandwidth (the cores of a share still pull
    the whole DRAM bandwidth: Neoverse and x86 server cores each draw tens of GB/s), said."""
    hw = c["hardware"]
    chip, count = cat.chip(hw["chip_key"]), int(hw["count"])
    m = case_machine(c, cat, chip.id, count)
    used, per = _num(hw.get("cores_used")), _num(hw.get("cores_per_chip"))
    if used and per and 0 < used < per:
        share = used / per
        chip = replace(chip, peak_flops={k: v * share for k, v in chip.peak_flops.items()})
        m = replace(m, chip=chip)
        if assumed is not None:
            assumed.append(
                f"{used:g} of the chip's {per:g} cores: its compute peaks scaled to {share:.3g}, "
                "the socket's memory bandwidth kept"
            )
    return m, chip, count


def _unmeasured(base: dict[str, Any]) -> Prediction:
    """A case with no measured figure the model can be compared on: no prediction, and why."""
    return Prediction(
        CaseResult(**base, predicted=None, reason="the case states no comparable measured metric")
    )


def _with_chip_eff(m: Machine, eff: Efficiency) -> Machine:
    return replace(m, chip=replace(m.chip, efficiency=eff))


def _train_metric(metric: str, est: TrainEstimate) -> float:
    return float(est.tokens_per_s_per_chip if metric == "tokens_per_s_per_chip" else est.mfu)


# the names sources give the linears a LoRA adapter targets (NeMo / Megatron, Hugging Face PEFT on
# Llama-style and GPT-style models) -> TrainJob's LORA_MODULES
_LORA_NAMES = {
    "qkv": (
        "linear_qkv",
        "qkv_proj",
        "query_key_value",
        "q_proj",
        "k_proj",
        "v_proj",
        "c_attn",
        "wq",
        "wk",
        "wv",
    ),
    "proj": ("linear_proj", "o_proj", "out_proj", "dense", "wo", "attention_dense"),
    "fc1": ("linear_fc1", "gate_proj", "up_proj", "w1", "w3", "dense_h_to_4h", "fc1"),
    "fc2": ("linear_fc2", "down_proj", "w2", "dense_4h_to_h", "fc2"),
}


def lora_targets(names: Any, assumed: list[str]) -> tuple[str, ...] | None:
    """The LoRA_MODULES a case's ``training.lora_targets`` names (sources' module names, or
    ``all-linear``); None, every linear adapted, where unstated or not all recognised (said)."""
    if not names:
        assumed.append("LoRA targets not stated: every linear adapted (their inputs kept)")
        return None
    words = [
        str(n).strip().lower().replace("-", "_") for n in (names if isinstance(names, list) else [names])
    ]
    if "all_linear" in words or "all" in words:
        return None
    got = {m for w in words for m, ns in _LORA_NAMES.items() if w in ns or w == m}
    unknown = [w for w in words if not any(w in ns or w == m for m, ns in _LORA_NAMES.items())]
    if unknown:
        assumed.append(f"LoRA target {', '.join(unknown)} not recognised: every linear adapted")
        return None
    return tuple(m for m in ("qkv", "proj", "fc1", "fc2") if m in got)


def _lora(c: dict[str, Any], assumed: list[str]) -> tuple[int | None, tuple[str, ...] | None]:
    t = c.get("training") or {}
    method = str(t.get("method") or "full").lower() if isinstance(t, dict) else "full"
    if method not in ("lora", "qlora"):
        return None, None
    rank = _num(t.get("lora_rank"))
    if rank is None:
        assumed.append("LoRA rank not stated: 16 assumed")
        rank = 16
    if method == "qlora":
        assumed.append("QLoRA: 4-bit base weights not modelled in memory (bf16 assumed)")
    return int(rank), lora_targets(t.get("lora_targets"), assumed)


def _global_batch(c: dict[str, Any], seq: int, assumed: list[str]) -> float | None:
    """Sequences per optimizer step: stated (``parallel.global_batch_seqs``, or tokens / sequence
    length), else the case's own reading of its source marked as an assumption (a ``derived``
    entry for ``parallel.global_batch_seqs``, e.g. a table's 'Batch Size' column), said so in the
    result; None when the case gives neither."""
    p = c.get("parallel") or {}
    gb = _num(p.get("global_batch_seqs"))
    if gb is None and _num(p.get("global_batch_tokens")):
        gb = float(p["global_batch_tokens"]) / seq
    if gb is not None:
        return gb
    for d in c.get("derived") or []:
        if isinstance(d, dict) and str(d.get("field", "")).startswith("parallel.global_batch_seqs"):
            gb = _num(d.get("value"))
            if gb is not None and gb >= 1:
                how = str(d.get("how") or "the case's reading of its source").split(",")[0]
                assumed.append(f"global batch not stated: {gb:.0f} sequences assumed ({how})")
                return gb
    return None


def predict_train_case(c: dict[str, Any], cat: Catalog, search_best: bool = True) -> Prediction:
    """Predict one training case with its stated layout; with ``search_best`` also search the full
    space on the same job and machine and report the best layout found beside it."""
    metric = measured_metric(c)
    base = _base(c, "train", metric, cat)
    if metric is None:
        return _unmeasured(base)
    assumed: list[str] = []
    model = case_model(c, assumed)
    seq = int(c["model"].get("seq_len") or 2048)
    gb = _global_batch(c, seq, assumed)
    if gb is None:
        return Prediction(CaseResult(**base, predicted=None, reason="the case states no global batch"))
    m, chip, count = _case_machine(c, cat, assumed)
    fm = parse_formats(c.get("precision"))
    if not fm.stated:
        assumed.append("precision not stated: bf16 assumed")
    prec = train_precision(c.get("precision"), fm)
    rank, targets = _lora(c, assumed)
    job = TrainJob(model, max(int(gb), 1), seq, prec, lora_rank=rank, lora_targets=targets)
    fixed = stated_layout(c, count)
    params, stack = case_params(c, chip)
    params = replace(
        params,
        fp8_weight_store=1.0 if fm.fp8_weight_store else params.fp8_weight_store,
        fp8_act_fn_store=1.0 if fm.fp8_act_fn_store else params.fp8_act_fn_store,
    )
    res = search_train(job, m, SpaceOptions(fixed=fixed), params=params, top_k=1)
    if res.best is None and res.reasons.get(Reason.MEMORY.text):
        # The run happened, so it fit: our memory model is the conservative one. Predict the time
        # of the stated layout anyway and say so.
        params = replace(params, ignore_memory=True)
        res = search_train(job, m, SpaceOptions(fixed=fixed), params=params, top_k=1)
        assumed.append(
            "the model predicts the stated layout does not fit in memory; time predicted regardless"
        )
    base["stack"] = stack.id if stack else None
    base["param"] = chip.efficiency.gemm_param(recipe(prec).gemm)
    if res.best is None:
        why = f"no feasible layout with the stated degrees {fixed}: {res.why_none}"
        return Prediction(CaseResult(**base, predicted=None, reason=why, assumed=tuple(assumed)))
    est = res.best
    free = search_train(job, m, SpaceOptions(), params=params, top_k=1).best if search_best else None
    layout = est.layout

    def evaluate(eff: Efficiency, stack: Mapping[str, float] | None = None) -> float:
        p = with_stack_values(params, stack)
        return _train_metric(metric[0], estimate_train(job, layout, _with_chip_eff(m, eff), p))

    result = CaseResult(
        **base,
        predicted=_train_metric(metric[0], est),
        reason="; ".join(assumed) or None,
        layout=est.layout.describe() + f" on {ran_on(m)}",
        step_time_s=est.step_time_s,
        best_layout=free.layout.describe() if free else None,
        best_step_time_s=free.step_time_s if free else None,
        assumed=tuple(assumed),
    )
    if fm.compute in ("bf16", "fp16") and job.lora_rank is None:  # the published-MFU reference
        result = replace(
            result,
            mfu=float(est.mfu),
            chips=count,
            model_params=float(model.params()),
            shares=step_shares(est.time_s, est.step_time_s),
        )
    return Prediction(result, evaluate)


def step_shares(time_s: dict[str, float], step_s: float) -> tuple[tuple[str, float], ...]:
    """A step's terms (``TrainEstimate.time_s``, seconds on the critical path) as shares of the
    step ``step_s``, in the model's term order, the terms that take no time left out."""
    return tuple((k, time_s[k] / step_s) for k in TIME_PARTS if time_s.get(k, 0.0) > 0 and step_s > 0)


def _case_where(path: Path, text: str, case_id: Any) -> str:
    """``file:line`` of a case's ``id`` (the file alone when it cannot be found)."""
    m = re.search(rf"\bid:\s*['\"]?{re.escape(str(case_id))}['\"]?\s*[,}}\n]", text)
    return f"{path}:{text[: m.start()].count(chr(10)) + 1}" if m else str(path)


def _case_problem(c: dict[str, Any]) -> str | None:
    """Why a case cannot be predicted before reading it further (None: it can be tried)."""
    for key in ("id", "task", "hardware", "model"):
        if key not in c:
            return f"the case has no '{key}'"
    if c["task"] not in ("train", "infer"):
        return f"task must be train or infer, got {c['task']!r}"
    hw = c["hardware"]
    if not isinstance(c["model"], dict) or not isinstance(hw, dict):
        return "model and hardware must be mappings"
    n = hw.get("count")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHIPS:
        return f"hardware.count must be a whole number of chips in 1..{MAX_CHIPS:,}, got {n!r}"
    if not isinstance(hw.get("chip_key"), str):
        return "hardware.chip_key must be a string"
    for k, v in (c.get("measured") or {}).items():
        if isinstance(v, int | float) and not isinstance(v, bool) and not (0 < v < 1e15):
            return f"measured.{k} must be a positive finite number, got {v!r}"
    policy, reserve = stated_kv_reserve(c)
    if policy and reserve is None:
        return (
            "inference_setup.capacity_scheduler must name max_util (MAX_UTILIZATION) or "
            f"no_evict (GUARANTEED_NO_EVICT), got {policy[:60]!r}"
        )
    return None


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of one case file, each with ``_where`` (file:line). A file that is not a case
    file at all is a :class:`DataError`; a case that cannot be read gets ``_problem`` instead and
    is reported unpredicted, so one bad case never costs the others."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise DataError("expected a YAML list of cases", SCHEMA_HINT, str(path))
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    out = []
    for i, c in enumerate(data):
        c = dict(c)
        c.setdefault("id", f"{path.name}#{i + 1}")
        c.setdefault("task", "?")
        c["_where"] = _case_where(path, text, c["id"])
        problem = _case_problem(c)
        if problem:
            c["_problem"] = f"{c['_where']}: {problem}"
        out.append(c)
    return out


# (measured key, metric name) in the schema's order of preference
_INFER_METRICS = (
    ("output_tokens_per_s", "output_tokens_per_s"),
    ("tpot_ms", "tpot_ms"),
    ("itl_ms", "tpot_ms"),
    ("ttft_ms", "ttft_ms"),
    ("prefill_tokens_per_s", "prefill_tokens_per_s"),
    ("sequences_per_s", "sequences_per_s"),
    ("e2e_latency_s", "e2e_latency_s"),
)


def infer_metric(c: dict[str, Any]) -> tuple[str, float] | None:
    """The schema's rule for inference: output tokens/s, else TPOT (or ITL), TTFT, prefill
    tokens/s, sequences/s (encoders), end-to-end latency."""
    m = c.get("measured") or {}
    for key, name in _INFER_METRICS:
        v = _num(m.get(key))
        if v:
            return name, v
    return None


def _derived(c: dict[str, Any], words: str) -> float | None:
    """A ``derived`` entry whose field mentions ``words``."""
    for d in c.get("derived") or []:
        if isinstance(d, dict) and words in str(d.get("field", "")).lower():
            return _num(d.get("value"))
    return None


def _lengths(c: dict[str, Any], metric: str, assumed: list[str]) -> tuple[int, int] | str:
    """(input, output) tokens of the case's requests, or what is missing. Decode-only (input 0)
    and prefill-only (output 0) benchmarks are priced with one token on the empty side."""
    setup = c.get("inference_setup") or {}
    inp, out = _num(setup.get("input_len")), _num(setup.get("output_len"))
    prefill_like = metric in ("prefill_tokens_per_s", "sequences_per_s", "ttft_ms")
    if out is None and not prefill_like:
        out = _derived(c, "mean output tokens")
        if out is not None:
            assumed.append(f"output length: the mean output per sample the case derives ({out:.0f} tokens)")
    ds = dataset_lengths(c)  # the MLPerf dataset's published lengths (data/validation/mlperf_datasets.toml)
    if ds is not None:
        if inp is None and ds.input_mean is not None:
            inp = ds.input_mean
            assumed.append(f"mean input length not stated: {inp:.0f} tokens assumed (MLPerf {ds.benchmark})")
        if out is None and not prefill_like and ds.output_mean is not None:
            out = ds.output_mean
            assumed.append(f"mean output length not stated: {out:.0f} tokens assumed")
    if inp is None:
        unpublished = f"; the MLPerf {ds.benchmark} sources give no mean input length" if ds else ""
        return "the case states no input length (inference_setup.input_len)" + unpublished
    if inp == 0:
        assumed.append("decode from an empty context, priced with a 1-token prompt")
    if not out and not prefill_like:
        return "the case states no output length (inference_setup.output_len)"
    return max(int(inp), 1), max(int(out or 1), 1)


def _serve_formats(fm: Formats, chip: Chip, assumed: list[str]) -> tuple[str, ...]:
    if not fm.stated:
        assumed.append("weight format not stated: the best of bf16/fp8/fp4 the chip runs")
        return tuple(f for f in ("bf16", "fp8", "fp4") if f == "bf16" or chip.supports(f))
    if fm.weights in ("fp8", "fp4") and not chip.supports("fp8"):
        assumed.append(f"{fm.weights} weights on a chip without fp8: 16-bit assumed")
        return ("bf16",)
    return (fm.weights,)


def _infer_value(metric: str, tps: float, tpot: float, ttft: float, e2e: float, inp: int) -> float:
    return {
        "output_tokens_per_s": tps,
        "tpot_ms": tpot * 1e3,
        "ttft_ms": ttft * 1e3,
        "e2e_latency_s": e2e,
        "prefill_tokens_per_s": tps * inp,  # one output token per request: requests/s × prompt
        "sequences_per_s": tps,
    }[metric]


def predict_infer_case(c: dict[str, Any], cat: Catalog) -> Prediction:
    metric = infer_metric(c)
    base = _base(c, "infer", metric, cat)
    if metric is None:
        return _unmeasured(base)
    assumed: list[str] = []
    setup = c.get("inference_setup") or {}
    m, chip, count = _case_machine(c, cat, assumed)
    lengths = _lengths(c, metric[0], assumed)
    if isinstance(lengths, str):
        return Prediction(CaseResult(**base, predicted=None, reason=lengths))
    inp, out = lengths
    prefill_only = metric[0] in ("prefill_tokens_per_s", "sequences_per_s")
    if prefill_only:
        out = 1
    fm = parse_formats(c.get("precision"))
    formats = _serve_formats(fm, chip, assumed)
    if not fm.stated and str((c.get("model") or {}).get("kind")) == "encoder" and chip.supports("int8"):
        formats = ("int8", *formats)  # encoder engines (TensorRT, OpenVINO) run int8 where the chip has it
    params, stack = case_params(c, chip)
    steps = _num(setup.get("scheduler_steps"))
    if steps and steps > 1:  # vLLM multi-step scheduling (the harness config's num_scheduler_steps)
        params = replace(params, scheduler_steps=float(steps))
    budget = _num(setup.get("max_num_batched_tokens"))
    if budget:  # the engine's token budget per step (harness max_num_batched_tokens / max_num_tokens)
        params = replace(params, max_num_batched_tokens=float(budget))
    if setup.get("chunked_prefill") is False:  # prefill-first steps (vLLM V0 without chunked prefill)
        params = replace(params, chunked_prefill=0.0)
    job = ServeJob(
        case_model(c, assumed),
        inp,
        out,
        formats[0],
        fm.kv if chip.supports("fp8") else "bf16",
        fm.weight_bits,
    )
    fixed: dict[str, int] = {}
    par = c.get("parallel") or {}
    tp, pp = _num(par.get("tp")), _num(par.get("pp"))
    if tp:
        fixed["tp"] = int(tp) if tp <= count else count  # Neuron TP counts cores: all chips
    if pp and pp * fixed.get("tp", 1) <= count:
        fixed["pp"] = int(pp)
    elif tp:  # a source that states TP states a pipeline it runs: none (replicas of the TP group)
        fixed["pp"] = 1
    cap = _num(setup.get("max_batch_per_instance"))
    if cap:  # the engine's largest batch (MLPerf harness configs), per rank or micro-batch (NVIDIA/
        # TensorRT-LLM@01c4ece docs/source/blogs/Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM.md)
        fixed["max_batch"] = engine_capacity(int(cap), fixed, params)
    batch, conc = _num(setup.get("batch")), _num(setup.get("concurrency"))
    mode = "continuous"
    if batch:
        fixed["batch"] = int(batch)
        mode = "static" if conc is None else "continuous"
    elif conc:
        fixed["batch"] = int(conc)
    if prefill_only:
        mode = "static"  # a batch of prompts, one forward pass
    if (batch or conc) and "tp" not in fixed:
        fixed["tp"] = count  # one model instance across the chips (latency runs)
    ttft_s = tpot_s = None
    lim = None if prefill_only or mode != "continuous" else latency_limit(c)
    if lim is not None:  # MLPerf Server / Interactive: the batch is the largest within the limits
        ttft_s, tpot_s = lim.ttft_s, lim.tpot_s
        assumed.append(
            f"MLPerf {lim.benchmark} {lim.scenario}: p{lim.percentile:g} TPOT <= {lim.tpot_s * 1e3:g} ms "
            f"and p{lim.percentile:g} TTFT <= {lim.ttft_s:g} s under Poisson arrivals (the prefill a "
            "request shares its steps with; the step in flight and the prompts that arrive with it, "
            "perf/serve_tail.py)"
        )
    pct = lim.percentile if lim is not None else None
    res = search_serve(job, m, formats, mode, ttft_s, tpot_s, fixed=fixed, params=params, percentile=pct)
    base.update(
        stack=stack.id if stack else None,
        stack_era=case_era(c, stack, chip),
        param=_infer_param(metric[0], job, chip),
    )
    if res.best is None:
        return Prediction(
            CaseResult(**base, predicted=None, reason=f"no serving configuration fits: {res.reasons}")
        )
    b = res.best
    j = replace(job, weights=b.weights, kv=b.kv)
    cfg = ServeConfig.one(b.tp, b.pp, b.ep, b.batch)

    if j.model.is_encoder:  # one bidirectional pass per sequence (perf/encoder.py)
        from xpuplan.perf.encoder import encoder_sequences_per_s
        from xpuplan.search.encoder_search import search_encoder
        from xpuplan.workload.job import EncoderJob

        ej = EncoderJob(j.model, inp, str((res.extra.get("encoder") or {}).get("weights", "bf16")))
        emode = "static" if mode == "static" else "dynamic"
        target = _latency_target(c)
        if target is not None:  # served requests (MLPerf Server): dynamic batching under the bound
            emode = "dynamic"
            assumed.append(f"dynamic batching under the stated {target * 1e3:.0f} ms latency bound")
        mean = _unpadded_mean(setup, inp, assumed)
        if mean is not None:  # the engine drops the padding: price the real tokens
            ej = replace(ej, mean_len=mean)
        if mean is not None or target is not None:  # search again with what the case states
            eres = search_encoder(ej, m, (ej.weights,), emode, target, None, fixed, params)
            if eres.best is None:
                return Prediction(
                    CaseResult(
                        **base, predicted=None, reason=f"no encoder configuration fits: {eres.reasons}"
                    )
                )
            b = replace(b, batch=eres.best.batch, output_tokens_per_s=eres.best.sequences_per_s)

        def evaluate_encoder(eff: Efficiency, stack: Mapping[str, float] | None = None) -> float:
            p = with_stack_values(params, stack)
            return encoder_sequences_per_s(ej, _with_chip_eff(m, eff), b.batch, p, emode)

        result = CaseResult(
            **base,
            predicted=float(b.output_tokens_per_s),
            layout=f"x{b.replicas} batch {b.batch} {b.weights} encoder on {m.system.id}",
            reason="; ".join(assumed) or None,
            assumed=tuple(assumed),
        )
        return Prediction(result, evaluate_encoder)

    segs = _finite_run(c, mode, metric[0], out, b.batch, b.replicas, assumed)

    def evaluate(eff: Efficiency, stack: Mapping[str, float] | None = None) -> float:
        me = _with_chip_eff(m, eff)
        p = with_stack_values(params, stack)
        r = evaluate_serve(j, cfg, me, p, mode)
        tps = float(r.output_tokens_per_s[0]) * b.replicas
        if segs is not None:  # a finite run: its tokens over its time, the drain included
            tps = segs.tokens / run_time(j, cfg, me, p, segs) * b.replicas
        return _infer_value(metric[0], tps, float(r.tpot[0]), float(r.ttft[0]), float(r.e2e[0]), inp)

    pred = _infer_value(metric[0], b.output_tokens_per_s, b.tpot_s, b.ttft_s, b.e2e_s, inp)
    if segs is not None:
        pred = evaluate(chip.efficiency)
    layout = f"TP{b.tp} PP{b.pp} x{b.replicas} batch {b.batch} {b.weights} {mode}"
    result = CaseResult(
        **base,
        predicted=float(pred),
        layout=layout + f" on {ran_on(m)}",
        reason="; ".join(assumed) or None,
        assumed=tuple(assumed),
    )
    return Prediction(result, evaluate)


def engine_capacity(cap: int, fixed: dict[str, int], params: PerfParams) -> int:
    """Sequences in flight an engine whose stated largest batch is ``cap`` admits: per attention-DP
    rank under attention DP (TensorRT-LLM trtllm-bench '--max_batch_size: Max batch size in each
    rank'), and per pipeline micro-batch where the stack says so (``params.batch_per_microbatch``:
    TensorRT-LLM admits max_batch_size x PP), for the case's stated TP and PP."""
    n = cap * (fixed.get("tp", 1) if params.attention_dp else 1)
    return n * (fixed.get("pp", 1) if params.batch_per_microbatch else 1)


def _finite_run(
    c: dict[str, Any], mode: str, metric: str, out: int, batch: int, replicas: int, assumed: list[str]
) -> RunSegments | None:
    """The schedule of an offline run of a stated number of requests (``inference_setup.
    num_requests``: trtllm-bench's requests, MLPerf Offline's ``generated_samples_per_query``)
    whose output lengths are known: all equal (``fixed_lengths``), or the MLPerf dataset's
    percentiles scaled to the mean output the case is priced at. None (the steady state) otherwise,
    and for latency or served-request metrics."""
    setup = c.get("inference_setup") or {}
    n = _num(setup.get("num_requests"))
    if mode != "continuous" or metric != "output_tokens_per_s" or not n or latency_limit(c) is not None:
        return None
    per = math.ceil(n / max(replicas, 1))
    if setup.get("fixed_lengths") is True:
        lengths, how = np.full(per, float(out)), f"all {out} tokens"
    else:
        ds = dataset_lengths(c)
        if ds is None or not ds.output_percentiles:
            return None
        shape = quantile_lengths(np.array(ds.output_percentiles), per)
        lengths = np.round(shape * out / max(float(shape.mean()), 1.0))  # schedule() floors at 1
        how = f"the MLPerf {ds.benchmark} dataset's output-length percentiles scaled to a mean of {out}"
    assumed.append(
        f"a finite run: {int(n):,} requests, {per:,} per replica through {batch} slots, first come first "
        f"served, output lengths {how}; the run's tokens over its time, the drain included (perf/serve_run.py)"
    )
    return schedule(batch, lengths)


def _latency_target(c: dict[str, Any]) -> float | None:
    """The latency bound, seconds, a served-requests case states (``inference_setup.latency_target_ms``,
    else 'target latency N ms' in ``measured.latency_stat``); None when it states none."""
    setup, meas = c.get("inference_setup") or {}, c.get("measured") or {}
    ms = _num(setup.get("latency_target_ms"))
    if ms is None:
        hit = re.search(
            r"(?:target latency|latency target|latency bound)\s*(?:of\s*)?([0-9.]+)\s*ms",
            str(meas.get("latency_stat") or "").lower(),
        )
        ms = float(hit.group(1)) if hit else None
    return ms / 1e3 if ms and ms > 0 else None


def _unpadded_mean(setup: dict[str, Any], inp: int, assumed: list[str]) -> float | None:
    """The mean real tokens per sequence where the case says the engine drops the padding
    (``inference_setup.padding: unpadded`` with ``mean_input_len``), else None (padded)."""
    if "unpadded" not in str(setup.get("padding") or "").lower():
        return None
    mean = _num(setup.get("mean_input_len"))
    if mean is None or not 1 <= mean <= inp:
        return None
    assumed.append(f"padding dropped: {mean:.0f} real tokens per sequence of {inp}")
    return float(mean)


def _infer_param(metric: str, job: ServeJob, chip: Chip) -> str:
    """Which efficiency an inference case informs: an encoder's the GEMM fraction of its format
    (the low-precision fraction when it runs in int8 or fp8); a decoder's prefill-bound metrics the serving
    engine's GEMM fraction (``matmul_serve``); decode metrics the memory-bandwidth fraction, until
    the fit finds the case compute-bound (``validation.fit.binding_param``)."""
    if metric in ("prefill_tokens_per_s", "sequences_per_s", "ttft_ms"):
        if not job.model.is_encoder:
            return "matmul_serve"
        # the encoder prices int8 and fp8 GEMMs at the low-precision fraction (perf/encoder.py)
        low = job.weights in ("int8", "fp8", "fp4") and chip.efficiency.matmul_fp8 is not None
        return "matmul_fp8" if low else "matmul"
    return "memory"


# ---- a suite ------------------------------------------------------------------------------------


def predict_case(c: dict[str, Any], cat: Catalog, search_best: bool = False) -> Prediction:
    """One case, never raising: an unreadable case comes back unpredicted with why."""
    if c.get("_problem"):
        return Prediction(_unpredicted(c, c["_problem"]))
    try:
        if c["task"] == "train":
            return predict_train_case(c, cat, search_best)
        return predict_infer_case(c, cat)
    except (KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError, AttributeError) as e:
        what = f"no '{e.args[0]}'" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        return Prediction(_unpredicted(c, f"{c.get('_where', '')}: the case could not be read ({what})"))
    except XpuplanError as e:
        return Prediction(_unpredicted(c, e.one_line()))


def load_suite(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    """Every case of the given case files (default: the built-in suite); ids must be unique."""
    cases: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in paths or suite_paths():
        for c in load_cases(path):
            cid = str(c["id"])
            if cid in seen:
                raise DataError(
                    f"case id '{cid}' also in {seen[cid]}", "Give every case a unique id", c["_where"]
                )
            seen[cid] = c["_where"]
            cases.append(c)
    return cases


def predict_suite(
    paths: list[Path] | None = None, catalog: Catalog | None = None, search_best: bool = False
) -> list[Prediction]:
    cat = catalog or default_catalog()
    return [predict_case(c, cat, search_best) for c in load_suite(paths)]


def validate(
    path: Path | list[Path] | None = None, catalog: Catalog | None = None, search_best: bool = True
) -> list[CaseResult]:
    """Predict every case of a case file (or files; default: the built-in suite). ``search_best``:
    also search each training case's best layout without the stated degrees (the slow part)."""
    paths = [path] if isinstance(path, Path | str) else path
    return [
        p.result for p in predict_suite([Path(x) for x in paths] if paths else None, catalog, search_best)
    ]


def _unpredicted(c: dict[str, Any], reason: str) -> CaseResult:
    hw = c["hardware"] if isinstance(c.get("hardware"), dict) else {}
    return CaseResult(
        str(c["id"]),
        str(c["task"]),
        str(c.get("vendor", "")),
        str(hw.get("chip_key", "")),
        None,
        None,
        None,
        reason=reason,
        source=source_key(c),
    )


def _stats(rs: list[CaseResult]) -> dict[str, Any]:
    errs = np.array([r.error for r in rs if r.error is not None])
    return {
        "n": len(rs),
        "predicted": int(errs.size),
        "median_error": float(np.median(errs)) if errs.size else None,
        "p90_error": float(np.percentile(errs, 90)) if errs.size else None,
    }


def summarise(results: list[CaseResult]) -> dict[str, Any]:
    """Median and 90th-percentile error per task, and per vendor, per chip and per workload class
    (:data:`CLASSES`), per task."""
    out: dict[str, Any] = {}
    for task in ("train", "infer"):
        out[task] = _stats([r for r in results if r.task == task])
    for group, key in (("by_vendor", "vendor"), ("by_chip", "chip")):
        by: dict[str, Any] = {}
        for task in ("train", "infer"):
            for v in sorted({getattr(r, key) for r in results if r.task == task}):
                by.setdefault(v, {})[task] = _stats(
                    [r for r in results if r.task == task and getattr(r, key) == v]
                )
        out[group] = by
    by_class: dict[str, Any] = {}
    for k in CLASSES:
        for task in ("train", "infer"):
            mine = [r for r in results if r.task == task and k in r.classes]
            if mine:
                by_class.setdefault(k, {})[task] = _stats(mine)
    out["by_class"] = by_class
    out["chips_with_cases"] = len({r.chip for r in results if r.predicted is not None})
    return out

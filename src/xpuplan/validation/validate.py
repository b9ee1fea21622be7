"""Predict published, measured runs and report the error (schema: ../shared/validation/README.md).

Each case states its model shape, chip, chip count and (part of) its layout. The prediction uses
the stated layout and chooses the rest with the layout search, constrained to what was stated. The
measured metric is picked by the README's rule: tokens/s per chip (from whichever field gives it),
else MFU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from xpuplan.datafiles import read_yaml
from xpuplan.errors import DataError, XpuplanError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.layout.layout import Layout, Reason, Recompute
from xpuplan.perf.estimate import estimate_train, machine
from xpuplan.perf.machine import MAX_CHIPS, Machine
from xpuplan.perf.params import PerfParams, default_params
from xpuplan.search.serve_search import search_serve
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.workload.job import ServeJob, TrainJob
from xpuplan.workload.library import model_from_dict, model_library
from xpuplan.workload.model import Model


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

    @property
    def error(self) -> float | None:
        if self.predicted is None or not self.measured:
            return None
        return abs(self.predicted - self.measured) / self.measured

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "task": self.task,
            "vendor": self.vendor,
            "chip": self.chip,
            "metric": self.metric,
            "predicted": self.predicted,
            "measured": self.measured,
            "error": self.error,
            "layout": self.layout,
            "step_time_s": self.step_time_s,
            "search_best_layout": self.best_layout,
            "search_best_step_time_s": self.best_step_time_s,
        }
        if self.reason:
            d["reason"] = self.reason
        return d


# ---- reading a case ---------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, int | float):
        return float(x)
    m = re.match(r"^\s*([0-9.]+)", str(x))
    return float(m.group(1)) if m else None


def case_model(c: dict[str, Any]) -> Model:
    """The case's model: the library model with the same shape when there is one (it carries
    details such as MLA and tied embeddings), else one built from the case's fields."""
    mm = c["model"]
    for m in model_library().values():
        same = (m.layers, m.hidden, m.heads) == (
            mm.get("layers"),
            mm.get("hidden"),
            mm.get("heads"),
        )
        if same and mm.get("vocab") in (None, m.vocab) and mm.get("ffn") in (None, m.ffn):
            return m
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
        "vocab": mm["vocab"],
        "max_seq_len": mm.get("seq_len") or 2048,
    }
    if mm.get("head_dim"):
        d["head_dim"] = mm["head_dim"]
    if ffn_type in ("gelu_mlp", "relu_mlp"):
        d.update(linear_bias=True, norm="layernorm", position="learned", tied_embeddings=True)
    moe = mm.get("moe")
    if moe:
        d["moe"] = {
            "experts": moe["experts"],
            "top_k": moe["top_k"],
            "expert_ffn": moe["expert_ffn"],
            "shared_experts": moe.get("shared_experts") or 0,
            "dense_layers": moe.get("first_dense_layers") or 0,
            "dense_ffn": mm["ffn"],
        }
    return model_from_dict(d, c["id"])


def _precision(text: str | None) -> str:
    t = (text or "").lower()
    if "fp8" in t:
        return "fp8"
    if "int8" in t:
        return "int8"
    if "fp16" in t and "bf16" not in t:
        return "fp16"
    return "bf16"


def _recompute(text: Any) -> int | None:
    t = str(text or "").lower()
    if not t or (t == "none" and text is None):
        return None
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
    rc = _recompute(p.get("recompute"))
    if rc is None and "no activation checkpointing" in other.lower():
        rc = int(Recompute.NONE)
    soft = (str(c.get("software") or "") + " " + other).lower()
    if fixed.get("zero") == 3 and ("without weight resharding" in soft or "no reshard" in soft):
        fixed["zero"] = 2  # FSDP that keeps the gathered weights: ZeRO-2 (Llama 3 paper §3.3.2)
    if rc is not None:
        fixed["recompute"] = rc
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
    """Pick the catalog system that matches the case's node text, if one does."""
    node = (str(c["hardware"].get("node") or "") + " " + str(c["hardware"].get("interconnect") or "")).lower()
    for s in cat.systems_for_chip(chip_id):
        names = [s.id, *s.aliases]
        for a in names:
            key = a.lower().replace("aws-", "").replace("gcp-", "")
            if len(key) > 3 and key in node:
                return s.id
    if "dgx" in node:
        for s in cat.systems_for_chip(chip_id):
            if "dgx" in s.id:
                return s.id
    return None


def _base(c: dict[str, Any], task: str, metric: tuple[str, float] | None) -> dict[str, Any]:
    """The fields every result of case ``c`` shares."""
    return dict(
        id=c["id"],
        task=task,
        vendor=c.get("vendor", ""),
        chip=c["hardware"]["chip_key"],
        metric=metric[0] if metric else None,
        measured=metric[1] if metric else None,
    )


def predict_train_case(c: dict[str, Any], cat: Catalog, search_best: bool = True) -> CaseResult:
    """Predict one training case with its stated layout; with ``search_best`` also search the full
    space on the same job and machine and report the best layout found beside it."""
    hw = c["hardware"]
    metric = measured_metric(c)
    base = _base(c, "train", metric)
    if metric is None:
        return CaseResult(**base, predicted=None, reason="the case states no comparable measured metric")
    model = case_model(c)
    count = int(hw["count"])
    p = c.get("parallel") or {}
    gb = _num(p.get("global_batch_seqs"))
    seq = int(c["model"].get("seq_len") or 2048)
    if gb is None and _num(p.get("global_batch_tokens")):
        gb = float(p["global_batch_tokens"]) / seq
    if gb is None:
        return CaseResult(**base, predicted=None, reason="the case states no global batch")
    chip = cat.chip(hw["chip_key"])
    system = _system_for(c, cat, chip.id)
    m: Machine = machine(chip.id, count, cat, system=system)
    job = TrainJob(model, int(gb), seq, _precision(c.get("precision")))
    fixed = stated_layout(c, count)
    params = stack_params(c)
    res = search_train(job, m, SpaceOptions(fixed=fixed), params=params, top_k=1)
    note = None
    if res.best is None and res.reasons.get(Reason.MEMORY.text):
        # The run happened, so it fit: our memory model is the conservative one. Predict the time
        # of the stated layout anyway and say so.
        res = search_train(
            job, m, SpaceOptions(fixed=fixed), params=replace(params, ignore_memory=True), top_k=1
        )
        note = "the model predicts the stated layout does not fit in memory; time predicted regardless"
    if res.best is None:
        return CaseResult(
            **base,
            predicted=None,
            reason=f"no feasible layout with the stated degrees {fixed}: {res.why_none}",
        )
    est = res.best
    pred = est.tokens_per_s_per_chip if metric[0] == "tokens_per_s_per_chip" else est.mfu
    free = search_train(job, m, SpaceOptions(), params=params, top_k=1).best if search_best else None
    return CaseResult(
        **base,
        predicted=float(pred),
        reason=note,
        layout=est.layout.describe() + f" on {m.system.id}",
        step_time_s=est.step_time_s,
        best_layout=free.layout.describe() if free else None,
        best_step_time_s=free.step_time_s if free else None,
    )


def stack_params(c: dict[str, Any]) -> PerfParams:
    """Software-stack parameters a case implies: fused attention only from 2023 on (FlashAttention
    was published in May 2022 and reached Megatron-LM, NeMo and MaxText in 2023); gradients reduced
    in fp32 where the case says so."""
    date = str((c.get("source") or {}).get("date") or "")
    year = int(date[:4]) if date[:4].isdigit() else 2024
    prec = str(c.get("precision") or "").lower()
    grad_bytes = 4.0 if "fp32 gradient" in prec else default_params().grad_comm_bytes
    return replace(default_params(), flash_attention=year >= 2023, grad_comm_bytes=grad_bytes)


def _case_where(path: Path, case_id: Any) -> str:
    """``file:line`` of a case's ``id`` (the file alone when it cannot be found)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return str(path)
    m = re.search(rf"\bid:\s*['\"]?{re.escape(str(case_id))}['\"]?\s*[,}}\n]", text)
    return f"{path}:{text[: m.start()].count(chr(10)) + 1}" if m else str(path)


def load_cases(path: Path) -> list[dict[str, Any]]:
    data = read_yaml(path)
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise DataError("expected a YAML list of cases", "See ../shared/validation/README.md", str(path))
    hint = "See ../shared/validation/README.md for the schema"
    for i, c in enumerate(data):
        for key in ("id", "task", "hardware", "model"):
            if key not in c:
                raise DataError(
                    f"case {i + 1} has no '{key}'",
                    "Every case needs id, task, model, hardware",
                    str(path),
                )
        hw, where = c["hardware"], _case_where(path, c["id"])
        if c["task"] not in ("train", "infer"):
            raise DataError(f"case '{c['id']}': task must be train or infer, got {c['task']!r}", hint, where)
        if not isinstance(c["model"], dict) or not isinstance(hw, dict):
            raise DataError(f"case '{c['id']}': model and hardware must be mappings", hint, where)
        n = hw.get("count")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHIPS:
            raise DataError(
                f"case '{c['id']}': hardware.count must be a whole number of chips in 1..{MAX_CHIPS:,}, got {n!r}",
                hint,
                where,
            )
        if not isinstance(hw.get("chip_key"), str):
            raise DataError(f"case '{c['id']}': hardware.chip_key must be a string", hint, where)
    return data


def validate(path: Path, catalog: Catalog | None = None, search_best: bool = True) -> list[CaseResult]:
    """Predict every case of a case file (``search_best``: also search each training case's best
    layout without the stated degrees, for comparison; the slow part)."""
    cat = catalog or default_catalog()
    out: list[CaseResult] = []
    for c in load_cases(path):
        try:
            if c["task"] == "train":
                out.append(predict_train_case(c, cat, search_best))
            else:
                out.append(predict_infer_case(c, cat))
        except (KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError, AttributeError) as e:
            # one unreadable case must not cost the predictions of the others: it is reported
            # unpredicted, with where and why
            what = f"no '{e.args[0]}'" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
            out.append(_unpredicted(c, f"{_case_where(path, c['id'])}: the case could not be read ({what})"))
        except XpuplanError as e:
            out.append(_unpredicted(c, e.one_line()))
    return out


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
    )


# MLPerf Llama 2 70B (OpenOrca subset): the case files state outputs of ~292 tokens and inputs "up to
# 1,024"; the mean input length is not stated there. Assumed equal to the output length.
MLPERF_OPENORCA_INPUT = 300
MLPERF_OPENORCA_OUTPUT = 293


def infer_metric(c: dict[str, Any]) -> tuple[str, float] | None:
    """The README rule for inference: output tokens/s, else TPOT (or ITL), TTFT, end-to-end."""
    m = c.get("measured") or {}
    for key, name, scale in (
        ("output_tokens_per_s", "output_tokens_per_s", 1.0),
        ("tpot_ms", "tpot_ms", 1.0),
        ("itl_ms", "tpot_ms", 1.0),
        ("ttft_ms", "ttft_ms", 1.0),
        ("e2e_latency_s", "e2e_latency_s", 1.0),
    ):
        v = _num(m.get(key))
        if v:
            return name, v * scale
    return None


def predict_infer_case(c: dict[str, Any], cat: Catalog) -> CaseResult:
    hw = c["hardware"]
    metric = infer_metric(c)
    base = _base(c, "infer", metric)
    if metric is None:
        return CaseResult(**base, predicted=None, reason="the case states no comparable measured metric")
    setup = c.get("inference_setup") or {}
    count = int(hw["count"])
    chip = cat.chip(hw["chip_key"])
    m = machine(chip.id, count, cat, system=_system_for(c, cat, chip.id))
    scenario = str(setup.get("scenario") or "").lower()
    offline = "offline" in scenario and setup.get("batch") is None
    inp = int(
        _num(setup.get("input_len")) or (MLPERF_OPENORCA_INPUT if "mlperf" in str(setup).lower() else 0)
    )
    out = int(_num(setup.get("output_len")) or (MLPERF_OPENORCA_OUTPUT if inp else 0))
    if not inp or not out:
        return CaseResult(**base, predicted=None, reason="the case states no input/output lengths")
    prec = str(c.get("precision") or "").lower()
    if prec.startswith("not stated"):
        formats: tuple[str, ...] = tuple(f for f in ("bf16", "fp8", "fp4") if f == "bf16" or chip.supports(f))
    elif "fp8" in prec:
        formats = ("fp8",)
    else:  # fp16 / bf16 (or unparsed): 16-bit weights
        formats = ("bf16",)
    job = ServeJob(case_model(c), inp, out, formats[0], "bf16")
    fixed: dict[str, int] = {}
    tp = _num((c.get("parallel") or {}).get("tp"))
    if tp:
        fixed["tp"] = int(tp) if tp <= count else count  # Neuron TP counts cores: all chips
    batch = _num(setup.get("batch"))
    conc = _num(setup.get("concurrency"))
    if batch:
        fixed["batch"] = int(batch)
        mode = "static" if conc is None else "continuous"
    elif conc:
        fixed["batch"] = int(conc)
        mode = "continuous"
    else:
        mode = "continuous"  # offline: the search picks the batch for throughput
    if (batch or conc) and "tp" not in fixed:
        fixed["tp"] = count  # one model instance across the chips (latency runs)
    res = search_serve(job, m, formats, mode, fixed=fixed)
    if res.best is None:
        return CaseResult(**base, predicted=None, reason=f"no serving configuration fits: {res.reasons}")
    b = res.best
    pred = {
        "output_tokens_per_s": b.output_tokens_per_s,
        "tpot_ms": b.tpot_s * 1e3,
        "ttft_ms": b.ttft_s * 1e3,
        "e2e_latency_s": b.e2e_s,
    }[metric[0]]
    layout = f"TP{b.tp} PP{b.pp} x{b.replicas} batch {b.batch} {b.weights} {mode}" + (
        " (offline)" if offline else ""
    )
    return CaseResult(**base, predicted=float(pred), layout=layout + f" on {m.system.id}")


def summarise(results: list[CaseResult]) -> dict[str, Any]:
    """Median and 90th-percentile error per task and per vendor (per task)."""

    def stats(rs: list[CaseResult]) -> dict[str, Any]:
        errs = np.array([r.error for r in rs if r.error is not None])
        return {
            "n": len(rs),
            "predicted": int(errs.size),
            "median_error": float(np.median(errs)) if errs.size else None,
            "p90_error": float(np.percentile(errs, 90)) if errs.size else None,
        }

    out: dict[str, Any] = {}
    for task in ("train", "infer"):
        rs = [r for r in results if r.task == task]
        out[task] = stats(rs)
    by_vendor: dict[str, Any] = {}
    for task in ("train", "infer"):
        for v in sorted({r.vendor for r in results if r.task == task}):
            by_vendor.setdefault(v, {})[task] = stats(
                [r for r in results if r.task == task and r.vendor == v]
            )
    out["by_vendor"] = by_vendor
    return out


def estimate_for_layout(job: TrainJob, layout: Layout, m: Machine) -> float:
    return estimate_train(job, layout, m).step_time_s

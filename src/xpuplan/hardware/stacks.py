"""Software stacks as data (``data/stacks/*.toml``): what a stack does where a case or a user
leaves a choice unstated, and the model constants that belong to software rather than silicon.

A stack record names the substrings that identify it in a case's ``software`` text (``match``),
the chip vendors it is the default for (``default_for``, per task), the PerfParams it overrides
(``[params]``), its layout defaults (``[defaults]``: recompute, sp, zero) and the year fused
(Flash) attention reached it (``flash_attention_from``) and, per CPU chip, the share of its int8
matrix peak the stack's 4-bit block kernel can issue (``[cpu_kernels]``: the kernel's instruction
mix on that core; ``[cpu_kernels_repacked]``, ``_tail`` and ``_gemv``: its GEMM, the GEMM's
row-tail loop and its GEMV over weights repacked into an interleaved layout), its eras
(``[[eras]]``: builds before a dated change, or a mode a run's software states by a flag, fitted
under their own keys) and, per chip, the tensor-parallel ranks one chip hosts
(``[tp_ranks_per_chip]``: Neuron counts TP in NeuronCores). Every record has ``source`` and
``as_of``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.errors import DataError, InputError, UnknownNameError

PARAM_KEYS = (
    "tp_overlap",
    "dp_overlap",
    "ep_overlap",
    "grad_comm_bytes",
    "reserved_gib",
    "reserved_fraction",
    "moe_capacity_factor",
    "moe_gmm_tile",
    "moe_host_s",
    "attention_block",
    "logits_bytes",
    "vocab_tiles",
    "weight_bytes",
    "fsdp_gather_matrix",
    "zero3_flat_gather",
    "dcn_data_parallel",
    "dynamic_batch_seqs",
    "gqa_convert_to_mha",
    "decode_bucket",
    "max_num_batched_tokens",
    "chunked_prefill",
    "kv_reserve_full",
    "selective_saves_dots",
    "selective_recomputes_fc1",
    "remat_skips_layer_output",
    "quantised_inputs_saved",
    "batch_per_microbatch",
    "fp8_weight_store",
    "fp8_act_fn_store",
)
# parameters that count things (rows of a kernel tile), not fractions or bytes: a wider range
WIDE_KEYS = {
    "moe_gmm_tile": 8192.0,
    "attention_block": 8192.0,
    "vocab_tiles": 1024.0,
    "decode_bucket": 65536.0,
    "max_num_batched_tokens": 1e7,
}
DEFAULT_KEYS = ("recompute", "sp", "zero")
# parameters that are on or off (the model reads them as a condition, not a quantity)
SWITCH_KEYS = {
    "kv_reserve_full",
    "chunked_prefill",
    "selective_saves_dots",
    "selective_recomputes_fc1",
    "remat_skips_layer_output",
    "quantised_inputs_saved",
    "batch_per_microbatch",
    "fp8_weight_store",
    "fp8_act_fn_store",
}


@dataclass(frozen=True, slots=True)
class Era:
    """A span of a stack's history, or a mode a run states, whose fitted constants on one kind of
    chip are not today's defaults: runs dated before ``until`` (ISO date), or whose software
    states ``flag`` (e.g. ``--no-async-scheduling``), on ``category`` chips are fitted, and
    priced, under their own key (perf/params.py stack_fit_key), because the stack runs different
    code for the fitted term on that back end (``source`` says how)."""

    category: str
    until: str  # "" for a mode chosen by flag
    label: str
    source: str
    flag: str = ""  # lower-case text the run's software states; "" for a dated era


@dataclass(frozen=True, slots=True)
class Stack:
    id: str
    name: str
    task: str  # train | serve
    match: tuple[str, ...]
    default_for: tuple[str, ...]
    params: dict[str, float]
    defaults: dict[str, Any]
    flash_attention_from: int | None
    source: str
    as_of: str
    cpu_kernels: dict[str, float] = field(default_factory=dict)  # chip id -> share of its int8 peak
    # the same for the stack's kernels over weights repacked into an interleaved layout (llama.cpp's
    # Q4_0_4_8 / Q4_0_8_8 GEMMs, which it repacks Q4_0 into at load on i8mm CPUs today)
    cpu_kernels_repacked: dict[str, float] = field(default_factory=dict)
    # and of its GEMV over those weights (token rows the GEMM leaves: a decode step's one)
    cpu_kernels_repacked_gemv: dict[str, float] = field(default_factory=dict)
    # and of its GEMM's row-tail loop (the rows past the last whole block of 16, four at a time)
    cpu_kernels_repacked_tail: dict[str, float] = field(default_factory=dict)
    tp_ranks: dict[str, float] = field(default_factory=dict)  # chip id -> TP ranks on one chip
    eras: tuple[Era, ...] = ()

    def era(self, category: str, date: str | None, software: str | None = None) -> str:
        """The label of the era a run of ``date`` whose software reads ``software`` on a
        ``category`` chip falls in; "" for today's defaults (no date and no flag: a plan for now).
        A mode whose flag the software states wins; else the date's leading ``YYYY-MM`` or
        ``YYYY-MM-DD`` is read (a month alone counts from its first day; a date without one, a
        year or a version string, falls in no era) and the first era whose end is after it wins."""
        text = (software or "").lower()
        for e in self.eras:
            if e.flag and e.category == category and e.flag in text:
                return e.label
        m = re.match(r"\s*(\d{4}-\d{2}(?:-\d{2})?)", date or "")
        if m is None:
            return ""
        day = m.group(1) if len(m.group(1)) == 10 else m.group(1) + "-01"
        for e in sorted((e for e in self.eras if not e.flag), key=lambda e: e.until):
            if e.category == category and day < e.until:
                return e.label
        return ""

    def is_mode(self, label: str) -> bool:
        """Whether ``label`` names a mode a run states (an era chosen by a flag), not a dated era."""
        return any(e.label == label and e.flag for e in self.eras)

    def matches(self, text: str) -> int:
        """Length of the longest ``match`` substring found in ``text`` (0: none)."""
        t = text.lower()
        return max((len(m) for m in self.match if m in t), default=0)


def parse_stack(d: dict[str, Any], path: Path) -> Stack:
    for key in ("id", "name", "task", "source", "as_of"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise DataError(f"missing required key '{key}'", f"Add '{key} = ...' to the record", str(path))
    if d["task"] not in ("train", "serve"):
        raise DataError(f"task must be train or serve, got {d['task']!r}", "Fix the value", str(path))
    params = dict(d.get("params") or {})
    for k, v in params.items():
        if k not in PARAM_KEYS:
            raise DataError(
                f"unknown stack parameter '{k}'", "Use one of " + ", ".join(PARAM_KEYS), str(path)
            )
        top = WIDE_KEYS.get(k, 64.0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= top:
            raise DataError(
                f"stack parameter '{k}' must be a number in [0, {top:g}]", "Fix the value", str(path)
            )
        if k in SWITCH_KEYS and v not in (0, 1):
            raise DataError(f"stack parameter '{k}' is a switch: 0 or 1, got {v}", "Fix the value", str(path))
    defaults = dict(d.get("defaults") or {})
    for k in defaults:
        if k not in DEFAULT_KEYS:
            raise DataError(
                f"unknown stack default '{k}'", "Use one of " + ", ".join(DEFAULT_KEYS), str(path)
            )
    kernels = _kernel_shares(d, "cpu_kernels", path)
    repacked = _kernel_shares(d, "cpu_kernels_repacked", path)
    repacked_gemv = _kernel_shares(d, "cpu_kernels_repacked_gemv", path)
    repacked_tail = _kernel_shares(d, "cpu_kernels_repacked_tail", path)
    ranks = dict(d.get("tp_ranks_per_chip") or {})
    for k, v in ranks.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
            raise DataError(
                f"tp_ranks_per_chip '{k}' must be a whole number of ranks in [1, 64]",
                "Fix the value",
                str(path),
            )
    eras = [_era(e, path) for e in d.get("eras") or []]
    flash = d.get("flash_attention_from")
    return Stack(
        id=d["id"],
        name=d["name"],
        task=d["task"],
        match=tuple(str(m).lower() for m in d.get("match") or ()),
        default_for=tuple(str(v).lower() for v in d.get("default_for") or ()),
        params={k: float(v) for k, v in params.items()},
        defaults=defaults,
        flash_attention_from=int(flash) if flash is not None else None,
        source=d["source"],
        as_of=str(d["as_of"]),
        cpu_kernels=kernels,
        cpu_kernels_repacked=repacked,
        cpu_kernels_repacked_gemv=repacked_gemv,
        cpu_kernels_repacked_tail=repacked_tail,
        tp_ranks={str(k): float(v) for k, v in ranks.items()},
        eras=tuple(eras),
    )


def _kernel_shares(d: dict[str, Any], table: str, path: Path) -> dict[str, float]:
    out = {}
    for k, v in dict(d.get(table) or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
            raise DataError(
                f"{table} '{k}' must be a share of the int8 peak in (0, 1]", "Fix the value", str(path)
            )
        out[str(k)] = float(v)
    return out


def _era(e: Any, path: Path) -> Era:
    if not isinstance(e, dict) or not all(
        isinstance(e.get(k), str) and e[k] for k in ("category", "label", "source")
    ):
        raise DataError(
            "each [[eras]] needs category, label, source and until (or flag)", "Fix the table", str(path)
        )
    if not isinstance(e.get("flag", ""), str):
        raise DataError(
            f"[[eras]] {e['label']!r} flag must be text", 'e.g. flag = "--no-async-scheduling"', str(path)
        )
    flag = str(e.get("flag") or "").lower()
    until = str(e.get("until") or "")
    if flag and until:
        raise DataError(
            f"[[eras]] {e['label']!r} has both until and flag", "Keep one: a date or a stated flag", str(path)
        )
    if not flag and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", until):
        raise DataError(
            f"[[eras]] until must be an ISO date, got {until!r}", 'e.g. until = "2024-09-23"', str(path)
        )
    if not re.fullmatch(r"[a-z0-9-]+", e["label"]):
        raise DataError(
            f"[[eras]] label {e['label']!r} must be lower-case words and dashes", "Fix it", str(path)
        )
    return Era(e["category"].lower(), until, e["label"], e["source"], flag)


@lru_cache(maxsize=1)
def stacks() -> dict[str, Stack]:
    out: dict[str, Stack] = {}
    for path in sorted((data_dir() / "stacks").glob("*.toml")):
        s = parse_stack(read_toml(path), path)
        if s.id in out:
            raise DataError(f"duplicate stack id '{s.id}'", "Ids must be unique", str(path))
        out[s.id] = s
    return out


def get_stack(name: str) -> Stack:
    all_ = stacks()
    key = name.strip().lower()
    if key not in all_:
        raise UnknownNameError("software stack", name, all_.keys())
    return all_[key]


def named_stack(name: str, task: str, where: str | None = None) -> Stack:
    """The ``task`` (train | serve) stack a user names, checked: an unknown name, or a stack of
    the other task, is an error (the name would otherwise fall back to the chip's default without
    a word). The one check the API (``--stack``) and scenario files (``stack =``) use."""
    key = name.strip().lower()
    words = {"train": "training", "serve": "serving"}
    ok = sorted(k for k, v in stacks().items() if v.task == task)
    if key not in stacks():
        e = UnknownNameError("software stack", name, stacks().keys(), where=where)
        if not e.suggestions:  # no close name: list the task's stacks
            e.hint = f"Use a {words.get(task, task)} stack: " + ", ".join(ok)
        raise e
    stack = stacks()[key]
    if stack.task != task:
        raise InputError(
            f"'{stack.id}' is a {words[stack.task]} stack",
            f"Use a {words[task]} stack: " + ", ".join(ok),
            where=where,
        )
    return stack


def stack_for(software: str | None, task: str, vendor: str, category: str = "") -> Stack | None:
    """The stack a case's ``software`` text names (longest match wins), else the default for the
    chip's category (e.g. ``cpu``: an AWS Graviton runs llama.cpp, not AWS's Neuron stack), else
    for its vendor, for the task; None if neither."""
    task = "serve" if task in ("infer", "serve") else "train"
    cands = [s for s in stacks().values() if s.task == task]
    text = software or ""
    best = max(cands, key=lambda s: (s.matches(text), -len(s.id)), default=None)
    if best is not None and best.matches(text):
        return best
    for key in (category.lower(), vendor.lower()):
        for s in sorted(cands, key=lambda s: s.id):
            if key and key in s.default_for:
                return s
    return None

"""The public functions a notebook (or the CLI) calls: names in, results out.

They resolve ids and aliases through the catalog and the model library, build the job and the
machine, and call the estimate or the search. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from xpuplan.errors import InputError
from xpuplan.layout.layout import LAYOUT_FIELDS, Layout, Recompute
from xpuplan.perf.estimate import TrainEstimate, estimate_train, machine
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import SearchResult, search_train
from xpuplan.workload.job import TrainJob
from xpuplan.workload.library import get_model
from xpuplan.workload.model import Model


def parse_recompute(value: str) -> int:
    try:
        return int(Recompute.parse(value))
    except KeyError:
        raise InputError(f"unknown recompute policy '{value}'", "Use none, selective or full") from None


def _model(model: str | Model) -> Model:
    return model if isinstance(model, Model) else get_model(model)


def estimate(
    model: str | Model,
    chip: str,
    chips: int,
    global_batch: int,
    seq_len: int,
    precision: str = "bf16",
    system: str | None = None,
    fixed: Mapping[str, int] | None = None,
    tokens: float | None = None,
) -> TrainEstimate:
    """Predict one training step with the layout in ``fixed`` (unset degrees: 1, DP implied)."""
    job = TrainJob(_model(model), global_batch, seq_len, precision, tokens)
    m = machine(chip, chips, system=system)
    kw: dict[str, Any] = {k: v for k, v in (fixed or {}).items() if k in LAYOUT_FIELDS}
    unknown = set(fixed or {}) - set(LAYOUT_FIELDS)
    if unknown:
        raise InputError(f"unknown layout field(s) {sorted(unknown)}", f"Use {', '.join(LAYOUT_FIELDS)}")
    if "dp" not in kw:
        rest = kw.get("tp", 1) * kw.get("pp", 1) * kw.get("cp", 1)
        if chips % rest:
            raise InputError(f"tp × pp × cp = {rest} does not divide {chips} chips", "Change the degrees")
        kw["dp"] = chips // rest
    for b in ("sp", "tp_overlap", "dp_overlap"):
        if b in kw:
            kw[b] = bool(kw[b])
    if "recompute" in kw:
        kw["recompute"] = Recompute(kw["recompute"])
    return estimate_train(job, Layout(**kw), m)


def search(
    model: str | Model,
    chip: str,
    chips: int,
    global_batch: int,
    seq_len: int,
    precision: str = "bf16",
    system: str | None = None,
    fixed: Mapping[str, int] | None = None,
    top_k: int = 5,
    tokens: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Search every layout (degrees in ``fixed`` pinned) and return the best, top-k and Pareto."""
    job = TrainJob(_model(model), global_batch, seq_len, precision, tokens)
    m = machine(chip, chips, system=system)
    return search_train(job, m, SpaceOptions(fixed=dict(fixed or {})), top_k=top_k, progress=progress)

"""Exhaustive, vectorised training-layout search: evaluate every layout at once, rank, explain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xpuplan.datafiles import as_dict
from xpuplan.layout.layout import LayoutArray, Reason, check
from xpuplan.perf.estimate import TrainEstimate, row_estimate
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, train_params
from xpuplan.perf.train import TrainArrays, evaluate_train
from xpuplan.search.space import SpaceOptions, enumerate_space
from xpuplan.workload.job import TrainJob

CHUNK = 250_000  # layouts evaluated per array pass (bounds memory; progress ticks per chunk)


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a layout search."""

    layouts_evaluated: int
    layouts_feasible: int
    reasons: dict[str, int]  # infeasibility reason → count
    best: TrainEstimate | None
    top: list[TrainEstimate]
    pareto: list[TrainEstimate]  # step time vs memory headroom
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def why_none(self) -> str:
        """The most common reason nothing fits (when ``best`` is None)."""
        if not self.reasons:
            return "no layout exists for this chip count"
        r = max(self.reasons.items(), key=lambda kv: kv[1])[0]
        return r

    def to_dict(self) -> dict[str, Any]:
        keys = ("layouts_evaluated", "layouts_feasible", "reasons", "best", "top", "pareto")
        return {**as_dict(self, *keys, rename={"reasons": "infeasible_reasons"}), **self.extra}


def _pareto(step: np.ndarray, headroom: np.ndarray) -> np.ndarray:
    """Indices on the front: no other layout is both faster and has more memory headroom."""
    order = np.lexsort((-headroom, step))
    best_room = np.maximum.accumulate(headroom[order])
    keep = np.r_[True, headroom[order][1:] > best_room[:-1]]
    return order[keep]


def search_train(
    job: TrainJob,
    m: Machine,
    opts: SpaceOptions | None = None,
    params: PerfParams | None = None,
    top_k: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Evaluate every layout of the space for ``job`` on ``m``; return the best and why others fail."""
    params = params or train_params(m.chip)  # the chip's default training stack
    space = enumerate_space(job.model, m.chips, job.global_batch, job.seq_len, m.domain, opts)
    n = len(space)
    reason = check(space, job.model, m.chips, job.global_batch, job.seq_len, m.domain).astype(np.int64)
    max_chips = m.system.scale_out.max_chips
    if max_chips is not None and m.chips > max_chips:
        reason[reason == 0] = int(Reason.CLUSTER)
    ok = np.flatnonzero(reason == 0)
    step = np.full(n, np.inf)
    room = np.full(n, -np.inf)
    results: list[tuple[np.ndarray, TrainArrays, LayoutArray]] = []
    for start in range(0, len(ok), CHUNK):
        idx = ok[start : start + CHUNK]
        sub = space.take(idx)
        res = evaluate_train(job, sub, m, params)
        reason[idx] = res.reason
        step[idx] = np.where(res.reason == 0, res.step_time, np.inf)
        room[idx] = res.mem_capacity - res.mem_total
        results.append((idx, res, sub))
        if progress:
            progress(min(start + CHUNK, len(ok)), len(ok))
    feasible = np.flatnonzero(reason == 0)
    counts = np.bincount(reason, minlength=len(Reason))
    reasons = {Reason(i).text: int(c) for i, c in enumerate(counts) if i and c}

    def est(i: int) -> TrainEstimate:
        for idx, res, sub in results:
            j = np.searchsorted(idx, i)
            if j < len(idx) and idx[j] == i:
                return row_estimate(job, res, sub, int(j), int(reason[i]), m.chip.intervals.get("train"))
        raise IndexError(i)

    if len(feasible) == 0:
        return SearchResult(n, 0, reasons, None, [], [])
    order = feasible[np.argsort(step[feasible], kind="stable")]
    top = [est(int(i)) for i in order[:top_k]]
    front = feasible[_pareto(step[feasible], room[feasible])]
    pareto = [est(int(i)) for i in front[:20]]
    return SearchResult(n, len(feasible), reasons, top[0], top, pareto)

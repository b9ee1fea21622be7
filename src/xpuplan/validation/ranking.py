"""Ranking cases: does the model order a source's options as the measurements do?

A planner's first job is to order options right. A ranking group (``data/validation/rankings.toml``,
schema in ``docs/validation-schema.md``) is a set of suite cases from ONE source that differ in one
or two choices (layout, recompute policy, precision, chip count, chip) on the same model; the
agreement between the predicted and the measured order is Kendall's tau-b (Kendall 1945, "The
treatment of ties in ranking problems", Biometrika 33(3)). A group is one source, so under
``--cv source`` the whole group is left out of the fit together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpuplan.datafiles import Field, data_dir, read_toml
from xpuplan.errors import DataError
from xpuplan.validation.validate import CaseResult

TAU_TARGET = 0.8  # issue 14: tau >= 0.8 on every ranking case

_GROUP = {
    "id": Field("str", doc="unique group id"),
    "source": Field("str", doc="the one publication the cases come from"),
    "varies": Field("str", doc="what differs between the cases"),
    "cases": Field("list", doc="suite case ids, two or more"),
    "xfail": Field("str", nullable=True, doc="why the model cannot order this group yet (reported)"),
}
SCHEMA = {"group": [_GROUP]}


def rankings_path() -> Path:
    return data_dir() / "validation" / "rankings.toml"


@dataclass(frozen=True, slots=True)
class RankingGroup:
    id: str
    source: str
    varies: str
    cases: tuple[str, ...]
    xfail: str | None = None


@dataclass(frozen=True, slots=True)
class RankingResult:
    group: RankingGroup
    metric: str | None
    measured: tuple[float, ...]
    predicted: tuple[float, ...]
    tau: float | None
    reason: str | None = None  # why no tau (a case unpredicted, metrics that differ)

    @property
    def ok(self) -> bool:
        return self.tau is not None and self.tau >= TAU_TARGET

    def to_dict(self) -> dict[str, Any]:
        g = self.group
        return {
            "id": g.id,
            "source": g.source,
            "varies": g.varies,
            "cases": list(g.cases),
            "metric": self.metric,
            "measured": list(self.measured),
            "predicted": list(self.predicted),
            "kendall_tau_b": self.tau,
            "meets_target": self.ok,
            "target": TAU_TARGET,
            "xfail": g.xfail,
            "reason": self.reason,
        }


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two equally long sequences: (concordant - discordant) pairs over
    sqrt((n0 - ties in x) * (n0 - ties in y)), n0 = n(n-1)/2. None when either side is all ties
    (or has fewer than two items): no order to compare."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau_b: {len(x)} vs {len(y)} values")

    def sign(v: float) -> int:
        return (v > 0) - (v < 0)

    s = tx = ty = n0 = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = sign(x[i] - x[j]), sign(y[i] - y[j])
            n0, tx, ty, s = n0 + 1, tx + (dx == 0), ty + (dy == 0), s + dx * dy
    den = math.sqrt((n0 - tx) * (n0 - ty))
    return s / den if den > 0 else None


def load_rankings(path: Path | None = None) -> list[RankingGroup]:
    """The ranking groups of a rankings file (default: the built-in one)."""
    p = path or rankings_path()
    data = read_toml(p, SCHEMA)  # type: ignore[arg-type]
    out: list[RankingGroup] = []
    for g in data.get("group", []):
        cases = tuple(str(c) for c in g["cases"])
        if len(cases) < 2 or len(set(cases)) != len(cases):
            raise DataError(
                f"ranking group '{g['id']}' needs two or more distinct cases",
                "List each case id once",
                str(p),
            )
        out.append(RankingGroup(g["id"], g["source"], g["varies"], cases, g.get("xfail")))
    if len({g.id for g in out}) != len(out):
        raise DataError("ranking group ids must be unique", "Rename the duplicate group", str(p))
    return out


def rank_groups(results: list[CaseResult], groups: list[RankingGroup] | None = None) -> list[RankingResult]:
    """Kendall's tau-b between predicted and measured per group (groups whose cases are not all
    in ``results`` are left out: a suite run on other files)."""
    by_id = {r.id: r for r in results}
    out = []
    for g in load_rankings() if groups is None else groups:
        if not all(c in by_id for c in g.cases):
            continue
        rs = [by_id[c] for c in g.cases]
        metrics = {r.metric for r in rs}
        missing = [r.id for r in rs if r.predicted is None or r.measured is None]
        meas = tuple(float(r.measured) for r in rs if r.measured is not None)
        pred = tuple(float(r.predicted) for r in rs if r.predicted is not None)
        metric = rs[0].metric if len(metrics) == 1 else None
        if missing or metric is None:
            why = (
                f"not predicted: {', '.join(missing)}"
                if missing
                else f"metrics differ: {sorted(map(str, metrics))}"
            )
            out.append(RankingResult(g, metric, meas, pred, None, why))
            continue
        out.append(RankingResult(g, metric, meas, pred, kendall_tau_b(pred, meas)))
    return out

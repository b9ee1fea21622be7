"""Vendors' and the press's claims, checked against the model (issue 7; docs/claims.md).

A claim (``data/claims/<id>.toml``, or a user's own file with the same schema) has one or more
checks. Each check's method (:mod:`xpuplan.claims.checks`) produces cases — one per
subject-vs-baseline pair, precision, pricing kind or assumption corner — and the verdicts follow
from the cases by fixed rules:

* check: every case meets the claimed figure → *supported*; none → *not supported*; some, or only
  break-even prices for unpriced systems → *supported under conditions*; nothing computable (no
  price, no TDP, a market share) → *outside the model*. A check with no claimed figure is
  informational and has no verdict.
* claim: the verdicts of its checks, ignoring informational and *outside* ones: all supported →
  *supported*; all not supported → *not supported*; otherwise *supported under conditions*; none
  left → *outside the model*.

The conditions say where each check holds, and at what price or power it would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from xpuplan.claims.checks import METHODS, Case, Outcome, Threshold
from xpuplan.claims.spec import (
    CheckSpec,
    Claimed,
    ClaimSpec,
    Method,
    Reader,
    builtin_claim_paths,
    load_claim,
)
from xpuplan.errors import InputError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.perf.params import PerfParams, default_params


class Verdict(str, Enum):
    SUPPORTED = "supported"
    CONDITIONAL = "supported under conditions"
    NOT_SUPPORTED = "not supported"
    OUTSIDE = "outside the model"


@dataclass(frozen=True)
class CheckResult:
    """One check of a claim: its cases, verdict, conditions and the assumptions behind them."""

    label: str
    metric: str
    method: str
    claimed: Claimed | None
    unit: str
    cases: tuple[Case, ...]
    verdict: Verdict | None  # None: informational (no claimed figure)
    conditions: tuple[str, ...]
    assumptions: tuple[str, ...]
    note: str = ""

    @property
    def computed(self) -> tuple[float, float] | None:
        """Lowest and highest computed figure over the cases (None: nothing computable)."""
        vals = [c.value for c in self.cases if c.value is not None]
        return (min(vals), max(vals)) if vals else None

    def to_dict(self) -> dict[str, Any]:
        lo_hi = self.computed
        return {
            "label": self.label,
            "metric": self.metric,
            "method": self.method,
            "claimed": None if self.claimed is None else self.claimed.to_dict(),
            "computed": None if lo_hi is None else {"low": lo_hi[0], "high": lo_hi[1], "unit": self.unit},
            "verdict": None if self.verdict is None else self.verdict.value,
            "conditions": list(self.conditions),
            "assumptions": list(self.assumptions),
            "note": self.note,
            "cases": [c.to_dict() for c in self.cases],
        }


@dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict with the headline figure (its first check with a claimed figure)."""

    id: str
    wording: str
    claimed: Claimed | None
    computed: tuple[float, float] | None
    unit: str
    verdict: Verdict
    conditions: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)  # title, who, source, as_of, source_says, compares
    checks: tuple[CheckResult, ...] = ()

    @property
    def title(self) -> str:
        return str(self.details.get("title", self.id))

    def to_dict(self) -> dict[str, Any]:
        lo_hi = self.computed
        return {
            "id": self.id,
            **self.details,
            "wording": self.wording,
            "claimed": None if self.claimed is None else self.claimed.to_dict(),
            "computed": None if lo_hi is None else {"low": lo_hi[0], "high": lo_hi[1], "unit": self.unit},
            "verdict": self.verdict.value,
            "conditions": list(self.conditions),
            "checks": [c.to_dict() for c in self.checks],
        }


# ---- verdicts ------------------------------------------------------------------------------------


def check_verdict(claimed: Claimed | None, method: Method, cases: tuple[Case, ...]) -> Verdict | None:
    if method is Method.OUTSIDE:
        return Verdict.OUTSIDE
    if claimed is None:
        return None
    known = [c.met for c in cases if c.met is not None]
    priced_later = any(c.met is None and c.threshold is not None for c in cases)
    if not known:
        return Verdict.CONDITIONAL if priced_later else Verdict.OUTSIDE
    if all(known):
        return Verdict.SUPPORTED
    if not any(known) and not priced_later:
        return Verdict.NOT_SUPPORTED
    return Verdict.CONDITIONAL


def claim_verdict(checks: tuple[CheckResult, ...]) -> Verdict:
    vs = [c.verdict for c in checks if c.verdict not in (None, Verdict.OUTSIDE)]
    if not vs:
        return Verdict.OUTSIDE
    if all(v is Verdict.SUPPORTED for v in vs):
        return Verdict.SUPPORTED
    if all(v is Verdict.NOT_SUPPORTED for v in vs):
        return Verdict.NOT_SUPPORTED
    return Verdict.CONDITIONAL


# ---- conditions ----------------------------------------------------------------------------------


def fmt_value(v: float, unit: str) -> str:
    """A figure in the claim's own unit (the unit is data: the claim file chose it)."""
    if unit == "x":
        return f"{v:.2f}×"
    if unit == "fraction":
        return f"{v * 100:.1f}%"
    if unit == "chips":
        return f"{v:,.0f} chips"
    return f"{v:,.3g} {unit}"


def fmt_threshold(t: Threshold) -> str:
    """'trn2.48xlarge price ≤ $2.10/chip-h (now $2.24)'; 'tpu-v7 power ≥ 635 W/chip (now 1,025 W)'."""
    if t.unit.startswith("USD"):
        now = "" if t.current is None else f" (now ${t.current:,.2f})"
        return f"{t.what} {t.bound} ${t.value:,.2f}{t.unit.removeprefix('USD')}{now}"
    now = "" if t.current is None else f" (now {t.current:,.0f} {t.unit.split('/')[0]})"
    return f"{t.what} {t.bound} {t.value:,.0f} {t.unit}{now}"


def _value_text(c: Case, unit: str, threshold: bool) -> str:
    parts = [fmt_value(c.value, unit)] if c.value is not None else []
    if threshold and c.threshold is not None:
        parts.append(("while " if c.met else "needs ") + fmt_threshold(c.threshold))
    if c.note:
        parts.append(c.note)
    return f"{c.label} ({'; '.join(parts)})" if parts else c.label


def conditions(claimed: Claimed | None, cases: tuple[Case, ...], unit: str) -> tuple[str, ...]:
    """Where the check holds and where not (with the break-even price or power), one line each."""
    held = [c for c in cases if c.met is True]
    missed = [c for c in cases if c.met is False]
    unpriced = [c for c in cases if c.met is None and c.value is None and c.threshold is not None]
    info = [c for c in cases if c.met is None and c.value is not None]
    lines = []
    if held:
        # break-evens of cases that hold only where few cases keep the line short
        lines.append("holds for " + "; ".join(_value_text(c, unit, len(cases) <= 2) for c in held))
    if missed:
        lines.append("not for " + "; ".join(_value_text(c, unit, True) for c in missed))
    if unpriced:
        lines.append(
            "unpriced: "
            + "; ".join(f"{c.label} holds if {fmt_threshold(c.threshold)}" for c in unpriced if c.threshold)
        )
    lost: dict[str, list[str]] = {}
    for c in cases:
        if c.met is None and c.value is None and c.threshold is None:
            lost.setdefault(c.note, []).append(c.label)
    lines += [f"not computable ({note}): {', '.join(labels)}" for note, labels in lost.items()]
    if info:
        lines.append(
            ("figure: " if claimed is None else "no verdict: ")
            + "; ".join(_value_text(c, unit, False) for c in info)
        )
    return tuple(lines)


# ---- evaluation ----------------------------------------------------------------------------------


def evaluate_check(spec: CheckSpec, test: Any, cat: Catalog, params: PerfParams) -> CheckResult:
    out: Outcome = METHODS[spec.method].run(test, spec, cat, params)
    verdict = check_verdict(spec.claimed, spec.method, out.cases)
    conds = conditions(spec.claimed, out.cases, spec.unit)
    if spec.method is Method.OUTSIDE:
        conds = ("outside the model: " + out.assumptions[0],)
    return CheckResult(
        spec.label,
        spec.metric.value,
        spec.method.value,
        spec.claimed,
        spec.unit,
        out.cases,
        verdict,
        conds,
        out.assumptions,
        spec.note,
    )


def _headline(checks: tuple[CheckResult, ...]) -> CheckResult | None:
    claimed = [c for c in checks if c.claimed is not None]
    with_figure = [c for c in claimed if c.computed is not None]
    first = with_figure or claimed
    return first[0] if first else None


def evaluate_claim(
    claim: ClaimSpec, cat: Catalog | None = None, params: PerfParams | None = None
) -> ClaimResult:
    """Run every check of ``claim`` through the model. All tests are parsed before any runs, so a
    broken file fails at once."""
    cat = cat or default_catalog()
    params = params or default_params()
    tests = [METHODS[c.method].parse(Reader(c.where + " test"), c.test, c, cat) for c in claim.checks]
    checks = tuple(evaluate_check(c, t, cat, params) for c, t in zip(claim.checks, tests, strict=True))
    head = _headline(checks)
    conds = tuple(f"{c.label}: {line}" for c in checks for line in c.conditions)
    details = {
        "title": claim.title,
        "who": claim.who,
        "source": claim.source,
        "as_of": claim.as_of,
        "source_says": claim.source_says,
        "compares": claim.compares,
        "file": claim.path,
    }
    return ClaimResult(
        claim.id,
        claim.wording,
        None if head is None else head.claimed,
        None if head is None else head.computed,
        "" if head is None else head.unit,
        claim_verdict(checks),
        conds,
        details,
        checks,
    )


def builtin_claims() -> list[ClaimSpec]:
    """The claims shipped with xpuplan (claims 1-8 of reference/claims.md)."""
    return [load_claim(p) for p in builtin_claim_paths()]


def evaluate_builtin(cat: Catalog | None = None, params: PerfParams | None = None) -> list[ClaimResult]:
    return [evaluate_claim(c, cat, params) for c in builtin_claims()]


def find_claim(claim_id: str) -> ClaimSpec:
    claims = builtin_claims()
    for c in claims:
        if c.id == claim_id:
            return c
    known = ", ".join(c.id for c in claims)
    raise InputError(f"no built-in claim '{claim_id}'", f"Known ids: {known} (xpuplan claims)")


def evaluate_file(path: Path) -> ClaimResult:
    """Evaluate a user's claim file (schema: docs/claims.md)."""
    return evaluate_claim(load_claim(path))

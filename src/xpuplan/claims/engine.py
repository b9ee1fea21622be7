"""Vendors' and the press's claims, checked against the model (issues 7 and 16; docs/claims.md).

A claim (``data/claims/<id>.toml``, or a user's own file with the same schema) has one or more
checks. Each check's method (:mod:`xpuplan.claims.checks`) produces cases — one per
subject-vs-baseline pair, precision, pricing kind or assumption corner — and the verdicts follow
from the cases by fixed rules:

* check: the claimed figure must hold for every case (``over = "all"``, the default) or for one
  (``"any"``, the default for "up to": the claimed best case). A case that needs a fact nobody
  publishes (a price, a TDP) — or that the catalog has no record of by the claim's date — can
  neither confirm nor refute. So: ALL: a case that misses → *not supported*; else a case that
  lacks a fact → *unverifiable*; else *supported*. ANY: a case that meets → *supported*; else a
  case that lacks a fact → *unverifiable*; else *not supported*. An ``outside`` check is *outside
  the model*, or *unverifiable* where the fact it needs is not published. A check with no claimed
  figure is informational.
* claim: the verdict is about its headline statement, as the articles make it (``[headline]``):
  the checks that test it, combined as a conjunction (``combine = "all"``: one part that fails
  fails the statement) or as alternative readings of an undefined word (``"any"``). The
  conditions then list the narrower readings that hold, and the break-even price or power.
* dates: checks that use prices are judged twice, with the prices on record on the claim's date
  (``claimed_on``, else ``as_of``) and with the latest ones, side by side.
* independence: where a figure rests on inputs that are assumptions (an assumed peak, unfitted
  efficiencies, a catalog value from the claim's own source), an agreement says it is not
  independent evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from xpuplan.claims.checks import METHODS, Case, Outcome, Threshold
from xpuplan.claims.spec import (
    CheckSpec,
    Claimed,
    ClaimSpec,
    Headline,
    Method,
    Metric,
    Over,
    Reader,
    builtin_claim_paths,
    load_claim,
)
from xpuplan.datafiles import as_dict
from xpuplan.errors import InputError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.perf.params import PerfParams, default_params


class Verdict(str, Enum):
    SUPPORTED = "supported"
    NOT_SUPPORTED = "not supported"
    UNVERIFIABLE = "unverifiable"
    OUTSIDE = "outside the model"


PRICE_METRICS = (Metric.PRICE_PERFORMANCE, Metric.COST)


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
    over: Over = Over.ALL
    missing: tuple[str, ...] = ()  # facts not published that the verdict lacks
    assumed: tuple[str, ...] = ()  # inputs that are assumptions (an agreement is not independent)
    on: str | None = None  # prices on or before this date (None: the latest rows)
    own_source: tuple[str, ...] = ()  # catalog figures taken from the claim's own source

    @property
    def id(self) -> str:
        return self.label.split(":", 1)[0].strip()

    @property
    def computed(self) -> tuple[float, float] | None:
        """Lowest and highest computed figure over the cases (None: nothing computable)."""
        vals = [c.value for c in self.cases if c.value is not None]
        return (min(vals), max(vals)) if vals else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 80% interval over the cases' intervals: lowest low, highest high (None: no case
        has one, e.g. catalog figures)."""
        ivs = [c.interval for c in self.cases if c.interval is not None]
        return (min(i[0] for i in ivs), max(i[1] for i in ivs)) if ivs else None

    @property
    def decidable(self) -> bool | None:
        """Whether the verdict holds across the 80% intervals of the cases it rests on (None: no
        verdict, or no interval behind it). ALL: a supported check needs every case to meet the
        claim across its interval, a refuted one a case that misses across its; ANY: the other
        way round."""
        if self.verdict not in (Verdict.SUPPORTED, Verdict.NOT_SUPPORTED) or self.interval is None:
            return None
        known = [c for c in self.cases if c.met is not None and not c.missing]
        sure = [c.decided(self.claimed) for c in known if c.met is (self.verdict is Verdict.SUPPORTED)]
        every = (self.over is Over.ALL) == (self.verdict is Verdict.SUPPORTED)
        return all(sure) if every else any(sure)

    @property
    def prices(self) -> tuple[str, ...]:
        """The prices the comparisons and break-evens used, for a price metric:
        'trn2.48xlarge capacity_block $2.24/chip-h of 2026-08-01'."""
        if self.metric not in {m.value for m in PRICE_METRICS}:
            return ()
        used = [c for c in self.cases if c.value is not None or c.threshold is not None]
        return tuple(dict.fromkeys(_price_lines(used)))

    def to_dict(self) -> dict[str, Any]:
        lo_hi, iv = self.computed, self.interval
        return {
            "label": self.label,
            "metric": self.metric,
            "method": self.method,
            "claimed": None if self.claimed is None else self.claimed.to_dict(),
            "over": self.over.value,
            "computed": None if lo_hi is None else {"low": lo_hi[0], "high": lo_hi[1], "unit": self.unit},
            "interval": None
            if iv is None
            else {"level": 0.8, "low": iv[0], "high": iv[1], "unit": self.unit},
            "verdict": None if self.verdict is None else self.verdict.value,
            "decidable_within_accuracy": self.decidable,
            "conditions": list(self.conditions),
            "missing": list(self.missing),
            "assumed_inputs": list(self.assumed),
            "own_source": list(self.own_source),
            "assumptions": list(self.assumptions),
            "prices_on": self.on,
            "prices": list(self.prices),
            "note": self.note,
            "cases": [c.to_dict() for c in self.cases],
        }


def _price_lines(cases: Iterable[Case]) -> Iterable[str]:
    for c in cases:
        for side in ("subject", "baseline"):
            run = c.inputs.get(side)
            if isinstance(run, dict) and run.get("usd_per_chip_hour") is not None:
                short = str(run["system"]).partition("-")[2] or run["system"]
                yield f"{short} {run['pricing']} ${run['usd_per_chip_hour']:,.2f}/chip-h of {run['price_as_of']}"


@dataclass(frozen=True)
class Judgement:
    """The headline statement judged with the prices of one date (``on``; None: the latest)."""

    on: str | None
    verdict: Verdict
    figure_of: str  # label of the headline check whose figure is shown ("" when none)
    claimed: Claimed | None
    computed: tuple[float, float] | None
    unit: str
    conditions: tuple[str, ...]
    missing: tuple[str, ...]  # facts not published that the statement needs
    assumed: tuple[str, ...]  # assumed inputs the verdict rests on
    prices: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    interval: tuple[float, float] | None = None  # 80% interval of the figure shown
    decidable: bool | None = None  # False: the interval straddles the claimed threshold

    @property
    def independent(self) -> bool:
        """False when an agreement rests on assumed inputs: it is not independent evidence."""
        return not self.assumed

    def to_dict(self, with_checks: bool = False) -> dict[str, Any]:
        lo_hi = self.computed
        d: dict[str, Any] = {
            "prices_on": self.on,
            "verdict": self.verdict.value,
            "figure_of": self.figure_of,
            "claimed": None if self.claimed is None else self.claimed.to_dict(),
            "computed": None if lo_hi is None else {"low": lo_hi[0], "high": lo_hi[1], "unit": self.unit},
            "interval": None
            if self.interval is None
            else {"level": 0.8, "low": self.interval[0], "high": self.interval[1], "unit": self.unit},
            "decidable_within_accuracy": self.decidable,
            "conditions": list(self.conditions),
            "missing": list(self.missing),
            "independent": self.independent,
            "assumed_inputs": list(self.assumed),
            "prices": list(self.prices),
        }
        if with_checks:
            d["checks"] = [c.to_dict() for c in self.checks]
        return d


@dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict on its headline statement, with today's prices and with those of its date."""

    id: str
    wording: str
    statement: str
    now: Judgement
    then: Judgement | None  # as of the claim's date (None: no check uses prices)
    judged_on: str  # the claim's date
    title: str
    who: str  # who made the claim, and where
    source: str  # the primary source
    as_of: str  # when the source was read
    source_says: str  # what the source really says
    compares: str  # what is compared with what
    file: str  # the claim file it was read from

    @property
    def verdict(self) -> Verdict:
        return self.now.verdict

    @property
    def claimed(self) -> Claimed | None:
        return self.now.claimed

    @property
    def computed(self) -> tuple[float, float] | None:
        return self.now.computed

    @property
    def unit(self) -> str:
        return self.now.unit

    @property
    def conditions(self) -> tuple[str, ...]:
        return self.now.conditions

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return self.now.checks

    def to_dict(self) -> dict[str, Any]:
        about = ("title", "who", "source", "as_of", "source_says", "compares", "file")
        return {
            "id": self.id,
            **as_dict(self, *about),
            **as_dict(self, "wording", "statement", "judged_on", rename={"judged_on": "claim_date"}),
            **self.now.to_dict(),
            "as_of_claim_date": None if self.then is None else self.then.to_dict(with_checks=True),
            "checks": [c.to_dict() for c in self.checks],
        }


# ---- verdicts ------------------------------------------------------------------------------------


def check_verdict(
    claimed: Claimed | None,
    method: Method,
    cases: tuple[Case, ...],
    over: Over = Over.ALL,
    missing: tuple[str, ...] = (),
) -> Verdict | None:
    """The check's verdict on its claimed figure over its cases (module docstring)."""
    if method is Method.OUTSIDE:
        return Verdict.UNVERIFIABLE if missing else Verdict.OUTSIDE
    if claimed is None:
        return None
    known = [c.met for c in cases if c.met is not None and not c.missing]
    gaps = any(c.missing for c in cases)
    if over is Over.ALL:
        if not all(known):
            return Verdict.NOT_SUPPORTED
        if gaps:
            return Verdict.UNVERIFIABLE
        return Verdict.SUPPORTED if known else Verdict.OUTSIDE
    if any(known):
        return Verdict.SUPPORTED
    if gaps:
        return Verdict.UNVERIFIABLE
    return Verdict.NOT_SUPPORTED if known else Verdict.OUTSIDE


def combine(verdicts: Iterable[Verdict | None], how: Over = Over.ALL) -> Verdict:
    """The statement's verdict from its parts': a conjunction (ALL) or alternative readings (ANY).
    Outside and informational parts do not count; none left → outside the model."""
    vs = [v for v in verdicts if v not in (None, Verdict.OUTSIDE)]
    if not vs:
        return Verdict.OUTSIDE
    first, last = (
        (Verdict.NOT_SUPPORTED, Verdict.SUPPORTED)
        if how is Over.ALL
        else (Verdict.SUPPORTED, Verdict.NOT_SUPPORTED)
    )
    for v in (first, Verdict.UNVERIFIABLE):
        if v in vs:
            return v
    return last


def claim_verdict(checks: tuple[CheckResult, ...], headline: Headline | None = None) -> Verdict:
    """The verdict on the headline statement (default: every check with a claimed figure)."""
    return combine(
        (c.verdict for c in _parts(checks, headline)), Over.ALL if headline is None else headline.combine
    )


def _parts(checks: tuple[CheckResult, ...], headline: Headline | None) -> list[CheckResult]:
    if headline is None:
        return [c for c in checks if c.claimed is not None]
    by_id = {c.id: c for c in checks}
    return [by_id[i] for i in headline.checks]


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
        now = "" if t.current is None else f" ({t.current_is} ${t.current:,.2f})"
        return f"{t.what} {t.bound} ${t.value:,.2f}{t.unit.removeprefix('USD')}{now}"
    now = "" if t.current is None else f" ({t.current_is} {t.current:,.0f} {t.unit.split('/')[0]})"
    return f"{t.what} {t.bound} {t.value:,.0f} {t.unit}{now}"


def _value_text(c: Case, unit: str, threshold: bool) -> str:
    parts = [fmt_value(c.value, unit)] if c.value is not None else []
    if threshold and c.threshold is not None:
        parts.append(("while " if c.met else "needs ") + fmt_threshold(c.threshold))
    if c.note:
        parts.append(c.note)
    return f"{c.label} ({'; '.join(parts)})" if parts else c.label


def conditions(claimed: Claimed | None, cases: tuple[Case, ...], unit: str) -> tuple[str, ...]:
    """Where the check holds, where not (with the break-even price or power), and what it lacks,
    one line each."""
    held = [c for c in cases if c.met is True and not c.missing]
    missed = [c for c in cases if c.met is False and not c.missing]
    gaps = [c for c in cases if c.missing]
    info = [c for c in cases if c.met is None and c.value is not None and not c.missing]
    lines = []
    if held:
        # break-evens of cases that hold only where few cases keep the line short
        lines.append("holds for " + "; ".join(_value_text(c, unit, len(cases) <= 2) for c in held))
    if missed:
        lines.append("not for " + "; ".join(_value_text(c, unit, True) for c in missed))
    if gaps:
        facts = "; ".join(dict.fromkeys(m for c in gaps for m in c.missing))
        under = [c for c in gaps if c.value is not None]
        if under:  # a figure computed under an assumption standing in for the fact
            tail = "; under assumed inputs: " + "; ".join(_value_text(c, unit, True) for c in under)
        else:
            ifs = [f"{c.label} holds if {fmt_threshold(c.threshold)}" for c in gaps if c.threshold]
            tail = "; " + "; ".join(ifs) if ifs else ""
        lines.append(f"unverifiable, not on record: {facts}{tail}")
    lost: dict[str, list[str]] = {}
    for c in cases:
        if c.value is None and not c.missing and c.threshold is None:
            lost.setdefault(c.note, []).append(c.label)
    lines += [f"not computable ({note}): {', '.join(labels)}" for note, labels in lost.items()]
    if info:
        lines.append(
            ("figure: " if claimed is None else "no verdict: ")
            + "; ".join(_value_text(c, unit, False) for c in info)
        )
    return tuple(lines)


_URL = re.compile(r"https?://[^\s'\"(),;]+")


def _urls(text: str) -> set[str]:
    return {u.rstrip(".") for u in _URL.findall(text)}


def same_source(claim_source: str, cases: tuple[Case, ...]) -> tuple[str, ...]:
    """Catalog figures (spec checks) whose source is one the claim itself cites: the check confirms
    the restatement against the record, not the record against an independent measurement."""
    cited = _urls(claim_source)
    shared = [u for c in cases for u in sorted(_urls(str(c.inputs.get("source", ""))) & cited)]
    return tuple(f"the catalog figure comes from the claim's own source ({u})" for u in dict.fromkeys(shared))


# ---- evaluation ----------------------------------------------------------------------------------


def evaluate_check(
    spec: CheckSpec,
    test: Any,
    cat: Catalog,
    params: PerfParams,
    on: str | None = None,
    claim_source: str = "",
) -> CheckResult:
    """One check, priced on or before ``on`` (None: the latest prices)."""
    out: Outcome = METHODS[spec.method].run(test, spec, cat, params, on)
    missing = tuple(dict.fromkeys((*out.missing, *(m for c in out.cases for m in c.missing))))
    verdict = check_verdict(spec.claimed, spec.method, out.cases, spec.over, out.missing)
    conds = conditions(spec.claimed, out.cases, spec.unit)
    if spec.method is Method.OUTSIDE:
        conds = ("outside the model: " + out.assumptions[0],)
        conds += tuple(f"unverifiable, not published: {m}" for m in out.missing)
    assumed = tuple(dict.fromkeys((*spec.assumed, *out.assumed)))
    result = CheckResult(
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
        spec.over,
        missing,
        assumed,
        on,
        same_source(claim_source, out.cases),
    )
    if result.decidable is False and result.interval is not None and spec.claimed is not None:
        lo, hi = result.interval
        line = (
            f"not decidable within the model's accuracy: the 80% interval {fmt_value(lo, spec.unit)} to "
            f"{fmt_value(hi, spec.unit)} straddles the claimed {fmt_value(spec.claimed.target, spec.unit)}"
        )
        result = replace(result, conditions=(*result.conditions, line))
    return result


def _claim_conditions(
    checks: tuple[CheckResult, ...], parts: list[CheckResult], verdict: Verdict, assumed: tuple[str, ...]
) -> tuple[str, ...]:
    """The headline's parts first (as stated), then the other checks (narrower or other readings);
    a "holds for" line of a check that does not hold as a whole is a narrower reading."""
    ids = {p.id for p in parts}
    ordered = [*parts, *(c for c in checks if c.id not in ids)]
    lines = []
    for c in ordered:
        role = "" if c.id in ids else ("figure, " if c.claimed is None else "other reading, ")
        for line in c.conditions:
            if line.startswith("holds for") and c.verdict is not Verdict.SUPPORTED:
                line = "narrower reading " + line
            lines.append(f"{role}{c.label}: {line.removeprefix('figure: ')}")
    # an agreement's "not independent evidence" is a note on the verdict itself (Judgement.assumed)
    if assumed and verdict is not Verdict.SUPPORTED:
        lead = {
            Verdict.NOT_SUPPORTED: "caveat, the disagreement rests on assumed inputs: ",
            Verdict.UNVERIFIABLE: "the figures above rest on assumed inputs: ",
        }.get(verdict, "assumed inputs: ")
        lines.append(lead + "; ".join(assumed))
    return tuple(lines)


def judge_headline(checks: tuple[CheckResult, ...], headline: Headline | None, on: str | None) -> Judgement:
    """The headline statement's verdict from its checks, the figure of the part that decides it,
    the facts it lacks and the assumed inputs it rests on."""
    parts = _parts(checks, headline)
    verdict = claim_verdict(checks, headline)
    deciding = [p for p in parts if p.verdict is verdict] or parts
    # the figure of a part that decides; for an unverifiable statement with none, that of a part
    # (a reading) the model can compute and that fails
    failing = (
        [p for p in parts if p.verdict is Verdict.NOT_SUPPORTED] if verdict is Verdict.UNVERIFIABLE else []
    )
    with_figure = [p for p in (*deciding, *failing) if p.computed is not None]
    # a figure on published facts before one computed under an assumed input (an estimated TDP)
    with_figure.sort(key=lambda p: any(c.missing and c.value is not None for c in p.cases))
    fig = with_figure[0] if with_figure else (deciding[0] if deciding else None)
    missing = tuple(dict.fromkeys(m for p in parts if p.verdict is Verdict.UNVERIFIABLE for m in p.missing))
    how = Over.ALL if headline is None else headline.combine
    assumed = rests_on(parts, verdict, how)
    return Judgement(
        on,
        verdict,
        "" if fig is None else fig.label,
        None if fig is None else fig.claimed,
        None if fig is None else fig.computed,
        "" if fig is None else fig.unit,
        _claim_conditions(checks, parts, verdict, assumed),
        missing,
        assumed,
        tuple(dict.fromkeys(p for c in checks for p in c.prices)),
        checks,
        None if fig is None else fig.interval,
        None if fig is None else fig.decidable,
    )


def rests_on(parts: list[CheckResult], verdict: Verdict, how: Over) -> tuple[str, ...]:
    """The assumed inputs a statement's verdict rests on. Where one part suffices for the verdict
    (a part that fails a conjunction, a reading that holds) and one such part rests on none, the
    verdict rests on none; otherwise on those of every deciding part. An agreement also rests on
    catalog figures taken from the claim's own source; a disagreement with them does not."""
    deciding = [p for p in parts if p.verdict is verdict]
    if verdict is Verdict.OUTSIDE or not deciding:
        return ()
    if verdict is Verdict.UNVERIFIABLE:
        deciding = [p for p in parts if p.verdict in (Verdict.UNVERIFIABLE, Verdict.NOT_SUPPORTED)]
    agree = verdict is Verdict.SUPPORTED

    def of(p: CheckResult) -> tuple[str, ...]:
        return (*p.assumed, *(p.own_source if agree else ()))

    one_suffices = (verdict is Verdict.NOT_SUPPORTED) == (how is Over.ALL)
    if verdict is not Verdict.UNVERIFIABLE and one_suffices and any(not of(p) for p in deciding):
        return ()
    return tuple(dict.fromkeys(a for p in deciding for a in of(p)))


def _priced(spec: CheckSpec) -> bool:
    return spec.method in (Method.TRAIN, Method.SERVE) and spec.metric in PRICE_METRICS


def evaluate_claim(
    claim: ClaimSpec, cat: Catalog | None = None, params: PerfParams | None = None
) -> ClaimResult:
    """Run every check of ``claim`` through the model, with the latest prices and, for the checks
    that use prices, again with those on record on the claim's date. All tests are parsed before
    any runs, so a broken file fails at once."""
    cat = cat or default_catalog()
    params = params or default_params()
    tests = [METHODS[c.method].parse(Reader(c.where + " test"), c.test, c, cat) for c in claim.checks]
    pairs = list(zip(claim.checks, tests, strict=True))
    now = tuple(evaluate_check(c, t, cat, params, None, claim.source) for c, t in pairs)
    then = None
    if any(_priced(c) for c in claim.checks):
        on = claim.judged_on
        dated = tuple(
            evaluate_check(c, t, cat, params, on, claim.source) if _priced(c) else r
            for (c, t), r in zip(pairs, now, strict=True)
        )
        then = judge_headline(dated, claim.headline, on)
    statement = claim.wording if claim.headline is None else claim.headline.statement
    return ClaimResult(
        claim.id,
        claim.wording,
        statement,
        judge_headline(now, claim.headline, None),
        then,
        claim.judged_on,
        title=claim.title,
        who=claim.who,
        source=claim.source,
        as_of=claim.as_of,
        source_says=claim.source_says,
        compares=claim.compares,
        file=claim.path,
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

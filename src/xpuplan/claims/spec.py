"""Claim files: what was claimed, by whom, where, and the scenario that tests it (docs/claims.md).

A claim file is TOML with the claim's provenance and one or more ``[[checks]]``; each check names a
metric, the claimed figure (``[checks.claimed]``) and a test (``[checks.test]``) run by one of the
methods in :mod:`xpuplan.claims.checks`. This module only reads and validates: every name,
number and unit is checked here, so a broken file fails at load with the file and key in the
message, never half-way through an evaluation.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from xpuplan.datafiles import NumberReader, as_dict, data_dir, read_toml
from xpuplan.errors import DataError
from xpuplan.units import GIB
from xpuplan.workload.library import MODEL_KEYS, model_from_dict
from xpuplan.workload.model import Model


class Metric(str, Enum):
    """What a check compares."""

    COST = "cost"  # fraction lower cost for the same work
    PRICE_PERFORMANCE = "price_performance"  # × more work per dollar
    THROUGHPUT = "throughput"  # × more work per second (per chip or per job), or tokens/s
    ENERGY = "energy"  # × more work per joule
    POWER = "power"  # facility power
    LATENCY = "latency"  # time per token, share of requests within a latency target
    MARKET_SHARE = "market_share"
    SPEC = "spec"  # a catalog figure (peak FLOP/s, memory, bandwidth, cluster size)


class Method(str, Enum):
    """How a check's figure is produced (registry in :mod:`xpuplan.claims.checks`)."""

    TRAIN = "train"  # best training layout per system, compared subject vs baseline
    SERVE = "serve"  # best serving configuration per system, compared subject vs baseline
    SPEC = "spec"  # catalog values, per chip or per scale-up domain
    FACILITY = "facility"  # chips × power × (1 + host) × (1 + network) × PUE
    ON_DEVICE = "on_device"  # one request on one device: TTFT per prompt token, decode tokens/s
    HYBRID = "hybrid"  # share of a request mix a device serves within a latency target
    OUTSIDE = "outside"  # not a quantity the model computes (market share, dates)


class Over(str, Enum):
    """Which cases of a check (or which checks of a headline) the statement needs."""

    ALL = "all"  # every case: each subject vs each baseline, precision, prompt length (or every part)
    ANY = "any"  # one case: "up to" is the claimed best case (or one reading of an undefined word)


class Kind(str, Enum):
    """How the claimed figure is meant (``tolerance`` is relative)."""

    AT_LEAST = "at_least"  # computed ≥ value × (1 - tolerance)
    UP_TO = "up_to"  # the claimed best case: computed ≥ value × (1 - tolerance)
    ABOUT = "about"  # |computed / value - 1| ≤ tolerance
    AT_MOST = "at_most"  # computed ≤ value × (1 + tolerance)
    RANGE = "range"  # value = [low, high]; met at ≥ low × (1 - tolerance), noted when above high


# dimension → its units and the SI value of one of each
_UNITS_BY_DIMENSION: dict[str, dict[str, float]] = {
    "ratio": {"x": 1.0},
    "fraction": {"fraction": 1.0},
    "power": {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9},
    "time": {"ms": 1e-3, "s": 1.0},
    "rate": {"tokens/s": 1.0},
    "bytes": {"GB": 1e9, "GiB": GIB, "TB": 1e12},
    "bytes/s": {"GB/s": 1e9, "TB/s": 1e12},
    "flop/s": {"TFLOP/s": 1e12, "PFLOP/s": 1e15},
    "count": {"chips": 1.0},
}
# unit → (dimension, SI value of one unit)
UNITS: dict[str, tuple[str, float]] = {
    u: (dim, si) for dim, units in _UNITS_BY_DIMENSION.items() for u, si in units.items()
}

# metrics each method can test
METHOD_METRICS: dict[Method, tuple[Metric, ...]] = {
    Method.TRAIN: (Metric.PRICE_PERFORMANCE, Metric.COST, Metric.THROUGHPUT, Metric.ENERGY),
    Method.SERVE: (Metric.PRICE_PERFORMANCE, Metric.COST, Metric.THROUGHPUT, Metric.ENERGY),
    Method.SPEC: (Metric.SPEC,),
    Method.FACILITY: (Metric.POWER,),
    Method.ON_DEVICE: (Metric.LATENCY, Metric.THROUGHPUT),
    Method.HYBRID: (Metric.LATENCY,),
    Method.OUTSIDE: tuple(Metric),
}


@dataclass(frozen=True, slots=True)
class Claimed:
    """The claimed figure: ``low``..``high`` (equal unless a range) in ``unit``, read as ``kind``."""

    low: float
    high: float
    unit: str
    kind: Kind
    text: str
    tolerance: float = 0.05

    @property
    def target(self) -> float:
        """The figure a break-even is solved for (the end of the claim a buyer relies on)."""
        return self.high if self.kind is Kind.AT_MOST else self.low

    def meets(self, v: float) -> bool:
        t = self.tolerance
        if self.kind is Kind.ABOUT:
            return abs(v / self.low - 1.0) <= t
        if self.kind is Kind.AT_MOST:
            return v <= self.high * (1.0 + t)
        return v >= self.low * (1.0 - t)

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self, "text", "low", "high", "unit", "kind", "tolerance")


@dataclass(frozen=True)
class CheckSpec:
    """One testable part of a claim: a metric, the claimed figure and the test's inputs."""

    label: str
    metric: Metric
    method: Method
    claimed: Claimed | None  # None: an informational figure, no verdict
    unit: str
    test: Mapping[str, Any]  # the raw [checks.test] table; the method parses and checks it
    note: str
    where: str  # file and check, for error messages
    models: Mapping[str, Model]  # models defined in the claim file ([models.<id>]), by id
    over: Over = Over.ALL  # the cases the claimed figure must hold for (default: ANY for "up to")
    assumed: tuple[str, ...] = ()  # inputs the file declares as assumptions (not published facts)

    @property
    def id(self) -> str:
        """The check's short id: its label up to the first colon ('3b' of '3b: up to 40% ...')."""
        return self.label.split(":", 1)[0].strip()


@dataclass(frozen=True)
class Headline:
    """The statement as the articles make it, and the checks that test it.

    ``combine``: ALL, the statement holds when every part holds (a conjunction, claim 4); ANY, the
    parts are alternative readings of an undefined word ("efficiency": per dollar or per watt) and
    the statement holds when one reading does."""

    statement: str
    checks: tuple[str, ...]  # check ids
    combine: Over = Over.ALL


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as data: wording, who said it, the primary source, and its checks."""

    id: str
    title: str
    wording: str
    who: str
    source: str
    as_of: str
    source_says: str
    compares: str
    checks: tuple[CheckSpec, ...]
    path: str
    headline: Headline | None = None
    claimed_on: str = ""  # the date the claim was made: its prices are those on or before it

    @property
    def judged_on(self) -> str:
        return self.claimed_on or self.as_of


class Reader(NumberReader):
    """Typed access to a TOML table with errors naming the file, the check and the key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, msg: str, hint: str) -> DataError:
        return DataError(msg, hint, f"{self.where}, key '{key}'")

    def only(self, d: Mapping[str, Any], allowed: Sequence[str]) -> None:
        """Unknown keys are typos: name the closest known one."""
        for key in d:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"Did you mean '{close[0]}'?" if close else "Allowed: " + ", ".join(allowed)
                raise self.fail(key, f"unknown key '{key}'", hint)

    def text(self, d: Mapping[str, Any], key: str, default: str | None = None) -> str:
        v = d.get(key, default)
        if v is None:
            raise self.fail(key, f"missing required key '{key}'", f'Add {key} = "..."')
        if not isinstance(v, str) or not v.strip():
            raise self.fail(key, f"'{key}' must be a non-empty string, got {v!r}", "Quote the value")
        return v

    def choice(
        self, d: Mapping[str, Any], key: str, choices: Sequence[str], default: str | None = None
    ) -> str:
        v = self.text(d, key, default)
        if v not in choices:
            close = difflib.get_close_matches(v, choices, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else "Use one of " + ", ".join(choices)
            raise self.fail(key, f"'{key}' = '{v}' is not one of {', '.join(choices)}", hint)
        return v

    def texts(self, d: Mapping[str, Any], key: str, default: Sequence[str] | None = None) -> tuple[str, ...]:
        v = d.get(key, default)
        if v is None:
            raise self.fail(key, f"missing required key '{key}'", f'Add {key} = ["..."]')
        vals = [v] if isinstance(v, str) else v
        if not isinstance(vals, list | tuple) or not vals or not all(isinstance(x, str) for x in vals):
            raise self.fail(key, f"'{key}' must be a string or a list of strings", f'e.g. {key} = ["a", "b"]')
        return tuple(vals)

    def opt_num(self, d: Mapping[str, Any], key: str, lo: float = 0.0, hi: float = math.inf) -> float | None:
        return None if d.get(key) is None else self.num(d, key, None, lo, hi)

    def nums(
        self, d: Mapping[str, Any], key: str, default: Sequence[float] | None = None, integer: bool = False
    ) -> tuple[float, ...]:
        """A number or a list of numbers."""
        v = d.get(key, default)
        if v is None:
            raise self.fail(key, f"missing required key '{key}'", f"Add {key} = <number> or [<n>, ...]")
        vals = v if isinstance(v, list | tuple) else [v]
        if not vals:
            raise self.fail(key, f"'{key}' is an empty list", "Give at least one number")
        return tuple(self.check_num(key, x, 0.0, math.inf, integer) for x in vals)

    def span(
        self, d: Mapping[str, Any], key: str, default: float | None = None
    ) -> tuple[float, float] | None:
        """A number, or [low, high] (an assumption given as a range)."""
        if d.get(key) is None:
            return None if default is None else (default, default)
        vals = self.nums(d, key)
        if len(vals) not in (1, 2) or vals[0] > vals[-1]:
            raise self.fail(key, f"'{key}' must be a number or [low, high] with low ≤ high", "Fix the range")
        return vals[0], vals[-1]


CLAIM_KEYS = (
    "id",
    "title",
    "wording",
    "who",
    "source",
    "as_of",
    "source_says",
    "compares",
    "claimed_on",
    "headline",
    "models",
    "checks",
)
CHECK_KEYS = ("label", "metric", "method", "claimed", "unit", "test", "note", "over", "assumed_inputs")
HEADLINE_KEYS = ("statement", "checks", "combine")
CLAIMED_KEYS = ("value", "unit", "kind", "text", "tolerance")


def _claimed(r: Reader, d: Any) -> Claimed:
    if not isinstance(d, dict):
        raise r.fail("claimed", "'claimed' must be a table", "Write [checks.claimed] with value, unit, kind")
    r.only(d, CLAIMED_KEYS)
    kind = Kind(r.choice(d, "kind", [k.value for k in Kind], "at_least"))
    values = r.nums(d, "value")
    if len(values) > 2 or (len(values) == 2 and kind is not Kind.RANGE) or values[0] > values[-1]:
        raise r.fail("value", "'value' must be one number, or [low, high] with kind = \"range\"", "Fix it")
    if kind is Kind.ABOUT and values[0] == 0:
        raise r.fail("value", "an 'about' claim needs a non-zero value", 'Use kind = "at_most"')
    unit = r.choice(d, "unit", list(UNITS))
    tol = r.num(d, "tolerance", 0.05, 0.0, 1.0)
    return Claimed(values[0], values[-1], unit, kind, r.text(d, "text", str(d.get("value"))), tol)


def _check(path: Path, d: Any, i: int, models: Mapping[str, Model]) -> CheckSpec:
    r = Reader(f"{path} [[checks]] {i + 1}")
    if not isinstance(d, dict):
        raise r.fail("checks", f"check {i + 1} is not a table", "Write each check as a [[checks]] table")
    r.only(d, CHECK_KEYS)
    method = Method(r.choice(d, "method", [m.value for m in Method]))
    metric = Metric(r.choice(d, "metric", [m.value for m in METHOD_METRICS[method]]))
    claimed = _claimed(r, d["claimed"]) if "claimed" in d else None
    if claimed is None and method is not Method.OUTSIDE and "unit" not in d:
        raise r.fail("unit", "a check with no [checks.claimed] needs a 'unit'", 'Add unit = "x" (see docs)')
    unit = claimed.unit if claimed else r.choice(d, "unit", list(UNITS), "x")
    test = d.get("test", {})
    if not isinstance(test, dict):
        raise r.fail("test", "'test' must be a table", "Write [checks.test]")
    label = r.text(d, "label", f"check {i + 1}")
    default_over = Over.ANY if claimed is not None and claimed.kind is Kind.UP_TO else Over.ALL
    over = Over(r.choice(d, "over", [o.value for o in Over], default_over.value))
    assumed = r.texts(d, "assumed_inputs") if "assumed_inputs" in d else ()
    note = str(d.get("note", ""))
    return CheckSpec(label, metric, method, claimed, unit, test, note, r.where, models, over, assumed)


def _headline(r: Reader, d: Any, wording: str, checks: tuple[CheckSpec, ...]) -> Headline:
    """The ``[headline]`` table; without one, the wording and every check with a claimed figure."""
    judged = [c for c in checks if c.claimed is not None or c.method is Method.OUTSIDE]
    if d is None:
        return Headline(wording, tuple(c.id for c in judged if c.claimed is not None))
    if not isinstance(d, dict):
        raise r.fail("headline", "'headline' must be a table", "Write [headline] with statement and checks")
    r.only(d, HEADLINE_KEYS)
    ids = r.texts(d, "checks")
    known = [c.id for c in judged]
    for x in ids:
        if x not in known:
            close = difflib.get_close_matches(x, known, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else "Known: " + ", ".join(known)
            raise r.fail("checks", f"headline check '{x}' is not a check with a claimed figure", hint)
    combine = Over(r.choice(d, "combine", [o.value for o in Over], "all"))
    return Headline(r.text(d, "statement"), ids, combine)


def _models(r: Reader, d: Any) -> dict[str, Model]:
    """Models defined in the claim file: ``[models.<id>]`` tables with the model-file keys."""
    if not isinstance(d, dict) or not all(isinstance(v, dict) for v in d.values()):
        raise r.fail("models", "'models' must hold [models.<id>] tables", "See docs/models.md for the keys")
    for k, v in d.items():
        Reader(f"{r.where}, [models.{k}]").only(v, [x for x in MODEL_KEYS if x != "id"])
    return {k: model_from_dict({"id": k, **v}, f"{r.where}, [models.{k}]") for k, v in d.items()}


def _date(r: Reader, v: Any) -> str:
    """``as_of`` as an ISO date (YYYY-MM-DD, or YYYY-MM for a month), not "yesterday"."""
    import datetime as dt

    if isinstance(v, dt.date):
        return v.isoformat()[:10]
    text = str(v)
    try:
        dt.date.fromisoformat(text if len(text) != 7 else text + "-01")
    except ValueError:
        raise r.fail("as_of", f"'as_of' = {text!r} is not a date", 'Write as_of = "YYYY-MM-DD"') from None
    return text


def parse_claim(d: Mapping[str, Any], path: Path) -> ClaimSpec:
    """A :class:`ClaimSpec` from a claim-file mapping (the tests are parsed by their methods)."""
    r = Reader(str(path))
    r.only(d, CLAIM_KEYS)
    checks = d.get("checks")
    if not isinstance(checks, list) or not checks:
        raise r.fail(
            "checks", "the claim has no [[checks]]", "Add at least one [[checks]] table (docs/claims.md)"
        )
    models = _models(r, d.get("models", {}))
    as_of = d.get("as_of")
    if not as_of:
        raise r.fail(
            "as_of", "claim has no 'as_of'", 'Every claim needs as_of = "YYYY-MM-DD" (date of the source)'
        )
    as_of = _date(r, as_of)
    parsed = tuple(_check(path, c, i, models) for i, c in enumerate(checks))
    wording = r.text(d, "wording")
    claimed_on = str(d.get("claimed_on", ""))
    if claimed_on and not _iso_day(claimed_on):
        raise r.fail("claimed_on", f"'claimed_on' = '{claimed_on}' is not a date", 'Write "YYYY-MM-DD"')
    return ClaimSpec(
        id=str(r.text(d, "id")),
        title=r.text(d, "title"),
        wording=wording,
        who=r.text(d, "who"),
        source=r.text(d, "source"),
        as_of=str(as_of),
        source_says=str(d.get("source_says", "")),
        compares=str(d.get("compares", "")),
        checks=parsed,
        path=str(path),
        headline=_headline(r, d.get("headline"), wording, parsed),
        claimed_on=claimed_on,
    )


def _iso_day(v: str) -> bool:
    parts = v.split("-")
    return len(parts) == 3 and [len(p) for p in parts] == [4, 2, 2] and all(p.isdigit() for p in parts)


def load_claim(path: Path) -> ClaimSpec:
    """Read a claim file (errors name the file and the key)."""
    return parse_claim(read_toml(path), path)


def _order(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (10**9, path.stem)


def builtin_claim_paths() -> list[Path]:
    """The packaged claims (``data/claims/<id>.toml``), in id order."""
    return sorted((data_dir() / "claims").glob("*.toml"), key=_order)

"""Purchase units: what can actually be bought of a system under a price kind, and how time is billed.

``data/purchase_units.toml`` holds one table per system and price kind (schema in docs/catalog.md)::

    ["aws-p6e-gb200-ultraserver".capacity_block]
    unit = "P6e-GB200 UltraServer"
    chips = [36, 72]                 # chips in one unit; several sizes where several are sold
    billing = "block"                # per_second | block | term
    durations_days = [1, 2, 7, 14]   # block lengths one can reserve ("block")
    source = "..."
    as_of = "YYYY-MM-DD"

A cluster is one unit, or a whole number of equal large units (an instance count, a multislice
of big TPU slices, several UltraServers): :func:`allocate` gives the smallest such cluster that holds the chips
asked for, :func:`billed_hours` the hours one pays for a job of a given length (a capacity block
is paid in whole blocks, a commitment for its whole term). A system without a record is bought in
whole nodes, billed per second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpuplan.datafiles import read_toml
from xpuplan.errors import DataError, UnknownNameError
from xpuplan.hardware.records import Pricing, System
from xpuplan.units import SECONDS_PER_HOUR

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0
BILLING = ("per_second", "block", "term")


@dataclass(frozen=True, slots=True)
class PurchaseUnit:
    """What one buys of ``system`` at ``pricing``: units of ``chips`` chips, billed by ``billing``."""

    system: str
    pricing: Pricing
    unit: str  # what the provider calls one unit ("p5.48xlarge instance", "v6e slice")
    chips: tuple[int, ...]  # chips in one unit, every size sold (ascending)
    billing: str  # per_second | block | term
    source: str
    as_of: str
    min_hours: float = 0.0  # per_second: the minimum charge
    durations_h: tuple[float, ...] = ()  # block: the reservable lengths, hours (ascending)
    term_h: float = 0.0  # term: the commitment's length, hours
    max_units: int | None = None  # most units one can hold at once, where published
    note: str = ""
    # SkyPilot resources of one unit, for launch files ({chips}, {cores} fill in; "" where none)
    sky_cloud: str = ""
    sky_instance_type: str = ""
    sky_accelerators: str = ""

    @property
    def max_chips(self) -> int | None:
        return None if self.max_units is None else self.max_units * self.chips[-1]

    def __post_init__(self) -> None:
        if not self.chips or any(c <= 0 for c in self.chips):
            raise ValueError("chips must list positive unit sizes")
        if self.billing not in BILLING:
            raise ValueError(f"billing must be one of {', '.join(BILLING)}, got '{self.billing}'")
        if self.billing == "block" and not self.durations_h:
            raise ValueError("a 'block' unit needs durations_days")
        if self.billing == "term" and not self.term_h > 0:
            raise ValueError("a 'term' unit needs term_years > 0")


@dataclass(frozen=True, slots=True)
class Allocation:
    """A purchasable cluster: ``count`` units of ``unit_chips`` chips each."""

    unit: PurchaseUnit
    unit_chips: int
    count: int

    @property
    def chips(self) -> int:
        return self.unit_chips * self.count

    def describe(self) -> str:
        return f"{self.count:,} × {self.unit.unit} of {self.unit_chips:,} chips"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit.unit,
            "unit_chips": self.unit_chips,
            "units": self.count,
            "chips": self.chips,
            "billing": self.unit.billing,
            "source": self.unit.source,
            "as_of": self.unit.as_of,
        }


def node_unit(system: System, pricing: Pricing) -> PurchaseUnit:
    """The fallback for a system without a record: whole nodes, billed per second."""
    return PurchaseUnit(
        system.id,
        pricing,
        "node",
        (system.chips_per_node,),
        "per_second",
        system.source,
        system.as_of,
        note="no purchase-unit record: whole nodes assumed",
    )


def allocate(unit: PurchaseUnit, chips: int) -> Allocation:
    """The smallest purchasable cluster with at least ``chips`` chips: one unit of the smallest size
    that holds them, else several units of one large size (at least half the largest: a multislice
    of big slices, several UltraServers, never a patchwork of small ones), the size that wastes
    the fewest chips (of equal totals: fewer units)."""
    n = max(1, int(chips))
    if n <= unit.chips[-1]:
        return Allocation(unit, next(s for s in unit.chips if s >= n), 1)
    big = [s for s in unit.chips if 2 * s >= unit.chips[-1]]
    size = min(big, key=lambda s: (math.ceil(n / s) * s, math.ceil(n / s)))
    return Allocation(unit, size, math.ceil(n / size))


def largest_within(unit: PurchaseUnit, cap: int) -> Allocation | None:
    """The largest purchasable cluster (as :func:`allocate` builds them) of at most ``cap`` chips."""
    if cap >= unit.chips[-1]:
        big = [s for s in unit.chips if 2 * s >= unit.chips[-1]]
        size = max(big, key=lambda s: (cap // s * s, -(cap // s)))
        return Allocation(unit, size, cap // size)
    fits = [s for s in unit.chips if s <= cap]
    return Allocation(unit, fits[-1], 1) if fits else None


def billed_hours(unit: PurchaseUnit, hours: float) -> float:
    """The hours one pays for a job that runs ``hours``: per second (with the minimum charge), whole
    reservable blocks (the longest block repeated, then the shortest that covers the rest), or
    whole commitment terms."""
    h = max(0.0, hours)
    if unit.billing == "per_second":
        return max(math.ceil(h * SECONDS_PER_HOUR) / SECONDS_PER_HOUR, unit.min_hours)
    if unit.billing == "term":
        return max(1, math.ceil(h / unit.term_h - 1e-12)) * unit.term_h
    longest = unit.durations_h[-1]
    full = math.floor(h / longest)
    rest = h - full * longest
    tail = 0.0 if rest <= 1e-9 and full else next(d for d in unit.durations_h if d >= rest - 1e-9)
    return full * longest + tail


def _durations(d: Mapping[str, Any], where: str) -> tuple[float, ...]:
    days = d.get("durations_days", [])
    if not isinstance(days, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in days
    ):
        raise DataError("durations_days must be a list of positive numbers", "e.g. [1, 2, 7, 14]", where)
    return tuple(sorted(float(x) * HOURS_PER_DAY for x in days))


def parse_unit(system: str, kind: str, d: Mapping[str, Any], where: str) -> PurchaseUnit:
    try:
        pricing = Pricing(kind)
    except ValueError:
        raise DataError(
            f"unknown price kind '{kind}'", "Use one of " + ", ".join(p.value for p in Pricing), where
        ) from None
    chips = d.get("chips")
    if isinstance(chips, int) and not isinstance(chips, bool):
        chips = [chips]
    if not isinstance(chips, list) or not chips or not all(isinstance(c, int) and c > 0 for c in chips):
        raise DataError("chips must be a positive integer or a list of them", "e.g. chips = [8]", where)
    for key in ("unit", "source", "as_of"):
        if not d.get(key):
            raise DataError(f"missing required key '{key}'", f"Add '{key} = ...'", where)
    try:
        return PurchaseUnit(
            system,
            pricing,
            str(d["unit"]),
            tuple(sorted(set(chips))),
            str(d.get("billing", "per_second")),
            str(d["source"]),
            str(d["as_of"]),
            min_hours=float(d.get("min_seconds", 0.0)) / SECONDS_PER_HOUR,
            durations_h=_durations(d, where),
            term_h=float(d.get("term_years", 0.0)) * HOURS_PER_YEAR,
            max_units=int(d["max_units"]) if d.get("max_units") else None,
            note=str(d.get("note", "")),
            sky_cloud=str(d.get("sky_cloud", "")),
            sky_instance_type=str(d.get("sky_instance_type", "")),
            sky_accelerators=str(d.get("sky_accelerators", "")),
        )
    except (TypeError, ValueError) as e:
        raise DataError(str(e), "Fix the record (docs/catalog.md, purchase units)", where) from e


def load_purchase_units(path: Path, systems: Mapping[str, System]) -> dict[tuple[str, Pricing], PurchaseUnit]:
    """Every record of ``path``, keyed by (system id, price kind); unknown systems are errors."""
    out: dict[tuple[str, Pricing], PurchaseUnit] = {}
    for sid, kinds in read_toml(path).items():
        where = f"{path} [{sid}]"
        if sid not in systems:
            raise UnknownNameError("system", sid, systems.keys(), where=str(path))
        if not isinstance(kinds, dict):
            raise DataError("expected a table per price kind", '["system".on_demand] ...', where)
        for kind, d in kinds.items():
            if not isinstance(d, dict):
                raise DataError(f"'{kind}' must be a table", '["system".on_demand] ...', where)
            u = parse_unit(sid, kind, d, f"{path} [{sid}.{kind}]")
            out[(sid, u.pricing)] = u
    return out

"""Price and power policy: the one place that decides which price row a plan, a claim or an
estimate uses, and how much power a cluster draws.

Every caller (ranking, fleet, claims, the API's cost and energy figures) goes through these
functions, so a plan and a claim can never price the same system differently.
"""

from __future__ import annotations

import math

from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Chip, Price, Pricing, System

PRICING_ORDER = (Pricing.ON_DEMAND, Pricing.CAPACITY_BLOCK, Pricing.COMMIT_1Y, Pricing.COMMIT_3Y)


def current_price(
    cat: Catalog,
    system: System,
    prefer: Pricing = Pricing.ON_DEMAND,
    on: str | None = None,
    strict: bool = False,
) -> Price | None:
    """The price of ``system`` a plan uses: of the preferred kind (else the first kind in
    :data:`PRICING_ORDER` that has one), the rows with the latest ``as_of`` (on or before ``on``
    when given, ISO dates compare as text; a year-only date sorts before every day of that year),
    and of those the cheapest (several regions or providers quoted on one day).

    A superseded older row never wins on cheapness; the kind is the one asked for whenever the
    catalog has it, so two systems priced for one comparison share a kind when both have it.
    ``strict``: only the preferred kind (None when the system has no price of that kind)."""
    prices = [p for p in cat.prices_for(system.id) if on is None or p.as_of <= on]
    kinds = (prefer,) if strict else (prefer, *[k for k in PRICING_ORDER if k is not prefer])
    for kind in kinds:
        rows = [p for p in prices if p.pricing is kind]
        if rows:
            latest = max(p.as_of for p in rows)
            return min((p for p in rows if p.as_of == latest), key=lambda p: p.usd_per_node_hour)
    return None


def common_kind(
    cat: Catalog, systems: list[System], prefer: Pricing = Pricing.ON_DEMAND, on: str | None = None
) -> Pricing | None:
    """The one price kind every system in a comparison has (the preferred kind when all have it,
    else the first of :data:`PRICING_ORDER`, then spot): like for like, never a capacity block
    against an on-demand price. None when no kind is shared."""
    order = (prefer, *[k for k in (*PRICING_ORDER, Pricing.SPOT) if k is not prefer])
    for kind in order:
        if all(current_price(cat, s, kind, on, strict=True) is not None for s in systems):
            return kind
    return None


def published_tdp_w(chip: Chip) -> float | None:
    """The chip's TDP where the vendor publishes one; None where the catalog only has an estimate
    (a claim is judged on published facts: an estimate would make its verdict by construction)."""
    return None if chip.tdp_estimated else chip.tdp_w


def power_estimated(cat: Catalog, system: System) -> bool:
    """True when the power of ``system`` rests on an estimated chip TDP (say "estimated" with it)."""
    return cat.chips[system.chip].tdp_estimated


def it_power_w(cat: Catalog, system: System, chips: int, power_fraction: float) -> float | None:
    """IT power of ``chips`` chips of ``system``, W: each chip at ``power_fraction`` × TDP, plus the
    host power of every node in use (a partly used node still runs its host). None without a TDP."""
    chip = cat.chips[system.chip]
    if chip.tdp_w is None:
        return None
    nodes = math.ceil(chips / system.chips_per_node)
    return chips * chip.tdp_w * power_fraction + nodes * (system.host_w_per_node or 0.0)


def facility_power_w(
    cat: Catalog, system: System, chips: int, power_fraction: float, pue: float | None = None
) -> float | None:
    """Facility power: IT power × PUE (the catalog's default PUE unless ``pue`` is given)."""
    w = it_power_w(cat, system, chips, power_fraction)
    return None if w is None else w * (cat.energy.pue if pue is None else pue)

"""A scenario's limits, checked in one place: chips available, deadline, budget, power cap.

The plan's ranking (training and serving), its sensitivity table and the sweep's points all ask
:func:`first_breach`, so a limit means the same everywhere and is worded once.
"""

from __future__ import annotations

from xpuplan.units import SECONDS_PER_DAY


def misses_deadline(deadline_days: float | None, time_s: float | None) -> bool:
    """Whether a job of ``time_s`` seconds ends after a deadline of ``deadline_days`` (none: never)."""
    return deadline_days is not None and time_s is not None and time_s > deadline_days * SECONDS_PER_DAY


def first_breach(
    *,
    deadline_days: float | None = None,
    budget_usd: float | None = None,
    power_mw: float | None = None,
    time_s: float | None = None,
    cost_usd: float | None = None,
    facility_mw: float | None = None,
    chips: int | None = None,
    available: int | None = None,
    rate: float | None = None,
    estimated_tdp: bool = False,
    pricing: str = "published",
) -> str | None:
    """The first limit an option breaks, in the order chips available, deadline, budget, power
    cap, as the reason it is infeasible; None when it keeps them all.

    A limit that cannot be checked (a budget without a price, a power cap without a TDP) is
    broken: the plan must not promise what it cannot check. ``time_s`` None: no deadline applies
    (serving runs for its period)."""
    if available is not None and chips is not None and chips > available:
        need = f"needs {chips:,} chips" + (f" for {rate:g} requests/s" if rate is not None else "")
        return f"{need}; {available:,} available"
    if misses_deadline(deadline_days, time_s):
        on = f" on {chips:,} chips" if chips is not None else ""
        days = (time_s or 0.0) / SECONDS_PER_DAY
        return f"misses the {deadline_days:g}-day deadline ({days:.0f} days{on})"
    if budget_usd is not None:
        if cost_usd is None:
            return f"no {pricing} price: cannot check the budget"
        if cost_usd > budget_usd:
            return f"over the ${budget_usd:,.0f} budget (${cost_usd:,.0f})"
    if power_mw is not None:
        if facility_mw is None:
            return "no TDP, published or estimated: cannot check the power cap"
        if facility_mw > power_mw:
            est = " (estimated TDP)" if estimated_tdp else ""
            return f"draws {facility_mw:.1f} MW{est}, over the {power_mw:g} MW cap"
    return None

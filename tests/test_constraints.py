"""The scenario's limits (planner/constraints.py): one rule for the plan, its sensitivity table
and the sweep. Each branch and each boundary is pinned with numbers written out by hand."""

from __future__ import annotations

import pytest

from xpuplan.planner.constraints import first_breach, misses_deadline

DAY = 86_400.0


def test_deadline_is_strict_and_in_days() -> None:
    assert not misses_deadline(30, 30 * DAY)  # finishing on the day meets it
    assert misses_deadline(30, 30 * DAY + 1)
    assert not misses_deadline(None, 1e12)  # no deadline
    assert not misses_deadline(30, None)  # no time (serving): no deadline applies


def test_nothing_broken() -> None:
    kw = dict(deadline_days=30, budget_usd=1e6, power_mw=10, chips=512, available=1024)
    assert first_breach(time_s=29 * DAY, cost_usd=1e6, facility_mw=10.0, **kw) is None


def test_each_limit_and_its_wording() -> None:
    assert (
        first_breach(chips=1025, available=1024, rate=50)
        == "needs 1,025 chips for 50 requests/s; 1,024 available"
    )
    assert first_breach(chips=1024, available=1024) is None
    assert first_breach(deadline_days=30, time_s=45.2 * DAY, chips=64) == (
        "misses the 30-day deadline (45 days on 64 chips)"
    )
    assert first_breach(budget_usd=1e6, cost_usd=1_000_001) == "over the $1,000,000 budget ($1,000,001)"
    assert first_breach(budget_usd=1e6, cost_usd=None, pricing="on_demand") == (
        "no on_demand price: cannot check the budget"
    )
    assert first_breach(power_mw=10, facility_mw=10.04, estimated_tdp=True) == (
        "draws 10.0 MW (estimated TDP), over the 10 MW cap"
    )
    assert (
        first_breach(power_mw=10, facility_mw=None)
        == "no TDP, published or estimated: cannot check the power cap"
    )
    assert first_breach(power_mw=10, facility_mw=10.0) is None  # at the cap is within it


def test_wording_without_the_optional_figures() -> None:
    """No rate, no chip count, a published TDP, the default price kind."""
    assert first_breach(chips=9, available=8) == "needs 9 chips; 8 available"
    assert first_breach(deadline_days=1, time_s=2 * DAY) == "misses the 1-day deadline (2 days)"
    assert first_breach(power_mw=10, facility_mw=11.0) == "draws 11.0 MW, over the 10 MW cap"
    assert first_breach(budget_usd=1.0, cost_usd=None) == "no published price: cannot check the budget"


@pytest.mark.parametrize(
    "first, kw",
    [
        ("available", dict(chips=9, available=8)),
        ("deadline", dict(chips=8, available=8)),
        ("budget", dict(chips=8, available=8, time_s=1 * DAY)),
        ("MW cap", dict(chips=8, available=8, time_s=1 * DAY, cost_usd=1.0)),
    ],
)
def test_order_chips_deadline_budget_power(first: str, kw: dict[str, float]) -> None:
    broken = dict(time_s=99 * DAY, cost_usd=9e9, facility_mw=99.0) | kw
    r = first_breach(deadline_days=30, budget_usd=1e6, power_mw=10, **broken)
    assert r is not None and first in r

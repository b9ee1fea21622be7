"""The scenario's limits (planner/constraints.py): one rule for the plan, its sensitivity table
and the sweep. Each branch and each boundary is pinned with numbers written out by hand."""

from __future__ import annotations

import pytest

from xpuplan.planner.constraints import Why, WhyCode, first_breach, misses_deadline
from xpuplan.report.wording import reason

DAY = 86_400.0


def words(**kw: float | str | None) -> str | None:
    """The breach as report.wording says it."""
    return reason(first_breach(**kw))  # type: ignore[arg-type]


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
        words(chips=1025, available=1024, rate=50) == "needs 1,025 chips for 50 requests/s; 1,024 available"
    )
    assert words(chips=1024, available=1024) is None
    assert words(deadline_days=30, time_s=45.2 * DAY, chips=64) == (
        "misses the 30-day deadline (45 days on 64 chips)"
    )
    assert words(budget_usd=1e6, cost_usd=1_000_001) == "over the $1,000,000 budget ($1,000,001)"
    assert words(budget_usd=1e6, cost_usd=None, pricing="on_demand") == (
        "no on_demand price: cannot check the budget"
    )
    assert words(power_mw=10, facility_mw=10.04, estimated_tdp=True) == (
        "draws 10.0 MW (estimated TDP), over the 10 MW cap"
    )
    assert (
        words(power_mw=10, facility_mw=None) == "no TDP, published or estimated: cannot check the power cap"
    )
    assert words(power_mw=10, facility_mw=10.0) is None  # at the cap is within it


def test_wording_without_the_optional_figures() -> None:
    """No rate, no chip count, a published TDP, the default price kind."""
    assert words(chips=9, available=8) == "needs 9 chips; 8 available"
    assert words(deadline_days=1, time_s=2 * DAY) == "misses the 1-day deadline (2 days)"
    assert words(power_mw=10, facility_mw=11.0) == "draws 11.0 MW, over the 10 MW cap"
    assert words(budget_usd=1.0, cost_usd=None) == "no published price: cannot check the budget"


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
    r = words(deadline_days=30, budget_usd=1e6, power_mw=10, **broken)
    assert r is not None and first in r


def test_breach_is_data_with_its_numbers() -> None:
    """The planner returns the code and the numbers; only report words them."""
    assert first_breach(chips=1025, available=1024, rate=50) == Why(
        WhyCode.SUPPLY, 1025, 1024, "chips", chips=1025, rate=50
    )
    w = first_breach(deadline_days=30, time_s=45 * DAY, chips=64)
    assert w is not None and (w.code, w.needed, w.limit, w.unit, w.chips) == (
        WhyCode.DEADLINE,
        45.0,
        30,
        "days",
        64,
    )
    w = first_breach(budget_usd=1e6, cost_usd=2e6)
    assert w is not None and (w.code, w.needed, w.limit, w.unit) == (WhyCode.BUDGET, 2e6, 1e6, "USD")
    w = first_breach(power_mw=10, facility_mw=12.0, estimated_tdp=True)
    assert w is not None and (w.code, w.needed, w.limit, w.estimated) == (WhyCode.POWER, 12.0, 10, True)
    assert first_breach(power_mw=10, facility_mw=None) == Why(WhyCode.POWER_NO_TDP, None, 10, "MW")
    assert first_breach(budget_usd=1.0, pricing="on_demand") == Why(
        WhyCode.BUDGET_UNPRICED, None, 1.0, "USD", subject="on_demand"
    )
    assert first_breach(power_mw=10, facility_mw=12.0).to_dict()["code"] == "power"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "why, text",
    [
        (Why(WhyCode.NO_PRICE), "no published price"),
        (Why(WhyCode.NOT_TRAINING_CHIP, subject="inf2"), "inf2 is not a training chip"),
        (Why(WhyCode.NO_PRECISION, subject="a100", detail="fp8"), "a100 has no fp8 support"),
        (Why(WhyCode.NO_UNIT, subject="UltraServer"), "not one UltraServer within the chips available"),
        (Why(WhyCode.NO_LAYOUT, chips=1536, detail="memory"), "no layout fits on 1,536 chips: memory"),
        (Why(WhyCode.NO_GROUP_CONFIG, chips=2, detail="misses TTFT"), "2 chips per group: misses TTFT"),
        (Why(WhyCode.NO_DEVICE_PATH, subject="iphone", detail="gpu"), "iphone has no gpu path on record"),
        (Why(WhyCode.NO_DEVICE_PROFILE, subject="mac"), "no device profile for mac"),
        (Why(WhyCode.NO_SERVER_POOL, detail="private"), "no private server pool in the job"),
        (Why(WhyCode.NO_SERVER_POOL), "no server pool in the job"),
        (Why(WhyCode.BATTERY), "over the device's daily battery budget"),
    ],
)
def test_the_planners_other_reasons_in_words(why: Why, text: str) -> None:
    assert reason(why) == text


def test_every_code_has_its_words() -> None:
    from xpuplan.report.wording import _WORDS

    assert set(_WORDS) == set(WhyCode)

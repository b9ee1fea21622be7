"""A scenario's limits, checked in one place: chips available, deadline, budget, power cap.

The plan's ranking (training and serving), its sensitivity table and the sweep's points all ask
:func:`first_breach`, so a limit means the same everywhere. The planner says why an option fails as
data (:class:`Why`: a code and its numbers); :mod:`xpuplan.report.wording` words it for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from xpuplan.units import SECONDS_PER_DAY


class WhyCode(StrEnum):
    """Why an option of the plan is infeasible (or why a job has none, or why a hybrid job's
    requests leave the device)."""

    SUPPLY = "supply"  # needs more chips than are available
    DEADLINE = "deadline"  # the job ends after the deadline
    BUDGET = "budget"  # costs more than the budget
    BUDGET_UNPRICED = "budget_unpriced"  # a budget, but no price to check it with
    POWER = "power"  # draws more than the power cap
    POWER_NO_TDP = "power_no_tdp"  # a power cap, but no TDP to check it with
    NO_PRICE = "no_price"  # keeps every limit, but has no published price
    NOT_TRAINING_CHIP = "not_training_chip"
    NO_PRECISION = "no_precision"  # the chip has no peak for the job's precision
    NO_UNIT = "no_unit"  # not one purchase unit within the chips available
    NO_LAYOUT = "no_layout"  # no training layout fits on the chips
    NO_GROUP_CONFIG = "no_group_config"  # no serving configuration of one replica group works
    # a hybrid job's requests off the device (subject: the device's system, detail: its path)
    NO_DEVICE_PATH = "no_device_path"  # the device profile has no such path (GPU, NPU)
    NO_APP_MEMORY = "no_app_memory"  # the model does not fit in the app's memory
    DEVICE_LATENCY = "device_latency"  # the device misses the class's latency target
    BATTERY = "battery"  # over the device's daily battery budget
    NEEDS_SERVER_MODEL = "needs_server_model"  # the class has no on-device model
    NO_DEVICE = "no_device"  # the device group names no system that could run the model
    NO_DEVICE_PROFILE = "no_device_profile"  # no profile on record for the device's system
    NO_SERVER_POOL = "no_server_pool"  # no pool the class's privacy allows (detail: "private")


@dataclass(frozen=True, slots=True)
class Why:
    """Why an option is infeasible, as data: ``needed`` against ``limit`` in ``unit`` where a
    number is at stake; ``subject`` names what lacks (a chip id, a purchase unit, a pricing kind),
    ``detail`` is a lower layer's reason (the layout search's)."""

    code: WhyCode
    needed: float | None = None
    limit: float | None = None
    unit: str = ""  # "chips", "days", "USD", "MW"
    chips: int | None = None  # the option's chips, where the reason names them
    rate: float | None = None  # requests/s the chips are for (serving supply)
    estimated: bool = False  # the figure rests on an estimated TDP
    subject: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["code"] = self.code.value
        return d


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
) -> Why | None:
    """The first limit an option breaks, in the order chips available, deadline, budget, power
    cap, as the reason it is infeasible; None when it keeps them all.

    A limit that cannot be checked (a budget without a price, a power cap without a TDP) is
    broken: the plan must not promise what it cannot check. ``time_s`` None: no deadline applies
    (serving runs for its period)."""
    if available is not None and chips is not None and chips > available:
        return Why(WhyCode.SUPPLY, chips, available, "chips", chips=chips, rate=rate)
    if misses_deadline(deadline_days, time_s):
        days = (time_s or 0.0) / SECONDS_PER_DAY
        return Why(WhyCode.DEADLINE, days, deadline_days, "days", chips=chips)
    if budget_usd is not None:
        if cost_usd is None:
            return Why(WhyCode.BUDGET_UNPRICED, None, budget_usd, "USD", subject=pricing)
        if cost_usd > budget_usd:
            return Why(WhyCode.BUDGET, cost_usd, budget_usd, "USD")
    if power_mw is not None:
        if facility_mw is None:
            return Why(WhyCode.POWER_NO_TDP, None, power_mw, "MW")
        if facility_mw > power_mw:
            return Why(WhyCode.POWER, facility_mw, power_mw, "MW", estimated=estimated_tdp)
    return None

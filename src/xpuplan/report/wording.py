"""The planner's reasons in words: every view and the JSON output word a :class:`Why` here.

The planner returns why an option is infeasible as data (a code and its numbers); this module is
the one place that turns it into the sentence people read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xpuplan.planner import fleet
from xpuplan.planner.constraints import Why, WhyCode
from xpuplan.planner.fleet import Binding, FleetOption, FleetPlan
from xpuplan.planner.plan import PlanResult
from xpuplan.report import fmt


def _supply(w: Why) -> str:
    need = f"needs {w.chips:,} chips" + (f" for {w.rate:g} requests/s" if w.rate is not None else "")
    return f"{need}; {int(w.limit or 0):,} available"


def _deadline(w: Why) -> str:
    on = f" on {w.chips:,} chips" if w.chips is not None else ""
    return f"misses the {w.limit:g}-day deadline ({w.needed:.0f} days{on})"


def _power(w: Why) -> str:
    est = " (estimated TDP)" if w.estimated else ""
    return f"draws {w.needed:.1f} MW{est}, over the {w.limit:g} MW cap"


_WORDS: dict[WhyCode, Callable[[Why], str]] = {
    WhyCode.SUPPLY: _supply,
    WhyCode.DEADLINE: _deadline,
    WhyCode.BUDGET: lambda w: f"over the ${w.limit:,.0f} budget (${w.needed:,.0f})",
    WhyCode.BUDGET_UNPRICED: lambda w: f"no {w.subject} price: cannot check the budget",
    WhyCode.POWER: _power,
    WhyCode.POWER_NO_TDP: lambda w: "no TDP, published or estimated: cannot check the power cap",
    WhyCode.NO_PRICE: lambda w: "no published price",
    WhyCode.NOT_TRAINING_CHIP: lambda w: f"{w.subject} is not a training chip",
    WhyCode.NO_PRECISION: lambda w: f"{w.subject} has no {w.detail} support",
    WhyCode.NO_UNIT: lambda w: f"not one {w.subject} within the chips available",
    WhyCode.NO_LAYOUT: lambda w: f"no layout fits on {w.chips:,} chips: {w.detail}",
    WhyCode.NO_GROUP_CONFIG: lambda w: f"{w.chips} chips per group: {w.detail}",
    WhyCode.NO_DEVICE_PATH: lambda w: f"{w.subject} has no {w.detail} path on record",
    WhyCode.NO_APP_MEMORY: lambda w: "model does not fit in the app's memory",
    WhyCode.DEVICE_LATENCY: lambda w: "misses the latency target on the device",
    WhyCode.BATTERY: lambda w: "over the device's daily battery budget",
    WhyCode.NEEDS_SERVER_MODEL: lambda w: "needs the server model",
    WhyCode.NO_DEVICE: lambda w: "the device cannot run the model",
    WhyCode.NO_DEVICE_PROFILE: lambda w: f"no device profile for {w.subject}",
    WhyCode.NO_SERVER_POOL: lambda w: (
        f"no {'private ' if w.detail == 'private' else ''}server pool in the job"
    ),
}


def reason(why: Why | None) -> str | None:
    """The sentence for ``why`` (None: nothing is wrong)."""
    return None if why is None else _WORDS[why.code](why)


def why_of(d: dict[str, Any] | None) -> Why | None:
    """A :class:`Why` back from its ``to_dict`` (the HTML report's data is plain dicts)."""
    if not d:
        return None
    return Why(**{**d, "code": WhyCode(d["code"])})


def reason_of(d: dict[str, Any]) -> str | None:
    """The sentence for an option as a dict: its own ``reason``, else its ``why`` worded."""
    return d.get("reason") or reason(why_of(d.get("why")))


def stuck_reason(stuck: list[tuple[str, str | None, Why | None]]) -> str:
    """Why no fleet can be planned: each job (name, its closest option's system and reason) that
    has no option that meets its constraints."""
    return "; ".join(
        f"job '{job}' has no option that meets its constraints"
        + (f" (closest: {system}, {reason(why)})" if system is not None else "")
        for job, system, why in stuck
    )


_LIMIT = {"supply": "chip supply", "power": "power cap", "budget": "budget", "vendor_share": "vendor share"}


def limit_name(code: str, subject: str | None) -> str:
    """A fleet limit by name: "supply of <system>", "power cap", "<vendor> share of spend"."""
    if code == "supply":
        return f"supply of {subject}"
    if code == "vendor_share":
        return f"{subject} share of spend"
    return _LIMIT[code]


def binding_text(b: Binding, objective: str) -> str:
    """What a binding fleet limit costs: how much one more unit of it would save."""
    what = {"cost": "$", "energy": "J", "time": "s"}[objective]
    gain = -b.shadow_price
    head = f"{limit_name(b.limit_code, b.subject)} binds ({b.used:,.4g} of {b.limit:,.4g} {b.unit}); "
    if gain > 1e-9:
        return head + f"one more {b.unit} would save {gain:,.4g} {what}"
    return head + "relaxing it alone would not lower the objective"


def binding_of(d: dict[str, Any]) -> Binding:
    """A :class:`Binding` back from its dict (the HTML report's data is plain dicts)."""
    return Binding(*(d[k] for k in Binding.__dataclass_fields__))


def fleet_why(why: str | None, culprits: Sequence[str]) -> str | None:
    """Why the fleet MIP found no plan (``FleetPlan.why`` and its culprits; None: it found one)."""
    if why == fleet.NO_OPTIONS:
        return "no job has a feasible option"
    if why == fleet.ONE_LIMIT:
        return "no fleet meets every limit; it becomes possible without the " + " or the ".join(
            _LIMIT[c] for c in culprits
        )
    if why == fleet.SEVERAL_LIMITS:
        return "no fleet meets the limits even with any single one removed; several bind together"
    return None


def fleet_plan_reason(f: FleetPlan) -> str | None:
    """Why the fleet MIP found no plan (None: it found one, or was not asked)."""
    return fleet_why(f.why, f.culprits)


def fleet_reason(result: PlanResult) -> str | None:
    """Why the plan has no fleet: the jobs with no option, else the fleet MIP's own reason."""
    if not result.stuck:
        return fleet_plan_reason(result.fleet)
    jobs = {j.job: j.options for j in result.jobs}
    return stuck_reason(
        [
            (n, jobs[n][0].system if jobs[n] else None, jobs[n][0].why if jobs[n] else None)
            for n in result.stuck
        ]
    )


def plan_notes(a: dict[str, Any] | None) -> list[str]:
    """The plan's assumptions (``Assumptions.to_dict()``) as the notes under its tables."""
    if not a:
        return []
    src = a["pue_source"]
    notes = [
        f"PUE {a['pue']:.2f} ({src})" if src else f"PUE {a['pue']:.2f} (scenario)",
        f"Energy: chips at {a['power_fraction']:.0%} of TDP plus node host power, × PUE; where no TDP is "
        "published (TPUs, Trainium, Inferentia) the catalog's estimated TDP is used and the figure is marked 'est.'.",
        f"Prices: the cheapest published {a['pricing']} price per system, else the next pricing kind "
        "(on-demand, capacity block, 1-year, 3-year); each option shows its kind and date.",
        "Serving cost covers the job's hours at the request rate; serving 'time' is a request's "
        "end-to-end latency.",
        "Sizes and costs are whole purchase units (instances, UltraServers, TPU slices), billed as sold: "
        "per second on demand, whole capacity blocks (days), whole commitment terms.",
    ]
    if a["hybrid"]:
        notes.append(
            "Hybrid jobs: requests run on the device when the on-device model fits in the app's memory, "
            "meets the class's latency target (burst, then sustained speed) and the battery budget; the rest "
            "go to the pools the privacy rule allows, sized for the peak rate (TTFT ≤ 20% of the target)."
        )
    return notes


def result_notes(result: PlanResult) -> list[str]:
    """The plan's notes."""
    return plan_notes(result.assumptions.to_dict() if result.assumptions else None)


_ASSUMED = {"app_memory": "app memory", "battery": "battery"}


def assumption_what(kind: str, path: str | None) -> str:
    """What a hybrid plan's device assumption (``DeviceAssumption``) is, in words."""
    return _ASSUMED.get(kind) or f"{path} path (peaks, power, sustained speed)"


def mfu_flag(o: Any) -> str | None:
    """The note on a training option above every comparable published MFU on its chip (an Option
    or its dict: ``published_mfu``, ``published_case``, ``mfu_above_published``), in plain text;
    None for one that is not flagged."""
    get = o.get if isinstance(o, Mapping) else lambda k: getattr(o, k)
    above, ref = get("mfu_above_published"), get("published_mfu")
    if above is None or ref is None:
        return None
    return (
        f"{get('system')}: MFU {fmt.pct(get('utilisation'))} is {above:.2f}× the best comparable published "
        f"run on {get('chip')} ({fmt.pct(ref)}, {get('published_case') or ''}); treat it as a bound, "
        "not a forecast"
    )


def chips_idle(chips_used: int | None, chips: int) -> str:
    """What an option of ``chips`` paid-for chips leaves idle when its layout runs on
    ``chips_used`` of them (Option.chips_used); empty when it uses them all."""
    if chips_used is None or chips_used >= chips:
        return ""
    return f" ({chips_used:,} of {chips:,} chips used, {chips - chips_used:,} idle)"


def fleet_unit(fo: FleetOption | Mapping[str, Any]) -> str:
    """What one count of fleet option ``fo`` is bought as: "2 × node of 8 chips" (a serving
    option's count is a replica group: "... per group"). ``fo`` may be the option or its JSON
    form (one entry of the fleet's ``assignment``)."""
    d = fo if isinstance(fo, Mapping) else fo.__dict__

    def n(x: float | None) -> str:
        return "?" if x is None else f"{x:,.0f}"

    per = " per group" if d["kind"] == "serve" else ""
    return f"{n(d['units'])} × {d['unit']} of {n(d['unit_chips'])} chips{per}"


def plan_dict(result: PlanResult) -> dict[str, Any]:
    """The plan as JSON: the planner's data, each reason worded beside its code and numbers."""
    d = result.to_dict()
    for jd, jp in zip(d["jobs"], result.jobs, strict=True):
        for od, o in zip(jd["options"], jp.options, strict=True):
            od["reason"] = reason(o.why)
            od["idle"] = chips_idle(o.chips_used, o.chips).strip(" ()") or None
    for hd, h in zip(d["hybrid"], result.hybrid, strict=True):
        for ad in hd["assumptions"]:
            ad["what"] = assumption_what(ad["kind"], ad["path"])
        for cd, c in zip(hd["classes"], h.classes, strict=True):
            cd["reasons"] = {reason(w): n for w, n in c.reasons.items()}
            for vd, v in zip(cd["verdicts"], c.verdicts, strict=True):
                vd["reason"] = reason(v.why)
    d["fleet"]["reason"] = fleet_reason(result)
    for ad, (fo, _) in zip(d["fleet"]["assignment"], result.fleet.assignment, strict=True):
        ad["label"] = fleet_unit(fo)
    d["fleet"]["binding"] = [
        {
            "constraint": limit_name(b.limit_code, b.subject),
            **bd,
            "text": binding_text(b, result.fleet.objective),
        }
        for bd, b in zip(d["fleet"]["binding"], result.fleet.binding, strict=True)
    ]
    d["notes"] = result_notes(result)
    return d

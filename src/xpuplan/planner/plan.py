"""The planner: rank every candidate system per job, plan the fleet, say how robust the winner is.

``plan(scenario)`` → :class:`PlanResult` with, per job, every candidate system's best option
(ranked by the objective; infeasible ones with their reason and savings against the baseline), the
fleet plan across jobs (HiGHS), and a sensitivity analysis of the top two options. It never prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from xpuplan.datafiles import FieldsDict
from xpuplan.errors import InputError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.devices import device_profiles
from xpuplan.hardware.pricing import current_price
from xpuplan.hardware.records import System
from xpuplan.perf.params import PerfParams, default_params
from xpuplan.planner.constraints import misses_deadline
from xpuplan.planner.fleet import FleetLimits, FleetOption, FleetPlan, plan_fleet
from xpuplan.planner.hybrid import HybridPlan, hybrid_catalog, split_hybrid, summarise_hybrid
from xpuplan.planner.rank import Option, choose, rank_serve, rank_train, with_baseline
from xpuplan.planner.scenario import (
    HybridSpec,
    Scenario,
    ServeSpec,
    TrainSpec,
    default_scenario,
    load_scenario,
)

__all__ = [
    "Assumptions",
    "JobPlan",
    "Option",
    "PlanResult",
    "Scenario",
    "default_scenario",
    "load_scenario",
    "plan",
]


@dataclass(frozen=True)
class Assumptions(FieldsDict):
    """What the plan's figures rest on (report.wording states them as the plan's notes)."""

    pue: float
    pue_source: str | None  # the catalog's source and date; None: the scenario sets the PUE
    power_fraction: float  # chips draw this fraction of TDP
    pricing: str  # the price kind asked for first
    hybrid: bool  # the plan splits hybrid jobs between devices and servers


@dataclass(frozen=True)
class Sensitivity(FieldsDict):
    """How close the runner-up is, and how the winner fares at ±20% price and utilisation."""

    winner: str
    runner_up: str | None
    break_even_price_ratio: float | None  # runner-up wins if its price falls below this × today's
    break_even_efficiency_ratio: float | None  # ... or if its throughput rises by this factor
    what_if: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class JobPlan:
    job: str
    kind: str
    options: list[Option]  # one per candidate system, best first
    sensitivity: Sensitivity | None

    @property
    def best(self) -> Option | None:
        return self.options[0] if self.options and self.options[0].feasible else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "kind": self.kind,
            "options": [o.to_dict() for o in self.options],
            "sensitivity": self.sensitivity.to_dict() if self.sensitivity else None,
        }


@dataclass(frozen=True)
class PlanResult:
    scenario: Scenario
    jobs: list[JobPlan]
    fleet: FleetPlan
    pue: float
    assumptions: Assumptions | None = None  # worded as the plan's notes by report.wording
    # per job name: every size of every system tried. A real mapping (job name -> its options, any
    # number of jobs), not a record with fixed keys, so it stays a dict.
    tried: dict[str, list[Option]] = field(default_factory=dict)
    hybrid: list[HybridPlan] = field(default_factory=list)  # hybrid jobs: the device/server split
    stuck: list[str] = field(default_factory=list)  # jobs with no option that may join the fleet

    def to_dict(self) -> dict[str, Any]:
        sc = self.scenario
        c = sc.constraints
        return {
            "scenario": {
                "name": sc.name,
                "objective": sc.objective,
                "baseline": sc.baseline,
                "pue": self.pue,
                "pricing": sc.pricing.value,
                "jobs": [j.__dict__ for j in sc.jobs],
                "constraints": {**c.__dict__},
            },
            "jobs": [j.to_dict() for j in self.jobs],
            "fleet": self.fleet.to_dict(),
            "notes": [],  # report.wording.plan_dict words the assumptions here
            "hybrid": [h.to_dict() for h in self.hybrid],
            "assumptions": self.assumptions.to_dict() if self.assumptions else None,
        }


def restrict_prices(sc: Scenario, cat: Catalog) -> Catalog:
    """The catalog with only the prices of the scenario's price kinds and regions (where it names
    them): the price policy then picks among those alone."""
    if not sc.price_kinds and not sc.regions:
        return cat
    keep = tuple(
        p
        for p in cat.prices
        if (not sc.price_kinds or p.pricing in sc.price_kinds)
        and (not sc.regions or any(r.lower() in p.region.lower() for r in sc.regions))
    )
    return replace(cat, prices=keep)


def _allowed(sc: Scenario, s: System) -> bool:
    return (not sc.providers or s.provider in sc.providers) and s.id not in sc.exclude


def candidates(sc: Scenario, cat: Catalog, spec: TrainSpec | ServeSpec) -> list[System]:
    """The systems a job is ranked on: the scenario's list (else every priced system), within its
    providers and without its exclusions; with price-kind or region filters, only priced ones."""
    if isinstance(spec, ServeSpec) and spec.candidates:
        return [cat.systems[s] for s in spec.candidates]
    if sc.systems:
        named = [cat.systems[s] for s in sc.systems if _allowed(sc, cat.systems[s])]
        if sc.price_kinds or sc.regions:
            named = [s for s in named if current_price(cat, s, sc.pricing) is not None]
        return named
    out = []
    for s in cat.systems.values():
        if not _allowed(sc, s):
            continue
        chip = cat.chips[s.chip]
        if current_price(cat, s, sc.pricing, sc.prices_on) is None:
            continue
        if isinstance(spec, TrainSpec) and not chip.training:
            continue
        out.append(s)
    return sorted(out, key=lambda s: s.id)


def _key(sc: Scenario, o: Option) -> tuple[bool, float]:
    v = {"cost": o.cost_usd, "time": o.time_s, "energy": o.energy_j}[sc.objective]
    return (not o.feasible, math.inf if v is None else v)


def sensitivity(sc: Scenario, options: list[Option]) -> Sensitivity | None:
    ok = [o for o in options if o.feasible and o.cost_usd]
    if not ok:
        return None
    a = ok[0]
    b = ok[1] if len(ok) > 1 else None
    ratio = None if b is None or not b.cost_usd or not a.cost_usd else a.cost_usd / b.cost_usd
    what_if = []
    for label, cost_f, time_f in (
        ("price +20%", 1.2, 1.0),
        ("price −20%", 0.8, 1.0),
        ("utilisation +20%", 1 / 1.2, 1 / 1.2),
        ("utilisation −20%", 1 / 0.8, 1 / 0.8),
    ):
        cost = (a.cost_usd or 0.0) * cost_f
        time = (a.time_s or 0.0) * time_f
        late = a.kind != "serve" and misses_deadline(sc.constraints.deadline_days, time)
        still = b is None or (cost <= (b.cost_usd or math.inf) if sc.objective == "cost" else True)
        what_if.append(
            {
                "case": label,
                "cost_usd": cost,
                "time_s": time,
                "meets_deadline": not late,
                "still_best": bool(still and not late),
            }
        )
    return Sensitivity(
        a.system, b.system if b else None, ratio, None if ratio is None else 1.0 / ratio, what_if
    )


def plan(
    sc: Scenario,
    catalog: Catalog | None = None,
    params: PerfParams | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """Rank systems per job, then plan the fleet across jobs."""
    cat = restrict_prices(sc, catalog or default_catalog())
    params = params or default_params()
    pue = sc.pue or cat.energy.pue
    # hybrid jobs: decide what runs on the devices; the rest becomes serving jobs on their pools
    cat = hybrid_catalog(sc, cat)
    profiles = device_profiles()
    splits = [split_hybrid(h, cat, params, profiles) for h in sc.jobs if isinstance(h, HybridSpec)]
    specs = [s for s in sc.jobs if not isinstance(s, HybridSpec)]
    specs += [j for sp in splits for j in sp.server_jobs.values()]
    work = [(spec, s) for spec in specs for s in candidates(sc, cat, spec)]
    if not work and (specs or not splits):
        if sc.providers or sc.exclude or sc.price_kinds or sc.regions:
            raise InputError(
                "no candidate system is left after the provider, exclude, price-kind and region filters",
                "Loosen the filters (xpuplan catalog prices lists providers, kinds and regions)",
            )
        raise InputError("no candidate system has a price", "Name systems in [candidates] or add prices")
    per_job: dict[str, list[Option]] = {spec.name: [] for spec in specs}
    every: dict[str, list[Option]] = {spec.name: [] for spec in specs}
    for i, (spec, system) in enumerate(work):
        tried = (
            rank_train(spec, sc, cat, system, pue, params)
            if isinstance(spec, TrainSpec)
            else rank_serve(spec, sc, cat, system, pue, params)
        )
        every[spec.name] += tried
        per_job[spec.name].append(choose(sc, tried))
        if progress:
            progress(i + 1, len(work))
    jobs = []
    for spec in specs:
        opts = sorted(with_baseline(per_job[spec.name], sc.baseline), key=lambda o: _key(sc, o))
        jobs.append(JobPlan(spec.name, spec.kind, opts, sensitivity(sc, opts)))
    ranked = {j.job: j.options for j in jobs}
    hybrid = [summarise_hybrid(sp, ranked, profiles) for sp in splits]
    # a job is stuck when no option can take part in the fleet; a serving job whose every option is
    # over a limit at the full rate may still be served by a mix of groups (the fleet decides)
    stuck = [j for j in jobs if not any(o.fleet_ok for o in every[j.job])]
    if stuck:  # report.wording words why, with each job's closest miss
        fleet = FleetPlan("infeasible", sc.objective, None, [])
    elif not specs:  # hybrid jobs served wholly on their devices: no servers to plan
        fleet = FleetPlan("optimal", sc.objective, 0.0, [])
    else:
        fleet = plan_fleet(_fleet_options(every, sc.objective), _limits(sc, cat), sc.objective)
    pue_source = None if sc.pue else f"{cat.energy.source}; {cat.energy.as_of}"
    basis = Assumptions(pue, pue_source, params.power_fraction, sc.pricing.value, bool(hybrid))
    return PlanResult(sc, jobs, fleet, pue, basis, every, hybrid, [j.job for j in stuck])


def _fleet_options(every: dict[str, list[Option]], objective: str) -> list[FleetOption]:
    """Every option of every job (all sizes tried) that may take part in the fleet, as fleet
    candidates: a training option whole, a serving option as one replica group (whole purchase
    units) of which the fleet rents as many as it needs. Options without a published TDP have no
    energy: they are left out of an energy objective, and count 0 MW."""
    out = []
    for options in every.values():
        for o in options:
            if not o.fleet_ok or o.cost_usd is None or (objective == "energy" and o.energy_j is None):
                continue
            d = o.detail or {}
            serve = o.kind == "serve"
            # serving: one replica group (bought in whole units of its own), up to ``groups`` of them
            g = int(d["groups"]) if serve else 1
            buy = d.get("group_purchase" if serve else "purchase") or {}
            out.append(
                FleetOption(
                    o.job,
                    o.kind,
                    o.system,
                    o.vendor,
                    int(d["chips_per_group"]) if serve else o.chips,
                    o.cost_usd / g,
                    (o.energy_j or 0.0) / g,
                    (o.facility_mw or 0.0) / g,
                    o.time_s or 0.0,
                    capacity=float(d["requests_per_s_per_group"]) if serve else 1.0,
                    demand=float(d["rate"]) if serve else 1.0,
                    max_count=g,
                    units=buy.get("units"),
                    unit=str(buy.get("unit", "node")),
                    unit_chips=buy.get("unit_chips"),
                )
            )
    return out


def _limits(sc: Scenario, cat: Catalog) -> FleetLimits:
    c = sc.constraints
    return FleetLimits(dict(c.available), c.power_mw, c.budget_usd, c.max_vendor_share)

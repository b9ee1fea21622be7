"""Per-job ranking: for each candidate system, the best size and layout, and what it costs.

Training jobs: the cluster is sized from the model's FLOPs for the deadline, then the sizes around
that first guess (×½, ×1, ×2, ×4 in whole nodes, capped by supply and the provider's largest
cluster) are searched; the objective picks among those that meet the deadline. Serving jobs: one
replica group (the smallest purchase unit, a node, or 2-4 nodes for models that need them) is
searched for its best configuration under the latency targets, and enough groups are rented to
carry the request rate.

Every size is a whole number of purchase units (:mod:`xpuplan.hardware.purchase`: instances,
UltraServers, TPU slices) and is priced as such, for the hours the unit bills (whole capacity
blocks, whole commitment terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.pricing import current_price, it_power_w, power_estimated
from xpuplan.hardware.purchase import PurchaseUnit, allocate, billed_hours, largest_within
from xpuplan.hardware.records import Chip, Interval, Price, System
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.machine import MAX_CHIPS, Machine
from xpuplan.perf.params import PerfParams, serve_params, train_params
from xpuplan.perf.published import mfu_above
from xpuplan.planner.constraints import Why, WhyCode, first_breach
from xpuplan.planner.scenario import Scenario, ServeSpec, TrainSpec
from xpuplan.search.serve_search import ServePlan, ServeSearchResult, search_serve
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from xpuplan.workload.job import ServeJob, TrainJob
from xpuplan.workload.library import get_model

FIRST_GUESS_MFU = 0.35  # only sizes the first search; the estimates decide


@dataclass(frozen=True)
class Option:
    """One system's best plan for one job (or why it has none)."""

    job: str
    kind: str
    system: str
    chip: str
    vendor: str
    chips: int
    layout: str | None
    utilisation: float | None  # MFU for training, None for serving
    time_s: float | None  # training: time to train; serving: end-to-end latency of a request
    cost_usd: float | None
    energy_j: float | None
    facility_mw: float | None
    pricing: str | None
    price_as_of: str | None
    feasible: bool
    why: Why | None = None  # why it is infeasible, as data (report.wording words it)
    savings_vs_baseline: float | None = None  # fraction lower cost for the same work
    price_perf_vs_baseline: float | None = None  # × better price-performance
    detail: dict[str, Any] | None = None
    energy_estimated: bool = False  # energy and power rest on an estimated chip TDP
    interval: Interval | None = None  # 80% prediction interval of the estimate behind it
    # training on whole units that hold no layout: the chips the layout runs on (the rest of
    # ``chips`` is paid for and idle; report.wording.chips_idle words it); None: all of them
    chips_used: int | None = None
    # training (16-bit, full): the best comparable published MFU on the chip (perf/published.py)
    # and, where this option's MFU is above MFU_MARGIN times it, how many times it: the figure is
    # likely optimistic (report.plan_view flags it)
    published_mfu: float | None = None
    published_case: str | None = None
    mfu_above_published: float | None = None

    def bounds(self, value: float | None) -> tuple[float, float] | None:
        """80% interval of a time- or cost-like figure of this option."""
        if value is None or self.interval is None:
            return None
        return self.interval.time(value)

    def overlaps(self, other: Option, objective: str = "cost") -> bool | None:
        """Whether this option's 80% interval on the objective overlaps ``other``'s (None: unknown)."""
        key = {"cost": "cost_usd", "time": "time_s", "energy": "energy_j"}.get(objective, "cost_usd")
        a, b = self.bounds(getattr(self, key)), other.bounds(getattr(other, key))
        if a is None or b is None:
            return None
        return a[0] <= b[1] and b[0] <= a[1]

    # may take part in the fleet plan: meets every limit the fleet does not check itself (a serving
    # option over the budget, the power cap or the supply at the full rate can still carry a part)
    fleet_ok: bool = False

    def to_dict(self) -> dict[str, Any]:
        # "reason" is worded by report.wording (plan_dict); the code and numbers are under "why"
        d = {("reason" if k == "why" else k): (None if k == "why" else v) for k, v in self.__dict__.items()}
        d["why"] = self.why.to_dict() if self.why else None
        d["interval"] = self.interval.to_dict() if self.interval else None
        d["time_interval_s"] = self.bounds(self.time_s)
        d["cost_interval_usd"] = self.bounds(self.cost_usd)
        d["time_days"] = (
            None if self.time_s is None or self.kind == "serve" else self.time_s / SECONDS_PER_DAY
        )
        d["energy_mwh"] = None if self.energy_j is None else self.energy_j / 3.6e9
        return d


def _cap(sc: Scenario, system: System, unit: PurchaseUnit) -> int:
    """Chips one can have: the provider's largest cluster, the most units one can hold, the
    scenario's supply, 10 M at most."""
    caps = [
        c
        for c in (system.scale_out.max_chips, unit.max_chips, sc.constraints.available.get(system.id))
        if c is not None
    ]
    return min([*caps, MAX_CHIPS])


def purchase_unit(sc: Scenario, cat: Catalog, system: System, price: Price | None) -> PurchaseUnit:
    """What is bought of ``system`` at the price the plan uses (its kind, else the scenario's)."""
    return cat.purchase_unit(system, price.pricing if price else sc.pricing)


def whole_units_cost(price: Price, system: System, unit: PurchaseUnit, chips: int, hours: float) -> float:
    """USD for ``chips`` chips (whole units) held for a job of ``hours``, at the hours the unit bills."""
    return (
        price.usd_per_chip_hour(system.chips_per_node)
        * allocate(unit, chips).chips
        * billed_hours(unit, hours)
    )


@dataclass(frozen=True)
class _Candidate:
    """What every option of one job on one system shares: the job, the scenario it is planned in,
    the catalog, the system, the price the plan uses (None: unpriced), the PUE and the model
    constants."""

    spec: TrainSpec | ServeSpec
    sc: Scenario
    cat: Catalog
    system: System
    price: Price | None
    pue: float
    params: PerfParams

    @property
    def chip(self) -> Chip:
        return self.cat.chips[self.system.chip]


def _candidate(
    spec: TrainSpec | ServeSpec, sc: Scenario, cat: Catalog, system: System, pue: float, params: PerfParams
) -> _Candidate:
    """``spec`` on ``system``, priced as the scenario asks (its kind, on its date)."""
    return _Candidate(
        spec, sc, cat, system, current_price(cat, system, sc.pricing, sc.prices_on), pue, params
    )


def _option(
    c: _Candidate,
    chips: int,
    why: Why | None,
    *,
    layout: str | None = None,
    utilisation: float | None = None,
    time_s: float | None = None,
    cost_usd: float | None = None,
    power_w: float | None = None,
    energy_j: float | None = None,
    detail: dict[str, Any] | None = None,
    interval: Interval | None = None,
    fleet_ok: bool = False,
) -> Option:
    """One option of ``c`` on ``chips`` chips: feasible when there is no ``why``; its facility
    power is the IT power ``power_w`` × PUE."""
    spec, cat, system, price, chip = c.spec, c.cat, c.system, c.price, c.chip
    return Option(
        spec.name,
        spec.kind,
        system.id,
        chip.id,
        chip.vendor,
        chips,
        layout,
        utilisation,
        time_s,
        cost_usd,
        energy_j,
        _facility_mw(power_w, c.pue),
        price.pricing.value if price else None,
        price.as_of if price else None,
        why is None,
        why,
        detail=detail,
        energy_estimated=power_w is not None and power_estimated(cat, system),
        interval=interval,
        fleet_ok=fleet_ok,
    )


def _why_not(
    cand: _Candidate,
    chips: int,
    cost_usd: float | None,
    facility_mw: float | None,
    *,
    time_s: float | None = None,
    available: int | None = None,
    rate: float | None = None,
) -> Why | None:
    """Why an option of ``chips`` chips of the candidate's system is infeasible: the first
    scenario limit it breaks (:func:`first_breach`; ``time_s`` None: no deadline applies), else
    that it has no published price; None when it keeps them all."""
    c = cand.sc.constraints
    reason = first_breach(
        deadline_days=c.deadline_days,
        budget_usd=c.budget_usd,
        power_mw=c.power_mw,
        time_s=time_s,
        cost_usd=cost_usd,
        facility_mw=facility_mw,
        chips=chips,
        available=available,
        rate=rate,
        estimated_tdp=power_estimated(cand.cat, cand.system),
    )
    if reason is None and cand.price is None:
        return Why(WhyCode.NO_PRICE)
    return reason


def _facility_mw(power_w: float | None, pue: float) -> float | None:
    """Facility power in MW: the IT power × PUE (None: no TDP to count)."""
    return None if power_w is None else power_w * pue / 1e6


def train_sizes(job: TrainJob, sc: Scenario, system: System, peak: float, unit: PurchaseUnit) -> list[int]:
    """Chip counts to search: the first guess for the deadline ×½, ×1, ×2, ×4 in nodes, each
    rounded up to whole purchase units; above the cap, the largest whole-unit cluster within it."""
    node = system.chips_per_node
    deadline_s = (sc.constraints.deadline_days or 90.0) * SECONDS_PER_DAY
    flops = job.model.train_flops_per_token(job.seq_len) * (job.tokens or 0.0)
    need = flops / (deadline_s * peak * FIRST_GUESS_MFU)
    nodes = 2 ** max(0, math.ceil(math.log2(max(need / node, 1.0))))
    cap = _cap(sc, system, unit)
    sizes = sorted({allocate(unit, max(1, int(nodes * f)) * node).chips for f in (0.5, 1, 2, 4)})
    capped = [n for n in sizes if n <= cap]
    top = largest_within(unit, cap) if cap < MAX_CHIPS else None  # a real limit, not the 10 M bound
    if top is not None and top.chips not in capped and (not capped or top.chips > capped[-1]):
        capped.append(top.chips)
    return capped


def rank_train(
    spec: TrainSpec, sc: Scenario, cat: Catalog, system: System, pue: float, params: PerfParams
) -> list[Option]:
    """Every size tried for this system (feasible or not, with the reason)."""
    c = _candidate(spec, sc, cat, system, pue, params)
    chip, price = c.chip, c.price
    if not chip.training:
        return [_option(c, 0, Why(WhyCode.NOT_TRAINING_CHIP, subject=chip.id))]
    job = TrainJob(
        get_model(spec.model), spec.global_batch, spec.seq_len, spec.precision, spec.tokens, spec.lora_rank
    )
    peak = chip.peak(spec.precision) or chip.peak("fp16") or 0.0
    if not peak:
        return [_option(c, 0, Why(WhyCode.NO_PRECISION, subject=chip.id, detail=spec.precision))]
    unit = purchase_unit(sc, cat, system, price)
    sizes = train_sizes(job, sc, system, peak, unit)
    if not sizes:
        return [_option(c, 0, Why(WhyCode.NO_UNIT, subject=unit.unit))]
    opts = SpaceOptions(fixed={"tp_overlap": 1, "dp_overlap": 1}, max_microbatch=16)
    tried: list[Option] = []
    for n in sizes:
        tparams = train_params(chip, spec.stack, base=params)  # the job's stack, else the chip's default
        res = search_train(job, Machine(chip, system, n), opts, params=tparams, top_k=1)
        used = 2 ** int(math.log2(n))
        if res.best is None and used != n:
            # whole units rarely factor (29 GB200 blocks of 36 = 1,044): run on the largest power of
            # two they hold, pay for all of them, and say how many sit idle
            sub = search_train(job, Machine(chip, system, used), opts, params=tparams, top_k=1)
            if sub.best is not None:
                o = _train_option(c, n, sub.best, unit, job)
                tried.append(replace(o, chips_used=used))
                continue
        if res.best is None:
            why = Why(WhyCode.NO_LAYOUT, chips=n, detail=res.why_none)
            tried.append(_option(c, n, why))
            continue
        tried.append(_train_option(c, n, res.best, unit, job))
    return tried


def _mfu_flag(est: TrainEstimate, job: TrainJob, chip: Chip, chips: int) -> dict[str, Any]:
    """The published-MFU check of a 16-bit full-training option (as ``xpuplan train --search``
    makes it: perf/published.py mfu_above), as Option fields."""
    ref, above = mfu_above(est.mfu, chip.id, float(job.model.params()), chips, job.precision, job.lora_rank)
    if ref is None:
        return {}
    return {"published_mfu": ref.mfu, "published_case": ref.case, "mfu_above_published": above}


def _train_option(c: _Candidate, n: int, est: TrainEstimate, unit: PurchaseUnit, job: TrainJob) -> Option:
    cat, system, price, pue = c.cat, c.system, c.price, c.pue
    time_s = est.time_to_train_s or 0.0
    hours = time_s / SECONDS_PER_HOUR
    cost = None if price is None else whole_units_cost(price, system, unit, n, hours)
    w = it_power_w(cat, system, n, c.params.power_fraction)
    reason = _why_not(c, n, cost, _facility_mw(w, pue), time_s=time_s)
    o = _option(
        c,
        n,
        reason,
        layout=est.layout.describe(),
        utilisation=est.mfu,
        time_s=time_s,
        cost_usd=cost,
        power_w=w,
        energy_j=None if w is None else w * pue * time_s,
        detail={"estimate": est.to_dict(), "purchase": _purchase(unit, n, hours)},
        interval=est.interval,
        fleet_ok=reason is None,
    )
    return replace(o, **_mfu_flag(est, job, c.chip, est.layout.chips))


def _purchase(unit: PurchaseUnit, chips: int, hours: float) -> dict[str, Any]:
    return {**allocate(unit, chips).to_dict(), "billed_hours": billed_hours(unit, hours)}


def _group_purchase(unit: PurchaseUnit, chips: int, groups: int, hours: float) -> dict[str, Any]:
    one = allocate(unit, chips).to_dict()
    return {
        **one,
        "units": one["units"] * groups,
        "chips": one["chips"] * groups,
        "billed_hours": billed_hours(unit, hours),
    }


def _key(sc: Scenario, o: Option) -> float:
    v = {"cost": o.cost_usd, "time": o.time_s, "energy": o.energy_j}[sc.objective]
    return math.inf if v is None else v


def choose(sc: Scenario, tried: list[Option]) -> Option:
    """The objective's best among the options that meet every constraint; else the closest miss."""
    ok = [o for o in tried if o.feasible]
    if ok:
        return min(ok, key=lambda o: (_key(sc, o), o.chips))
    timed = [o for o in tried if o.time_s is not None]
    if timed:  # nothing meets the constraints: show the fastest attempt and why
        return min(timed, key=lambda o: o.time_s or math.inf)
    return tried[-1]


def search_group(spec: ServeSpec, job: ServeJob, m: Machine, params: PerfParams) -> ServeSearchResult:
    """The best continuous-batching configuration of one replica group under the job's targets,
    under the job's serving stack (``stack =``), else the chip's default, over ``params`` (as
    ``xpuplan serve`` prices it)."""
    return search_serve(
        job,
        m,
        spec.weights,
        "continuous",
        None if spec.ttft_ms is None else spec.ttft_ms / 1e3,
        None if spec.tpot_ms is None else spec.tpot_ms / 1e3,
        params=serve_params(m.chip, spec.stack, base=params),
    )


def group_sizes(system: System, unit: PurchaseUnit) -> list[int]:
    """Replica-group sizes to try: the smallest unit, then 1, 2 and 4 nodes, each in whole units."""
    node = system.chips_per_node
    return sorted({allocate(unit, k).chips for k in (unit.chips[0], node, 2 * node, 4 * node)})


def rank_serve(
    spec: ServeSpec, sc: Scenario, cat: Catalog, system: System, pue: float, params: PerfParams
) -> list[Option]:
    """Replica groups from one purchase unit up to 4 nodes, stopping at the first that can serve."""
    c = _candidate(spec, sc, cat, system, pue, params)
    chip, price = c.chip, c.price
    unit = purchase_unit(sc, cat, system, price)
    model = get_model(spec.model)
    cap = _cap(sc, system, unit)
    tried: list[Option] = []
    for k in group_sizes(system, unit):
        if k > cap:
            break
        job = ServeJob(model, spec.input_len, spec.output_len, spec.weights[0], spec.kv)
        res = search_group(spec, job, Machine(chip, system, k), params)
        if res.best is None:
            why = max(res.reasons.items(), key=lambda kv: kv[1])[0] if res.reasons else "no configuration"
            tried.append(_option(c, k, Why(WhyCode.NO_GROUP_CONFIG, chips=k, detail=why)))
            continue
        tried.append(_serve_option(c, k, res.best, unit))
        if tried[-1].fleet_ok:
            break  # more chips per group only adds cost once a group works
    if not tried:
        tried.append(_option(c, 0, Why(WhyCode.NO_UNIT, subject=unit.unit)))
    return tried


def _serve_option(c: _Candidate, k: int, plan: ServePlan, unit: PurchaseUnit) -> Option:
    spec, sc, cat, system, price, pue = c.spec, c.sc, c.cat, c.system, c.price, c.pue
    assert isinstance(spec, ServeSpec)
    groups = math.ceil(spec.rate / plan.requests_per_s)
    n = groups * k
    hours = spec.hours
    cost = None if price is None else groups * whole_units_cost(price, system, unit, k, hours)
    w = it_power_w(cat, system, n, c.params.power_fraction)
    limits = sc.constraints
    reason = _why_not(
        c,
        n,
        cost,
        _facility_mw(w, pue),
        available=_cap(sc, system, unit),
        rate=spec.rate,
    )
    layout = f"{groups}× [{plan.describe()}]"
    detail = {
        "plan": plan.to_dict(),
        "groups": groups,
        "chips_per_group": k,
        "requests_per_s_per_group": plan.requests_per_s,
        "rate": spec.rate,
        # every group is bought in whole units of its own (the cost above), so the purchase is
        # ``groups`` times one group's
        "purchase": _group_purchase(unit, k, groups, hours),
        "group_purchase": allocate(unit, k).to_dict(),
        "usd_per_million_output_tokens": None
        if cost is None
        else cost / (spec.rate * spec.output_len * hours * SECONDS_PER_HOUR) * 1e6,
    }
    return _option(
        c,
        n,
        reason,
        layout=layout,
        time_s=plan.e2e_s,
        cost_usd=cost,
        power_w=w,
        energy_j=None if w is None else w * pue * hours * SECONDS_PER_HOUR,
        detail=detail,
        interval=plan.interval,
        # the fleet checks the budget, the power cap and the supply itself, and may use fewer
        # groups; it cannot use an option it cannot price, nor one without a TDP under a power cap
        fleet_ok=price is not None and not (limits.power_mw is not None and w is None),
    )


def with_baseline(options: list[Option], baseline: str | None) -> list[Option]:
    """Attach savings against the baseline system's option for the same job."""
    base = next((o for o in options if o.system == baseline and o.feasible and o.cost_usd), None)
    if base is None:
        return options
    out = []
    for o in options:
        # like for like: savings only against a baseline priced with the same kind
        if o.cost_usd and base.cost_usd and o.pricing == base.pricing:
            o = replace(
                o,
                savings_vs_baseline=1.0 - o.cost_usd / base.cost_usd,
                price_perf_vs_baseline=base.cost_usd / o.cost_usd,
            )
        out.append(o)
    return out

"""Per-job ranking: for each candidate system, the best size and layout, and what it costs.

Training jobs: the cluster is sized from the model's FLOPs for the deadline, then the sizes around
that first guess (×½, ×1, ×2, ×4 in whole nodes, capped by supply and the provider's largest
cluster) are searched; the objective picks among those that meet the deadline. Serving jobs: one
replica group (a node, or 2-4 nodes for models that need them) is searched for its best
configuration under the latency targets, and enough groups are rented to carry the request rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.pricing import current_price, it_power_w, power_estimated
from xpuplan.hardware.records import Price, System
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.machine import MAX_CHIPS, Machine
from xpuplan.perf.params import PerfParams
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
    reason: str | None = None
    savings_vs_baseline: float | None = None  # fraction lower cost for the same work
    price_perf_vs_baseline: float | None = None  # × better price-performance
    detail: dict[str, Any] | None = None
    energy_estimated: bool = False  # energy and power rest on an estimated chip TDP

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["time_days"] = (
            None if self.time_s is None or self.kind == "serve" else self.time_s / SECONDS_PER_DAY
        )
        d["energy_mwh"] = None if self.energy_j is None else self.energy_j / 3.6e9
        return d


def _cap(sc: Scenario, system: System) -> int:
    """Chips one can have: the provider's largest cluster, the scenario's supply, 10 M at most."""
    caps = [c for c in (system.scale_out.max_chips, sc.constraints.available.get(system.id)) if c is not None]
    return min([*caps, MAX_CHIPS])


def _no(
    spec: TrainSpec | ServeSpec,
    cat: Catalog,
    system: System,
    chips: int,
    reason: str,
    price: Price | None = None,
) -> Option:
    chip = cat.chips[system.chip]
    return Option(
        spec.name,
        spec.kind,
        system.id,
        chip.id,
        chip.vendor,
        chips,
        None,
        None,
        None,
        None,
        None,
        None,
        price.pricing.value if price else None,
        price.as_of if price else None,
        False,
        reason,
    )


def train_sizes(job: TrainJob, sc: Scenario, system: System, peak: float) -> list[int]:
    """Chip counts to search: the first guess for the deadline ×½, ×1, ×2, ×4 (whole nodes)."""
    node = system.chips_per_node
    deadline_s = (sc.constraints.deadline_days or 90.0) * SECONDS_PER_DAY
    flops = job.model.train_flops_per_token(job.seq_len) * (job.tokens or 0.0)
    need = flops / (deadline_s * peak * FIRST_GUESS_MFU)
    nodes = 2 ** max(0, math.ceil(math.log2(max(need / node, 1.0))))
    cap = _cap(sc, system)
    sizes = sorted({max(1, int(nodes * f)) * node for f in (0.5, 1, 2, 4)})
    if cap is not None:
        capped = [n for n in sizes if n <= cap]
        top = cap // node * node
        sizes = capped + ([top] if top and top not in capped and top >= node else [])
    return sizes


def rank_train(
    spec: TrainSpec, sc: Scenario, cat: Catalog, system: System, pue: float, params: PerfParams
) -> list[Option]:
    """Every size tried for this system (feasible or not, with the reason)."""
    chip = cat.chips[system.chip]
    price = current_price(cat, system, sc.pricing, sc.prices_on)
    if not chip.training:
        return [_no(spec, cat, system, 0, f"{chip.id} is not a training chip", price)]
    job = TrainJob(
        get_model(spec.model), spec.global_batch, spec.seq_len, spec.precision, spec.tokens, spec.lora_rank
    )
    peak = chip.peak(spec.precision) or chip.peak("fp16") or 0.0
    if not peak:
        return [_no(spec, cat, system, 0, f"{chip.id} has no {spec.precision} support", price)]
    sizes = train_sizes(job, sc, system, peak)
    if not sizes:
        return [_no(spec, cat, system, 0, "no chips available (constraints.available)", price)]
    opts = SpaceOptions(fixed={"tp_overlap": 1, "dp_overlap": 1}, max_microbatch=16)
    tried: list[Option] = []
    for n in sizes:
        res = search_train(job, Machine(chip, system, n), opts, params=params, top_k=1)
        if res.best is None:
            tried.append(_no(spec, cat, system, n, f"no layout fits on {n:,} chips: {res.why_none}", price))
            continue
        tried.append(_train_option(spec, sc, cat, system, n, res.best, price, pue, params))
    return tried


def _train_option(
    spec: TrainSpec,
    sc: Scenario,
    cat: Catalog,
    system: System,
    n: int,
    est: TrainEstimate,
    price: Price | None,
    pue: float,
    params: PerfParams,
) -> Option:
    chip = cat.chips[system.chip]
    time_s = est.time_to_train_s or 0.0
    nodes = math.ceil(n / system.chips_per_node)
    cost = None if price is None else price.usd_per_node_hour * nodes * time_s / SECONDS_PER_HOUR
    w = it_power_w(cat, system, n, params.power_fraction)
    reason = None
    c = sc.constraints
    if c.deadline_days is not None and time_s > c.deadline_days * SECONDS_PER_DAY:
        days = time_s / SECONDS_PER_DAY
        reason = f"misses the {c.deadline_days:g}-day deadline ({days:.0f} days on {n:,} chips)"
    elif c.budget_usd is not None and cost is not None and cost > c.budget_usd:
        reason = f"over the ${c.budget_usd:,.0f} budget (${cost:,.0f})"
    elif c.power_mw is not None and (w is None or w * pue / 1e6 > c.power_mw):
        reason = (
            "no TDP, published or estimated: cannot check the power cap"
            if w is None
            else f"draws {w * pue / 1e6:.1f} MW"
            + (" (estimated TDP)" if power_estimated(cat, system) else "")
            + f", over the {c.power_mw:g} MW cap"
        )
    elif price is None:
        reason = "no published price"
    return Option(
        spec.name,
        spec.kind,
        system.id,
        chip.id,
        chip.vendor,
        n,
        est.layout.describe(),
        est.mfu,
        time_s,
        cost,
        None if w is None else w * pue * time_s,
        None if w is None else w * pue / 1e6,
        price.pricing.value if price else None,
        price.as_of if price else None,
        reason is None,
        reason,
        detail={"estimate": est.to_dict()},
        energy_estimated=w is not None and power_estimated(cat, system),
    )


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
    """The best continuous-batching configuration of one replica group under the job's targets."""
    return search_serve(
        job,
        m,
        spec.weights,
        "continuous",
        None if spec.ttft_ms is None else spec.ttft_ms / 1e3,
        None if spec.tpot_ms is None else spec.tpot_ms / 1e3,
        params=params,
    )


def rank_serve(
    spec: ServeSpec, sc: Scenario, cat: Catalog, system: System, pue: float, params: PerfParams
) -> list[Option]:
    """Replica groups of 1, 2 and 4 nodes, stopping at the first that meets the targets."""
    chip = cat.chips[system.chip]
    price = current_price(cat, system, sc.pricing, sc.prices_on)
    model = get_model(spec.model)
    cap = _cap(sc, system)
    tried: list[Option] = []
    for groups in (1, 2, 4):
        k = system.chips_per_node * groups
        if cap is not None and k > cap:
            break
        job = ServeJob(model, spec.input_len, spec.output_len, spec.weights[0])
        res = search_group(spec, job, Machine(chip, system, k), params)
        if res.best is None:
            why = max(res.reasons.items(), key=lambda kv: kv[1])[0] if res.reasons else "no configuration"
            tried.append(_no(spec, cat, system, k, f"{k} chips per group: {why}", price))
            continue
        tried.append(_serve_option(spec, sc, cat, system, k, res.best, price, pue, params))
        if tried[-1].feasible:
            break  # more chips per group only adds cost once a group works
    return tried


def _serve_option(
    spec: ServeSpec,
    sc: Scenario,
    cat: Catalog,
    system: System,
    k: int,
    plan: ServePlan,
    price: Price | None,
    pue: float,
    params: PerfParams,
) -> Option:
    chip = cat.chips[system.chip]
    groups = math.ceil(spec.rate / plan.requests_per_s)
    n = groups * k
    hours = spec.hours
    nodes = math.ceil(n / system.chips_per_node)
    cost = None if price is None else price.usd_per_node_hour * nodes * hours
    w = it_power_w(cat, system, n, params.power_fraction)
    c = sc.constraints
    # serving replicas are independent groups: only the scenario's supply caps them, not the
    # provider's largest cluster (which bounds one group, see rank_serve)
    cap = c.available.get(system.id)
    reason = None
    if cap is not None and n > cap:
        reason = f"needs {n:,} chips for {spec.rate:g} requests/s; {cap:,} available"
    elif c.budget_usd is not None and cost is not None and cost > c.budget_usd:
        reason = f"over the ${c.budget_usd:,.0f} budget (${cost:,.0f})"
    elif c.power_mw is not None and (w is None or w * pue / 1e6 > c.power_mw):
        reason = (
            "no TDP, published or estimated: cannot check the power cap"
            if w is None
            else "over the power cap" + (" (estimated TDP)" if power_estimated(cat, system) else "")
        )
    elif price is None:
        reason = "no published price"
    layout = (
        f"{groups}× [TP{plan.tp}" + (f" PP{plan.pp}" if plan.pp > 1 else "") + f" ×{plan.replicas}"
        f" batch {plan.batch} {plan.weights}]"
    )
    detail = {
        "plan": plan.to_dict(),
        "groups": groups,
        "chips_per_group": k,
        "usd_per_million_output_tokens": None
        if cost is None
        else cost / (spec.rate * spec.output_len * hours * SECONDS_PER_HOUR) * 1e6,
    }
    return Option(
        spec.name,
        spec.kind,
        system.id,
        chip.id,
        chip.vendor,
        n,
        layout,
        None,
        plan.e2e_s,
        cost,
        None if w is None else w * pue * hours * SECONDS_PER_HOUR,
        None if w is None else w * pue / 1e6,
        price.pricing.value if price else None,
        price.as_of if price else None,
        reason is None,
        reason,
        detail=detail,
        energy_estimated=w is not None and power_estimated(cat, system),
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

"""Everything the HTML report shows, computed once into a plain dict (the report only renders it).

``report_data(scenario)`` runs the plan and the few extra computations the pictures need:

* every candidate tried per job (each system at each size) with its Pareto flag (cost vs time);
* the step-time and memory breakdown of each system's best training layout;
* scaling curves: the layout search at a few sizes around the chosen one, for the best few chips;
* serving latency–throughput curves: one replica group of each of the best few systems;
* the claims table, where the claims module exists;
* the validation cases (predicted vs measured), where a case file is given.

Values stay in SI (seconds, bytes as GiB where the estimate gives GiB, dollars, joules); the
report turns them into human units. Nothing here prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.pricing import current_price
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, default_params, train_params
from xpuplan.planner.plan import PlanResult, plan
from xpuplan.planner.rank import Option, search_group
from xpuplan.planner.scenario import Scenario, ServeSpec, TrainSpec
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.workload.job import ServeJob, TrainJob
from xpuplan.workload.library import get_model

SCALING_CHIPS = 4  # chips (distinct accelerators) with a scaling curve
SCALING_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)  # sizes around each chip's chosen size
SCALING_SPACE = SpaceOptions(fixed={"tp_overlap": 1, "dp_overlap": 1}, max_microbatch=8)
SERVING_SYSTEMS = 3  # systems with a latency–throughput curve
BREAKDOWN_SYSTEMS = 12  # systems in the step-time and memory breakdowns


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For each (time, cost) point: True when no other point is at least as good in both and
    better in one (both minimised)."""
    out = []
    for i, (t, c) in enumerate(points):
        dominated = any(
            (t2 <= t and c2 <= c) and (t2 < t or c2 < c) for j, (t2, c2) in enumerate(points) if j != i
        )
        out.append(not dominated)
    return out


def _candidates(result: PlanResult, job: str, baseline: str | None) -> list[dict[str, Any]]:
    """Every option tried for ``job`` that has a time and a cost, with Pareto and baseline flags."""
    chosen = {(o.system, o.chips) for j in result.jobs if j.job == job for o in j.options}
    best = next((j.best for j in result.jobs if j.job == job), None)
    rows = [o for o in result.tried.get(job, []) if o.time_s is not None and o.cost_usd is not None]
    ok = [o for o in rows if o.feasible]
    front = dict(
        zip((id(o) for o in ok), pareto_front([(o.time_s or 0, o.cost_usd or 0) for o in ok]), strict=True)
    )
    return [
        {
            "system": o.system,
            "chip": o.chip,
            "vendor": o.vendor,
            "chips": o.chips,
            "layout": o.layout,
            "time_s": o.time_s,
            "cost_usd": o.cost_usd,
            "energy_j": o.energy_j,
            "feasible": o.feasible,
            "reason": None,  # worded by report.wording from "why"
            "why": o.why.to_dict() if o.why else None,
            "pareto": front.get(id(o), False),
            "baseline": o.system == baseline,
            "chosen": (o.system, o.chips) in chosen,
            "best": best is not None and (o.system, o.chips) == (best.system, best.chips),
        }
        for o in rows
    ]


def _first(
    options: list[Option], n: int, entry: Callable[[Option], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """The entries ``entry`` makes of ``options`` in rank order (None: the option is passed over),
    the first ``n`` of them."""
    out: list[dict[str, Any]] = []
    for o in options:
        e = entry(o)
        if e is not None:
            out.append(e)
            if len(out) >= n:
                break
    return out


def _breakdown(options: list[Option]) -> list[dict[str, Any]]:
    """Step time and memory per device of each system's chosen training layout."""

    def entry(o: Option) -> dict[str, Any] | None:
        est = (o.detail or {}).get("estimate")
        if not est or o.time_s is None:
            return None
        return {
            "system": o.system,
            "chip": o.chip,
            "chips": o.chips,
            "layout": o.layout,
            "feasible": o.feasible,
            "step_time_s": est["step_time_s"],
            "time_s": dict(est["time_s"]),
            "memory_gib": dict(est["memory_gib"]),
            "memory_capacity_gib": est["memory_capacity_gib"],
            "mfu": est["mfu"],
        }

    return _first(options, BREAKDOWN_SYSTEMS, entry)


def _scaling(
    spec: TrainSpec, options: list[Option], cat: Catalog, params: PerfParams
) -> list[dict[str, Any]]:
    """Throughput of the best layout at a few sizes, for each of the best few chips."""
    job = TrainJob(
        get_model(spec.model), spec.global_batch, spec.seq_len, spec.precision, spec.tokens, spec.lora_rank
    )

    def entry(o: Option) -> dict[str, Any]:
        system = cat.systems[o.system]
        node = system.chips_per_node
        cap = system.scale_out.max_chips
        sizes = sorted({max(1, round(o.chips * f / node)) * node for f in SCALING_FACTORS})
        points = []
        for n in sizes:
            if cap is not None and n > cap:
                continue
            chip = cat.chips[o.chip]
            tparams = train_params(chip, spec.stack, base=params)  # the job's stack, else the chip's default
            res = search_train(job, Machine(chip, system, n), SCALING_SPACE, tparams, top_k=1)
            b = res.best
            points.append(
                {
                    "chips": n,
                    "tokens_per_s": None if b is None else b.tokens_per_s,
                    "tokens_per_s_per_chip": None if b is None else b.tokens_per_s_per_chip,
                    "mfu": None if b is None else b.mfu,
                    "layout": res.why_none if b is None else b.layout.describe(),
                }
            )
        return {"chip": o.chip, "system": o.system, "vendor": o.vendor, "points": points}

    best: dict[str, Option] = {}  # each chip's best feasible option, in rank order
    for o in options:
        if o.feasible:
            best.setdefault(o.chip, o)
    return _first(list(best.values()), SCALING_CHIPS, entry)


def _serving(
    spec: ServeSpec, options: list[Option], cat: Catalog, params: PerfParams
) -> list[dict[str, Any]]:
    """Latency–throughput curve (batch varied, best layout) of one replica group per system."""
    model = get_model(spec.model)

    def entry(o: Option) -> dict[str, Any] | None:
        if not o.feasible:
            return None
        system = cat.systems[o.system]
        k = int((o.detail or {}).get("chips_per_group") or system.chips_per_node)
        job = ServeJob(model, spec.input_len, spec.output_len, spec.weights[0], spec.kv)
        res = search_group(spec, job, Machine(cat.chips[o.chip], system, k), params)
        if res.best is None:
            return None
        b = res.best
        return {
            "system": o.system,
            "chip": o.chip,
            "vendor": o.vendor,
            "chips": k,
            "layout": f"TP{b.tp}" + (f" PP{b.pp}" if b.pp > 1 else "") + f" ×{b.replicas} {b.weights}",
            "best_batch": b.batch,
            "points": [
                {
                    "batch": p.batch,
                    "ttft_s": p.ttft_s,
                    "tpot_s": p.tpot_s,
                    "output_tokens_per_s": p.output_tokens_per_s,
                }
                for p in res.curve
            ],
        }

    return _first(options, SERVING_SYSTEMS, entry)


def _prices(result: PlanResult, cat: Catalog) -> list[dict[str, Any]]:
    """The price each ranked system was costed at, with its kind, date and source."""
    out = []
    for s in sorted({o.system for j in result.jobs for o in j.options}):
        p = current_price(cat, cat.systems[s], result.scenario.pricing, result.scenario.prices_on)
        if p is None:
            continue
        out.append(
            {
                "system": s,
                "pricing": p.pricing.value,
                "usd_per_node_hour": p.usd_per_node_hour,
                "usd_per_chip_hour": p.usd_per_chip_hour(cat.systems[s].chips_per_node),
                "region": p.region,
                "as_of": p.as_of,
                "source": p.source,
            }
        )
    return out


def _claims(cat: Catalog, params: PerfParams) -> list[dict[str, Any]] | None:
    """The built-in claims with their verdicts (without the per-case working)."""
    from xpuplan.claims.engine import evaluate_builtin

    return [{k: v for k, v in r.to_dict().items() if k != "checks"} for r in evaluate_builtin(cat, params)]


def _validation(path: Path | None) -> dict[str, Any]:
    """The validation chart's data: the cases of ``path``, or of the built-in suite."""
    from xpuplan.validation.validate import summarise, validate

    results = validate(path, search_best=False)
    return {
        "file": str(path) if path else "the built-in validation suite",
        "cases": [r.to_dict() for r in results],
        "summary": summarise(results),
    }


def report_data(
    sc: Scenario,
    catalog: Catalog | None = None,
    params: PerfParams | None = None,
    validation: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Plan ``sc`` and gather every table and curve the HTML report shows, as a plain dict."""
    cat = catalog or default_catalog()
    params = params or default_params()
    checked = _validation(validation)  # first: a bad file fails fast
    result = plan(sc, cat, params, progress)
    pue = result.pue
    jobs = []
    specs = {s.name: s for s in sc.jobs} | {x.name: x for h in result.hybrid for x in h.server_specs}
    for jp in result.jobs:
        spec = specs[jp.job]
        entry: dict[str, Any] = {
            "job": jp.job,
            "kind": jp.kind,
            "spec": dict(spec.__dict__),
            "options": [o.to_dict() for o in jp.options],
            "sensitivity": jp.sensitivity.to_dict() if jp.sensitivity else None,
            "candidates": _candidates(result, jp.job, sc.baseline),
        }
        if isinstance(spec, TrainSpec):
            entry["breakdown"] = _breakdown(jp.options)
            entry["scaling"] = _scaling(spec, jp.options, cat, params)
            entry["scaling_space"] = "TP/DP overlap on, micro-batch ≤ 8, best layout per size"
        elif isinstance(spec, ServeSpec):
            entry["serving"] = _serving(spec, jp.options, cat, params)
        jobs.append(entry)
    return {
        "title": sc.name,
        "generated": dt.date.today().isoformat(),
        "scenario": {
            "name": sc.name,
            "objective": sc.objective,
            "baseline": sc.baseline,
            "pricing": sc.pricing.value,
            "pue": pue,
            "pue_source": "scenario" if sc.pue else f"{cat.energy.source}; {cat.energy.as_of}",
            "power_fraction": params.power_fraction,
            "constraints": {**sc.constraints.__dict__},
        },
        "jobs": jobs,
        "fleet": result.fleet.to_dict(),
        "stuck": list(result.stuck),  # jobs with no option for the fleet (report.wording says why)
        "hybrid": [h.to_dict() for h in result.hybrid],
        "assumptions": result.assumptions.to_dict() if result.assumptions else None,  # report words them
        "prices": _prices(result, cat),
        "claims": _claims(cat, params),
        "validation": checked,
    }

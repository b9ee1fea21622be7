"""The point function: one study point → one row, through one call of the public API.

``run_point`` is what both engines run (the local process pool and Ray tasks), so their rows are
the same values. A point that raises becomes a row with ``status = "error"`` and the error's text;
an infeasible one a row with its reason. Rows are flat dicts of the :data:`COLUMNS` below (SI
units; bytes as GiB where the estimate gives GiB).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from xpuplan import api
from xpuplan.api.sweep.study import Point
from xpuplan.datafiles import data_dir
from xpuplan.errors import XpuplanError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.pricing import current_price, facility_power_w
from xpuplan.hardware.records import Pricing, System
from xpuplan.perf.estimate import machine
from xpuplan.perf.params import default_params
from xpuplan.planner.constraints import Why, WhyCode, first_breach
from xpuplan.planner.scenario import Constraints, ServeSpec, TrainSpec
from xpuplan.planner.scenario import Scenario as PlanScenario
from xpuplan.search.train_search import SearchResult
from xpuplan.units import SECONDS_PER_HOUR
from xpuplan.workload.job import TrainJob
from xpuplan.workload.library import get_model

S, I, F, B = "string", "int64", "float64", "bool"
INPUTS: dict[str, str] = {
    "point_id": S, "index": I, "compute": S, "model": S, "system": S, "chip": S, "vendor": S,
    "chips": I, "sized": B, "pricing": S, "precision": S, "stack": S, "scenario": S,
    "deadline_days": F, "budget_usd": F, "power_mw": F, "mix": S, "input_len": I, "output_len": I,
    "rate": F, "ttft_ms": F, "tpot_ms": F, "hours": F, "tokens": F, "seq_len": I,
    "global_batch": I, "fixed": S,
}  # fmt: skip
OUTPUTS: dict[str, str] = {
    "status": S,  # ok | infeasible (nothing fits) | constrained (misses a scenario limit) | error
    "feasible": B, "meets_constraints": B, "reason": S, "error": S,
    "chips_used": I, "layout": S, "layout_json": S, "evaluated": I,
    "time_s": F, "time_low_s": F, "time_high_s": F,  # train: time to train (step without tokens); serve: e2e
    "step_time_s": F, "step_time_low_s": F, "step_time_high_s": F,
    "tokens_per_s": F, "mfu": F, "memory_gib": F, "memory_capacity_gib": F,
    "ttft_s": F, "tpot_s": F, "requests_per_s": F, "output_tokens_per_s": F,
    "price_kind": S, "price_as_of": S, "usd_per_hour": F, "usd_per_chip_hour": F,
    "cost_usd": F, "cost_low_usd": F, "cost_high_usd": F,  # train: the job; serve: the mix's hours
    "usd_per_million_tokens": F,  # train: tokens trained; serve: output tokens
    "energy_j": F, "joules_per_token": F, "facility_mw": F,
    "xpuplan_version": S, "catalog_version": S, "model_version": S,
}  # fmt: skip
COLUMNS: dict[str, str] = {**INPUTS, **OUTPUTS}


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """The package version and fingerprints of the catalog and of the model's data (efficiency
    parameters and model shapes) this process computes with."""
    from xpuplan import __version__

    root = data_dir()

    def digest(paths: list[Any]) -> str:
        h = hashlib.sha256()
        for p in sorted(paths):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
        return h.hexdigest()[:12]

    catalog = digest(
        [*root.glob("chips/*.toml"), *root.glob("systems/*.toml"), *root.glob("*.csv"), root / "energy.toml"]
    )
    model = digest([root / "perf.toml", *root.glob("models/*.toml")])
    return {
        "xpuplan_version": __version__,
        "catalog_version": catalog,
        "model_version": f"{__version__}+{model}",
    }


def inputs(p: Point, cat: Catalog) -> dict[str, Any]:
    sysrec = cat.systems[p.system]
    chip = cat.chips[sysrec.chip]
    mix = p.mix
    return {
        "point_id": p.point_id, "index": p.index, "compute": p.compute, "model": p.model,
        "system": p.system, "chip": chip.id, "vendor": chip.vendor, "chips": p.chips,
        "sized": p.chips is None, "pricing": p.pricing, "precision": p.precision, "stack": p.stack,
        "scenario": p.scenario.name, "deadline_days": p.scenario.deadline_days,
        "budget_usd": p.scenario.budget_usd, "power_mw": p.scenario.power_mw,
        "mix": mix.name if mix else None, "input_len": mix.input_len if mix else None,
        "output_len": mix.output_len if mix else None, "rate": mix.rate if mix else None,
        "ttft_ms": mix.ttft_ms if mix else None, "tpot_ms": mix.tpot_ms if mix else None,
        "hours": mix.hours if mix else None, "tokens": p.tokens if not mix else None,
        "seq_len": p.seq_len if not mix else None, "global_batch": p.global_batch if not mix else None,
        "fixed": json.dumps(dict(p.fixed), sort_keys=True),
    }  # fmt: skip


def run_point(p: Point) -> dict[str, Any]:
    """One row for ``p``: its inputs, and the estimate, or the reason, or the error."""
    cat = default_catalog()
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(inputs(p, cat))
    try:
        if p.chips is None:
            out = _plan(p, cat)
        elif p.compute == "serve":
            out = _serve(p, cat)
        else:
            out = _train(p, cat)
    except XpuplanError as e:
        out = {"status": "error", "feasible": False, "meets_constraints": False, "error": e.one_line()}
    except Exception as e:  # a bug at one point must not stop the study: the row says what broke
        out = {
            "status": "error",
            "feasible": False,
            "meets_constraints": False,
            "error": f"{type(e).__name__}: {e}",
        }
    row.update(out)
    row.update(versions())
    return row


def run_batch(points: Sequence[Point]) -> list[dict[str, Any]]:
    """The unit of work an engine ships: a few points, their rows back in the same order."""
    return [run_point(p) for p in points]


# ---- economics ------------------------------------------------------------------------------


def _rates(p: Point, cat: Catalog, system: System, chips: int) -> dict[str, Any]:
    """Price (of the point's kind; another kind only with ``price_fallback``) and facility power of
    ``chips`` chips, through the one price and power policy (:mod:`xpuplan.hardware.pricing`)."""
    out: dict[str, Any] = {}
    price = current_price(cat, system, Pricing(p.pricing))
    if price is not None and (price.pricing.value == p.pricing or p.price_fallback):
        nodes = math.ceil(chips / system.chips_per_node)
        out.update(
            price_kind=price.pricing.value,
            price_as_of=price.as_of,
            usd_per_hour=price.usd_per_node_hour * nodes,
            usd_per_chip_hour=price.usd_per_node_hour / system.chips_per_node,
        )
    w = facility_power_w(cat, system, chips, default_params().power_fraction)
    if w is not None:
        out["facility_mw"] = w / 1e6
    return out


def _interval(res: Any, best: Any) -> tuple[float, float] | None:
    """A prediction interval as (low, high) ratios to the estimate, where the API gives one: an
    ``interval`` mapping in the result's or the estimate's ``extra`` with ``low``/``high`` (the
    same quantity as the estimate: its step time) or ``low_ratio``/``high_ratio``."""
    for src in (getattr(best, "extra", None), getattr(res, "extra", None)):
        iv = src.get("interval") if isinstance(src, dict) else None
        if isinstance(iv, dict):
            if "low_ratio" in iv and "high_ratio" in iv:
                return float(iv["low_ratio"]), float(iv["high_ratio"])
            step = getattr(best, "step_time_s", None)
            if "low" in iv and "high" in iv and step:
                return float(iv["low"]) / step, float(iv["high"]) / step
    return None


def _constraints(p: Point, time_s: float | None, cost: float | None, mw: float | None) -> Why | None:
    """The first scenario limit the point misses, by the planner's rule (deadline, budget, power)."""
    sc = p.scenario
    return first_breach(
        deadline_days=sc.deadline_days,
        budget_usd=sc.budget_usd,
        power_mw=sc.power_mw,
        time_s=time_s if p.tokens and p.compute == "train" else None,
        cost_usd=cost,
        facility_mw=mw,
        pricing=str(p.pricing),
    )


def _finish(p: Point, out: dict[str, Any], per_token: float | None) -> dict[str, Any]:
    """Cost, energy, interval columns and the constraint verdict from time and rates."""
    t = out.get("time_s")
    hours = p.mix.hours if p.mix else None
    span = hours * SECONDS_PER_HOUR if hours is not None else t  # serving: the period; training: the job
    if out.get("usd_per_hour") is not None and span is not None:
        out["cost_usd"] = out["usd_per_hour"] / SECONDS_PER_HOUR * span
        if per_token:
            out["usd_per_million_tokens"] = out["usd_per_hour"] / SECONDS_PER_HOUR / per_token * 1e6
    if out.get("facility_mw") is not None and span is not None:
        out["energy_j"] = out["facility_mw"] * 1e6 * span
        if per_token:
            out["joules_per_token"] = out["facility_mw"] * 1e6 / per_token
    iv = out.pop("_interval", None)
    if iv is not None and t is not None:
        lo, hi = iv
        out.update(time_low_s=t * lo, time_high_s=t * hi)
        if out.get("step_time_s") is not None:
            out.update(step_time_low_s=out["step_time_s"] * lo, step_time_high_s=out["step_time_s"] * hi)
        if out.get("cost_usd") is not None and p.mix is None:  # training cost scales with time
            out.update(cost_low_usd=out["cost_usd"] * lo, cost_high_usd=out["cost_usd"] * hi)
    why = _constraints(p, t, out.get("cost_usd"), out.get("facility_mw"))
    out.update(
        status="constrained" if why else "ok", feasible=True, meets_constraints=why is None, **_reason(why)
    )
    return out


def _reason(why: Why | None) -> dict[str, Any]:
    """A row's reason: its code, and the :class:`Why` itself under ``_why`` for the engine to word
    (``run_sweep(word=...)``) before the row is stored."""
    return {"reason": None if why is None else why.code.value, "_why": why}


# ---- the three kinds of point ---------------------------------------------------------------


@lru_cache(maxsize=16)
def _search(
    model: str,
    system: str,
    chips: int,
    gb: int,
    seq: int,
    prec: str,
    fixed: tuple[tuple[str, int], ...],
    tokens: float | None,
) -> SearchResult:
    """The layout search (price-independent: points that differ only in price share one). The chip
    is named with its system: a system id alone costs a failed chip look-up first (~1.5 ms)."""
    chip = default_catalog().systems[system].chip
    job = TrainJob(get_model(model), gb, seq, prec, tokens)
    return api._search(job, machine(chip, chips, system=system), dict(fixed), top_k=1)[0]


def _train(p: Point, cat: Catalog) -> dict[str, Any]:
    assert p.chips is not None
    res = _search(p.model, p.system, p.chips, p.global_batch, p.seq_len, p.precision, p.fixed, p.tokens)
    out: dict[str, Any] = {"evaluated": res.layouts_evaluated, "chips_used": p.chips}
    best = res.best
    if best is None:
        return {
            **out,
            "status": "infeasible",
            "feasible": False,
            "meets_constraints": False,
            "reason": res.why_none,
        }
    out.update(
        layout=best.layout.describe(),
        layout_json=json.dumps(best.layout.to_dict(), sort_keys=True),
        time_s=best.time_to_train_s if best.time_to_train_s is not None else best.step_time_s,
        step_time_s=best.step_time_s,
        tokens_per_s=best.tokens_per_s,
        mfu=best.mfu,
        memory_gib=best.memory_total_bytes / 2**30,
        memory_capacity_gib=best.memory_capacity_bytes / 2**30,
        _interval=_interval(res, best),
        **_rates(p, cat, cat.systems[p.system], p.chips),
    )
    return _finish(p, out, best.tokens_per_s)


def _serve(p: Point, cat: Catalog) -> dict[str, Any]:
    assert p.chips is not None and p.mix is not None
    m = p.mix
    res: Any = api._serve(
        p.model, cat.systems[p.system].chip, p.chips, m.input_len, m.output_len, (p.precision,), p.kv,
        targets=api.ServeTargets(rate=m.rate, ttft_ms=m.ttft_ms, tpot_ms=m.tpot_ms, system=p.system),
    )  # fmt: skip
    out: dict[str, Any] = {"evaluated": res.configs_evaluated, "chips_used": p.chips}
    b = res.best
    if b is None:
        why = max(res.reasons.items(), key=lambda kv: kv[1])[0] if res.reasons else "no configuration fits"
        return {**out, "status": "infeasible", "feasible": False, "meets_constraints": False, "reason": why}
    out.update(
        layout=_serve_layout(b.tp, b.pp, b.ep, b.replicas, b.batch, b.weights),
        layout_json=json.dumps(b.to_dict(), sort_keys=True, default=str),
        time_s=b.e2e_s,
        ttft_s=b.ttft_s,
        tpot_s=b.tpot_s,
        requests_per_s=b.requests_per_s,
        output_tokens_per_s=b.output_tokens_per_s,
        memory_gib=b.weights_gib + b.kv_gib,
        _interval=_interval(res, b),
        **_rates(p, cat, cat.systems[p.system], p.chips),
    )
    return _finish(p, out, b.output_tokens_per_s)


def _serve_layout(tp: int, pp: int, ep: int, replicas: int, batch: int, weights: str) -> str:
    parts = [f"TP{tp}"] + ([f"PP{pp}"] if pp > 1 else []) + ([f"EP{ep}"] if ep > 1 else [])
    return " ".join(parts) + f" ×{replicas} batch {batch} {weights}"


def _plan(p: Point, cat: Catalog) -> dict[str, Any]:
    """A point the planner sizes: a one-job, one-system scenario through :func:`api.plan`."""
    sc = p.scenario
    spec: TrainSpec | ServeSpec
    if p.mix is not None:
        m = p.mix
        assert m.rate is not None
        spec = ServeSpec(
            "job",
            p.model,
            m.rate,
            m.input_len,
            m.output_len,
            m.ttft_ms,
            m.tpot_ms,
            (p.precision,),
            m.hours,
            kv=p.kv,
        )
    else:
        spec = TrainSpec("job", "pretrain", p.model, p.tokens or 0.0, p.seq_len, p.global_batch, p.precision)
    scenario = PlanScenario(
        f"sweep point {p.point_id}",
        (spec,),
        objective=p.objective,
        systems=(p.system,),
        pricing=Pricing(p.pricing),
        constraints=Constraints(sc.deadline_days, sc.budget_usd, sc.power_mw),
    )
    o = api.plan(scenario, catalog=cat).jobs[0].options[0]
    out: dict[str, Any] = {"chips_used": o.chips or None, **_reason(o.why)}
    if o.layout is None:
        return {**out, "status": "infeasible", "feasible": False, "meets_constraints": False}
    detail = o.detail or {}
    est = detail.get("estimate") or {}
    plan = detail.get("plan") or {}
    rates = _rates(p, cat, cat.systems[p.system], o.chips)
    priced = rates.get("price_kind") is not None
    out.update(
        layout=o.layout,
        layout_json=json.dumps(est.get("layout") or plan, sort_keys=True, default=str),
        time_s=o.time_s,
        step_time_s=est.get("step_time_s"),
        tokens_per_s=est.get("tokens_per_s"),
        mfu=o.utilisation,
        memory_gib=est.get("memory_total_gib"),
        memory_capacity_gib=est.get("memory_capacity_gib"),
        ttft_s=plan.get("ttft_s"),
        tpot_s=plan.get("tpot_s"),
        requests_per_s=plan.get("requests_per_s"),
        output_tokens_per_s=plan.get("output_tokens_per_s"),
        cost_usd=o.cost_usd if priced else None,
        energy_j=o.energy_j,
        facility_mw=o.facility_mw,
        **{k: v for k, v in rates.items() if k != "facility_mw"},
    )
    if p.mix is None and p.tokens:
        if priced and o.cost_usd is not None:
            out["usd_per_million_tokens"] = o.cost_usd / p.tokens * 1e6
        if o.energy_j is not None:
            out["joules_per_token"] = o.energy_j / p.tokens
    elif p.mix is not None:
        out["usd_per_million_tokens"] = detail.get("usd_per_million_output_tokens") if priced else None
        served = p.mix.rate * p.mix.output_len if p.mix.rate else None  # output tokens/s carried
        if o.facility_mw is not None and served:
            out["joules_per_token"] = o.facility_mw * 1e6 / served
    ok = o.feasible or (o.why is not None and o.why.code is WhyCode.NO_PRICE)  # a missing cost, not a miss
    out.update(
        status="ok" if ok else "constrained",
        feasible=True,
        meets_constraints=ok,
        **_reason(None if ok else o.why),
    )
    return out

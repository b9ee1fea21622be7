"""Rank every candidate system for a pre-training scenario: size, layout, time, cost, energy.

For each system with a price and a training-capable chip, the planner sizes the cluster for the
deadline (from the model's FLOPs and a first guess of utilisation, then corrected by the real
estimate), searches the layout at that size, and prices the run. The search space here drops
choices the model proves dominated — overlap switches off (overlap only hides time), ZeRO-0 and
ZeRO-2 (ZeRO-1 moves the same bytes with less memory than ZeRO-0; ZeRO-2 the same time as ZeRO-1),
SP off when TP > 1 (SP only removes work and memory) — so a plan over all systems takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpuplan.datafiles import read_toml
from xpuplan.errors import DataError, InputError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.records import Price, Pricing, System
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.machine import Machine
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from xpuplan.workload.job import TrainJob
from xpuplan.workload.library import get_model

PRICING_ORDER = (Pricing.ON_DEMAND, Pricing.CAPACITY_BLOCK, Pricing.COMMIT_1Y, Pricing.COMMIT_3Y)
FIRST_GUESS_MFU = 0.35  # only sizes the first search; the estimate decides


@dataclass(frozen=True)
class Scenario:
    """A pre-training job and the systems to consider."""

    name: str
    model: str
    tokens: float
    seq_len: int
    global_batch: int
    precision: str = "bf16"
    deadline_days: float = 90.0
    baseline: str | None = "aws-p5.48xlarge"
    systems: tuple[str, ...] = ()  # empty: every priced, training-capable system
    pue: float | None = None  # None: the catalog default


@dataclass(frozen=True)
class Option:
    """One system's best plan (or why it has none)."""

    system: str
    chip: str
    chips: int
    estimate: TrainEstimate | None
    price: Price | None
    time_s: float | None
    cost_usd: float | None
    energy_j: float | None
    facility_mw: float | None
    meets_deadline: bool
    reason: str | None = None
    savings_vs_baseline: float | None = None  # fraction lower cost for the same work
    price_perf_vs_baseline: float | None = None  # × better price-performance

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "chip": self.chip,
            "chips": self.chips,
            "layout": self.estimate.layout.to_dict() if self.estimate else None,
            "layout_text": self.estimate.layout.describe() if self.estimate else None,
            "mfu": self.estimate.mfu if self.estimate else None,
            "time_days": None if self.time_s is None else self.time_s / SECONDS_PER_DAY,
            "cost_usd": self.cost_usd,
            "energy_mwh": None if self.energy_j is None else self.energy_j / 3.6e9,
            "facility_mw": self.facility_mw,
            "meets_deadline": self.meets_deadline,
            "pricing": self.price.pricing.value if self.price else None,
            "usd_per_node_hour": self.price.usd_per_node_hour if self.price else None,
            "price_as_of": self.price.as_of if self.price else None,
            "savings_vs_baseline": self.savings_vs_baseline,
            "price_performance_vs_baseline": self.price_perf_vs_baseline,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PlanResult:
    scenario: Scenario
    options: list[Option]  # feasible first, ranked by cost
    pue: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "scenario": {
                "name": sc.name,
                "model": sc.model,
                "tokens": sc.tokens,
                "seq_len": sc.seq_len,
                "global_batch": sc.global_batch,
                "precision": sc.precision,
                "deadline_days": sc.deadline_days,
                "baseline": sc.baseline,
                "pue": self.pue,
            },
            "options": [o.to_dict() for o in self.options],
            "notes": self.notes,
        }


def default_scenario() -> Scenario:
    """Pre-train Llama 3 70B on 15T tokens within 90 days (Llama 3 paper: 15T tokens, 8K context,
    global batch 16M tokens → 2,048 sequences of 8,192)."""
    return Scenario(
        name="Pre-train Llama 3 70B on 15T tokens",
        model="llama-3-70b",
        tokens=15e12,
        seq_len=8192,
        global_batch=2048,
        deadline_days=90.0,
    )


def load_scenario(path: Path) -> Scenario:
    d = read_toml(path)
    where = str(path)
    job = d.get("train") or d.get("pretrain") or d
    try:
        sc = Scenario(
            name=str(d.get("name", path.stem)),
            model=str(job["model"]),
            tokens=float(job["tokens"]),
            seq_len=int(job.get("seq_len", 4096)),
            global_batch=int(job.get("global_batch", 1024)),
            precision=str(job.get("precision", "bf16")),
            deadline_days=float(d.get("deadline_days", 90)),
            baseline=d.get("baseline"),
            systems=tuple(d.get("systems", ())),
            pue=float(d["pue"]) if "pue" in d else None,
        )
    except KeyError as e:
        raise DataError(f"scenario has no '{e.args[0]}'", "See docs/scenarios.md", where) from e
    except (TypeError, ValueError) as e:
        raise DataError(f"bad value in scenario ({e})", "See docs/scenarios.md", where) from e
    for name, v in (("tokens", sc.tokens), ("deadline_days", sc.deadline_days)):
        if not (math.isfinite(v) and v > 0):
            raise DataError(f"'{name}' must be a positive finite number, got {v}", "Fix the value", where)
    if sc.pue is not None and not (1.0 <= sc.pue < 3.0):
        raise DataError(f"'pue' must be in [1, 3), got {sc.pue}", "Typical values are 1.1-1.6", where)
    get_model(sc.model)
    return sc


def best_price(cat: Catalog, system: System) -> Price | None:
    prices = cat.prices_for(system.id)
    for kind in PRICING_ORDER:
        ps = [p for p in prices if p.pricing is kind]
        if ps:
            return min(ps, key=lambda p: p.usd_per_node_hour)
    return None


def _sizes(
    total_flops: float, deadline_s: float, m_peak: float, node: int, max_chips: int | None
) -> list[int]:
    """Chip counts to try: the first guess for the deadline, rounded to whole nodes (power of two)."""
    need = total_flops / (deadline_s * m_peak * FIRST_GUESS_MFU)
    nodes = max(1, 2 ** math.ceil(math.log2(max(need / node, 1.0))))
    n = nodes * node
    if max_chips is not None:
        n = min(n, max_chips // node * node)
    return [max(n, node)]


def plan_system(sc: Scenario, job: TrainJob, cat: Catalog, system: System, pue: float) -> Option:
    chip = cat.chip(system.chip)
    price = best_price(cat, system)
    total_flops = job.model.train_flops_per_token(sc.seq_len) * sc.tokens
    deadline_s = sc.deadline_days * SECONDS_PER_DAY
    peak = chip.peak(job.precision) or chip.peak("fp16") or 0.0
    if not peak:
        return Option(
            system.id,
            chip.id,
            0,
            None,
            price,
            None,
            None,
            None,
            None,
            False,
            reason=f"{chip.id} has no {job.precision} support",
        )
    opts = SpaceOptions(fixed={"tp_overlap": 1, "dp_overlap": 1}, max_microbatch=16)
    best = None
    n = _sizes(total_flops, deadline_s, peak, system.chips_per_node, system.scale_out.max_chips)[0]
    for _ in range(3):
        m = Machine(chip, system, n)
        res = search_train(job, m, opts, top_k=1)
        if res.best is None:
            return Option(
                system.id,
                chip.id,
                n,
                None,
                price,
                None,
                None,
                None,
                None,
                False,
                reason=f"no layout fits on {n:,} chips: {res.why_none}",
            )
        best = res.best
        t = job.steps * best.step_time_s if job.steps else None
        cap = system.scale_out.max_chips
        if t is None or t <= deadline_s or (cap is not None and n * 2 > cap):
            break
        n *= 2
    assert best is not None
    time_s = (job.steps or 0) * best.step_time_s
    nodes = n / system.chips_per_node
    cost = None if price is None else price.usd_per_node_hour * nodes * time_s / SECONDS_PER_HOUR
    it_w = None
    if chip.tdp_w is not None:
        it_w = n * chip.tdp_w + nodes * (system.host_w_per_node or 0.0)
    energy = None if it_w is None else it_w * pue * time_s
    return Option(
        system.id,
        chip.id,
        n,
        best,
        price,
        time_s,
        cost,
        energy,
        None if it_w is None else it_w * pue / 1e6,
        time_s <= deadline_s,
        reason=None if time_s <= deadline_s else "misses the deadline at the largest size tried",
    )


def plan(
    sc: Scenario, catalog: Catalog | None = None, progress: Callable[[int, int], None] | None = None
) -> PlanResult:
    cat = catalog or default_catalog()
    model = get_model(sc.model)
    job = TrainJob(model, sc.global_batch, sc.seq_len, sc.precision, sc.tokens)
    pue = sc.pue or cat.energy.pue
    if sc.systems:
        systems = [cat.system(s) for s in sc.systems]
    else:
        systems = [
            s for s in cat.systems.values() if cat.chips[s.chip].training and best_price(cat, s) is not None
        ]
    if not systems:
        raise InputError(
            "no candidate system has a price and a training-capable chip",
            "Name systems in the scenario or add prices (docs/catalog.md)",
        )
    options: list[Option] = []
    for i, s in enumerate(systems):
        options.append(plan_system(sc, job, cat, s, pue))
        if progress:
            progress(i + 1, len(systems))
    base = next((o for o in options if sc.baseline and o.system == cat.system(sc.baseline).id), None)
    ranked: list[Option] = []
    for o in options:
        if base and base.cost_usd and o.cost_usd:
            o = Option(
                **{
                    **o.__dict__,
                    "savings_vs_baseline": 1.0 - o.cost_usd / base.cost_usd,
                    "price_perf_vs_baseline": base.cost_usd / o.cost_usd,
                }
            )
        ranked.append(o)
    ranked.sort(
        key=lambda o: (
            o.estimate is None,
            not o.meets_deadline,
            o.cost_usd if o.cost_usd else math.inf,
        )
    )
    notes = [
        f"PUE {pue:.2f} ({cat.energy.source}, {cat.energy.as_of})",
        "Energy assumes chips draw their TDP for the whole run plus the node's host power.",
        "Cost uses the cheapest published price of the first pricing kind a system has, in the order "
        "on-demand, capacity block, 1-year, 3-year commitment; dates are per row.",
    ]
    return PlanResult(sc, ranked, pue, notes)

"""Fleet plan: assign jobs to hardware pools under supply, power, budget and vendor-share limits.

A mixed-integer program solved with HiGHS (highspy). Each training job runs on exactly one of its
options (binary ``x``); each serving job rents whole replica groups of its options (integer ``g``,
each group whole purchase units carrying ``capacity`` requests/s) until the groups carry its rate:
the Mélange idea of mixing instance types (Griggs et al. 2024), in units one can buy. All jobs run
at the same time, so supply and power are shared. Objective: total cost, total energy, or the
makespan (time).

Every limit is a row of the program, never a filter on the options, so a plan that meets a budget
also meets every larger one (tests/test_purchase_units.py, a property test).

Shadow prices come from the LP with the training binaries fixed at the optimum and the group
counts relaxed: the dual of a row is what one more unit of that resource would save ("one more MW
would save $X").
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from xpuplan.datafiles import as_dict

INF = highspy.kHighsInf


@dataclass(frozen=True)
class FleetOption:
    """One way to run (part of) a job. Training: the whole job. Serving: one replica group, of
    which up to ``max_count`` may be rented, each carrying ``capacity`` of the job's ``demand``
    requests/s; chips, cost, energy and power are per group."""

    job: str
    kind: str  # pretrain | finetune | serve
    system: str
    vendor: str
    chips: int
    cost_usd: float
    energy_j: float
    power_mw: float
    time_s: float
    capacity: float = 1.0  # serving: requests/s one group carries
    demand: float = 1.0  # serving: the job's requests/s
    max_count: int = 1  # serving: the most groups worth renting (enough for the whole rate)
    # what one count is bought as: ``units`` × ``unit`` of ``unit_chips`` chips (a serving
    # option: per group); report.wording.fleet_unit words it ("1 × v6e slice of 8 chips")
    units: float | None = None
    unit: str = "node"
    unit_chips: int | None = None

    @property
    def serve(self) -> bool:
        return self.kind == "serve"


@dataclass(frozen=True)
class Binding:
    """A limit the plan uses up, as data: :mod:`xpuplan.report.wording` names it and words it."""

    limit_code: str  # supply | power | budget | vendor_share
    subject: str | None  # the system (supply) or the vendor (vendor_share)
    limit: float
    used: float
    shadow_price: float  # objective change per unit more of the resource (negative: saves)
    unit: str


# why a fleet plan is infeasible, and the limits (Binding.limit_code) of its ``culprits``
NO_OPTIONS = "no_options"  # no job has a feasible option
ONE_LIMIT = "one_limit"  # dropping any one of the culprits alone makes it possible
SEVERAL_LIMITS = "several_limits"  # no single limit dropped makes it possible


@dataclass(frozen=True)
class FleetPlan:
    status: str  # optimal | infeasible
    objective: str
    value: float | None
    assignment: list[tuple[FleetOption, float]]  # option and its count (1 for training, groups serving)
    binding: list[Binding] = field(default_factory=list)
    why: str | None = None  # NO_OPTIONS | ONE_LIMIT | SEVERAL_LIMITS; None: feasible
    culprits: tuple[str, ...] = ()  # ONE_LIMIT: the limits each of which alone restores it

    def to_dict(self) -> dict[str, Any]:
        # "reason", each binding's "constraint" and "text": worded by report.wording (plan_dict)
        return {
            **as_dict(self, "status", "objective", "value"),
            "reason": None,
            "why": self.why,
            "culprits": list(self.culprits),
            "assignment": [{**o.__dict__, "count": s, "share": s} for o, s in self.assignment],
            "binding": [dict(b.__dict__) for b in self.binding],
        }


@dataclass(frozen=True)
class FleetLimits:
    supply: dict[str, int] = field(default_factory=dict)  # system -> chips
    power_mw: float | None = None
    budget_usd: float | None = None
    max_vendor_share: float | None = None  # of spend


_Row = tuple[tuple[str, str | None], str, float, dict[int, float], float]


def _rows(opts: Sequence[FleetOption], lim: FleetLimits, objective: str) -> list[_Row]:
    """((limit code, subject), unit, upper bound, coefficients, lower bound) for every constraint
    row; code "job": a job's own row (runs once, or carries its rate)."""
    rows: list[_Row] = []
    for job in dict.fromkeys(o.job for o in opts):
        mine = {i: o for i, o in enumerate(opts) if o.job == job}
        if any(o.serve for o in mine.values()):  # groups carry at least the rate
            demand = max(o.demand for o in mine.values())
            rows.append((("job", job), "request/s", INF, {i: o.capacity for i, o in mine.items()}, demand))
        else:  # exactly one option
            rows.append((("job", job), "share", 1.0, dict.fromkeys(mine, 1.0), 1.0))
    for sys_id, cap in lim.supply.items():
        coef = {i: float(o.chips) for i, o in enumerate(opts) if o.system == sys_id}
        if coef:
            rows.append((("supply", sys_id), "chip", float(cap), coef, -INF))
    if lim.power_mw is not None:
        rows.append((("power", None), "MW", lim.power_mw, {i: o.power_mw for i, o in enumerate(opts)}, -INF))
    if lim.budget_usd is not None:
        rows.append(
            (("budget", None), "$", lim.budget_usd, {i: o.cost_usd for i, o in enumerate(opts)}, -INF)
        )
    if lim.max_vendor_share is not None:
        for v in sorted({o.vendor for o in opts}):
            coef = {
                i: o.cost_usd * ((1.0 if o.vendor == v else 0.0) - lim.max_vendor_share)
                for i, o in enumerate(opts)
            }
            rows.append((("vendor_share", v), "share", 0.0, coef, -INF))
    return rows


@contextmanager
def _silent_stdout() -> Iterator[None]:
    """HiGHS prints a banner from C++ when constructed; keep stdout clean for --json."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real file descriptor (e.g. captured)
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def _new_highs() -> highspy.Highs:
    with _silent_stdout():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


def _solve(
    opts: Sequence[FleetOption], lim: FleetLimits, objective: str, fix: dict[int, float] | None
) -> tuple[Any, ...]:
    h = _new_highs()
    h.setOptionValue("mip_rel_gap", 1e-9)  # the optimum, not one within 0.01% (budgets compare plans)
    n = len(opts)
    time_obj = objective == "time"
    # columns: one count per option; with the time objective, the makespan T and, per serving
    # option, a binary "used" (T covers the latency of every option that serves at all)
    used = [i for i, o in enumerate(opts) if o.serve] if time_obj else []
    ncols = n + (1 + len(used) if time_obj else 0)
    lb = np.zeros(ncols)
    ub = np.ones(ncols)
    ub[:n] = [float(o.max_count) for o in opts]
    if time_obj:
        ub[n] = INF
    if fix:
        for i, v in fix.items():
            lb[i] = ub[i] = v
    h.addVars(ncols, lb, ub)
    # objective, plus a tie-break of a millionth of a unit per chip: of equal plans, the smaller one
    main = [{"cost": o.cost_usd, "energy": o.energy_j, "time": 0.0}[objective] + 1e-6 * o.chips for o in opts]
    cost = np.array(main + ([1.0] + [0.0] * len(used) if time_obj else []))
    h.changeColsCost(ncols, np.arange(ncols, dtype=np.int32), cost)
    ints = [] if fix is not None else [*range(n), *range(n + 1, ncols)]  # the LP: counts relaxed
    if ints:
        h.changeColsIntegrality(
            len(ints), np.array(ints, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * len(ints))
        )
    rows = _rows(opts, lim, objective)
    for _, _, hi, coef, lo in rows:
        idx = np.array(list(coef), dtype=np.int32)
        h.addRow(lo, hi, len(idx), idx, np.array([coef[i] for i in coef], dtype=float))
    if time_obj:  # makespan T >= time of every chosen option
        for i, o in enumerate(opts):
            if not o.serve:
                h.addRow(-INF, 0.0, 2, np.array([i, n], dtype=np.int32), np.array([o.time_s, -1.0]))
        for u, i in enumerate(used, n + 1):
            o = opts[i]
            h.addRow(-INF, 0.0, 2, np.array([i, u], dtype=np.int32), np.array([1.0, -float(o.max_count)]))
            h.addRow(-INF, 0.0, 2, np.array([u, n], dtype=np.int32), np.array([o.time_s, -1.0]))
    h.run()
    return h, rows


def plan_fleet(opts: Sequence[FleetOption], lim: FleetLimits, objective: str = "cost") -> FleetPlan:
    """Solve the assignment; report binding constraints with shadow prices."""
    if not opts:
        return FleetPlan("infeasible", objective, None, [], why=NO_OPTIONS)
    h, rows = _solve(opts, lim, objective, None)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        culprits = infeasible_culprits(opts, lim)
        return FleetPlan(
            "infeasible",
            objective,
            None,
            [],
            why=ONE_LIMIT if culprits else SEVERAL_LIMITS,
            culprits=culprits,
        )
    # integer counts (HiGHS returns them within its feasibility tolerance)
    x = np.round(np.array(h.getSolution().col_value[: len(opts)]))
    if objective == "time":
        value = float(max((o.time_s for i, o in enumerate(opts) if x[i] > 1e-6), default=0.0))
    else:  # the objective without the per-chip tie-break
        value = float(
            sum((o.cost_usd if objective == "cost" else o.energy_j) * x[i] for i, o in enumerate(opts))
        )
    fix = {i: float(x[i]) for i, o in enumerate(opts) if not o.serve}
    lp, rows = _solve(opts, lim, objective, fix)
    duals = (
        np.array(lp.getSolution().row_dual)
        if lp.getModelStatus() == highspy.HighsModelStatus.kOptimal
        else None
    )
    binding: list[Binding] = []
    total_cost = sum(o.cost_usd * x[i] for i, o in enumerate(opts))
    for r, ((code, subject), unit, hi, coef, _lo) in enumerate(rows):
        if code == "job":
            continue
        used = sum(c * x[i] for i, c in coef.items())
        dual = float(duals[r]) if duals is not None else math.nan
        if code == "vendor_share":
            # row: spend_v - s·spend ≤ 0; one percentage point more of s raises its bound by 1% of spend
            spend_v = sum(o.cost_usd * x[i] for i, o in enumerate(opts) if o.vendor == subject)
            share = spend_v / total_cost if total_cost else 0.0
            if lim.max_vendor_share is not None and share >= lim.max_vendor_share - 1e-6:
                binding.append(
                    Binding(
                        code,
                        subject,
                        lim.max_vendor_share * 100,
                        share * 100,
                        dual * 0.01 * total_cost,
                        "percentage point",
                    )
                )
            continue
        if hi - used <= 1e-6 * max(1.0, abs(hi)):
            binding.append(Binding(code, subject, hi, used, dual, unit))
    chosen = [(o, float(x[i])) for i, o in enumerate(opts) if x[i] > 1e-6]
    return FleetPlan("optimal", objective, value, chosen, binding)


def infeasible_culprits(opts: Sequence[FleetOption], lim: FleetLimits) -> tuple[str, ...]:
    """Which limit makes the plan impossible: drop each in turn and see which alone restores it
    (limit codes; none: several bind together)."""
    culprits = []
    for code, relaxed in (
        ("supply", FleetLimits({}, lim.power_mw, lim.budget_usd, lim.max_vendor_share)),
        ("power", FleetLimits(lim.supply, None, lim.budget_usd, lim.max_vendor_share)),
        ("budget", FleetLimits(lim.supply, lim.power_mw, None, lim.max_vendor_share)),
        ("vendor_share", FleetLimits(lim.supply, lim.power_mw, lim.budget_usd, None)),
    ):
        h, _ = _solve(opts, relaxed, "cost", None)
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            culprits.append(code)
    return tuple(culprits)

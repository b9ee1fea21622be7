"""One training estimate: the scalar face of :func:`xpuplan.perf.train.evaluate_train`.

``estimate_train`` evaluates a one-row :class:`LayoutArray` through the same array code the search
uses, so the single estimate and the search can never diverge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.records import Interval, NetworkKind, System
from xpuplan.layout.layout import LAYOUT_FIELDS, Layout, LayoutArray, Reason, check
from xpuplan.perf import xp
from xpuplan.perf.machine import MAX_CHIPS, Machine
from xpuplan.perf.params import PerfParams, train_params
from xpuplan.perf.train import MEM_PARTS, TIME_PARTS, TrainArrays, evaluate_train
from xpuplan.workload.job import TrainJob


@dataclass(frozen=True)
class TrainEstimate:
    """One training step of ``job`` with ``layout`` on ``machine``."""

    layout: Layout
    chips: int
    step_time_s: float
    time_s: dict[str, float]
    memory_bytes: dict[str, float]
    memory_total_bytes: float
    memory_capacity_bytes: float
    tokens_per_s: float
    mfu: float
    hfu: float
    reason: Reason
    time_to_train_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    interval: Interval | None = None  # 80% prediction interval (cross-validated), when fitted

    @property
    def feasible(self) -> bool:
        return self.reason is Reason.OK

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.to_dict(),
            "chips": self.chips,
            "feasible": self.feasible,
            "reason": None if self.feasible else self.reason.text,
            "step_time_s": self.step_time_s,
            "time_s": self.time_s,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_chip": self.tokens_per_s_per_chip,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "memory_gib": {k: v / 2**30 for k, v in self.memory_bytes.items()},
            "memory_total_gib": self.memory_total_bytes / 2**30,
            "memory_capacity_gib": self.memory_capacity_bytes / 2**30,
            "time_to_train_s": self.time_to_train_s,
            "interval": self.interval_dict(),
        }

    def interval_dict(self) -> dict[str, Any] | None:
        """The 80% interval of every predicted figure (None when the chip has no fit)."""
        iv = self.interval
        if iv is None:
            return None
        d = iv.to_dict()
        d["step_time_s"] = iv.time(self.step_time_s)
        d["tokens_per_s"] = iv.rate(self.tokens_per_s)
        d["mfu"] = iv.rate(self.mfu)
        if self.time_to_train_s is not None:
            d["time_to_train_s"] = iv.time(self.time_to_train_s)
        return d


def row_estimate(
    job: TrainJob,
    res: TrainArrays,
    lay: LayoutArray | Layout,
    i: int,
    reason: int,
    interval: Interval | None = None,
) -> TrainEstimate:
    """Row ``i`` of an evaluation (arrays, or the scalars of one layout) as a :class:`TrainEstimate`."""
    step = float(xp.at(res.step_time, i))
    steps = job.steps
    layout = lay if isinstance(lay, Layout) else lay.row(i)
    return TrainEstimate(
        layout=layout,
        chips=layout.chips,
        step_time_s=step,
        time_s={k: float(xp.at(res.time[k], i)) for k in TIME_PARTS},
        memory_bytes={k: float(xp.at(res.memory[k], i)) for k in MEM_PARTS},
        memory_total_bytes=float(xp.at(res.mem_total, i)),
        memory_capacity_bytes=res.mem_capacity,
        tokens_per_s=float(xp.at(res.tokens_per_s, i)),
        mfu=float(xp.at(res.mfu, i)),
        hfu=float(xp.at(res.hfu, i)),
        reason=Reason(int(reason)),
        time_to_train_s=None if steps is None else steps * step,
        interval=interval,
    )


def scalar_view(layout: Layout) -> LayoutArray:
    """One layout as plain Python numbers in the LayoutArray shape: the perf formulas then run on
    floats (fast) through the same code the vectorised search runs on arrays (see perf/xp.py)."""
    kw: dict[str, Any] = {f: int(getattr(layout, f)) for f in LAYOUT_FIELDS}
    return LayoutArray(**kw)


def estimate_train(
    job: TrainJob, layout: Layout, machine: Machine, params: PerfParams | None = None
) -> TrainEstimate:
    """Predict one training step. Infeasible layouts come back with a ``reason``, not an error."""
    params = params or train_params(machine.chip)  # the chip's default training stack
    lay = LayoutArray.from_layout(layout)
    structural = check(lay, job.model, machine.chips, job.global_batch, job.seq_len, machine.domain)
    res = evaluate_train(job, scalar_view(layout), machine, params)
    reason = int(structural[0]) or int(res.reason)  # scalar_view: one row, a scalar
    max_chips = machine.system.scale_out.max_chips
    if not reason and max_chips is not None and machine.chips > max_chips:
        reason = int(Reason.CLUSTER)
    return row_estimate(job, res, layout, 0, reason, machine.chip.intervals.get("train"))


def default_system(catalog: Catalog, chip_id: str) -> System:
    """The system a chip is planned in when none is named: the largest scale-up domain, then the
    fastest scale-out network (ties: id order)."""
    systems = sorted(
        catalog.systems_for_chip(chip_id),
        key=lambda s: (
            s.kind == "device",
            -s.scale_up.domain_chips,
            -s.scale_out.bw_per_node,
            s.id,
        ),
    )
    if not systems:
        from xpuplan.errors import InputError

        raise InputError(
            f"no system in the catalog uses chip '{chip_id}'",
            "Add a system record for it (docs/catalog.md)",
        )
    return systems[0]


def machine(
    chip_or_system: str, chips: int, catalog: Catalog | None = None, system: str | None = None
) -> Machine:
    """A :class:`Machine` from a chip or system name (ids or aliases)."""
    from xpuplan.errors import InputError

    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise InputError(f"chip count must be a positive integer, got {chips!r}", "Give --chips N with N ≥ 1")
    if chips > MAX_CHIPS:
        raise InputError(
            f"chip count {chips:,} is beyond any cluster (10 M chips)", "Give a realistic --chips"
        )
    cat = catalog or default_catalog()
    rec = cat.find(chip_or_system)
    if isinstance(rec, System):
        sys_rec = rec
        chip = cat.chip(rec.chip)
    else:
        chip = rec
        sys_rec = cat.system(system) if system else default_system(cat, chip.id)
        if sys_rec.chip != chip.id:
            raise InputError(
                f"system '{sys_rec.id}' holds {sys_rec.chip}, not {chip.id}",
                "Name a system built of that chip, or leave --system out",
            )
    one_node = sys_rec.scale_out.max_chips or sys_rec.chips_per_node
    if sys_rec.scale_out.kind is NetworkKind.NONE and chips > one_node:
        raise InputError(
            f"system '{sys_rec.id}' has no scale-out network: a cluster of it is one node, "
            f"at most {one_node:,} chip(s), not {chips:,}",
            f"Give --chips ≤ {one_node:,}, or a system with a network",
        )
    return Machine(chip, sys_rec, chips)

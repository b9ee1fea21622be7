"""The typed results of the public functions (:mod:`xpuplan.api.public`): frozen records with
the figure, its 80% prediction interval (``<figure>_low`` / ``<figure>_high``, None where the
chip has no fitted interval), cost and energy, and feasibility with its reason. No dicts: a
breakdown is a tuple of :class:`Part`, counts of reasons a tuple of :class:`ReasonCount`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpuplan.claims.engine import ClaimResult
from xpuplan.datafiles import as_dict
from xpuplan.hardware.records import Interval
from xpuplan.layout.layout import Layout, Reason
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.planner.plan import PlanResult
from xpuplan.validation.validate import CaseResult

__all__ = [
    "CaseResult",
    "ClaimResult",
    "Economics",
    "EncoderResult",
    "EncoderSearchResult",
    "ErrorStats",
    "GroupErrors",
    "Part",
    "PlanResult",
    "PublishedMfu",
    "ReasonCount",
    "ServeResult",
    "ServeSearchResult",
    "TrainResult",
    "TrainSearchResult",
    "ValidationResult",
]


@dataclass(frozen=True, slots=True)
class Part:
    """One named term of a breakdown: seconds of a step, or bytes of device memory."""

    name: str
    value: float


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How many candidates a search dropped for one reason."""

    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class Economics:
    """What the cluster costs and draws while it works (:mod:`xpuplan.hardware.pricing`): whole
    nodes are rented and powered. ``usd_per_hour`` is None where the catalog has no price for the
    system, ``watts`` (facility power, IT power × ``pue``) None where the chip has no TDP."""

    system: str
    chips: int
    nodes: int
    usd_per_hour: float | None
    pricing: str | None  # the price's kind: on_demand, capacity_block, commit_1y, ...
    price_as_of: str | None
    watts: float | None
    pue: float
    power_estimated: bool  # the power rests on an estimated chip TDP


@dataclass(frozen=True, slots=True)
class TrainResult:
    """One training step of ``model`` on ``chips`` chips of ``system`` with ``layout``."""

    model: str
    system: str
    chip: str
    chips: int
    layout: Layout
    feasible: bool
    reason: str | None  # why it does not fit (None when it does)
    reason_code: Reason
    step_time_s: float
    step_time_s_low: float | None
    step_time_s_high: float | None
    tokens_per_s: float
    tokens_per_s_low: float | None
    tokens_per_s_high: float | None
    mfu: float
    mfu_low: float | None
    mfu_high: float | None
    hfu: float
    time_to_train_s: float | None  # None without a token count
    time_to_train_s_low: float | None
    time_to_train_s_high: float | None
    memory_total_bytes: float  # per device
    memory_capacity_bytes: float
    time_parts: tuple[Part, ...]  # seconds per step by kind (compute, exposed communication, ...)
    memory_parts: tuple[Part, ...]  # bytes per device by kind
    economics: Economics
    usd_per_step: float | None
    usd_per_step_low: float | None
    usd_per_step_high: float | None
    joules_per_step: float | None
    usd_per_million_tokens: float | None
    joules_per_token: float | None
    interval_basis: str | None  # the class the interval was cross-validated on, e.g. nvidia/train
    interval_cases: int | None
    interval: Interval | None  # the factors the ``_low`` / ``_high`` bounds come from
    estimate: TrainEstimate  # the model's own record of the step (its breakdowns, by kind)

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips

    def to_dict(self) -> dict[str, Any]:
        """The estimate's JSON (``xpuplan train --json``): the model's record of the step."""
        return self.estimate.to_dict()

    def money_dict(self) -> dict[str, Any]:
        """Cost and energy under the keys of ``xpuplan train --search --json``: the system, the
        price's kind and date, $/M tokens, J/token, the PUE, $ and J per step (where known)."""
        e = self.economics
        out: dict[str, Any] = {"system": self.system}
        if self.usd_per_step is not None:
            out.update(
                pricing=e.pricing,
                price_as_of=e.price_as_of,
                usd_per_million_tokens=self.usd_per_million_tokens,
            )
        if self.joules_per_step is not None:
            out.update(joules_per_token=self.joules_per_token, pue=e.pue, power_estimated=e.power_estimated)
        if self.usd_per_step is not None:
            out["usd_per_step"] = self.usd_per_step
        if self.joules_per_step is not None:
            out["joules_per_step"] = self.joules_per_step
        return out


@dataclass(frozen=True, slots=True)
class PublishedMfu:
    """The best comparable published MFU on a chip (16-bit full training, a model and a scale
    near the job's; :func:`xpuplan.perf.published.comparable_mfu`)."""

    mfu: float
    case: str
    chips: int
    params: float  # the published run's model parameters
    # the model's step of the run's stated layout by term, as shares of its step
    shares: tuple[Part, ...] = ()

    def gaps(self, parts: tuple[Part, ...], step_s: float, at_least: float = 0.03) -> list[TermGap]:
        """The terms on which a step of ``parts`` (seconds; its step ``step_s``) spends at least
        ``at_least`` less of its step than the published run's layout does by the same model,
        largest first: where a search result above this run's MFU finds its time."""
        mine = {p.name: p.value / step_s for p in parts} if step_s > 0 else {}
        out = [TermGap(s.name, s.value, mine.get(s.name, 0.0)) for s in self.shares]
        return sorted(
            (g for g in out if g.published - g.here >= at_least), key=lambda g: g.here - g.published
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **as_dict(self, "mfu", "case", "chips", "params"),
            "shares": {p.name: p.value for p in self.shares},
        }


@dataclass(frozen=True, slots=True)
class TermGap:
    """A term's share of the step in a published run's layout and in a search result (model)."""

    term: str
    published: float
    here: float


@dataclass(frozen=True, slots=True)
class TrainSearchResult:
    """The best training layouts of a search. ``chips_used`` < ``chips_asked`` when the count
    asked for factors into no layout: the search answered on the largest count that does."""

    layouts_evaluated: int
    layouts_feasible: int
    reasons: tuple[ReasonCount, ...]  # why the others were dropped, most common first
    best: TrainResult | None
    top: tuple[TrainResult, ...]
    pareto: tuple[TrainResult, ...]  # step time against memory headroom
    chips_asked: int
    chips_used: int
    why_none: str | None  # why nothing fits on all the chips asked for (None when something does)
    system: str
    published_mfu: PublishedMfu | None  # the best comparable published run (16-bit full training)
    mfu_above_published: float | None  # best MFU / published, when above ``MFU_MARGIN`` × it

    @property
    def chips_idle(self) -> int:
        return self.chips_asked - self.chips_used

    def to_dict(self) -> dict[str, Any]:
        """The keys of ``xpuplan train --search --json``."""
        out: dict[str, Any] = {
            "layouts_evaluated": self.layouts_evaluated,
            "layouts_feasible": self.layouts_feasible,
            "infeasible_reasons": {r.reason: r.count for r in self.reasons},
            "best": None if self.best is None else self.best.to_dict(),
            "top": [e.to_dict() for e in self.top],
            "pareto": [e.to_dict() for e in self.pareto],
        }
        if self.chips_idle:
            out.update(chips_used=self.chips_used, chips_idle=self.chips_idle, chips_asked=self.chips_asked,
                       why_not_all=self.why_none)  # fmt: skip
        out.update(self.best.money_dict() if self.best is not None else {"system": self.system})
        if self.published_mfu is not None:
            out["published_mfu"] = self.published_mfu.to_dict()
        if self.mfu_above_published is not None:
            out["mfu_above_published"] = self.mfu_above_published
        return out


@dataclass(frozen=True, slots=True)
class Served:
    """What every serving record starts with: the model, where it runs, and whether it fits."""

    model: str
    system: str
    chip: str
    chips: int
    feasible: bool
    reason: str | None  # why nothing fits (None when something does)


@dataclass(frozen=True, slots=True)
class ServeResult(Served):
    """One serving configuration: ``replicas`` copies of TP × PP (× EP) chips, ``batch``
    sequences in flight each. When nothing fits, ``feasible`` is False, ``reason`` says why and
    the figures are None."""

    mode: str  # continuous | static
    tp: int | None
    pp: int | None
    ep: int | None
    replicas: int | None
    batch: int | None
    weights: str | None
    kv: str | None
    ttft_s: float | None
    ttft_s_low: float | None
    ttft_s_high: float | None
    tpot_s: float | None
    tpot_s_low: float | None
    tpot_s_high: float | None
    e2e_s: float | None
    e2e_s_low: float | None
    e2e_s_high: float | None
    output_tokens_per_s: float | None  # all replicas
    output_tokens_per_s_low: float | None
    output_tokens_per_s_high: float | None
    total_tokens_per_s: float | None  # prompt and output tokens, all replicas
    requests_per_s: float | None
    weights_gib: float | None  # per chip
    kv_gib: float | None
    max_batch: int | None  # the most sequences the KV cache holds per replica
    economics: Economics
    usd_per_million_output_tokens: float | None
    joules_per_output_token: float | None
    interval_basis: str | None
    interval_cases: int | None
    interval: Interval | None  # the factors the ``_low`` / ``_high`` bounds come from

    _PLAN = ("tp", "pp", "ep", "replicas", "batch", "weights", "mode", "ttft_s", "tpot_s", "e2e_s",
             "output_tokens_per_s", "total_tokens_per_s", "requests_per_s", "weights_gib", "kv_gib",
             "max_batch", "chips", "kv")  # fmt: skip

    def interval_dict(self) -> dict[str, Any] | None:
        """The interval's factors and the bounds of every figure (None: the chip has no fit)."""
        if self.interval is None:
            return None
        return {
            **self.interval.to_dict(),
            **_bounds_dict(self, ("output_tokens_per_s", "ttft_s", "tpot_s", "e2e_s")),
        }

    def to_dict(self) -> dict[str, Any]:
        """The configuration's JSON (``xpuplan serve --json``: ``best`` and the curve's points):
        the plan's figures, their interval, then the typed record's own fields."""
        return _record_dict(self, self._PLAN)

    def money_dict(self) -> dict[str, Any]:
        """Cost and energy under the keys of ``xpuplan serve --json``."""
        return _money(self.economics, ("usd_per_million_output_tokens", self.usd_per_million_output_tokens),
                      ("joules_per_output_token", self.joules_per_output_token))  # fmt: skip


@dataclass(frozen=True, slots=True)
class EncoderResult(Served):
    """Encoder (BERT-class) serving: ``replicas`` copies of the model, one per chip, each running
    batches of ``batch`` sequences of ``seq_len`` tokens. When nothing fits, ``feasible`` is False,
    ``reason`` says why and the figures are None."""

    mode: str  # dynamic (served requests) | static (offline batches)
    seq_len: int
    weights: str | None  # the format asked for
    compute: str | None  # the format the GEMMs run in
    replicas: int | None
    batch: int | None  # sequences per batch and replica
    batch_s: float | None  # one batch's time
    latency_s: float | None
    latency_s_low: float | None
    latency_s_high: float | None
    sequences_per_s: float | None  # all replicas
    sequences_per_s_low: float | None
    sequences_per_s_high: float | None
    tokens_per_s: float | None
    flops_per_sequence: float | None
    achieved_tflops_per_chip: float | None
    bound: str | None  # compute | memory (what sets the GEMMs' time)
    weights_gib: float | None  # per chip
    activations_gib: float | None
    economics: Economics
    usd_per_million_sequences: float | None
    joules_per_sequence: float | None
    sequences_per_usd: float | None
    sequences_per_joule: float | None
    interval_basis: str | None
    interval_cases: int | None
    interval: Interval | None

    _PLAN = ("model", "seq_len", "weights", "compute", "mode", "replicas", "batch", "batch_s", "latency_s",
             "sequences_per_s", "tokens_per_s", "flops_per_sequence", "achieved_tflops_per_chip", "bound",
             "weights_gib", "activations_gib", "chips")  # fmt: skip

    def interval_dict(self) -> dict[str, Any] | None:
        if self.interval is None:
            return None
        return {**self.interval.to_dict(), **_bounds_dict(self, ("sequences_per_s", "latency_s"))}

    def to_dict(self) -> dict[str, Any]:
        """The configuration's JSON (``xpuplan serve --json`` for an encoder)."""
        return _record_dict(self, self._PLAN)

    def money_dict(self) -> dict[str, Any]:
        out = _money(self.economics, ("usd_per_million_sequences", self.usd_per_million_sequences),
                     ("joules_per_sequence", self.joules_per_sequence))  # fmt: skip
        for k in ("sequences_per_usd", "sequences_per_joule"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


@dataclass(frozen=True, slots=True)
class EncoderSearchResult:
    """An encoder serving search: the weight format and batch with the most sequences/s under the
    latency target (or the lowest latency at a rate), with the batch–latency curve."""

    configs_evaluated: int
    configs_feasible: int
    reasons: tuple[ReasonCount, ...]
    best: EncoderResult  # feasible False (with its reason) when nothing fits
    curve: tuple[EncoderResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """The keys of ``xpuplan serve --json`` for an encoder (``best`` None when nothing fits)."""
        return {"kind": "encoder", **_search_dict(self)}


@dataclass(frozen=True, slots=True)
class ServeSearchResult:
    """The best serving configuration and the latency–throughput curve of its layout."""

    configs_evaluated: int
    configs_feasible: int
    reasons: tuple[ReasonCount, ...]
    best: ServeResult  # feasible False (with its reason) when nothing fits
    curve: tuple[ServeResult, ...]  # the best layout at every batch that fits
    ttft_target_s: float | None = None  # the targets asked for
    tpot_target_s: float | None = None
    kv_requested: str | None = None  # the KV format asked (fp8/fp4 weights bring an fp8 cache)
    software: str | None = None  # the serving stack whose constants priced it (data/stacks id)

    def to_dict(self) -> dict[str, Any]:
        """The keys of ``xpuplan serve --json`` (``best`` None when nothing fits)."""
        out = _search_dict(self)
        for k in ("ttft_target_s", "tpot_target_s", "kv_requested", "software"):
            out[k] = getattr(self, k)
        return out


@dataclass(frozen=True, slots=True)
class ErrorStats:
    """Relative errors |predicted − measured| / measured over a set of cases."""

    cases: int
    predicted: int  # of them, how many the model could predict
    median_error: float | None
    p90_error: float | None


@dataclass(frozen=True, slots=True)
class GroupErrors:
    """The errors of one vendor's or one chip's cases of one task."""

    group: str
    task: str  # train | infer
    errors: ErrorStats


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Every published case predicted (``cv``: None in-sample; "source" or "case" each left out
    of the fit in turn, the honest figure), with medians and 90th percentiles per task."""

    cv: str | None
    cases: tuple[CaseResult, ...]
    train: ErrorStats
    infer: ErrorStats
    by_vendor: tuple[GroupErrors, ...]
    by_chip: tuple[GroupErrors, ...]
    in_sample_train: ErrorStats  # the same cases predicted with the full fit
    in_sample_infer: ErrorStats
    interval_coverage: float | None  # share of left-out cases inside their 80% interval (cv only)
    # per workload class (encoder, cpu, apple-silicon: validation.validate.CLASSES)
    by_class: tuple[GroupErrors, ...] = ()


# ---- JSON of the serving records ----------------------------------------------------------------------


def _bounds_dict(r: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``name: [low, high]`` of each figure ``names`` of a serving record."""
    return {n: [getattr(r, n + "_low"), getattr(r, n + "_high")] for n in names}


def _record_dict(r: Any, plan: tuple[str, ...]) -> dict[str, Any]:
    """A serving record as JSON: the search's plan keys (``plan``), the interval, then the rest of
    the record's fields (bounds, cost and energy per unit; the economics' own under money_dict)."""
    d: dict[str, Any] = {k: getattr(r, k) for k in plan}
    d["interval"] = r.interval_dict()
    skip = {*plan, "interval", "economics"}
    d.update({f: getattr(r, f) for f in r.__dataclass_fields__ if f not in skip})
    return d


def _money(e: Economics, per: tuple[str, float | None], each: tuple[str, float | None]) -> dict[str, Any]:
    """The system, and where known the price's kind and date with the cost per unit, and the
    energy per unit with the PUE (the keys the serving JSON has always had)."""
    out: dict[str, Any] = {"system": e.system}
    if per[1] is not None:
        out.update(pricing=e.pricing, price_as_of=e.price_as_of)
        out[per[0]] = per[1]
    if each[1] is not None:
        out[each[0]] = each[1]
        out.update(pue=e.pue, power_estimated=e.power_estimated)
    return out


def _search_dict(res: Any) -> dict[str, Any]:
    """What a serving search's JSON starts with: counts, reasons, the best, the curve and money."""
    best = res.best if res.best.feasible else None
    out: dict[str, Any] = {
        "configs_evaluated": res.configs_evaluated,
        "configs_feasible": res.configs_feasible,
        "infeasible_reasons": {r.reason: r.count for r in res.reasons},
        "best": None if best is None else best.to_dict(),
        "latency_throughput_curve": [p.to_dict() for p in res.curve],
    }
    out.update(best.money_dict() if best is not None else {"system": res.best.system})
    return out

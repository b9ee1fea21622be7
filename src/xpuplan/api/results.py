"""The typed results of the public functions (:mod:`xpuplan.api.public`): frozen records with
the figure, its 80% prediction interval (``<figure>_low`` / ``<figure>_high``, None where the
chip has no fitted interval), cost and energy, and feasibility with its reason. No dicts: a
breakdown is a tuple of :class:`Part`, counts of reasons a tuple of :class:`ReasonCount`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xpuplan.claims.engine import ClaimResult
from xpuplan.layout.layout import Layout, Reason
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

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips


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
    requests_per_s: float | None
    weights_gib: float | None  # per chip
    kv_gib: float | None
    max_batch: int | None  # the most sequences the KV cache holds per replica
    economics: Economics
    usd_per_million_output_tokens: float | None
    joules_per_output_token: float | None
    interval_basis: str | None
    interval_cases: int | None


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
    latency_s: float | None
    latency_s_low: float | None
    latency_s_high: float | None
    sequences_per_s: float | None  # all replicas
    sequences_per_s_low: float | None
    sequences_per_s_high: float | None
    tokens_per_s: float | None
    bound: str | None  # compute | memory (what sets the GEMMs' time)
    weights_gib: float | None  # per chip
    activations_gib: float | None
    economics: Economics
    usd_per_million_sequences: float | None
    joules_per_sequence: float | None
    interval_basis: str | None
    interval_cases: int | None


@dataclass(frozen=True, slots=True)
class EncoderSearchResult:
    """An encoder serving search: the weight format and batch with the most sequences/s under the
    latency target (or the lowest latency at a rate), with the batch–latency curve."""

    configs_evaluated: int
    configs_feasible: int
    reasons: tuple[ReasonCount, ...]
    best: EncoderResult  # feasible False (with its reason) when nothing fits
    curve: tuple[EncoderResult, ...]


@dataclass(frozen=True, slots=True)
class ServeSearchResult:
    """The best serving configuration and the latency–throughput curve of its layout."""

    configs_evaluated: int
    configs_feasible: int
    reasons: tuple[ReasonCount, ...]
    best: ServeResult  # feasible False (with its reason) when nothing fits
    curve: tuple[ServeResult, ...]  # the best layout at every batch that fits


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

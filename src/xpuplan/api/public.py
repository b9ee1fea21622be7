"""The public surface a notebook writes down: names and numbers in, typed results out.

``estimate_train``, ``search_train``, ``estimate_serve``, ``search_serve``, ``plan``,
``check_claim`` and ``validate`` resolve ids and aliases against the catalog given (default: the
packaged one), check the numbers (the same :class:`~xpuplan.errors.InputError` the CLI shows) and
return the records of :mod:`xpuplan.api.results`. They run the same code as the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from xpuplan import api as _api
from xpuplan.api.results import (
    ClaimResult,
    Economics,
    EncoderResult,
    EncoderSearchResult,
    ErrorStats,
    GroupErrors,
    Part,
    PlanResult,
    ReasonCount,
    ServeResult,
    ServeSearchResult,
    TrainResult,
    TrainSearchResult,
    ValidationResult,
)
from xpuplan.claims.engine import evaluate_claim, find_claim
from xpuplan.claims.spec import load_claim
from xpuplan.datafiles import Field, number_problem
from xpuplan.errors import InputError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.pricing import power_estimated
from xpuplan.layout.layout import LAYOUT_FIELDS, Layout, parse_layout
from xpuplan.perf.estimate import TrainEstimate, machine
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import serve_stack
from xpuplan.planner.plan import default_scenario, load_scenario
from xpuplan.planner.plan import plan as _plan
from xpuplan.planner.scenario import OBJECTIVES, Scenario
from xpuplan.search.encoder_search import EncoderPlan
from xpuplan.search.encoder_search import EncoderSearchResult as _EncoderSearch
from xpuplan.search.serve_search import ServePlan
from xpuplan.search.serve_search import ServeSearchResult as _ServeSearch
from xpuplan.units import SECONDS_PER_HOUR
from xpuplan.validation.validate import CaseResult, summarise
from xpuplan.workload.job import ServeJob, TrainJob
from xpuplan.workload.model import Model

ModelRef = str | Path | Model
LayoutRef = Layout | Mapping[str, Any] | str

DEFAULT_GLOBAL_BATCH = 1024  # sequences per step (the CLI's default)
DEFAULT_SEQ_LEN = 4096


__all__ = [
    "check_claim",
    "estimate_serve",
    "estimate_train",
    "plan",
    "search_serve",
    "search_train",
    "validate",
]

# ---- what a caller hands in ------------------------------------------------------------------------


def _train_job(
    model: ModelRef,
    job: TrainJob | None,
    global_batch: int,
    seq_len: int,
    precision: str,
    tokens: float | None,
) -> TrainJob:
    """The job: ``job`` when given (its model replaced by ``model``), else the loose numbers."""
    mdl = _api._model(model)
    if job is not None:
        return replace(job, model=mdl)
    return TrainJob(mdl, global_batch, seq_len, precision, tokens)


def _fields(layout: LayoutRef | None) -> dict[str, Any]:
    """The fields a layout states: a :class:`Layout` states all, a mapping or the notation
    (``"TP4 PP2 DP8 mb1"``, :func:`~xpuplan.layout.layout.parse_layout`) only those it names."""
    if layout is None:
        return {}
    if isinstance(layout, Layout):
        return {f: getattr(layout, f) for f in LAYOUT_FIELDS}
    if isinstance(layout, str):
        return parse_layout(layout)
    if isinstance(layout, Mapping):
        return dict(layout)
    raise InputError(
        f"a layout is a Layout, a mapping of degrees or a string, got {type(layout).__name__}",
        'e.g. layout="TP4 PP2 DP8 mb1" or layout={"tp": 4, "pp": 2}',
    )


def _economics(m: Machine, cat: Catalog) -> Economics:
    """The cluster's price and facility power (:mod:`xpuplan.hardware.pricing`, whole nodes)."""
    r = _api._rates(m, cat)
    usd_s = r.get("usd_s")
    return Economics(
        system=m.system.id,
        chips=m.chips,
        nodes=r["nodes"],
        usd_per_hour=None if usd_s is None else usd_s * SECONDS_PER_HOUR,
        pricing=r.get("pricing"),
        price_as_of=r.get("price_as_of"),
        watts=r.get("watts"),
        pue=cat.energy.pue,
        power_estimated=power_estimated(cat, m.system),
    )


def _bounds(x: float | None, f: Callable[[float], tuple[float, float]] | None) -> tuple[Any, Any]:
    return (None, None) if x is None or f is None else f(x)


# ---- training ----------------------------------------------------------------------------------------


def _train_result(model: str, est: TrainEstimate, m: Machine, cat: Catalog) -> TrainResult:
    """A :class:`TrainEstimate` with its interval bounds, cost and energy as a typed record."""
    iv = est.interval
    time, rate = (None, None) if iv is None else (iv.time, iv.rate)
    money: dict[str, Any] = (
        _api.train_figures(m, cat, est.step_time_s, est.tokens_per_s) if est.tokens_per_s > 0 else {}
    )
    step_lo, step_hi = _bounds(est.step_time_s, time)
    tps_lo, tps_hi = _bounds(est.tokens_per_s, rate)
    mfu_lo, mfu_hi = _bounds(est.mfu, rate)
    ttt_lo, ttt_hi = _bounds(est.time_to_train_s, time)
    usd_lo, usd_hi = _bounds(money.get("usd_per_step"), time)
    return TrainResult(
        model=model,
        system=m.system.id,
        chip=m.chip.id,
        chips=est.chips,
        layout=est.layout,
        feasible=est.feasible,
        reason=None if est.feasible else est.reason.text,
        reason_code=est.reason,
        step_time_s=est.step_time_s,
        step_time_s_low=step_lo,
        step_time_s_high=step_hi,
        tokens_per_s=est.tokens_per_s,
        tokens_per_s_low=tps_lo,
        tokens_per_s_high=tps_hi,
        mfu=est.mfu,
        mfu_low=mfu_lo,
        mfu_high=mfu_hi,
        hfu=est.hfu,
        time_to_train_s=est.time_to_train_s,
        time_to_train_s_low=ttt_lo,
        time_to_train_s_high=ttt_hi,
        memory_total_bytes=est.memory_total_bytes,
        memory_capacity_bytes=est.memory_capacity_bytes,
        time_parts=tuple(Part(k, v) for k, v in est.time_s.items()),
        memory_parts=tuple(Part(k, v) for k, v in est.memory_bytes.items()),
        economics=_economics(m, cat),
        usd_per_step=money.get("usd_per_step"),
        usd_per_step_low=usd_lo,
        usd_per_step_high=usd_hi,
        joules_per_step=money.get("joules_per_step"),
        usd_per_million_tokens=money.get("usd_per_million_tokens"),
        joules_per_token=money.get("joules_per_token"),
        interval_basis=None if iv is None else iv.basis,
        interval_cases=None if iv is None else iv.n,
        interval=iv,
        estimate=est,
    )


def estimate_train(
    model: ModelRef,
    system_or_chip: str,
    chips: int,
    layout: LayoutRef | None = None,
    job: TrainJob | None = None,
    *,
    global_batch: int = DEFAULT_GLOBAL_BATCH,
    seq_len: int = DEFAULT_SEQ_LEN,
    precision: str = "bf16",
    tokens: float | None = None,
    catalog: Catalog | None = None,
    system: str | None = None,
    stack: str | None = None,
) -> TrainResult:
    """Predict one training step of ``model`` (an id, alias, :class:`Model` or Hugging Face
    ``config.json`` path) on ``chips`` chips of a system (a chip's name: its default system).

    ``layout``: a :class:`Layout`, a mapping of degrees or the tables' notation
    (``"TP4 PP2 DP8 mb1"``); unset degrees are 1 and DP takes the chips left (no layout: pure DP).
    ``job``: a :class:`TrainJob` in place of ``global_batch``, ``seq_len``, ``precision`` and
    ``tokens``. A layout that does not fit in memory is a result with ``feasible`` False; one that
    breaks a structural rule, or bad numbers, an :class:`InputError`. ``system``: the system of
    the chip named (default: the chip's own). ``stack``: the training software stack whose
    constants price it (``megatron-lm``, ``nemo``, ``maxtext``, ``deepspeed``, ...; default: the
    chip's, perf/params.py train_params)."""
    j = _train_job(model, job, global_batch, seq_len, precision, tokens)
    cat = catalog or default_catalog()
    m = machine(system_or_chip, chips, catalog=cat, system=system)
    est = _api._estimate(j, m, _fields(layout), stack)
    return _train_result(j.model.id, est, m, cat)


def search_train(
    model: ModelRef,
    system_or_chip: str,
    chips: int,
    fixed: LayoutRef | None = None,
    job: TrainJob | None = None,
    *,
    global_batch: int = DEFAULT_GLOBAL_BATCH,
    seq_len: int = DEFAULT_SEQ_LEN,
    precision: str = "bf16",
    tokens: float | None = None,
    top_k: int = 5,
    catalog: Catalog | None = None,
    progress: Callable[[int, int], None] | None = None,
    system: str | None = None,
    stack: str | None = None,
) -> TrainSearchResult:
    """Search every training layout (the degrees ``fixed`` states pinned, in any form
    :func:`estimate_train` takes) and return the best, the top ``top_k`` and the Pareto front of
    step time against memory headroom, each with cost and energy. A chip count that factors into
    no layout is answered on the largest count that does (``chips_used``). ``stack``: as for
    :func:`estimate_train`."""
    j = _train_job(model, job, global_batch, seq_len, precision, tokens)
    cat = catalog or default_catalog()
    fx = _fields(fixed)
    if isinstance(fixed, Layout):
        raise InputError("search_train pins degrees, not a whole Layout", "Use estimate_train for one layout")
    m = machine(system_or_chip, chips, catalog=cat, system=system)
    res, m, why_not_all = _api._search(j, m, fx, top_k=top_k, progress=progress, stack=stack)
    one = lambda e: _train_result(j.model.id, e, m, cat)  # noqa: E731
    pub, above = (None, None) if res.best is None else _api.mfu_check(res.best, j, m)
    return TrainSearchResult(
        layouts_evaluated=res.layouts_evaluated,
        layouts_feasible=res.layouts_feasible,
        reasons=_reasons(res.reasons),
        best=None if res.best is None else one(res.best),
        top=tuple(one(e) for e in res.top),
        pareto=tuple(one(e) for e in res.pareto),
        chips_asked=chips,
        chips_used=m.chips,
        why_none=why_not_all or (res.why_none if res.best is None else None),
        system=m.system.id,
        published_mfu=pub,
        mfu_above_published=above,
    )


def _reasons(counts: Mapping[str, int]) -> tuple[ReasonCount, ...]:
    return tuple(ReasonCount(r, n) for r, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---- serving -----------------------------------------------------------------------------------------


def _serve_job(
    model: ModelRef,
    job: ServeJob | None,
    input_len: int | None,
    output_len: int,
    weights: str | tuple[str, ...],
    kv: str,
    weight_bits: float | None,
) -> tuple[ServeJob, tuple[str, ...]]:
    mdl = _api._model(model)
    if job is not None:
        return replace(job, model=mdl), (job.weights,)
    formats = (weights,) if isinstance(weights, str) else tuple(weights)
    if not formats:
        raise InputError("no weight format given", "e.g. weights=('bf16', 'fp8')")
    if input_len is None:  # a chat turn for a decoder, a search query's passage for an encoder
        input_len = _api.ENCODER_SEQ_LEN if mdl.is_encoder else 1000
    return ServeJob(mdl, input_len, output_len, formats[0], kv, weight_bits), formats


def _serve_fixed(layout: LayoutRef | None) -> dict[str, int]:
    fx = _fields(layout)
    extra = set(fx) - {"tp", "pp", "ep"}
    if extra:
        raise InputError(f"a serving layout states tp, pp and ep only, not {sorted(extra)}", 'e.g. "TP8 PP1"')
    return fx


def _serve_result(
    model: str, p: ServePlan | None, why: str | None, mode: str, m: Machine, cat: Catalog
) -> ServeResult:
    """A :class:`ServePlan` (None: nothing fits, for ``why``) as a typed record with its bounds."""
    econ = _economics(m, cat)
    base: dict[str, Any] = dict(model=model, system=m.system.id, chip=m.chip.id, chips=m.chips, mode=mode)
    if p is None:
        return _nothing(ServeResult, base, why, econ)
    iv = p.interval
    time, rate = (None, None) if iv is None else (iv.time, iv.rate)
    money = _api._work_economics(m, cat, p.output_tokens_per_s, "output_tokens", "output_token")[0]
    bounds: dict[str, Any] = {}
    for f, how in (("ttft_s", time), ("tpot_s", time), ("e2e_s", time), ("output_tokens_per_s", rate)):
        bounds[f], (bounds[f + "_low"], bounds[f + "_high"]) = getattr(p, f), _bounds(getattr(p, f), how)
    return ServeResult(
        **base,
        feasible=True,
        reason=None,
        tp=p.tp,
        pp=p.pp,
        ep=p.ep,
        replicas=p.replicas,
        batch=p.batch,
        weights=p.weights,
        kv=p.kv,
        **bounds,
        total_tokens_per_s=p.total_tokens_per_s,
        requests_per_s=p.requests_per_s,
        weights_gib=p.weights_gib,
        kv_gib=p.kv_gib,
        max_batch=p.max_batch,
        economics=econ,
        usd_per_million_output_tokens=money.get("usd_per_million_output_tokens"),
        joules_per_output_token=money.get("joules_per_output_token"),
        interval_basis=None if iv is None else iv.basis,
        interval_cases=None if iv is None else iv.n,
        interval=iv,
    )


_ENCODER_FIGURES = ("weights", "compute", "replicas", "batch", "batch_s", "latency_s", "sequences_per_s",
                    "tokens_per_s", "flops_per_sequence", "achieved_tflops_per_chip", "bound", "weights_gib",
                    "activations_gib")  # fmt: skip


def _encoder_result(
    model: str, p: EncoderPlan | None, why: str | None, mode: str, seq_len: int, m: Machine, cat: Catalog
) -> EncoderResult:
    """An :class:`EncoderPlan` (None: nothing fits, for ``why``) as a typed record with the 80%
    interval of the chip's inference class, its price and energy per sequence."""
    base: dict[str, Any] = dict(
        model=model, system=m.system.id, chip=m.chip.id, chips=m.chips, mode=mode, seq_len=seq_len
    )
    if p is None:
        return _nothing(EncoderResult, base, why, _economics(m, cat))
    iv = m.chip.intervals.get("infer")
    figs = {f: getattr(p, f) for f in _ENCODER_FIGURES}  # the plan's own figures, by name
    for f, how in (
        ("latency_s", None if iv is None else iv.time),
        ("sequences_per_s", None if iv is None else iv.rate),
    ):
        figs[f + "_low"], figs[f + "_high"] = _bounds(getattr(p, f), how)
    money, rates = _api._work_economics(m, cat, p.sequences_per_s, "sequences", "sequence")
    return EncoderResult(
        **base,
        **figs,
        feasible=True,
        reason=None,
        economics=_economics(m, cat),
        usd_per_million_sequences=money.get("usd_per_million_sequences"),
        joules_per_sequence=money.get("joules_per_sequence"),
        sequences_per_usd=p.sequences_per_s / rates["usd_s"] if "usd_s" in rates else None,
        sequences_per_joule=p.sequences_per_s / rates["watts"] if "watts" in rates else None,
        interval_basis=None if iv is None else iv.basis,
        interval_cases=None if iv is None else iv.n,
        interval=iv,
    )


def _nothing(cls: Any, base: dict[str, Any], why: str | None, econ: Economics) -> Any:
    """A serving record (``cls``) for a search where nothing fits: every figure None, and why."""
    figs: dict[str, Any] = {f: None for f in cls.__dataclass_fields__ if f not in base}
    figs.update(feasible=False, reason=why, economics=econ)
    return cls(**base, **figs)


def _encoder_search(
    j: ServeJob,
    formats: tuple[str, ...],
    system_or_chip: str,
    chips: int,
    layout: LayoutRef | None,
    targets: _api.ServeTargets,
    cat: Catalog,
) -> EncoderSearchResult:
    """An encoder (one replica per chip, a batch of sequences of ``input_len`` tokens): the batch
    and format with the most sequences/s under ``latency_ms`` (else ``ttft_ms``: the latency of
    a sequence), or the lowest latency at ``rate`` sequences/s, or at a fixed ``batch``."""
    if _serve_fixed(layout).get("tp", 1) > 1 or _serve_fixed(layout).get("pp", 1) > 1:
        raise InputError(f"{j.model.id} is an encoder: it runs one replica per chip", "Leave the layout out")
    for k in ("concurrency", "tpot_ms"):
        if getattr(targets, k) is not None:
            raise InputError(
                f"{k} is for decoder models; {j.model.id} is an encoder", "Use batch, ttft_ms or rate"
            )
    batch = targets.batch
    res = _api._serve(j.model, system_or_chip, chips, j.input_len, j.output_len, formats, targets=targets,
                      catalog=cat)  # fmt: skip
    assert isinstance(res, _EncoderSearch)
    m = machine(system_or_chip, chips, catalog=cat, system=targets.system)
    mode = "static" if batch is not None else "dynamic"
    why = None if res.best is not None else _top_reason(res.reasons)
    return EncoderSearchResult(
        configs_evaluated=res.configs_evaluated,
        configs_feasible=res.configs_feasible,
        reasons=_reasons(res.reasons),
        best=_encoder_result(j.model.id, res.best, why, mode, j.input_len, m, cat),
        curve=tuple(_encoder_result(j.model.id, p, None, mode, j.input_len, m, cat) for p in res.curve),
    )


def _top_reason(reasons: Mapping[str, int]) -> str:
    """The most common reason a search dropped its configurations."""
    if not reasons:
        return "no configuration exists for this chip count"
    return max(reasons.items(), key=lambda kv: kv[1])[0]


def _serve_search(
    j: ServeJob,
    formats: tuple[str, ...],
    system_or_chip: str,
    chips: int,
    layout: LayoutRef | None,
    targets: _api.ServeTargets,
    catalog: Catalog | None,
) -> ServeSearchResult | EncoderSearchResult:
    """The search of :func:`search_serve` (and :func:`estimate_serve`) for the job ``j``
    (:func:`_serve_job`) among ``formats``."""
    cat = catalog or default_catalog()
    if j.model.is_encoder:
        return _encoder_search(j, formats, system_or_chip, chips, layout, targets, cat)
    res = _api._serve(
        j.model, system_or_chip, chips, j.input_len, j.output_len, formats, j.kv, j.weight_bits,
        targets=targets, fixed=_serve_fixed(layout), catalog=cat,
    )  # fmt: skip
    assert isinstance(res, _ServeSearch)  # encoders are refused above
    m = machine(system_or_chip, chips, catalog=cat, system=targets.system)
    mode = "static" if targets.batch is not None else "continuous"
    why = None if res.best is not None else _top_reason(res.reasons)
    return ServeSearchResult(
        configs_evaluated=res.configs_evaluated,
        configs_feasible=res.configs_feasible,
        reasons=_reasons(res.reasons),
        best=_serve_result(j.model.id, res.best, why, mode, m, cat),
        curve=tuple(_serve_result(j.model.id, p, None, mode, m, cat) for p in res.curve),
        ttft_target_s=res.extra.get("ttft_target_s"),
        tpot_target_s=res.extra.get("tpot_target_s"),
        kv_requested=res.extra.get("kv_requested"),
        software=getattr(serve_stack(m.chip, targets.software), "id", None),
    )


def estimate_serve(
    model: ModelRef,
    system_or_chip: str,
    chips: int = 1,
    layout: LayoutRef | None = None,
    job: ServeJob | None = None,
    *,
    input_len: int | None = None,
    output_len: int = 250,
    weights: str = "bf16",
    kv: str = "bf16",
    weight_bits: float | None = None,
    batch: int | None = None,
    concurrency: int | None = None,
    catalog: Catalog | None = None,
    system: str | None = None,
) -> ServeResult | EncoderResult:
    """Predict serving ``model`` on ``chips`` chips with one layout (``layout``: ``"TP8 PP1"`` or
    ``{"tp": 8}``; default: TP over all the chips, one replica) and one weight format, at a static
    ``batch``, a continuous-batching ``concurrency``, or (neither) the batch with the most
    throughput. ``job``: a :class:`ServeJob` in place of the lengths and formats. ``input_len``
    None: 1,000 tokens (384 for an encoder). An encoder (BERT-class) runs one replica per chip
    and gives an :class:`EncoderResult` (sequences/s, latency, $/M sequences, J/sequence).
    ``system``: the system of the chip named (default: the chip's own)."""
    fx = _serve_fixed(layout)
    if not fx and not _api._model(model if job is None else job.model).is_encoder:
        fx = {"tp": chips, "pp": 1}
    if not isinstance(weights, str):
        raise InputError("estimate_serve takes one weight format", "Use search_serve to compare formats")
    j, formats = _serve_job(model, job, input_len, output_len, weights, kv, weight_bits)
    targets = _api.ServeTargets(batch=batch, concurrency=concurrency, system=system)
    return _serve_search(j, formats, system_or_chip, chips, fx, targets, catalog).best


def search_serve(
    model: ModelRef,
    system_or_chip: str,
    chips: int = 1,
    fixed: LayoutRef | None = None,
    job: ServeJob | None = None,
    *,
    input_len: int | None = None,
    output_len: int = 250,
    weights: str | tuple[str, ...] = ("bf16",),
    kv: str = "bf16",
    weight_bits: float | None = None,
    batch: int | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    ttft_ms: float | None = None,
    tpot_ms: float | None = None,
    catalog: Catalog | None = None,
    system: str | None = None,
    latency_ms: float | None = None,
    software: str | None = None,
) -> ServeSearchResult | EncoderSearchResult:
    """The best serving configuration (TP/PP/EP, replicas, batch, weight format among ``weights``)
    under the TTFT / TPOT targets: the most output tokens/s, or with ``rate`` the lowest latency
    that sustains that many requests/s; with the latency–throughput curve of its layout. An
    encoder: the format and batch per chip with the most sequences/s under ``latency_ms`` (else
    ``ttft_ms``: the latency of a sequence), or the lowest latency at ``rate`` sequences/s.
    ``system``: the system of the chip named (default: the chip's own). ``software``: the serving
    stack whose constants price it (``vllm``, ``tensorrt-llm``, ``sglang``, ...; default: the
    chip's, e.g. TensorRT-LLM on NVIDIA, whose scheduler reserves each request's whole KV)."""
    j, formats = _serve_job(model, job, input_len, output_len, weights, kv, weight_bits)
    targets = _api.ServeTargets(batch=batch, concurrency=concurrency, rate=rate, ttft_ms=ttft_ms,
                                tpot_ms=tpot_ms, latency_ms=latency_ms, system=system,
                                software=software)  # fmt: skip
    return _serve_search(j, formats, system_or_chip, chips, fixed, targets, catalog)


# ---- plans, claims, validation ---------------------------------------------------------------------


def plan(
    scenario: Scenario | Path | str | None = None,
    catalog: Catalog | None = None,
    *,
    objective: str | None = None,
    pue: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """Rank every candidate system per job of ``scenario`` (a :class:`Scenario`, the path of a
    scenario TOML, or None: the built-in one), plan the fleet and say what would change the answer.
    ``objective`` (cost | time | energy) and ``pue`` override the scenario's."""
    cat = catalog or default_catalog()
    if scenario is None:
        sc = default_scenario()
    elif isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc = load_scenario(Path(scenario), cat)
    if objective is not None:
        if objective not in OBJECTIVES:
            raise InputError(f"unknown objective '{objective}'", "Use cost, time or energy")
        sc = replace(sc, objective=objective)
    if pue is not None:
        problem = number_problem("PUE", pue, Field("num", 1.0, 3.0, open_hi=True))
        if problem is not None:
            raise InputError(problem[0], f"{problem[1]}; typical values are 1.1 to 1.6")
        sc = replace(sc, pue=float(pue))
    return _plan(sc, cat, progress=progress)


def check_claim(claim_id_or_path: str | Path, catalog: Catalog | None = None) -> ClaimResult:
    """A built-in claim (by id, ``xpuplan claims``) or a claim file (TOML, docs/claims.md) run
    through the model: the verdict, the computed and claimed figures and the conditions."""
    path = Path(claim_id_or_path)
    if isinstance(claim_id_or_path, Path) or path.suffix == ".toml" or path.is_file():
        return evaluate_claim(load_claim(path), catalog)
    return evaluate_claim(find_claim(str(claim_id_or_path)), catalog)


def _errors(d: Mapping[str, Any]) -> ErrorStats:
    return ErrorStats(d["n"], d["predicted"], d["median_error"], d["p90_error"])


def _groups(by: Mapping[str, Mapping[str, Any]]) -> tuple[GroupErrors, ...]:
    return tuple(GroupErrors(g, t, _errors(s)) for g, tasks in by.items() for t, s in tasks.items())


def validate(
    paths: Path | str | list[Path | str] | None = None,
    cv: str | None = None,
    catalog: Catalog | None = None,
) -> ValidationResult:
    """Predict every published case (the built-in suite, or the case files ``paths``) and
    summarise the errors. ``cv="source"`` refits the efficiencies with each publication left out
    and predicts it (``"case"``: each case) — the honest accuracy; the fit then starts from the
    packaged catalog, so ``catalog`` is for the in-sample run only."""
    files = [Path(paths)] if isinstance(paths, Path | str) else [Path(p) for p in paths or []]
    coverage: float | None = None
    if cv is None:
        cases: list[CaseResult] = _api.validate_cases(files or None, catalog)
        in_sample = cases
    else:
        if catalog is not None:
            raise InputError("cross-validation refits from the packaged catalog", "Leave catalog out with cv")
        fit = _api.cross_validate(files or None, by=cv)
        cases, in_sample, coverage = fit.cv_results, fit.in_sample, fit.coverage
    s, ins = summarise(cases), summarise(in_sample)
    return ValidationResult(
        cv=cv,
        cases=tuple(cases),
        train=_errors(s["train"]),
        infer=_errors(s["infer"]),
        by_vendor=_groups(s["by_vendor"]),
        by_chip=_groups(s["by_chip"]),
        in_sample_train=_errors(ins["train"]),
        in_sample_infer=_errors(ins["infer"]),
        interval_coverage=coverage,
        by_class=_groups(s["by_class"]),
    )

"""The public functions a notebook (or the CLI) calls: names in, results out.

They resolve ids and aliases through the catalog and the model library, build the job and the
machine, and call the estimate or the search. Nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# What the CLI (and a notebook) reaches through this module: the layers below stay private to it.
from xpuplan.api.results import Part, PublishedMfu
from xpuplan.calibrate import FULL, QUICK, Nominal, calibrate, get_backend, parse_peaks, write_calibration
from xpuplan.calibrate.runs import FULL_DECODE, FULL_TRAIN, QUICK_DECODE, QUICK_TRAIN
from xpuplan.claims.engine import evaluate_builtin, evaluate_claim, evaluate_file, find_claim
from xpuplan.datafiles import check_output, number_problem, positive, strip_controls, write_text
from xpuplan.errors import DataError, InputError, UnknownNameError
from xpuplan.hardware import Chip
from xpuplan.hardware.catalog import Catalog, default_catalog, load_calibration, parse_prices
from xpuplan.hardware.pricing import current_price, facility_power_w, power_estimated
from xpuplan.hardware.refresh import Finding, price_rows_csv
from xpuplan.hardware.refresh import check as _check_catalog
from xpuplan.hardware.refresh import refresh as _refresh
from xpuplan.hardware.stacks import named_stack
from xpuplan.layout.layout import LAYOUT_FIELDS, Layout, LayoutArray, Reason, Recompute, check
from xpuplan.perf.estimate import TrainEstimate, machine
from xpuplan.perf.estimate import estimate_train as _estimate_step
from xpuplan.perf.machine import (
    MAX_CHIPS,
    Machine,
)
from xpuplan.perf.params import PerfParams, default_params, train_params
from xpuplan.perf.params import serve_params as _serve_params
from xpuplan.perf.published import (
    MFU_MARGIN as MFU_MARGIN,  # re-exported: tests and callers read api.MFU_MARGIN
)
from xpuplan.perf.published import mfu_above
from xpuplan.planner.plan import default_scenario, load_scenario
from xpuplan.planner.scenario import OBJECTIVES
from xpuplan.search.encoder_search import EncoderSearchResult, search_encoder
from xpuplan.search.serve_search import ServeSearchResult
from xpuplan.search.serve_search import search_serve as _search_serve
from xpuplan.search.space import SpaceOptions, usable_counts
from xpuplan.search.train_search import SearchResult
from xpuplan.search.train_search import search_train as _search_train
from xpuplan.units import SECONDS_PER_HOUR
from xpuplan.validation.calibration_check import check as calibration_check
from xpuplan.validation.fit import FitResult, fit_toml, run_fit
from xpuplan.validation.ranking import rank_groups
from xpuplan.validation.validate import summarise
from xpuplan.validation.validate import validate as validate_cases
from xpuplan.workload import load_hf_config, model_library
from xpuplan.workload.job import EncoderJob, ServeJob, TrainJob
from xpuplan.workload.library import get_model
from xpuplan.workload.model import Model


def _catalog_owner(cat: Catalog, name: str) -> str | None:
    """The catalog chip or system that answers to ``name`` (its id or an alias), if any."""
    try:
        return cat.find(name).id
    except UnknownNameError:
        return None


def check_calibration_id(chip_id: str, base: Catalog | None = None) -> None:
    """A calibrated device must not take a name the catalog already answers to: it would silently
    stand in for that chip (``--chip h100`` would mean this machine)."""
    cat = base or default_catalog()
    for name in (chip_id, f"{chip_id}-device"):
        owner = _catalog_owner(cat, name)
        if owner is not None:
            raise InputError(
                f"calibration id '{chip_id}' is already the catalog's '{owner}'",
                "Record the device under a name of its own, e.g. --id local",
            )


def calibrated_catalog(path: Path, base: Catalog | None = None) -> Catalog:
    """The catalog plus the chip in a calibration file (``xpuplan calibrate``) and a one-device
    system around it, so ``--chip <its id>`` can be planned on. A calibration whose id or alias is
    a catalog chip's or system's is refused: it would silently replace that record."""
    cat = base or default_catalog()
    chip = load_calibration(path)
    for name in (chip.id, *chip.aliases, f"{chip.id}-device"):
        owner = _catalog_owner(cat, name)
        if owner is not None:
            raise DataError(
                f"the calibrated chip's name '{name}' is already the catalog's '{owner}'",
                "Give the calibration an id of its own (xpuplan calibrate --id NAME)",
                str(path),
            )
    return cat.with_local_system(chip)


def refresh_prices(path: Path, catalog: Catalog | None = None) -> tuple[str, int]:
    """Price rows (``prices.csv`` columns, with source and date) from a cloud's price export:
    AWS's EC2 price-list JSON, a GCP Cloud Billing SKU export or Azure's retail prices JSON.
    Returns the CSV text and the number of rows."""
    cat = catalog or default_catalog()
    rows = _refresh(Path(path), cat)
    return price_rows_csv(rows, cat), len(rows)


def with_price_file(path: Path, base: Catalog | None = None) -> Catalog:
    """The catalog plus the price rows of a CSV in ``prices.csv``'s columns (e.g. the output of
    :func:`refresh_prices`): plans and claims then price with them by kind and date."""
    cat = base or default_catalog()
    cpn = {k: s.chips_per_node for k, s in cat.systems.items()}
    return cat.with_prices(parse_prices(Path(path), cpn))


def check_catalog(catalog: Catalog | None = None) -> list[Finding]:
    """Records an analyst could not cite as they stand: no URL, a year-only date, or a value that
    disagrees with its note."""
    return _check_catalog(catalog or default_catalog())


def parse_recompute(value: str) -> int:
    try:
        return int(Recompute.parse(value))
    except KeyError:
        raise InputError(
            f"unknown recompute policy '{value}'", "Use none, selective, full or offload"
        ) from None


def _model(model: str | Path | Model) -> Model:
    return model if isinstance(model, Model) else get_model(str(model))


# ---- checks on the numbers a caller gives (the CLI and a notebook get the same errors) ----------

MAX_BATCH = 1_000_000_000  # sequences per step or in flight
MAX_TOKENS_PER_SEQ = 10_000_000
MAX_TOP = 1000  # layouts a search lists


def check_positive(name: str, value: float | None, hi: float = math.inf) -> None:
    """``value`` (when given) is a finite number in (0, ``hi``] (:func:`number_problem`)."""
    problem = None if value is None else number_problem(name, value, positive(hi))
    if problem is not None:
        raise InputError(*problem)


def _check_fixed(fixed: Mapping[str, Any], chips: int, global_batch: int) -> None:
    """Stated degrees in range: each ≥ 1 (ZeRO 0..3), none beyond the chips (micro-batch: the batch)."""
    unknown = set(fixed) - set(LAYOUT_FIELDS)
    if unknown:
        raise InputError(f"unknown layout field(s) {sorted(unknown)}", f"Use {', '.join(LAYOUT_FIELDS)}")
    for k, v in fixed.items():
        if k in ("sp", "tp_overlap", "dp_overlap", "recompute"):
            continue
        lo = 0 if k in ("zero", "recompute_layers") else 1  # recompute_layers 0: every layer
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{k} must be an integer ≥ {lo}, got {v!r}", "Give a valid degree")
        hi = {"zero": 3, "microbatch": global_batch, "vpp": MAX_CHIPS, "recompute_layers": MAX_CHIPS}.get(
            k, chips
        )
        if v > hi:
            raise InputError(f"{k} = {v:,} is more than {hi:,}", "Give a degree that fits the job")


def _layout_from(fixed: Mapping[str, Any], chips: int) -> Layout:
    """A :class:`Layout` from stated fields (unset degrees: 1; DP: what the chips leave)."""
    kw: dict[str, Any] = dict(fixed)
    if "dp" not in kw:
        rest = kw.get("tp", 1) * kw.get("pp", 1) * kw.get("cp", 1)
        if chips % rest:
            raise InputError(f"tp × pp × cp = {rest} does not divide {chips} chips", "Change the degrees")
        kw["dp"] = chips // rest
    for b in ("sp", "tp_overlap", "dp_overlap"):
        if b in kw:
            kw[b] = bool(kw[b])
    if "recompute" in kw:
        rc = kw["recompute"]
        kw["recompute"] = Recompute(parse_recompute(rc) if isinstance(rc, str) else rc)
    return Layout(**kw)


def _estimate(
    job: TrainJob, m: Machine, fixed: Mapping[str, int] | None = None, stack: str | None = None
) -> TrainEstimate:
    """One training step of ``job`` on ``m`` with the layout in ``fixed`` (unset degrees: 1, DP
    implied; :func:`xpuplan.api.public.estimate_train` is the public face), under the training
    ``stack`` named (default: the chip's)."""
    _check_fixed(fixed or {}, m.chips, job.global_batch)
    layout = _layout_from(fixed or {}, m.chips)
    _check_structure(layout, job, m)
    return _estimate_step(job, layout, m, train_params(m.chip, _training_stack(stack)))


# Rules a layout the user states can break; memory, precision and cluster size stay values
# (an infeasible estimate with its reason), since they are answers, not mistakes.
_ANSWERS = (Reason.OK, Reason.MEMORY, Reason.DTYPE, Reason.CLUSTER)


def _check_structure(layout: Layout, job: TrainJob, m: Machine) -> None:
    """A stated layout that breaks a structural rule (degrees that do not multiply to the chip
    count, TP beyond the scale-up domain, more pipeline chunks than layers, a batch DP cannot
    split, …) is a mistake in the input: :class:`InputError` naming the rule."""
    reason = Reason(
        int(
            check(
                LayoutArray.from_layout(layout), job.model, m.chips, job.global_batch, job.seq_len, m.domain
            )[0]
        )
    )
    if reason not in _ANSWERS:
        raise InputError(
            f"layout {layout.describe()} on {m.chips:,} chips breaks a rule: {reason.text}",
            "Change the degrees, or use --search to find a valid layout",
        )


def _check_degrees(fixed: Mapping[str, int], chips: int, global_batch: int) -> None:
    """Stated degrees a search cannot satisfy whatever it picks for the rest."""
    given = [fixed[k] for k in ("tp", "pp", "dp", "cp") if k in fixed]
    prod = math.prod(given)
    if chips % prod:
        raise InputError(
            f"the stated degrees multiply to {prod:,}, which does not divide {chips:,} chips",
            f"rule: {Reason.CHIPS_MISMATCH.text}",
        )
    if fixed.get("dp", 1) * fixed.get("microbatch", 1) > global_batch:
        raise InputError(
            f"global batch {global_batch:,} is smaller than DP × micro-batch",
            f"rule: {Reason.BATCH.text}",
        )


def _search(
    job: TrainJob,
    m: Machine,
    fixed: Mapping[str, int] | None = None,
    top_k: int = 5,
    progress: Callable[[int, int], None] | None = None,
    stack: str | None = None,
) -> tuple[SearchResult, Machine, str | None]:
    """Search every layout (degrees in ``fixed`` pinned): the best, top-k and Pareto, the machine
    searched, and (when the count factors into no layout, so the search ran on the largest count
    below it that does) why no layout uses all the chips. The public face is
    :func:`xpuplan.api.public.search_train`."""
    check_positive("top_k", top_k, hi=MAX_TOP)
    _check_fixed(fixed or {}, m.chips, job.global_batch)
    _check_degrees(dict(fixed or {}), m.chips, job.global_batch)
    space = SpaceOptions(fixed=dict(fixed or {}))
    params = train_params(m.chip, _training_stack(stack))
    res = _search_train(job, m, space, params=params, top_k=top_k, progress=progress)
    if res.best is None and not fixed:
        # the count does not factor into any layout: the largest usable count below it, the rest idle
        for n in usable_counts(m.chips):
            sub = _search_train(job, replace(m, chips=n), space, params=params, top_k=top_k)
            if sub.best is not None:
                return sub, replace(m, chips=n), res.why_none
    return res, m, None


def mfu_check(best: TrainEstimate, job: TrainJob, m: Machine) -> tuple[PublishedMfu | None, float | None]:
    """The best comparable published MFU on this chip (16-bit full training; see
    :func:`xpuplan.perf.published.mfu_above`) and, when ``best`` exceeds it by more than
    ``MFU_MARGIN``, how many times it (the figure is likely optimistic)."""
    ref, above = mfu_above(
        best.mfu, m.chip.id, float(job.model.params()), m.chips, job.precision, job.lora_rank
    )
    if ref is None:
        return None, None
    pub = PublishedMfu(
        ref.mfu, ref.case, ref.chips, ref.model_params, tuple(Part(k, v) for k, v in ref.shares)
    )
    return pub, above


def _rates(m: Machine, cat: Catalog) -> dict[str, Any]:
    """The whole cluster's price (USD/s, with its kind and date) and facility power (W, at the
    catalog's PUE), where ``cat`` has a price and a TDP. Whole nodes are rented and powered
    (:mod:`xpuplan.hardware.pricing`): a partly used node costs and draws as a whole one."""
    nodes = math.ceil(m.chips / m.system.chips_per_node)
    out: dict[str, Any] = {"nodes": nodes}
    price = current_price(cat, m.system)
    if price is not None:
        usd_s = price.usd_per_node_hour / SECONDS_PER_HOUR * nodes
        out.update(usd_s=usd_s, pricing=price.pricing.value, price_as_of=price.as_of)
    watts = facility_power_w(cat, m.system, m.chips, default_params().power_fraction)
    if watts is not None:
        out.update(watts=watts, pue=cat.energy.pue, power_estimated=power_estimated(cat, m.system))
    return out


def _work_economics(
    m: Machine, cat: Catalog | None, per_s: float, per: str, each: str
) -> tuple[dict[str, Any], dict[str, float]]:
    """Price and energy of work done at ``per_s`` units per second on ``m``, the one place the
    train, serve and encoder figures come from: ``usd_per_million_<per>`` and
    ``joules_per_<each>`` with the price's kind and date and the PUE, where the catalog has them;
    and the cluster's USD/s and W, for figures of their own."""
    out: dict[str, Any] = {"system": m.system.id}
    r = _rates(m, cat or default_catalog())
    if "usd_s" in r:
        out.update(pricing=r["pricing"], price_as_of=r["price_as_of"])
        out[f"usd_per_million_{per}"] = r["usd_s"] / per_s * 1e6
    if "watts" in r:
        out[f"joules_per_{each}"] = r["watts"] / per_s
        out.update(pue=r["pue"], power_estimated=r["power_estimated"])
    return out, {k: r[k] for k in ("usd_s", "watts") if k in r}


def train_figures(m: Machine, cat: Catalog | None, step_s: float, tokens_per_s: float) -> dict[str, Any]:
    """``usd_per_step``, ``joules_per_step``, ``usd_per_million_tokens`` and ``joules_per_token``
    of a step of ``step_s`` at ``tokens_per_s`` on ``m`` (where the catalog has a price, a TDP)."""
    out, r = _work_economics(m, cat, tokens_per_s, "tokens", "token")
    if "usd_s" in r:
        out["usd_per_step"] = r["usd_s"] * step_s
    if "watts" in r:
        out["joules_per_step"] = r["watts"] * step_s
    return out


@dataclass(frozen=True)
class ServeTargets:
    """The load and latency targets of a serving search, as the public API takes them: a static
    ``batch``, a continuous-batching ``concurrency`` or a request ``rate`` (at most one of them),
    the TTFT / TPOT targets (an encoder's ``latency_ms``) in milliseconds, the ``system`` of
    the chip named (None: the chip's own) and the serving ``software`` stack (a ``data/stacks``
    id such as ``vllm`` or ``tensorrt-llm``; None: the chip's default)."""

    batch: int | None = None
    concurrency: int | None = None
    rate: float | None = None
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    latency_ms: float | None = None
    system: str | None = None
    software: str | None = None


def _serve(
    model: str | Model,
    chip: str,
    chips: int,
    input_len: int | None,
    output_len: int,
    weights: tuple[str, ...] = ("bf16",),
    kv: str = "bf16",
    weight_bits: float | None = None,
    *,
    targets: ServeTargets,
    fixed: Mapping[str, int] | None = None,
    catalog: Catalog | None = None,
) -> ServeSearchResult | EncoderSearchResult:
    """Best serving configuration (TP/PP/EP, replicas, batch, weight format) under latency targets,
    as the search returns it: :func:`xpuplan.api.public.search_serve` is the public face, with
    cost, energy and the interval bounds as typed fields.

    ``targets``: ``batch`` fixes a static batch; ``concurrency`` a continuous-batching
    concurrency; ``rate`` asks for the lowest-latency configuration that sustains that many
    requests/s; none of them: the batch that maximises throughput. Stated degrees in ``fixed`` (tp, pp, ep) are pinned.
    ``input_len`` None: 1,000 tokens (384 for an encoder). An encoder model goes to
    :func:`_serve_encoder` (``latency_ms``, else ``ttft_ms``, is its latency target)."""
    if not weights:
        raise InputError("no weight format given", "e.g. weights=('bf16', 'fp8')")
    t = targets
    batch, concurrency, rate, system = t.batch, t.concurrency, t.rate, t.system
    for n, v, hi in (
        ("batch", batch, MAX_BATCH),
        ("concurrency", concurrency, MAX_BATCH),
        ("rate", rate, 1e9),
        ("ttft_ms", t.ttft_ms, 1e9),
        ("tpot_ms", t.tpot_ms, 1e9),
        ("latency_ms", t.latency_ms, 1e9),
        *((k, v, chips) for k, v in (fixed or {}).items()),
    ):
        check_positive(n, v, hi=hi)
    given = [x for x in (batch, concurrency, rate) if x is not None]
    if len(given) > 1:
        raise InputError("give at most one of batch, concurrency and rate", "Pick the load you want to model")
    mdl = _model(model)
    if mdl.is_encoder:
        return _serve_encoder(
            mdl,
            chip,
            chips,
            input_len or ENCODER_SEQ_LEN,
            weights,
            t.latency_ms if t.latency_ms is not None else t.ttft_ms,
            rate,
            batch,
            system,
            catalog,
        )
    job = ServeJob(mdl, input_len or 1000, output_len, weights[0], kv, weight_bits)
    m = machine(chip, chips, catalog=catalog, system=system)
    fx = dict(fixed or {})
    mode = "static" if batch is not None else "continuous"
    if batch is not None:
        fx["batch"] = batch
    if concurrency is not None:
        fx["batch"] = concurrency
    if kv == "fp8" and not m.chip.supports("fp8"):
        raise InputError(f"{m.chip.id} has no fp8 support for an fp8 KV cache", "Use --kv bf16")
    return _search_serve(
        job,
        m,
        weights,
        mode,
        None if t.ttft_ms is None else t.ttft_ms / 1e3,
        None if t.tpot_ms is None else t.tpot_ms / 1e3,
        rate,
        fx,
        serve_params(m.chip, _serving_stack(t.software)),
    )


def _named_stack(name: str | None, task: str) -> str | None:
    """A ``task`` (train | serve) stack the caller names, checked (hardware.stacks.named_stack)."""
    return None if name is None else named_stack(name, task).id


def _training_stack(name: str | None) -> str | None:
    return _named_stack(name, "train")


def _serving_stack(name: str | None) -> str | None:
    return _named_stack(name, "serve")


def serve_params(chip: Chip, software: str | None = None) -> PerfParams:
    """The model constants serving on ``chip`` runs under (:func:`xpuplan.perf.params.serve_params`):
    the stack ``software`` names, else the chip's default serving stack, resolved as the validator
    resolves a case's: llama.cpp's q4_0 x q8_0 int8 kernels for ``--weights int4`` on Graviton, not
    the 16-bit path."""
    return _serve_params(chip, software)


ENCODER_SEQ_LEN = 384  # MLPerf Inference BERT's max_seq_length (SQuAD v1.1)


def _serve_encoder(
    model: str | Model,
    chip: str,
    chips: int = 1,
    seq_len: int = ENCODER_SEQ_LEN,
    weights: tuple[str, ...] = ("int8", "bf16"),
    latency_ms: float | None = None,
    rate: float | None = None,
    batch: int | None = None,
    system: str | None = None,
    catalog: Catalog | None = None,
) -> EncoderSearchResult:
    """Encoder (BERT-class) inference: the format and batch per replica (one per chip) with the most
    sequences/s under ``latency_ms`` (dynamic batching; a fixed ``batch`` is an offline batch), or
    the lowest latency at ``rate`` sequences/s (:func:`xpuplan.api.public.search_serve` adds $/M
    sequences and joules per sequence)."""
    if not weights:
        raise InputError("no weight format given", "e.g. weights=('int8', 'bf16')")
    job = EncoderJob(
        _model(model), seq_len, weights[0] if weights[0] in ("bf16", "fp16", "fp8", "int8") else "bf16"
    )
    m = machine(chip, chips, catalog=catalog, system=system)
    return search_encoder(
        job,
        m,
        weights,
        "static" if batch is not None else "dynamic",
        None if latency_ms is None else latency_ms / 1e3,
        rate,
        {"batch": batch} if batch is not None else None,
    )


def cross_validate(paths: list[Path] | None = None, by: str = "source") -> FitResult:
    """Refit with each source (``by="source"``) or case (``"case"``) left out and predict it: the
    model's honest accuracy. Default: the built-in suite."""
    if by not in ("source", "case"):
        raise InputError(f"cross-validation must be by 'source' or 'case', got {by!r}", "e.g. cv='source'")
    return run_fit([Path(p) for p in paths] if paths else None, by=by)


def fit_suite() -> FitResult:
    """Every fitted efficiency from the built-in suite (``xpuplan fit``)."""
    return run_fit()


def write_fit(text: str) -> Path:
    """Write ``data/fit.toml`` in the package (atomically) and forget the cached catalog."""
    from xpuplan.datafiles import data_dir, write_text

    path = data_dir() / "fit.toml"
    write_text(path, text)
    default_catalog.cache_clear()
    return path


__all__ = [
    "FULL",
    "FULL_DECODE",
    "FULL_TRAIN",
    "MAX_CHIPS",
    "OBJECTIVES",
    "QUICK",
    "QUICK_DECODE",
    "QUICK_TRAIN",
    "Chip",
    "Finding",
    "Nominal",
    "calibrate",
    "calibrated_catalog",
    "calibration_check",
    "check_calibration_id",
    "check_catalog",
    "check_output",
    "cross_validate",
    "default_catalog",
    "default_scenario",
    "evaluate_builtin",
    "evaluate_claim",
    "evaluate_file",
    "find_claim",
    "fit_suite",
    "fit_toml",
    "get_backend",
    "get_model",
    "load_hf_config",
    "load_scenario",
    "model_library",
    "parse_peaks",
    "parse_recompute",
    "plan",  # noqa: F405  (api.public.plan, star-imported below)
    "rank_groups",
    "refresh_prices",
    "strip_controls",
    "summarise",
    "validate",  # noqa: F405  (api.public.validate, star-imported below)
    "with_price_file",
    "write_calibration",
    "write_fit",
    "write_text",
]


# ---- issue 15: filters, models from config.json, layouts explained, launch files ----------------------
from xpuplan.perf.estimate import machine as machine_for  # noqa: E402
from xpuplan.planner.scenario import with_filters  # noqa: E402

__all__ += ["machine_for", "with_filters"]

# ---- issue 12: the typed public surface a notebook writes down (xpuplan.api.public) -----------------
from xpuplan.api import public as _public  # noqa: E402
from xpuplan.api.public import *  # noqa: E402, F403  (their list lives in api.public)
from xpuplan.api.results import (  # noqa: E402
    Economics,
    EncoderResult,
    ServeResult,
    TrainResult,
    TrainSearchResult,
    ValidationResult,
)

__all__ += [
    "MAX_BATCH",
    "MAX_TOKENS_PER_SEQ",
    "Economics",
    "EncoderResult",
    "ServeResult",
    "TrainResult",
    "TrainSearchResult",
    "ValidationResult",
    "validate_cases",
    *(f for f in _public.__all__ if f not in ("plan", "validate")),
]

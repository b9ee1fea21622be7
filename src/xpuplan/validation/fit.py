"""The fit, as code: a few physical efficiencies per chip from the validation suite, the
cross-validation that judges them, and the prediction intervals that come out of it.

Fitted, per chip: ``matmul`` (the fraction of the dense peak large GEMMs reach: training and
prefill cases), ``matmul_fp8`` (the same of the fp8 peak: fp8 training and fp8 prefill),
``matmul_fp4`` (the same of the fp4 peak: NVFP4 training, on chips whose record separates it),
``matmul_serve`` (the fraction of the served format's peak a serving engine's GEMMs reach: a
decoder's prefill cases and the decode cases whose prediction depends more on the GEMM rate than
on memory bandwidth, :func:`binding_param`; a chip with none takes its sibling's, else prices
serving GEMMs as training's), ``memory`` (the fraction of memory bandwidth decode reaches:
memory-bound decode cases, within :data:`BOUNDS`). A case informs no parameter that sets less
than :data:`MIN_ELASTICITY` of its predicted time (it is predicted and reported, with why). Each parameter is
chosen on a grid to minimise the mean |log(predicted / measured)| over the chip's own cases that
inform it (a case informs one parameter: :attr:`CaseResult.param`).

A chip with no case of its own for a parameter takes, in this order, the fitted value of the
sibling its prior names (``data/fit_priors.toml`` ``[borrow]``, said in the result), else the
prior of its category (a stated, sourced value). Never silently a sibling's number.

Cross-validation (``--cv source``): for each source (one publication or results page) the fit
is redone without its cases and its cases are predicted with that fit; ``--cv case`` does the
same per case. The 80% prediction interval of a class (vendor × task; "no own case" for chips
that borrow) is the 10th-90th percentile of its cross-validated log errors.

Fitted, per software stack on one kind of chip (``data/fit.toml`` ``[stacks."vllm/gpu"]``):
``layer_overhead_s``, the fixed time per decoder layer per forward step that no roofline term
prices (kernel gaps and dispatch, :class:`xpuplan.perf.params.PerfParams`), on the stack's serving
cases whose prediction it moves; a stack with no case prices none. In cross-validation it is
refitted without the held-out source like the chips' parameters.

Fitted once for the whole model (``data/fit.toml`` ``[model]``): ``roofline_p``, the exponent of
the smooth roofline a serving kernel follows between its compute and memory roofs
(:class:`xpuplan.perf.params.PerfParams`, perf/machine.py ``roofline``), on the grid
:data:`ROOFLINE_GRID`. At each value the serving cases are predicted again (an engine's batch
under a latency limit is chosen with the slower steps), the chips' serving fractions, memory
fractions and the stacks' parameters are refitted, and the value whose fit leaves the smallest
mean |log error| over the cases is taken; in cross-validation each fold chooses it again on its
own cases only, so a held-out source never picks the value it is judged with.

Simplifications (stated): each case's layout or serving configuration is chosen at the
parameters of the fit's earlier round, and then priced again under the fold's parameters;
parameters are fitted in turn (matmul, matmul_fp8, matmul_fp4, matmul_serve, then memory, then
the stacks'), each with the ones before it at their full fit; at another exponent only the serving
fractions, the memory fractions and the stacks are refitted (the training GEMM fractions are the
ideal roofline's: no training kernel uses the exponent, and the refitted memory fractions move
the training cases' loss by under 0.5%); a fold chooses the exponent by its serving cases'
errors at their fold values with the other parameters at the variant's full fit, over the cases
every variant fits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.errors import DataError
from xpuplan.hardware.catalog import FITTED_EFFICIENCIES, Catalog, load_catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.hardware.stacks import stacks
from xpuplan.perf.params import stack_fit_key, using_model_fits, using_stack_fits
from xpuplan.perf.published import PublishedMFU
from xpuplan.validation.validate import (
    THROUGHPUT_METRICS,
    CaseResult,
    Prediction,
    load_suite,
    predict_case,
)

FITTED = FITTED_EFFICIENCIES  # matmul, matmul_fp8, matmul_fp4, matmul_serve, memory: fitted in turn
SERVE = "matmul_serve"
GRID = np.round(np.arange(0.10, 1.0001, 0.02), 3)
# The physical range of a fitted fraction where it is narrower than the grid: streaming (decode)
# kernels read memory at 35-95% of its peak (STREAM-like copies reach ~85-90% of HBM and DRAM
# peaks; the lowest decode fraction of the suite's memory-bound cases, llama.cpp on Graviton3, is
# 0.40). A fit that wants less is absorbing a term the model does not price (MoE serving on
# Blackwell: fit.toml history), and a bound keeps that error on its cases instead of spreading it
# to every prediction on the chip that reads memory.
BOUNDS = {"memory": (0.35, 0.95)}
# A case informs a parameter only where the parameter sets at least this share of its predicted
# time (elasticity d log y / d log x at the priors): below it, the case's error is the work of
# other terms (host-bound MoE steps, ZeRO-3 gathers, MLA attention), and a fit to it would move
# the fraction by a factor of 2^(1/0.25) = 16 to absorb a 2x error.
MIN_ELASTICITY = 0.25
LEVEL = 0.8  # prediction intervals: 80% of the cases inside
# Tail quantiles tried, narrowest first: the 10th-90th percentile of other sources' errors covers
# less than 80% of a new source's cases when errors are correlated within a source, so the
# interval widens (grouped split-conformal calibration) until leave-one-source-out coverage
# reaches the level.
TAILS = (0.10, 0.075, 0.05, 0.035, 0.025, 0.015, 0.0)
MIN_CLASS = 6  # fewer cross-validated cases than this: the class pools with its task
NO_OWN = "no-own-case"


@dataclass(frozen=True)
class ParamFit:
    """One chip's value of one parameter and where it came from."""

    chip: str
    param: str
    value: float
    basis: str  # fitted | borrowed from <chip> | prior (<category>)
    cases: tuple[str, ...] = ()

    @property
    def own(self) -> bool:
        return self.basis == "fitted"


@dataclass(frozen=True)
class Priors:
    by_category: dict[str, dict[str, float]]
    borrow: dict[str, str]
    source: str
    # chip -> parameters it does not borrow from its [borrow] sibling (a part of the chip that is
    # not the sibling's architecture): those take the category prior
    no_borrow: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Priors:
        path = path or data_dir() / "fit_priors.toml"
        d = read_toml(path)
        if not d.get("source") or not d.get("as_of"):
            raise DataError("fit priors need source and as_of", "Add them", str(path))
        cats = {
            k: {p: float(v[p]) for p in FITTED if p in v}
            for k, v in (d.get("prior") or {}).items()
            if isinstance(v, dict)
        }
        borrow = {str(k): str(v) for k, v in (d.get("borrow") or {}).items()}
        no_borrow: dict[str, tuple[str, ...]] = {}
        for k, v in (d.get("no_borrow") or {}).items():
            if not isinstance(v, list) or not set(v) <= set(FITTED):
                raise DataError(
                    f"[no_borrow] '{k}' must list parameters among {', '.join(FITTED)}",
                    "Fix the list",
                    str(path),
                )
            no_borrow[str(k)] = tuple(str(x) for x in v)
        return cls(cats, borrow, str(d["source"]), no_borrow)


# ---- which parameter a serving case informs ------------------------------------------------------


def binding_param(p: Prediction, cat: Catalog, priors: Priors, step: float = 1.1) -> Prediction:
    """A decode-throughput case informs the parameter its prediction depends on most: the serving
    GEMM fraction (``matmul_serve``) where the GEMMs bind (large-batch MLPerf Offline/Server steps
    on data-centre GPUs), else the memory-bandwidth fraction. Judged by the elasticity of the
    prediction to each (``d log y / d log x``, a ``step`` change) at the chip's category priors, so
    the choice depends neither on the fit it feeds nor on values an earlier fit left in a record."""
    r = p.result
    if p.evaluate is None or r.param is None or r.chip not in cat.chips or r.not_fitted:
        return p
    if r.stack and r.stack_era and r.stack in stacks() and stacks()[r.stack].is_mode(r.stack_era):
        # a mode the run states (vLLM on Neuron under synchronous scheduling) prices the step
        # with its own fitted time: the run informs that time (fit_stack_params), and the chip's
        # fractions come from runs of the default path, so neither fit moves the other
        why = f"its step runs {r.stack}'s {r.stack_era} mode: it informs that mode's fitted time, not the chip's fractions"
        return replace(p, result=replace(r, not_fitted=why, weak=True))
    chip, ev = cat.chips[r.chip], p.evaluate
    prior = priors.by_category.get(chip.category, {})
    ref = replace(chip.efficiency, matmul_serve=None)
    for k in FITTED:
        if k in prior and (k in ("matmul", "memory") or getattr(ref, k) is not None):
            ref = replace(ref, **{k: prior[k]})  # type: ignore[arg-type]

    y0 = ev(ref)

    def elasticity(kw: dict[str, float]) -> float:
        """d log y / d log x of the prediction for the fields in ``kw`` moved by ``step``."""
        y1 = ev(replace(ref, **kw))  # type: ignore[arg-type]
        if not (y0 > 0 and y1 > 0 and math.isfinite(y0) and math.isfinite(y1)):
            return 0.0
        return abs(math.log(y1 / y0)) / math.log(step)

    # the serving GEMM fraction is None at the reference: serving GEMMs run at the format's
    # fraction, so all three GEMM fields move together; every prior is <= 0.75, so a step of 1.1
    # stays below 1
    gemm = {k: v * step for k in ("matmul", "matmul_fp8", "matmul_fp4") if (v := getattr(ref, k))}
    if r.task != "infer" or r.param != "memory":  # a training or prefill case: its own parameter
        f = _field(ref, r.param)
        e = elasticity(gemm if r.param == SERVE else {f: getattr(ref, f) * step})
        return (
            p
            if e >= MIN_ELASTICITY
            else replace(p, result=replace(r, not_fitted=_weak(r.param, e), weak=True))
        )
    e_gemm, e_mem = elasticity(gemm), elasticity({"memory": ref.memory * step})
    if max(e_gemm, e_mem) < MIN_ELASTICITY:
        weak = _weak("memory or matmul_serve", max(e_gemm, e_mem))
        return replace(p, result=replace(r, not_fitted=weak, weak=True))
    if e_gemm > e_mem:
        return replace(p, result=replace(r, param=SERVE))
    return p


def _weak(param: str, e: float) -> str:
    return (
        f"informs no fitted efficiency: {param} sets too little of its predicted time (elasticity "
        f"{e:.2f} at the priors, under {MIN_ELASTICITY}); other terms set its error"
    )


# ---- the grid table: every case priced at every value of its parameter ---------------------------


@dataclass(frozen=True)
class Row:
    """A predicted case with its log error at every grid value of its parameter."""

    result: CaseResult
    pred: Prediction
    base: Efficiency
    log_err: np.ndarray  # throughput-sense log(predicted / measured) per GRID value


def _sense(metric: str | None, pred: float, meas: float) -> float:
    if pred <= 0 or not math.isfinite(pred):
        return math.inf
    r = math.log(pred / meas)
    return r if metric in THROUGHPUT_METRICS else -r


def build_rows(
    preds: Iterable[Prediction], cat: Catalog, fitted: dict[tuple[str, str], ParamFit]
) -> list[Row]:
    """Price each predicted case at every grid value of its parameter (the other fitted parameters
    at their values in ``fitted``, else the catalog's)."""
    rows = []
    for p in preds:
        r = p.result
        if p.evaluate is None or r.measured is None or r.param is None or r.chip not in cat.chips:
            continue
        base = _efficiency(cat, r.chip, fitted)
        errs = np.array([_sense(r.metric, p.evaluate(_set(base, r.param, g)), r.measured) for g in GRID])
        rows.append(Row(r, p, base, errs))
    return rows


def _field(e: Efficiency, param: str) -> str:
    """The field a parameter sets on a chip whose record may not separate it (fp8 on ``matmul``
    without a ``matmul_fp8``; fp4 on fp8's without a ``matmul_fp4``: Efficiency.gemm_param)."""
    return e.gemm_param(param.removeprefix("matmul_")) if param in ("matmul_fp8", "matmul_fp4") else param


def _set(e: Efficiency, param: str, value: float) -> Efficiency:
    return replace(e, **{_field(e, param): float(value)})  # type: ignore[arg-type]


def _efficiency(cat: Catalog, chip: str, fits: dict[tuple[str, str], ParamFit]) -> Efficiency:
    e = cat.chips[chip].efficiency
    for p in FITTED:
        f = fits.get((chip, p))
        if f is not None and _field(e, p) == p:
            e = replace(e, **{p: f.value})  # type: ignore[arg-type]
    if (chip, SERVE) not in fits:  # no serving case (own or sibling's) in this fit: as training
        e = replace(e, matmul_serve=None)
    return e


# ---- fitting --------------------------------------------------------------------------------------


def _best(rows: list[Row], param: str) -> float:
    """The grid value within the parameter's physical range (:data:`BOUNDS`) that minimises the
    mean |log error| of its cases."""
    loss = np.mean(np.abs(np.stack([r.log_err for r in rows])), axis=0)
    lo, hi = BOUNDS.get(param, (0.0, 1.0))
    inside = (lo - 1e-9 <= GRID) & (hi + 1e-9 >= GRID)
    loss = np.where(inside, loss, np.inf)
    return float(GRID[int(np.argmin(loss))])


def fit_params(
    rows: list[Row],
    cat: Catalog,
    priors: Priors,
    exclude: set[str] | None = None,
    suite_chips: set[str] | None = None,
) -> dict[tuple[str, str], ParamFit]:
    """Every chip's fitted parameters from ``rows`` minus the cases in ``exclude`` (ids) and those
    marked ``not_fitted``. ``suite_chips``: chips with any case in the suite (default: those in
    ``rows``)."""
    exclude = exclude or set()
    own: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.result.id not in exclude and r.result.param and not r.result.not_fitted:
            own.setdefault((r.result.chip, r.result.param), []).append(r)
    fits: dict[tuple[str, str], ParamFit] = {}
    for key, rs in own.items():
        fits[key] = ParamFit(key[0], key[1], _best(rs, key[1]), "fitted", tuple(r.result.id for r in rs))
    in_suite = suite_chips if suite_chips is not None else {r.result.chip for r in rows}
    for chip_id in cat.chips:
        for p in FITTED:
            if p == "matmul_fp4" and cat.chips[chip_id].efficiency.matmul_fp4 is None:
                continue  # the chip prices fp4 GEMMs with its fp8 fraction
            if (chip_id, p) in fits:
                continue
            if p == SERVE:  # a sibling's serving fit, else none: serving GEMMs as training's
                sib = _sibling_fit(chip_id, p, fits, priors)
                if sib is not None:
                    fits[(chip_id, p)] = sib
                continue
            fits[(chip_id, p)] = _resolve(chip_id, p, fits, cat, priors, chip_id in in_suite)
    return fits


def _sibling_fit(chip: str, p: str, fits: dict[tuple[str, str], ParamFit], priors: Priors) -> ParamFit | None:
    """The fitted value of the nearest sibling along the chip's ``[borrow]`` chain that has a
    case of its own for ``p``, said as borrowed; None when none has."""
    seen = {chip}
    sib = None if p in priors.no_borrow.get(chip, ()) else priors.borrow.get(chip)
    while sib and sib not in seen:
        f = fits.get((sib, p))
        if f is not None and f.own:
            return ParamFit(chip, p, f.value, f"borrowed from {sib}", f.cases)
        seen.add(sib)
        sib = priors.borrow.get(sib)
    return None


def _resolve(
    chip: str, p: str, fits: dict[tuple[str, str], ParamFit], cat: Catalog, priors: Priors, in_suite: bool
) -> ParamFit:
    """A parameter a chip has no case for: its declared sibling's fit (followed along the chain);
    else, for a chip with no case in the suite at all, the value its record states with its own
    source; else (its record's value may come from an earlier fit on these very cases, so it
    would leak into the cross-validation) its category's prior."""
    sib = _sibling_fit(chip, p, fits, priors)
    if sib is not None:
        return sib
    e = cat.chips[chip].efficiency
    if not in_suite and _field(e, p) == p:
        return ParamFit(chip, p, float(getattr(e, p)), "record")
    cat_prior = priors.by_category.get(cat.chips[chip].category, {})
    if p in cat_prior:
        return ParamFit(chip, p, cat_prior[p], f"prior ({cat.chips[chip].category})")
    v = getattr(e, p)
    return ParamFit(chip, p, float(v if v is not None else e.matmul), "record")


# ---- parameters of the software stack --------------------------------------------------------------

OVERHEAD = "layer_overhead_s"
# Seconds per layer per forward step (PerfParams.layer_overhead_s): 0 to 0.8 ms. Kernel gaps are
# microseconds per kernel on GPUs (a CUDA launch ~2-5 us, one to two dozen kernels per decoder
# layer), more under eager frameworks and per-dispatch back ends, so a layer's fixed time lies
# between ~10 us and a few hundred; the top of the grid leaves room for a host-bound scheduler.
STACK_GRID = {
    OVERHEAD: np.array(
        [0, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 125, 150, 200, 250, 300, 400, 500, 650, 800]
    )
    / 1e6
}


@dataclass(frozen=True)
class StackRow:
    """A serving case priced at every grid value of its stack's fitted parameter (the chip's
    efficiencies at their fit)."""

    result: CaseResult
    pred: Prediction
    key: str  # perf/params.py stack_fit_key: the stack on the chip's category
    log_err: np.ndarray


def stack_key(r: CaseResult, cat: Catalog) -> str | None:
    """The stack-parameter class of a serving case (None: a training case, no stack, unknown chip)."""
    if r.task != "infer" or not r.stack or r.chip not in cat.chips:
        return None
    return stack_fit_key(r.stack, cat.chips[r.chip].category, r.stack_era)


def build_stack_rows(
    preds: Iterable[Prediction], cat: Catalog, fits: dict[tuple[str, str], ParamFit], param: str = OVERHEAD
) -> list[StackRow]:
    """Every serving case whose prediction depends on the stack parameter, priced at each of its
    grid values; a case it does not move (an encoder pass, which prices no decoder layer) is left
    out."""
    rows = []
    for p in preds:
        r = p.result
        key = stack_key(r, cat)
        if p.evaluate is None or r.measured is None or key is None:
            continue
        eff = _efficiency(cat, r.chip, fits)
        errs = np.array(
            [_sense(r.metric, p.evaluate(eff, {param: float(g)}), r.measured) for g in STACK_GRID[param]]
        )
        if np.all(np.isfinite(errs)) and np.ptp(errs) > 1e-9:
            rows.append(StackRow(r, p, key, errs))
    return rows


def fit_stack_params(
    rows: list[StackRow], exclude: set[str] | None = None, param: str = OVERHEAD
) -> dict[str, ParamFit]:
    """Per stack and chip category, the grid value that minimises the mean |log error| of its cases
    (minus ``exclude`` and the ``not_fitted`` ones; a case no chip fraction informs, ``weak``, is
    kept: a step its stack's fixed time sets, vLLM's synchronous one on Neuron, informs that time
    most). A stack with no case gets none: the term is not priced (0)."""
    exclude = exclude or set()
    by: dict[str, list[StackRow]] = {}
    for r in rows:
        if r.result.id not in exclude and (not r.result.not_fitted or r.result.weak):
            by.setdefault(r.key, []).append(r)
    out = {}
    grid = STACK_GRID[param]
    for key, rs in sorted(by.items()):
        loss = np.mean(np.abs(np.stack([r.log_err for r in rs])), axis=0)
        out[key] = ParamFit(
            key, param, float(grid[int(np.argmin(loss))]), "fitted", tuple(r.result.id for r in rs)
        )
    return out


def stack_values(fits: dict[str, ParamFit]) -> dict[str, dict[str, float]]:
    """``{stack/category: {parameter: value}}`` as perf/params.py ``using_stack_fits`` takes it."""
    out: dict[str, dict[str, float]] = {}
    for key, f in fits.items():
        out.setdefault(key, {})[f.param] = f.value
    return out


# ---- the model-wide roofline -----------------------------------------------------------------------

ROOFLINE = "roofline_p"
# PerfParams.roofline_p tried, the ideal roofline first (the main fit's): a kernel at its ridge
# point takes 2^(1/p) times either roof, 1 (inf), 1.19 (4), 1.41 (2), 1.68 (4/3), 2 (1: the roofs
# one after the other)
ROOFLINE_GRID = (math.inf, 4.0, 2.0, 4.0 / 3.0, 1.0)


@dataclass(frozen=True)
class Variant:
    """The suite priced at one value of the roofline exponent: its fits and grid tables."""

    value: float
    fits: dict[tuple[str, str], ParamFit]
    sfits: dict[str, ParamFit]
    rows: list[Row]
    srows: list[StackRow]


# ---- cross-validation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CVCase:
    result: CaseResult  # the case, predicted by the fit that did not see its fold
    log_err: float
    own: bool  # the chip had a case of its own for this parameter in the fold's fit


def cross_validate(
    rows: list[Row],
    cat: Catalog,
    priors: Priors,
    by: str = "source",
    stack_rows: list[StackRow] | None = None,
) -> list[CVCase]:
    """Leave one source (or one case) out: refit the chip and stack parameters without it, predict
    it (a serving case at its fold's stack value, 0 where the fold has no case of its stack)."""
    return cross_validate_variants([Variant(math.inf, {}, {}, rows, stack_rows or [])], cat, priors, by)[0]


def _groups(rows: list[Row], by: str) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.result.source if by == "source" else r.result.id, []).append(r)
    return groups


def _fold_fits(
    v: Variant, cat: Catalog, priors: Priors, ids: set[str], in_suite: set[str]
) -> tuple[dict[tuple[str, str], ParamFit], dict[str, ParamFit]]:
    return fit_params(v.rows, cat, priors, ids, in_suite), fit_stack_params(v.srows, ids)


def _predict_held_out(
    members: list[Row], fits: dict[tuple[str, str], ParamFit], sfits: dict[str, ParamFit], cat: Catalog
) -> list[CVCase]:
    out = []
    for r in members:
        f = fits.get((r.result.chip, r.result.param or "matmul"))
        key = stack_key(r.result, cat)
        kw = {OVERHEAD: sfits[key].value if key in sfits else 0.0} if key else None
        eff = _efficiency(cat, r.result.chip, fits)
        pred = (r.pred.evaluate(eff, kw) if kw else r.pred.evaluate(eff)) if r.pred.evaluate else math.nan
        res = replace(r.result, predicted=float(pred))
        out.append(CVCase(res, _sense(res.metric, pred, res.measured or 1.0), f is not None and f.own))
    return out


def fit_loss(
    rows: list[Row],
    fits: dict[tuple[str, str], ParamFit],
    exclude: set[str] | None = None,
    task: str = "infer",
    only: set[str] | None = None,
) -> float:
    """Mean |log error| of the ``task`` cases a fit was made on (minus ``exclude`` and the
    ``not_fitted`` ones; within ``only`` where given, so that variants are scored on the same
    cases), each at its parameter's fitted value with the others as its row was priced: how well
    one variant of the model fits its own serving cases (the exponent's choice: the serving
    kernels use it; training cases move only through the memory fractions the variants refit, by
    under 0.5% of their loss)."""
    exclude = exclude or set()
    errs = []
    for r in rows:
        f = fits.get((r.result.chip, r.result.param or ""))
        if r.result.task != task or r.result.id in exclude or r.result.not_fitted or f is None:
            continue
        if only is not None and r.result.id not in only:
            continue
        e = float(r.log_err[int(np.argmin(np.abs(GRID - f.value)))])
        if math.isfinite(e):
            errs.append(abs(e))
    return float(np.mean(errs)) if errs else math.inf


def common_cases(variants: list[Variant]) -> set[str]:
    """Ids of the cases every variant fits (priced, with a parameter, not ``not_fitted``): which
    cases inform which fraction, and which ones a variant can price at all, is worked out again
    at each exponent, and a variant must not win by dropping hard cases."""
    sets = [{r.result.id for r in v.rows if r.result.param and not r.result.not_fitted} for v in variants]
    return set.intersection(*sets) if sets else set()


def cross_validate_variants(
    variants: list[Variant], cat: Catalog, priors: Priors, by: str = "source"
) -> tuple[list[CVCase], dict[float, int]]:
    """Leave one source (or case) out across the roofline exponent's variants: in each fold every variant's
    parameters are refitted without the held-out cases, the fold takes the variant whose refit
    fits its own cases best (:func:`fit_loss`, over the cases every variant fits), and predicts
    the held-out cases with it. The folds are the first variant's cases; one another variant
    could not price is predicted by the first's row. Returns the cross-validated cases and how
    many folds chose each value."""
    base = variants[0]
    in_suite = {r.result.chip for r in base.rows}
    common = common_cases(variants)
    out: list[CVCase] = []
    chosen: dict[float, int] = {}
    for members in _groups(base.rows, by).values():
        ids = {r.result.id for r in members}
        best: tuple[float, Variant, tuple[dict[tuple[str, str], ParamFit], dict[str, ParamFit]]] | None = None
        for v in variants:
            ff = _fold_fits(v, cat, priors, ids, in_suite)
            loss = fit_loss(v.rows, ff[0], ids, only=common) if len(variants) > 1 else 0.0
            if best is None or loss < best[0] - 1e-12:
                best = (loss, v, ff)
        assert best is not None
        _, v, (fits, sfits) = best
        chosen[v.value] = chosen.get(v.value, 0) + 1
        by_id = {r.result.id: r for r in v.rows}
        out.extend(_predict_held_out([by_id.get(r.result.id, r) for r in members], fits, sfits, cat))
    return out, chosen


# ---- intervals ------------------------------------------------------------------------------------


def interval_class(vendor: str, task: str, own: bool) -> str:
    return f"{vendor}/{task}" if own else f"{NO_OWN}/{task}"


def _quantiles(errs: list[float], tail: float = (1.0 - LEVEL) / 2.0) -> tuple[float, float]:
    a = np.array([e for e in errs if math.isfinite(e)])
    lo, hi = tail, 1.0 - tail
    return float(np.quantile(a, lo)), float(np.quantile(a, hi))


def intervals(cv: list[CVCase], tail: float = (1.0 - LEVEL) / 2.0) -> dict[str, dict[str, Any]]:
    """Per class: the 10th and 90th percentile of the cross-validated log errors, as factors on a
    throughput-like prediction (measured / predicted ∈ [low, high]); small classes pool per task."""
    by: dict[str, list[float]] = {}
    for c in cv:
        by.setdefault(interval_class(c.result.vendor, c.result.task, c.own), []).append(c.log_err)
        by.setdefault(f"all/{c.result.task}", []).append(c.log_err)
    out: dict[str, dict[str, Any]] = {}
    for k, errs in sorted(by.items()):
        pool = errs if len(errs) >= MIN_CLASS else by[f"all/{k.split('/')[1]}"]
        q_lo, q_hi = _quantiles(pool, tail)
        out[k] = {
            "low": math.exp(-q_hi),
            "high": math.exp(-q_lo),
            "n": len(pool),
            "pooled": len(errs) < MIN_CLASS,
        }
    return out


def coverage(cv: list[CVCase], tail: float = (1.0 - LEVEL) / 2.0) -> float:
    """Share of cases whose measured value falls in the interval built from the cross-validated
    errors of the *other* sources of its class (so no case judges its own interval)."""
    hits = n = 0
    for c in cv:
        if not math.isfinite(c.log_err):
            continue
        key = interval_class(c.result.vendor, c.result.task, c.own)
        others = [
            o.log_err
            for o in cv
            if o.result.source != c.result.source
            and interval_class(o.result.vendor, o.result.task, o.own) == key
        ]
        if len(others) < MIN_CLASS:
            others = [
                o.log_err for o in cv if o.result.source != c.result.source and o.result.task == c.result.task
            ]
        q_lo, q_hi = _quantiles(others, tail)
        hits += q_lo <= c.log_err <= q_hi
        n += 1
    return hits / n if n else math.nan


# ---- the whole fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    fits: dict[tuple[str, str], ParamFit]
    cv: list[CVCase]
    intervals: dict[str, dict[str, Any]]
    coverage: float
    cases: int
    in_sample: list[CaseResult]  # every case predicted with the full fit (fit residuals)
    tail: float = (1.0 - LEVEL) / 2.0  # the tail quantile the intervals were calibrated to
    stack_fits: dict[str, ParamFit] = field(default_factory=dict)  # stack/category -> its fit
    # the model-wide roofline exponent (PerfParams.roofline_p) the full fit chose, with the serving cases
    # it was chosen on, the fit loss at each value tried, and how many folds chose each value
    roofline: ParamFit | None = None
    roofline_loss: dict[float, float] = field(default_factory=dict)
    roofline_folds: dict[float, int] = field(default_factory=dict)

    @property
    def cv_results(self) -> list[CaseResult]:
        """The cross-validated predictions, with every case the fit could not use as it is."""
        done = {c.result.id: c.result for c in self.cv}
        return [done.get(r.id, r) for r in self.in_sample]


def _predict_all(cases: list[dict[str, Any]], cat: Catalog, priors: Priors) -> list[Prediction]:
    return [binding_param(predict_case(c, cat), cat, priors) for c in cases]


def _fit_in_turn(
    preds: list[Prediction],
    cat: Catalog,
    priors: Priors,
    fits: dict[tuple[str, str], ParamFit],
    in_suite: set[str],
    params: tuple[str, ...] = FITTED,
) -> dict[tuple[str, str], ParamFit]:
    """``fits`` with ``params`` refitted in turn, each with those before it at their new fit."""
    fits = dict(fits)
    for p in params:
        rows = [r for r in build_rows(preds, cat, fits) if r.result.param == p]
        fits.update({k: v for k, v in fit_params(rows, cat, priors, None, in_suite).items() if k[1] == p})
    return fits


def run_fit(paths: list[Path] | None = None, by: str = "source") -> FitResult:
    """Reproduce every fitted parameter from the suite (starting from the records' own values, so
    the result does not depend on an earlier fit), choose the model-wide roofline exponent,
    cross-validate (each fold choosing it again without its cases), and derive the intervals."""
    cat = load_catalog(apply_fit=False)
    priors = Priors.load()
    cases = load_suite(paths)
    fits: dict[tuple[str, str], ParamFit] = {}
    sfits: dict[str, ParamFit] = {}
    with using_model_fits({ROOFLINE: ROOFLINE_GRID[0]}):
        with using_stack_fits({}):  # not fit.toml's: the fit starts from no stack term
            preds = _predict_all(cases, cat, priors)
        in_suite = {p.result.chip for p in preds if p.evaluate is not None}
        for _ in range(2):  # the layouts chosen at the fitted values, then the fit again
            fits = _fit_in_turn(preds, cat, priors, fits, in_suite)
            # then the stacks' parameters, the chips' at their fit
            sfits = fit_stack_params(build_stack_rows(preds, cat, fits))
            with using_stack_fits(stack_values(sfits)):
                preds = _predict_all(cases, with_fits(cat, fits), priors)
    variants = [_variant(ROOFLINE_GRID[0], preds, fits, sfits, cat)]
    serving = [c for c in cases if c.get("task") != "train"]
    for g in ROOFLINE_GRID[1:]:
        variants.append(_refit_at(g, serving, preds, fits, sfits, cat, priors, in_suite))
    # chosen as each fold chooses (cross_validate_variants), with no case held out
    common = common_cases(variants)
    loss = {
        v.value: fit_loss(v.rows, fit_params(v.rows, cat, priors, None, in_suite), only=common)
        for v in variants
    }
    full = min(variants, key=lambda v: loss[v.value])
    cv, folds = cross_validate_variants(variants, with_fits(cat, full.fits), priors, by)
    tail = calibrated_tail(cv)
    informed = tuple(r.result.id for r in full.rows if r.result.task == "infer" and r.result.id in common)
    # the in-sample figures (and fit.toml's published MFUs) from the whole suite priced at the
    # chosen exponent and its fit: a variant's training cases were predicted at the first's
    with using_model_fits({ROOFLINE: full.value}), using_stack_fits(stack_values(full.sfits)):
        final = _predict_all(cases, with_fits(cat, full.fits), priors)
    return FitResult(
        full.fits,
        cv,
        intervals(cv, tail),
        coverage(cv, tail),
        len(final),
        [p.result for p in final],
        tail,
        full.sfits,
        ParamFit("model", ROOFLINE, full.value, "fitted", informed),
        loss,
        folds,
    )


def _variant(
    g: float,
    preds: list[Prediction],
    fits: dict[tuple[str, str], ParamFit],
    sfits: dict[str, ParamFit],
    cat: Catalog,
) -> Variant:
    cf = with_fits(cat, fits)
    return Variant(g, fits, sfits, build_rows(preds, cf, fits), build_stack_rows(preds, cf, fits))


def _refit_at(
    g: float,
    serving: list[dict[str, Any]],
    preds: list[Prediction],
    fits: dict[tuple[str, str], ParamFit],
    sfits: dict[str, ParamFit],
    cat: Catalog,
    priors: Priors,
    in_suite: set[str],
) -> Variant:
    """The suite at roofline exponent ``g``: the serving cases predicted again under it (configurations
    chosen again), the serving and memory fractions and the stacks refitted, and the serving
    cases priced once more at the new stack values; the training predictions are the main fit's."""
    with using_model_fits({ROOFLINE: g}):
        with using_stack_fits(stack_values(sfits)):
            new = {p.result.id: p for p in _predict_all(serving, with_fits(cat, fits), priors)}
        mixed = [new.get(p.result.id, p) for p in preds]
        fits_g = _fit_in_turn(mixed, cat, priors, fits, in_suite, (SERVE, "memory"))
        sfits_g = fit_stack_params(build_stack_rows(list(new.values()), cat, fits_g))
        with using_stack_fits(stack_values(sfits_g)):
            new = {p.result.id: p for p in _predict_all(serving, with_fits(cat, fits_g), priors)}
    return _variant(g, [new.get(p.result.id, p) for p in preds], fits_g, sfits_g, cat)


def calibrated_tail(cv: list[CVCase]) -> float:
    """The narrowest tail quantile of :data:`TAILS` whose leave-one-source-out coverage reaches
    :data:`LEVEL` (the widest when none does)."""
    for tail in TAILS:
        if coverage(cv, tail) >= LEVEL:
            return tail
    return TAILS[-1]


def with_fits(cat: Catalog, fits: dict[tuple[str, str], ParamFit]) -> Catalog:
    chips = {cid: replace(c, efficiency=_efficiency(cat, cid, fits)) for cid, c in cat.chips.items()}
    return replace(cat, chips=chips)


def best_measured_mfu(results: Iterable[CaseResult]) -> dict[str, list[PublishedMFU]]:
    """Per chip, every 16-bit full-training run of the suite with the MFU it measured, best first."""
    out: dict[str, list[PublishedMFU]] = {}
    for r in results:
        mfu = r.measured_mfu
        if r.task != "train" or mfu is None or r.chips is None or r.model_params is None:
            continue
        out.setdefault(r.chip, []).append(PublishedMFU(mfu, r.chips, r.model_params, r.id, r.shares))
    return {k: sorted(v, key=lambda p: -p.mfu) for k, v in out.items()}


def fit_toml(res: FitResult) -> str:
    """``data/fit.toml``: every chip's fitted parameters with their basis and cases, and the
    interval factors per class. Generated; never edited by hand."""
    today = date.today().isoformat()
    lines = [
        "# Generated by `xpuplan fit` from the validation suite (src/xpuplan/data/validation/).",
        "# Do not edit by hand: change the suite or fit_priors.toml and run `xpuplan fit --write`.",
        f'source = "xpuplan fit over {res.cases} cases of the built-in validation suite"',
        f'as_of = "{today}"',
        f"coverage_80 = {res.coverage:.4f}  # share of cases inside their cross-validated 80% interval",
        f"interval_tail = {res.tail}  # quantile of the errors each bound sits at (calibrated to the coverage)",
        "",
    ]
    chips = sorted({k[0] for k in res.fits})
    for chip in chips:
        lines.append(f'[chips."{chip}"]')
        for p in FITTED:
            f = res.fits.get((chip, p))
            if f is None:
                continue
            cases = ", ".join(f'"{c}"' for c in f.cases)
            lines.append(f'{p} = {{ value = {f.value:.3f}, basis = "{f.basis}", cases = [{cases}] }}')
        lines.append("")
    if res.roofline is not None:
        o = res.roofline
        lines.append("# model: parameters of the whole model (perf/params.py FITTED_MODEL_PARAMS), chosen on")
        lines.append(
            "# the serving cases among validation/fit.py ROOFLINE_GRID by the mean |log error| of its"
        )
        tried = ", ".join(f"{g:g}: {v:.4f}" for g, v in sorted(res.roofline_loss.items(), reverse=True))
        lines.append(f"# fit at each value ({tried}); folds choosing each value under")
        folds = ", ".join(f"{g:g}: {n}" for g, n in sorted(res.roofline_folds.items(), reverse=True))
        lines.append(f"# cross-validation: {folds}")
        lines.append("[model]")
        cases = ", ".join(f'"{c}"' for c in o.cases)
        lines.append(f'{o.param} = {{ value = {o.value!r}, basis = "{o.basis}", cases = [{cases}] }}')
        lines.append("")
    if res.stack_fits:
        lines.append("# stacks: parameters of the software stack on one kind of chip (perf/params.py")
        lines.append("# FITTED_STACK_PARAMS), fitted on the stack's serving cases")
    for key, f in sorted(res.stack_fits.items()):
        cases = ", ".join(f'"{c}"' for c in f.cases)
        lines.append(f'[stacks."{key}"]')
        lines.append(f'{f.param} = {{ value = {f.value:.6f}, basis = "{f.basis}", cases = [{cases}] }}')
        lines.append("")
    lines.append("# published_mfu: the MFU each 16-bit full-training run of the suite measured, and the")
    lines.append(
        "# model's step of its stated layout by term, as shares (what a search result above it lacks)"
    )
    for chip, runs in sorted(best_measured_mfu(res.in_sample).items()):
        for r in runs:
            lines.append(f'[[published_mfu."{chip}"]]')
            lines.append(f"value = {r.mfu:.4f}")
            lines.append(f"chips = {r.chips}")
            lines.append(f"params = {r.model_params:.4g}")
            lines.append(f'case = "{r.case}"')
            if r.shares:
                lines.append("shares = { " + ", ".join(f"{k} = {v:.4f}" for k, v in r.shares) + " }")
        lines.append("")
    for k, v in res.intervals.items():
        lines.append(f'[intervals."{k}"]')
        lines.append(f"low = {v['low']:.4f}")
        lines.append(f"high = {v['high']:.4f}")
        lines.append(f"n = {v['n']}")
        lines.append(f"pooled = {'true' if v['pooled'] else 'false'}")
        lines.append("")
    return "\n".join(lines)

"""Claim methods that compare systems: ``train``, ``serve`` (subject vs baseline) and ``spec``.

``train`` / ``serve`` take the best layout (the planner's training search space,
:mod:`xpuplan.planner.rank`) or serving configuration per system and compare work per second, per
dollar or per joule. Where the baseline has a price, the subject's break-even price is solved for:
work per dollar is linear in the price, so ``p* = (work/s per chip)_s / (R* · (work/s per chip per
$/chip-hour)_b)`` with ``R*`` the claimed ratio (``1 / (1 - saving)`` for a cost claim). ``spec``
compares catalog values per chip or per scale-up domain (UltraServer, pod).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from xpuplan.claims.cases import (
    Case,
    Outcome,
    Threshold,
    assumed_efficiency,
    chip_counts,
    judge,
    millis,
    need_dimension,
    open_test,
    parse_model,
    pricings,
    short_id,
    systems,
    weight_formats,
)
from xpuplan.claims.spec import UNITS, CheckSpec, Claimed, Metric, Reader
from xpuplan.datafiles import FieldsDict
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.pricing import common_kind, current_price, published_tdp_w
from xpuplan.hardware.records import Chip, Dtype, Interval, Pricing, System
from xpuplan.perf.estimate import TrainEstimate
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, serve_params, train_params
from xpuplan.search.serve_search import ServeSearchResult, search_serve
from xpuplan.search.space import SpaceOptions
from xpuplan.search.train_search import search_train
from xpuplan.workload.job import KV_FORMATS, TRAIN_PRECISIONS, ServeJob, TrainJob
from xpuplan.workload.model import Model

# The training search space the planner ranks with (planner.rank.rank_train): overlap on, micro-batch ≤ 16.
TRAIN_SPACE = SpaceOptions(fixed={"tp_overlap": 1, "dp_overlap": 1}, max_microbatch=16)


# ---- runs: one system measured by the model --------------------------------------------------------


@dataclass(frozen=True)
class Run(FieldsDict):
    """One system doing the test's work: work per second of the whole job, price, power."""

    system: str
    chip: str
    chips: int
    work_per_s: float | None  # tokens/s (training) or output tokens/s (serving); None: nothing fits
    usd_per_chip_hour: float | None
    pricing: str | None
    price_as_of: str | None
    tdp_w: float | None
    layout: str = ""
    why: str = ""
    interval: Interval | None = None  # 80% interval of work_per_s (the chip's cross-validated class)
    tdp_estimate_w: float | None = None  # the catalog's estimated TDP where none is published

    @property
    def short(self) -> str:
        return short_id(self.system)

    @property
    def power_w(self) -> float | None:
        """The chip power a per-joule figure uses: the published TDP, else the catalog's estimate."""
        return self.tdp_w if self.tdp_w is not None else self.tdp_estimate_w

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["interval"] = None if self.interval is None else self.interval.to_dict()
        return d


def _run(
    cat: Catalog,
    system: System,
    chips: int,
    work: float | None,
    pricing: Pricing,
    layout: str,
    why: str,
    on: str | None = None,
    task: str = "train",
) -> Run:
    chip = cat.chips[system.chip]
    price = current_price(cat, system, pricing, on)
    return Run(
        system.id,
        chip.id,
        chips,
        work,
        None if price is None else price.usd_per_node_hour / system.chips_per_node,
        None if price is None else price.pricing.value,
        None if price is None else price.as_of,
        published_tdp_w(chip),
        layout,
        why,
        chip.intervals.get(task) if work is not None else None,
        chip.tdp_w if chip.tdp_estimated else None,
    )


_TRAIN_CACHE: dict[tuple[str, str, int, str], TrainEstimate | None] = {}
_SERVE_CACHE: dict[tuple[str, ...], ServeSearchResult] = {}


def best_train(job: TrainJob, m: Machine, params: PerfParams) -> TrainEstimate | None:
    """The fastest layout of ``job`` on ``m`` (memoised: the search is pure and claims share runs)."""
    key = (repr(job), m.system.id, m.chips, repr(params))
    if key not in _TRAIN_CACHE:
        p = train_params(m.chip, base=params)  # the chip's default training stack, as `xpuplan train`
        _TRAIN_CACHE[key] = search_train(job, m, TRAIN_SPACE, params=p, top_k=1).best
    return _TRAIN_CACHE[key]


# ---- comparisons ------------------------------------------------------------------------------------


def _ratio(metric: Metric, s: Run, b: Run, per_chip: bool) -> tuple[float | None, str]:
    """Subject over baseline (higher is better for the subject), or None and why not."""
    assert s.work_per_s is not None and b.work_per_s is not None
    ws, wb = s.work_per_s / s.chips, b.work_per_s / b.chips
    if metric is Metric.THROUGHPUT:
        return (ws / wb if per_chip else s.work_per_s / b.work_per_s), ""
    if metric is Metric.ENERGY:
        missing = [r.chip for r in (s, b) if r.power_w is None]
        if missing:
            return None, f"no TDP, published or estimated, for {', '.join(dict.fromkeys(missing))}"
        assert s.power_w is not None and b.power_w is not None
        return (ws / s.power_w) / (wb / b.power_w), ""
    missing = [r.system for r in (s, b) if r.usd_per_chip_hour is None]
    if missing:
        return None, f"no price of one kind for both {s.system} and {b.system} (like for like)"
    assert s.usd_per_chip_hour is not None and b.usd_per_chip_hour is not None
    return (ws / s.usd_per_chip_hour) / (wb / b.usd_per_chip_hour), ""


def _break_even(
    metric: Metric, claimed: Claimed | None, s: Run, b: Run, on: str | None = None
) -> Threshold | None:
    """Subject price per chip-hour at which the claimed price figure is just reached."""
    if (
        claimed is None
        or metric not in (Metric.PRICE_PERFORMANCE, Metric.COST)
        or b.usd_per_chip_hour is None
    ):
        return None
    assert s.work_per_s is not None and b.work_per_s is not None
    need = claimed.target if metric is Metric.PRICE_PERFORMANCE else 1.0 / (1.0 - claimed.target)
    per_usd_b = b.work_per_s / b.chips / b.usd_per_chip_hour  # work per (chip-second × $/chip-hour)
    price = s.work_per_s / s.chips / (need * per_usd_b)
    when = "now" if on is None else f"on {s.price_as_of}"
    return Threshold(f"{s.short} price", "≤", price, "USD/chip-h", s.usd_per_chip_hour, when)


def compare(
    spec: CheckSpec,
    s: Run,
    b: Run,
    tag: str,
    per_chip: bool,
    missing: tuple[str, ...] = (),
    on: str | None = None,
) -> Case:
    """One subject-vs-baseline case in the check's unit (cost: fraction lower cost). ``missing``:
    the facts (prices) the comparison lacks, as :func:`like_for_like` found them."""
    label = f"{s.short} vs {b.short}" + (f" ({tag})" if tag else "")
    inputs = {"subject": s.to_dict(), "baseline": b.to_dict()}
    if s.work_per_s is None or b.work_per_s is None:
        why = "; ".join(f"{r.system}: {r.why}" for r in (s, b) if r.work_per_s is None)
        return Case(label, None, None, note=f"no feasible plan ({why})", inputs=inputs)
    ratio, why = _ratio(spec.metric, s, b, per_chip)
    threshold = _break_even(spec.metric, spec.claimed, s, b, on)
    unpublished = _unpublished_power(s, b) if spec.metric is Metric.ENERGY else ()
    if ratio is None:
        return Case(label, None, None, threshold, why, inputs, tuple(dict.fromkeys((*missing, *unpublished))))
    value = 1.0 - 1.0 / ratio if spec.metric is Metric.COST else ratio
    interval = ratio_interval(ratio, s.interval, b.interval)
    if interval is not None and spec.metric is Metric.COST:
        interval = (1.0 - 1.0 / interval[0], 1.0 - 1.0 / interval[1])  # increasing in the ratio
    if unpublished:  # per joule on an estimated TDP: a figure under an assumed input, not a verdict
        est = ", ".join(f"{r.chip} at an estimated {r.power_w:,.0f} W" for r in (s, b) if r.tdp_w is None)
        return judge(spec.claimed, Case(label, value, None, threshold, est, inputs, unpublished, interval))
    return judge(spec.claimed, Case(label, value, None, threshold, "", inputs, interval=interval))


def _unpublished_power(s: Run, b: Run) -> tuple[str, ...]:
    """The compared chips with no published TDP: a per-joule verdict would rest on an estimate."""
    return tuple(dict.fromkeys(f"{r.chip} power (no published TDP)" for r in (s, b) if r.tdp_w is None))


def ratio_interval(ratio: float, s: Interval | None, b: Interval | None) -> tuple[float, float] | None:
    """80% bounds of subject / baseline work per second (per chip, dollar or joule: prices and
    TDPs are facts, the work rates carry the model's error). Conservative: each side's interval
    taken at its worst against the other, as if their errors were independent. The errors of two
    chips of one vendor and stack are correlated, so the true interval of the ratio is narrower;
    a claim is then called undecidable no more often than the wider bound implies."""
    if s is None or b is None:
        return None
    return ratio * s.low / b.high, ratio * s.high / b.low


def pairs(
    spec: CheckSpec,
    subject: list[Run],
    baseline: list[Run],
    tag: str,
    per_chip: bool,
    cat: Catalog | None = None,
    pricing: Pricing = Pricing.ON_DEMAND,
    on: str | None = None,
) -> list[Case]:
    """Every subject against every baseline; for a price metric both sides of a pair are priced
    with the one kind they share (:func:`~xpuplan.hardware.pricing.common_kind`), on or before
    ``on`` when given."""
    out = []
    for s in subject:
        for b in baseline:
            missing: tuple[str, ...] = ()
            if cat is not None and spec.metric in (Metric.PRICE_PERFORMANCE, Metric.COST):
                s, b, missing = like_for_like(cat, s, b, pricing, on)
            out.append(compare(spec, s, b, tag, per_chip, missing, on))
    return out


def _priced(cat: Catalog, r: Run, kind: Pricing | None, on: str | None) -> Run:
    system = cat.systems[r.system]
    p = None if kind is None else current_price(cat, system, kind, on, strict=True)
    return replace(
        r,
        usd_per_chip_hour=None if p is None else p.usd_per_node_hour / system.chips_per_node,
        pricing=None if p is None else p.pricing.value,
        price_as_of=None if p is None else p.as_of,
    )


def _unpriced(cat: Catalog, system_id: str, on: str | None) -> str:
    """Why a system has no price: none published, or none on record by the pricing date."""
    rows = cat.prices_for(system_id)
    if not rows:
        return f"{short_id(system_id)} price (none published, of any kind)"
    return f"{short_id(system_id)} price on or before {on} (the catalog's earliest: {min(p.as_of for p in rows)})"


def like_for_like(
    cat: Catalog, s: Run, b: Run, prefer: Pricing, on: str | None = None
) -> tuple[Run, Run, tuple[str, ...]]:
    """Both runs priced with one shared kind, on or before ``on`` when given, and the facts that
    are missing when they cannot be. A side with no price stays unpriced and the other keeps its
    price: the case's break-even price is then in the priced side's kind. Two priced sides with no
    kind in common are both left unpriced (never a capacity block against an on-demand price)."""
    sys_s, sys_b = cat.systems[s.system], cat.systems[b.system]
    gaps = [
        _unpriced(cat, r.system, on)
        for r, x in ((s, sys_s), (b, sys_b))
        if current_price(cat, x, prefer, on) is None
    ]
    if gaps:
        return s, b, tuple(gaps)
    kind = common_kind(cat, [sys_s, sys_b], prefer, on)
    if kind is None:
        kinds = [
            "/".join(sorted({p.pricing.value for p in cat.prices_for(x.id) if on is None or p.as_of <= on}))
            for x in (sys_s, sys_b)
        ]
        gap = f"a price of one kind for both {s.short} ({kinds[0]}) and {b.short} ({kinds[1]})"
        return _priced(cat, s, None, on), _priced(cat, b, None, on), (gap,)
    return _priced(cat, s, kind, on), _priced(cat, b, kind, on), ()


def _tag(*parts: tuple[str, int]) -> str:
    """Case tags only for the dimensions that vary (value, how many values there are)."""
    return ", ".join(v for v, n in parts if n > 1)


def chip_sizes(chips: Mapping[str, int]) -> str:
    if len(set(chips.values())) == 1:
        return f"{next(iter(chips.values())):,} chips per system"
    return ", ".join(f"{s}: {n:,} chips" for s, n in chips.items())


def _price_kinds(spec: CheckSpec, kinds: tuple[Pricing, ...]) -> tuple[Pricing, ...]:
    return kinds if spec.metric in (Metric.PRICE_PERFORMANCE, Metric.COST) else kinds[:1]


# ---- train ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Sides:
    """What every comparison of systems names: the model, the chips of each, the subject and
    baseline systems, the price kinds and whether figures are per chip (else per job)."""

    model: Model
    chips: Mapping[str, int]
    subject: tuple[str, ...]
    baseline: tuple[str, ...]
    pricings: tuple[Pricing, ...]
    per_chip: bool


@dataclass(frozen=True)
class TrainTest(Sides):
    seq_len: int
    global_batch: int
    precisions: tuple[str, ...]


# the keys every comparison of systems takes (the sides, their sizes, prices and normalisation)
SIDES_KEYS = ("chips", "subject", "baseline", "pricing", "normalise")
TRAIN_KEYS = ("model", "seq_len", "global_batch", "precision", *SIDES_KEYS)


def _parse_sides(
    r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog, keys: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check a comparison's keys and dimension; its subject and baseline systems."""
    open_test(r, d, spec, keys, "fraction" if spec.metric is Metric.COST else "ratio")
    return systems(r, d, "subject", cat), systems(r, d, "baseline", cat)


def _sides(
    r: Reader, d: Mapping[str, Any], subject: tuple[str, ...], baseline: tuple[str, ...], cat: Catalog
) -> dict[str, Any]:
    """The :class:`Sides` fields of a comparison (read after its own keys)."""
    chips, prices = chip_counts(r, d, subject + baseline, cat), pricings(r, d)
    per_chip = r.choice(d, "normalise", ["chip", "job"], "chip") == "chip"
    return {
        "chips": chips,
        "subject": subject,
        "baseline": baseline,
        "pricings": prices,
        "per_chip": per_chip,
    }


def parse_train(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> TrainTest:
    subject, baseline = _parse_sides(r, d, spec, cat, TRAIN_KEYS)
    precisions = r.texts(d, "precision", ["bf16"])
    for p in precisions:
        r.choice({"precision": p}, "precision", TRAIN_PRECISIONS)
    return TrainTest(
        model=parse_model(r, d, spec),
        seq_len=int(r.num(d, "seq_len", 4096, 1, 1e7, integer=True)),
        global_batch=int(r.num(d, "global_batch", 1024, 1, 1e9, integer=True)),
        precisions=precisions,
        **_sides(r, d, subject, baseline, cat),
    )


def train_run(
    t: TrainTest,
    sid: str,
    precision: str,
    pricing: Pricing,
    cat: Catalog,
    params: PerfParams,
    on: str | None = None,
) -> Run:
    system = cat.systems[sid]
    chip, n = cat.chips[system.chip], t.chips[sid]
    has_dtype = chip.peak(precision) is not None or (precision == "bf16" and chip.peak("fp16") is not None)
    if not chip.training or not has_dtype:
        why = f"{chip.id} is not a training chip" if not chip.training else f"{chip.id} has no {precision}"
        return _run(cat, system, n, None, pricing, "", why, on)
    job = TrainJob(t.model, t.global_batch, t.seq_len, precision)
    best = best_train(job, Machine(chip, system, n), params)
    if best is None:
        return _run(cat, system, n, None, pricing, "", f"no layout fits on {n:,} chips", on)
    layout = f"{best.layout.describe()}, MFU {best.mfu:.3f}"
    return _run(cat, system, n, best.tokens_per_s, pricing, layout, "", on)


def run_train(
    t: TrainTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    cases: list[Case] = []
    kinds = _price_kinds(spec, t.pricings)
    for precision in t.precisions:
        for pricing in kinds:
            tag = _tag((precision, len(t.precisions)), (pricing.value, len(kinds)))
            subj = [train_run(t, s, precision, pricing, cat, params, on) for s in t.subject]
            base = [train_run(t, b, precision, pricing, cat, params, on) for b in t.baseline]
            cases += pairs(spec, subj, base, tag, t.per_chip, cat, pricing, on)
    what = f"{t.model.id} training, {t.global_batch} × {t.seq_len} tokens per step, best layout per system"
    sizes = chip_sizes(t.chips)
    assumed = _assumed_chips(cat, (*t.subject, *t.baseline), spec.metric)
    return Outcome(tuple(cases), (what, sizes, *_price_assumptions(spec, kinds, on)), assumed)


def _assumed_chips(cat: Catalog, system_ids: tuple[str, ...], metric: Metric) -> tuple[str, ...]:
    """The compared chips whose efficiencies are assumed, not fitted, and (per joule) whose power is
    the catalog's estimate, not a published TDP: the ratio rests on them."""
    chips = dict.fromkeys(cat.systems[s].chip for s in system_ids)
    eff = tuple(a for c in chips if (a := assumed_efficiency(cat.chips[c])) is not None)
    if metric is not Metric.ENERGY:
        return eff
    est = [cat.chips[c] for c in chips if cat.chips[c].tdp_estimated]
    return (*eff, *(f"{c.id} power (estimated {c.tdp_w:,.0f} W, not published)" for c in est))


def _price_assumptions(spec: CheckSpec, kinds: tuple[Pricing, ...], on: str | None) -> tuple[str, ...]:
    if spec.metric in (Metric.PRICE_PERFORMANCE, Metric.COST):
        prefer = ", ".join(k.value for k in kinds)
        when = "the latest catalog rate" if on is None else f"the latest catalog rate on or before {on}"
        return (
            f"prices: {when} of the preferred kind ({prefer}), else a kind both sides share (like for like)",
        )
    if spec.metric is Metric.ENERGY:
        return ("energy: chip TDP only (host power is not published for most systems)",)
    return ()


# ---- serve ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServeTest(Sides):
    input_len: int
    output_len: int
    weights: tuple[str, ...]
    kv: str
    weight_bits: float | None
    ttft_s: float | None
    tpot_s: float | None


SERVE_KEYS = (
    "model",
    "input_len",
    "output_len",
    "weights",
    "kv",
    "weight_bits",
    "ttft_ms",
    "tpot_ms",
    *SIDES_KEYS,
)


def parse_serve(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> ServeTest:
    subject, baseline = _parse_sides(r, d, spec, cat, SERVE_KEYS)
    return ServeTest(
        model=parse_model(r, d, spec),
        input_len=int(r.num(d, "input_len", 1000, 1, 1e7, integer=True)),
        output_len=int(r.num(d, "output_len", 250, 1, 1e7, integer=True)),
        weights=weight_formats(r, d),
        kv=r.choice(d, "kv", KV_FORMATS, "bf16"),
        weight_bits=r.opt_num(d, "weight_bits", 1.0, 32.0),
        ttft_s=millis(r, d, "ttft_ms"),
        tpot_s=millis(r, d, "tpot_ms"),
        **_sides(r, d, subject, baseline, cat),
    )


def best_serve(t: ServeTest, job: ServeJob, m: Machine, params: PerfParams) -> ServeSearchResult:
    """The serving search of ``job`` on ``m`` (memoised: pure, and a claim prices it twice)."""
    key = (repr(job), m.system.id, str(m.chips), repr(t.weights), repr((t.ttft_s, t.tpot_s)), repr(params))
    if key not in _SERVE_CACHE:
        p = serve_params(m.chip, base=params)  # the chip's default serving stack, as `xpuplan serve`
        _SERVE_CACHE[key] = search_serve(job, m, t.weights, "continuous", t.ttft_s, t.tpot_s, params=p)
    return _SERVE_CACHE[key]


def serve_run(
    t: ServeTest, sid: str, pricing: Pricing, cat: Catalog, params: PerfParams, on: str | None = None
) -> Run:
    system = cat.systems[sid]
    chip, n = cat.chips[system.chip], t.chips[sid]
    job = ServeJob(t.model, t.input_len, t.output_len, t.weights[0], t.kv, t.weight_bits)
    res = best_serve(t, job, Machine(chip, system, n), params)
    p = res.best
    if p is None:
        why = max(res.reasons.items(), key=lambda kv: kv[1])[0] if res.reasons else "no configuration"
        return _run(cat, system, n, None, pricing, "", why, on, "infer")
    layout = f"TP{p.tp} PP{p.pp} ×{p.replicas} batch {p.batch} {p.weights}, TTFT {p.ttft_s * 1e3:.1f} ms"
    return _run(cat, system, n, p.output_tokens_per_s, pricing, layout, "", on, "infer")


def run_serve(
    t: ServeTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    cases: list[Case] = []
    kinds = _price_kinds(spec, t.pricings)
    for pricing in kinds:
        subj = [serve_run(t, s, pricing, cat, params, on) for s in t.subject]
        base = [serve_run(t, b, pricing, cat, params, on) for b in t.baseline]
        tag = _tag((pricing.value, len(kinds)))
        cases += pairs(spec, subj, base, tag, t.per_chip, cat, pricing, on)
    targets = [f"{k} ≤ {v * 1e3:g} ms" for k, v in (("TTFT", t.ttft_s), ("TPOT", t.tpot_s)) if v is not None]
    what = (
        f"{t.model.id} serving, {t.input_len} prompt + {t.output_len} output tokens, continuous batching"
        + (f", {' and '.join(targets)}" if targets else "")
        + f", weights {'/'.join(t.weights)}: the best configuration per system"
    )
    sizes = chip_sizes(t.chips)
    assumed = _assumed_chips(cat, (*t.subject, *t.baseline), spec.metric)
    return Outcome(tuple(cases), (what, sizes, *_price_assumptions(spec, kinds, on)), assumed)


# ---- spec ----------------------------------------------------------------------------------------


class Quantity(str, Enum):
    PEAK_FLOPS = "peak_flops"
    MEMORY_CAPACITY = "memory_capacity"
    MEMORY_BANDWIDTH = "memory_bandwidth"
    SCALE_UP_BANDWIDTH = "scale_up_bandwidth"
    MAX_CLUSTER_CHIPS = "max_cluster_chips"


QUANTITY_DIMENSION: dict[Quantity, str] = {
    Quantity.PEAK_FLOPS: "flop/s",
    Quantity.MEMORY_CAPACITY: "bytes",
    Quantity.MEMORY_BANDWIDTH: "bytes/s",
    Quantity.SCALE_UP_BANDWIDTH: "bytes/s",
    Quantity.MAX_CLUSTER_CHIPS: "count",
}

SPEC_VALUE: dict[Quantity, Callable[[Chip, System | None, str], float | None]] = {
    Quantity.PEAK_FLOPS: lambda c, s, dt: c.peak(dt),
    Quantity.MEMORY_CAPACITY: lambda c, s, dt: c.mem_bytes,
    Quantity.MEMORY_BANDWIDTH: lambda c, s, dt: c.mem_bw,
    Quantity.SCALE_UP_BANDWIDTH: lambda c, s, dt: (s.scale_up.link_bw if s else None) or c.link_bw,
    Quantity.MAX_CLUSTER_CHIPS: lambda c, s, dt: None if s is None else s.scale_out.max_chips,
}


@dataclass(frozen=True)
class SpecTest:
    quantity: Quantity
    dtypes: tuple[str, ...]
    per_domain: bool
    subject: tuple[Chip | System, ...]
    baseline: tuple[Chip | System, ...]


def parse_spec(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> SpecTest:
    r.only(d, ("quantity", "dtype", "scope", "subject", "baseline"))
    q = Quantity(r.choice(d, "quantity", [x.value for x in Quantity]))
    per_domain = r.choice(d, "scope", ["chip", "domain"], "chip") == "domain"
    subject = tuple(cat.find(x) for x in r.texts(d, "subject"))
    baseline = tuple(cat.find(x) for x in r.texts(d, "baseline")) if "baseline" in d else ()
    need_dimension(r, spec, "ratio" if baseline else QUANTITY_DIMENSION[q])
    if (per_domain or q is Quantity.MAX_CLUSTER_CHIPS) and not all(
        isinstance(x, System) for x in subject + baseline
    ):
        raise r.fail(
            "subject", "this quantity needs systems, not chips", "Name systems (xpuplan catalog systems)"
        )
    dtypes = r.texts(d, "dtype", ["bf16"])
    for dt in dtypes:
        r.choice({"dtype": dt}, "dtype", [x.value for x in Dtype])
    return SpecTest(q, dtypes, per_domain, subject, baseline)


def _spec(t: SpecTest, rec: Chip | System, dtype: str, cat: Catalog) -> float | None:
    system = rec if isinstance(rec, System) else None
    chip = cat.chips[rec.chip] if isinstance(rec, System) else rec
    v = SPEC_VALUE[t.quantity](chip, system, dtype)
    if v is not None and t.per_domain and system is not None and t.quantity is not Quantity.MAX_CLUSTER_CHIPS:
        v *= system.scale_up.domain_chips
    return v


# the catalog key whose provenance gives a quantity's source ({dt}: the dtype)
PROVENANCE_KEY: dict[Quantity, str] = {
    Quantity.PEAK_FLOPS: "peak_tflops.{dt}",
    Quantity.MEMORY_CAPACITY: "memory.capacity_gib",
    Quantity.MEMORY_BANDWIDTH: "memory.bandwidth_tbyte_s",
    Quantity.SCALE_UP_BANDWIDTH: "scale_up.link_gbyte_s",
    Quantity.MAX_CLUSTER_CHIPS: "scale_out.max_chips",
}


def spec_source(t: SpecTest, rec: Chip | System, dtype: str, cat: Catalog) -> str:
    """Where the catalog's figure comes from: the field's provenance, else the record's source."""
    key = PROVENANCE_KEY[t.quantity].format(dt=dtype)
    chip = cat.chips[rec.chip] if isinstance(rec, System) else rec
    for r in (rec, chip):
        if key in r.provenance:
            return r.provenance[key].source
    return chip.source if t.quantity is not Quantity.MAX_CLUSTER_CHIPS else rec.source


def run_spec(
    t: SpecTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    dtypes = t.dtypes if t.quantity is Quantity.PEAK_FLOPS else t.dtypes[:1]
    unit_si = UNITS[spec.unit][1]
    cases: list[Case] = []
    for dt in dtypes:
        tag = f" ({dt})" if t.quantity is Quantity.PEAK_FLOPS else ""
        for s in t.subject:
            vs = _spec(t, s, dt, cat)
            for b in t.baseline or (None,):
                vb = None if b is None else _spec(t, b, dt, cat)
                label = (short_id(s.id) if b is None else f"{short_id(s.id)} vs {short_id(b.id)}") + tag
                inputs = {
                    "subject": vs,
                    "baseline": vb,
                    "si_unit": QUANTITY_DIMENSION[t.quantity],
                    "source": spec_source(t, s, dt, cat),
                }
                value = _spec_ratio(vs, vb, b is None, unit_si)
                note = "" if value is not None else "not in the catalog record"
                cases.append(judge(spec.claimed, Case(label, value, None, None, note, inputs)))
    scope = "per scale-up domain (chips × domain size)" if t.per_domain else "per chip"
    return Outcome(tuple(cases), (f"catalog {t.quantity.value}, {scope}",))


def _spec_ratio(vs: float | None, vb: float | None, absolute: bool, unit_si: float) -> float | None:
    if vs is None:
        return None
    if absolute:
        return vs / unit_si
    return None if not vb else vs / vb

"""Scenario files: jobs, candidate systems, constraints and an objective (docs/scenarios.md).

A scenario is TOML::

    name = "..."
    objective = "cost"            # cost | time | energy
    baseline = "aws-p5.48xlarge"
    pue = 1.15                    # optional; default: the catalog's

    [[jobs]]                      # one table per job
    kind = "pretrain"             # pretrain | finetune | serve | hybrid
    ...

    [candidates]                  # optional
    systems = ["aws-p5.48xlarge", "aws-trn2.48xlarge"]   # default: every priced system
    pricing = "on_demand"         # preferred pricing kind (falls back to the others)
    prices_on = 2024-12-03        # optional: price at the catalog's prices of that date (default: latest)
    providers = ["aws", "gcp"]    # only these providers' systems
    exclude = ["aws-trn1.32xlarge"]   # never these systems
    price_kinds = ["on_demand", "capacity_block"]   # only prices of these kinds
    regions = ["us-east-1", "us-central1"]   # only prices quoted for these regions (substring)

    [constraints]                 # all optional
    deadline_days = 90            # or deadline = 2027-03-01
    budget_usd = 3e8
    power_mw = 60
    max_vendor_share = 0.6        # of spend, per chip vendor
    [constraints.available]       # chips one can get, per system
    "aws-p5.48xlarge" = 8192

Errors name the file and the line of the offending key.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xpuplan.datafiles import Field, KeyLocator, NumberReader, is_file, read_text, read_toml
from xpuplan.errors import UnknownNameError
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Pricing
from xpuplan.hardware.stacks import named_stack
from xpuplan.workload.job import KV_FORMATS, TRAIN_PRECISIONS, WEIGHT_FORMATS
from xpuplan.workload.library import get_model, model_library

OBJECTIVES = ("cost", "time", "energy")
JOB_KINDS = ("pretrain", "finetune", "serve", "hybrid")


@dataclass(frozen=True)
class TrainSpec:
    """Pre-train or fine-tune ``model`` on ``tokens`` tokens."""

    name: str
    kind: str  # pretrain | finetune
    model: str
    tokens: float
    seq_len: int = 4096
    global_batch: int = 1024
    precision: str = "bf16"
    lora_rank: int | None = None
    stack: str | None = None  # the training stack it runs under (data/stacks; None: the chip's default)


@dataclass(frozen=True)
class ServeSpec:
    """Serve ``model`` at ``rate`` requests/s for ``hours`` under latency targets."""

    name: str
    model: str
    rate: float
    input_len: int = 1000
    output_len: int = 250
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    weights: tuple[str, ...] = ("bf16", "fp8")
    hours: float = 730.0  # one month of serving
    kind: str = "serve"
    candidates: tuple[str, ...] = ()  # systems this job may run on (default: the scenario's)
    stack: str | None = None  # the serving stack it runs under (data/stacks; None: the chip's default)
    kv: str = "bf16"  # the KV cache's format (workload.job KV_FORMATS)


@dataclass(frozen=True)
class Constraints:
    deadline_days: float | None = None
    budget_usd: float | None = None
    power_mw: float | None = None
    max_vendor_share: float | None = None
    available: dict[str, int] = field(default_factory=dict)  # system id -> chips


@dataclass(frozen=True)
class Scenario:
    name: str
    jobs: tuple[TrainSpec | ServeSpec | HybridSpec, ...]
    objective: str = "cost"
    baseline: str | None = None
    systems: tuple[str, ...] = ()
    pricing: Pricing = Pricing.ON_DEMAND
    constraints: Constraints = field(default_factory=Constraints)
    prices_on: str | None = None  # ISO date: price with the rows in force then (None: the latest)
    pue: float | None = None
    providers: tuple[str, ...] = ()  # only these providers' systems (empty: all)
    exclude: tuple[str, ...] = ()  # never these systems
    price_kinds: tuple[Pricing, ...] = ()  # only prices of these kinds (empty: all)
    regions: tuple[str, ...] = ()  # only prices whose region contains one of these (empty: all)


def _unknown(kind: str, name: str, known: list[str], where: str | None) -> UnknownNameError:
    e = UnknownNameError(kind, name, known, where=where)
    if not e.suggestions:  # no close name: list them all
        e.hint = "Use one of " + ", ".join(known)
    return e


def with_filters(
    sc: Scenario,
    catalog: Catalog,
    providers: list[str] | None = None,
    exclude: list[str] | None = None,
    price_kinds: list[str] | None = None,
    regions: list[str] | None = None,
    where: str | None = None,
) -> Scenario:
    """``sc`` restricted to providers, without some systems, to price kinds and to regions; the
    names are checked against the catalog (unknown ones are errors with a "did you mean")."""
    known = sorted({s.provider for s in catalog.systems.values()})
    out = sc
    if providers:
        for p in providers:
            if p.strip().lower() not in known:
                raise _unknown("provider", p, known, where)
        out = replace(out, providers=tuple(p.strip().lower() for p in providers))
    if exclude:
        ids = []
        for name in exclude:
            try:
                ids.append(catalog.system(name).id)
            except UnknownNameError as e:
                e.where = where
                raise
        out = replace(out, exclude=tuple(ids))
    if price_kinds:
        kinds = [p.value for p in Pricing]
        for k in price_kinds:
            if k not in kinds:
                raise _unknown("price kind", k, kinds, where)
        out = replace(out, price_kinds=tuple(Pricing(k) for k in price_kinds))
    if regions:
        have = sorted({p.region for p in catalog.prices if p.region})
        for r in regions:
            if not any(r.lower() in h.lower() for h in have):
                raise _unknown("region", r, have, where)
        out = replace(out, regions=tuple(regions))
    return out


def default_scenario() -> Scenario:
    """Pre-train Llama 3 70B on 15T tokens within 90 days (Llama 3 paper: 15T tokens, 8K context,
    16M-token batches) and serve it at 200 requests/s (1,000 in / 250 out, TTFT ≤ 1 s, TPOT ≤ 50 ms),
    on every priced system, against AWS p5 (H100)."""
    return Scenario(
        name="Llama 3 70B: pre-train on 15T tokens in 90 days, serve 200 requests/s",
        jobs=(
            TrainSpec("pre-train", "pretrain", "llama-3-70b", 15e12, 8192, 2048, "bf16"),
            ServeSpec("serve", "llama-3-70b", 200.0, 1000, 250, 1000.0, 50.0, ("bf16", "fp8")),
        ),
        objective="cost",
        baseline="aws-p5.48xlarge",
        constraints=Constraints(deadline_days=90.0),
    )


_JOB = {
    "name": Field("str", doc="the job's name (default: KIND-N)"),
    "kind": Field("str", doc="pretrain | finetune | serve"),
    "model": Field("str", doc="model id or alias (xpuplan model list)"),
    "tokens": Field("num", 0.0, 1e18, "tokens to train on (pretrain, finetune)"),
    "seq_len": Field("int", 1, 1e7, "tokens per sequence"),
    "global_batch": Field("int", 1, 1e9, "sequences per step"),
    "precision": Field("str", doc="bf16 | fp16 | fp8 | fp32 | int8"),
    "method": Field("str", doc="full | lora (finetune)"),
    "lora_rank": Field("int", 1, 4096, "LoRA rank"),
    "rate": Field("num", 0.0, 1e9, "requests per second (serve)"),
    "input_len": Field("int", 1, 1e7, "prompt tokens per request"),
    "output_len": Field("int", 1, 1e7, "generated tokens per request"),
    "ttft_ms": Field("num", 0.0, 1e9, "time-to-first-token target"),
    "tpot_ms": Field("num", 0.0, 1e9, "time-per-output-token target"),
    "weights": Field("strs", doc="weight formats to consider"),
    "kv": Field("str", doc="KV-cache format"),
    "hours": Field("num", 0.0, 1e6, "hours of serving"),
    "latency_ms": Field("num", 0.0, 1e9, "latency target of an encoder serve job"),
    "candidates": Field("strs", doc="systems this serve job may run on"),
    "stack": Field("str", doc="software stack the job runs under (data/stacks; default: each chip's)"),
    # hybrid jobs (docs/scenarios.md): request classes, device groups and server pools
    "classes": Field("list", doc="hybrid: request classes"),
    "devices": Field("list", doc="hybrid: device groups"),
    "pools": Field("list", doc="hybrid: server pools"),
    "peak_to_mean": Field("num", 1.0, 100.0, "hybrid: peak over mean request rate"),
    "max_battery_share_per_day": Field("num", 0.0, 1.0, "hybrid: battery budget per device per day"),
}
SCHEMA = {
    "name": Field("str", doc="the scenario's name"),
    "objective": Field("str", doc="cost | time | energy"),
    "baseline": Field("str", doc="system the others are compared with"),
    "pue": Field("num", 1.0, 3.0, "power usage effectiveness"),
    "jobs": [_JOB],
    "candidates": {
        "systems": Field("strs", doc="systems to consider (default: every priced one)"),
        "pricing": Field("str", doc="preferred pricing kind"),
        "prices_on": Field("date", doc="price with the rows in force on this date (default: the latest)"),
        "providers": Field("strs", doc="only these providers' systems"),
        "exclude": Field("strs", doc="never these systems"),
        "price_kinds": Field("strs", doc="only prices of these kinds"),
        "regions": Field("strs", doc="only prices quoted for these regions (substring)"),
    },
    "constraints": {
        "deadline_days": Field("num", 0.0, 36500.0, "days from today"),
        "deadline": Field("date", doc="a date (instead of deadline_days)"),
        "budget_usd": Field("num", 0.0, 1e13, "total budget"),
        "power_mw": Field("num", 0.0, 1e5, "facility power"),
        "max_vendor_share": Field("num", 0.0, 1.0, "largest share of spend per chip vendor"),
        "available": Field("table", doc="chips one can get, per system id"),
    },
}
"""The keys of a scenario file (unknown ones are refused with "did you mean")."""


class _Reader(KeyLocator, NumberReader):
    """Typed access to a scenario mapping with errors that point at the file and line."""

    optional = True
    open_lo = True
    open_hi = True
    int_results = True

    def text_of(
        self, d: dict[str, Any], key: str, default: str | None = None, choices: tuple[str, ...] = ()
    ) -> Any:
        v = d.get(key, default)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, f"'{key}' must be a string, got {v!r}", "Quote the value")
        if choices and v not in choices:
            import difflib

            close = difflib.get_close_matches(v, choices, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else "Use one of " + ", ".join(choices)
            raise self.fail(key, f"'{key}' = '{v}' is not one of {', '.join(choices)}", hint)
        return v

    def table(self, d: dict[str, Any], key: str) -> dict[str, Any]:
        v = d.get(key) or {}
        if not isinstance(v, dict):
            raise self.fail(
                key, f"'{key}' must be a table, got {v!r}", "Write it as a TOML table (docs/scenarios.md)"
            )
        return v

    def strings(self, d: dict[str, Any], key: str, default: list[str]) -> list[str]:
        v = d.get(key, default)
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise self.fail(key, f"'{key}' must be a non-empty list of strings, got {v!r}", 'e.g. ["a", "b"]')
        return v

    def system(self, catalog: Catalog, name: str, key: str) -> str:
        try:
            return catalog.system(name).id
        except UnknownNameError as e:
            e.where = self.where(key)
            raise


def load_scenario(path: Path, catalog: Catalog) -> Scenario:
    """Read and check a scenario file (names resolve, numbers positive and finite, dates ahead)."""
    d = read_toml(path, SCHEMA)
    r = _Reader(path, read_text(path))
    jobs_raw = d.get("jobs")
    if not isinstance(jobs_raw, list) or not jobs_raw:
        raise r.fail(
            "jobs", "the scenario has no [[jobs]]", "Add at least one [[jobs]] table (docs/scenarios.md)"
        )
    jobs = tuple(_job(r, j, i, catalog) for i, j in enumerate(jobs_raw))
    names = [j.name for j in jobs]
    if len(set(names)) < len(names):
        raise r.fail("name", "two jobs have the same name", "Give every job its own name")
    cand = r.table(d, "candidates")
    systems = (
        tuple(r.system(catalog, s, "systems") for s in r.strings(cand, "systems", []))
        if "systems" in cand
        else ()
    )
    pricing = Pricing(r.text_of(cand, "pricing", "on_demand", tuple(p.value for p in Pricing)))
    prices_on = cand.get("prices_on")
    if prices_on is not None:
        try:
            prices_on = dt.date.fromisoformat(str(prices_on)).isoformat()
        except ValueError:
            raise r.fail(
                "prices_on", f"'prices_on' = '{prices_on}' is not a date", "Write YYYY-MM-DD"
            ) from None
    cons = r.table(d, "constraints")
    deadline = r.num(cons, "deadline_days", None, 0.0, 36500.0)
    if "deadline" in cons and "deadline_days" in cons:
        raise r.fail("deadline", "both 'deadline' and 'deadline_days' are given", "Keep one of them")
    if "deadline" in cons:
        when = cons["deadline"]
        if isinstance(when, str):
            try:
                when = dt.date.fromisoformat(when)
            except ValueError:
                raise r.fail("deadline", f"'deadline' = '{when}' is not a date", "Write YYYY-MM-DD") from None
        if isinstance(when, dt.datetime):
            when = when.date()
        if not isinstance(when, dt.date):
            raise r.fail("deadline", "'deadline' must be a date", "Write deadline = 2027-03-01")
        days = (when - dt.date.today()).days
        if days <= 0:
            raise r.fail("deadline", f"the deadline {when} is not in the future", "Give a date after today")
        deadline = float(days)
    available = {}
    for k, v in r.table(cons, "available").items():
        sid = r.system(catalog, k, k)
        available[sid] = r.num({k: v}, k, None, 0.0, 1e8, integer=True)
    constraints = Constraints(
        deadline_days=deadline,
        budget_usd=r.num(cons, "budget_usd", None, 0.0, 1e13),
        power_mw=r.num(cons, "power_mw", None, 0.0, 1e5),
        max_vendor_share=r.num(cons, "max_vendor_share", None, 0.0, 1.000001),
        available=available,
    )
    baseline = r.text_of(d, "baseline")
    sc = Scenario(
        name=r.text_of(d, "name", path.stem),
        jobs=jobs,
        objective=r.text_of(d, "objective", "cost", OBJECTIVES),
        baseline=r.system(catalog, baseline, "baseline") if baseline else None,
        systems=systems,
        pricing=pricing,
        constraints=constraints,
        prices_on=prices_on,
        pue=r.num(d, "pue", None, 0.999, 3.0),
    )
    for key in ("providers", "exclude", "price_kinds", "regions"):
        if key in cand:
            sc = with_filters(sc, catalog, **{key: r.strings(cand, key, [])}, where=r.where(key))
    return sc


def _model_name(r: _Reader, d: dict[str, Any], key: str, what: str) -> str:
    model = r.text_of(d, key)
    if model is None:
        raise r.fail(key, f"{what} has no '{key}'", f'Add {key} = "llama-3-70b" (xpuplan model list)')
    try:
        get_model(model)
    except UnknownNameError:
        known = [n for m in model_library().values() for n in (m.id, *m.aliases)]
        raise UnknownNameError("model", model, known, where=r.where(key)) from None
    return str(model)


def _job(r: _Reader, j: Any, i: int, catalog: Catalog | None = None) -> TrainSpec | ServeSpec | HybridSpec:
    if not isinstance(j, dict):
        raise r.fail("jobs", f"job {i + 1} is not a table", "Write each job as a [[jobs]] table")
    kind = r.text_of(j, "kind", None, JOB_KINDS)
    if kind is None:
        raise r.fail("kind", f"job {i + 1} has no 'kind'", 'Add kind = "pretrain", "finetune" or "serve"')
    if kind == "hybrid":
        return _hybrid_job(r, j, i, catalog)
    model = r.text_of(j, "model")
    if model is None:
        raise r.fail("model", f"job {i + 1} has no 'model'", 'Add model = "llama-3-70b" (xpuplan model list)')
    local = (r.path.parent / model).expanduser()
    if model.endswith(".json") and not Path(model).expanduser().is_absolute() and is_file(local):
        model = str(local.resolve())  # a config.json beside the scenario file
    try:
        get_model(model)
    except UnknownNameError:
        known = [n for m in model_library().values() for n in (m.id, *m.aliases)]
        raise UnknownNameError("model", model, known, where=r.where("model")) from None
    name = r.text_of(j, "name", f"{kind}-{i + 1}")
    stack_name = r.text_of(j, "stack")
    stack = (
        None
        if stack_name is None
        else named_stack(stack_name, "serve" if kind == "serve" else "train", r.where("stack")).id
    )
    if kind == "serve":
        rate = r.num(j, "rate", None, 0.0, 1e9)
        if rate is None:
            raise r.fail("rate", f"serve job {i + 1} has no 'rate'", "Add rate = requests per second")
        weights = r.strings(j, "weights", ["bf16", "fp8"])
        for w in weights:
            r.text_of({"weights": w}, "weights", None, WEIGHT_FORMATS)
        kv = r.text_of(j, "kv", "bf16", KV_FORMATS)
        encoder = get_model(model).is_encoder  # an encoder's prompt is its sequence (MLPerf: 384)
        return ServeSpec(
            name,
            model,
            rate,
            r.num(j, "input_len", 384 if encoder else 1000, 0.0, 1e7, integer=True),
            r.num(j, "output_len", 250, 0.0, 1e7, integer=True),
            r.num(j, "latency_ms" if encoder and "latency_ms" in j else "ttft_ms", None, 0.0, 1e9),
            r.num(j, "tpot_ms", None, 0.0, 1e9),
            tuple(weights),
            r.num(j, "hours", 730.0, 0.0, 1e6),
            stack=stack,
            kv=kv,
        )
    tokens = r.num(j, "tokens", None, 0.0, 1e18)
    if tokens is None:
        raise r.fail("tokens", f"{kind} job {i + 1} has no 'tokens'", "Add tokens = 15e12")
    method = r.text_of(j, "method", "full", ("full", "lora"))
    rank = (
        r.num(j, "lora_rank", 16 if method == "lora" else None, 0.0, 4097, integer=True)
        if method == "lora"
        else None
    )
    return TrainSpec(
        name,
        kind,
        model,
        tokens,
        r.num(j, "seq_len", 4096, 0.0, 1e7, integer=True),
        r.num(j, "global_batch", 1024, 0.0, 1e9, integer=True),
        r.text_of(j, "precision", "bf16", TRAIN_PRECISIONS),
        rank,
        stack,
    )


# ---- hybrid jobs: requests split between devices, private servers and the cloud ------------------

PRIVACY = ("device", "private", "any")  # on the device only | device or Apple-silicon servers | anywhere
POOL_TIERS = ("private", "cloud")
DEVICE_PATHS = ("neural_engine", "gpu")


@dataclass(frozen=True)
class RequestClass:
    """One kind of request: its share of the traffic, lengths (bins of tokens and weight), the
    end-to-end latency target and where it may run."""

    name: str
    share: float
    input_len: tuple[tuple[int, float], ...]  # (tokens, weight); one bin for a fixed length
    output_len: tuple[tuple[int, float], ...]
    latency_ms: float
    privacy: str  # device | private | any
    model: str | None  # the on-device model; None: the class needs the server model
    server_model: str  # the model servers run for this class
    weight_bits: float = 3.7  # on-device bits per weight (Apple's AFM: mixed 2/4-bit, 3.7 b/w)
    adapter_rank: int = 16  # LoRA adapters held beside the on-device model (AFM: rank 16, 16-bit)
    server_weights: tuple[str, ...] = ("bf16", "fp8")


@dataclass(frozen=True)
class DeviceGroup:
    """Devices of one model: how many and how often each sends a request."""

    name: str
    system: str | None  # a device system with a profile; None: it cannot run the model
    count: float
    requests_per_day: float
    path: str = "neural_engine"  # neural_engine | gpu


@dataclass(frozen=True)
class ServerPool:
    """Servers a class may be sent to: a catalog system, private (Apple silicon) or cloud."""

    system: str
    tier: str  # private | cloud
    usd_per_node_hour: float | None = None  # owned hardware: the scenario's amortised cost
    price_source: str = ""
    price_as_of: str = ""


@dataclass(frozen=True)
class HybridSpec:
    """Requests from a device population, each class run on the device or sent to a server pool."""

    name: str
    classes: tuple[RequestClass, ...]
    devices: tuple[DeviceGroup, ...]
    pools: tuple[ServerPool, ...]
    peak_to_mean: float = 2.0  # servers are sized for the peak rate
    hours: float = 730.0
    max_battery_share: float = 0.05  # of a battery per day a device may spend on the model
    kind: str = "hybrid"


def _bins(r: _Reader, d: dict[str, Any], key: str, default: int) -> tuple[tuple[int, float], ...]:
    v = d.get(key, default)
    if isinstance(v, int) and not isinstance(v, bool):
        return ((int(r.num(d, key, default, 0.0, 1e7, integer=True)), 1.0),)
    ok = isinstance(v, list) and v and all(isinstance(x, list) and len(x) == 2 for x in v)
    if not ok:
        raise r.fail(
            key, f"'{key}' must be tokens or a list of [tokens, weight]", "e.g. [[500, 0.7], [4000, 0.3]]"
        )
    out = []
    for tok, w in v:
        t = r.num({key: tok}, key, None, 0.0, 1e7, integer=True)
        out.append((t, float(r.num({key: w}, key, None, 0.0, math.inf))))
    total = sum(w for _, w in out)
    return tuple((t, w / total) for t, w in out)


def _request_class(r: _Reader, c: Any, i: int) -> RequestClass:
    if not isinstance(c, dict):
        raise r.fail("classes", f"request class {i + 1} is not a table", "Write [[jobs.classes]] tables")
    if "model" not in c and "server_model" not in c:
        raise r.fail("classes", f"request class {i + 1} names no model", 'Add model = "apple-afm-on-device"')
    model = _model_name(r, c, "model", f"request class {i + 1}") if "model" in c else None
    server = (
        _model_name(r, c, "server_model", f"request class {i + 1}") if "server_model" in c else str(model)
    )
    lat = r.num(c, "latency_ms", None, 0.0, 1e9)
    if lat is None:
        raise r.fail("latency_ms", f"request class {i + 1} has no 'latency_ms'", "Add latency_ms = 2000")
    weights = r.strings(c, "server_weights", ["bf16", "fp8"])
    for w in weights:
        r.text_of({"server_weights": w}, "server_weights", None, WEIGHT_FORMATS)
    return RequestClass(
        r.text_of(c, "name", f"class-{i + 1}"),
        r.num(c, "share", None, 0.0, 1.000001) or 0.0,
        _bins(r, c, "input_len", 500),
        _bins(r, c, "output_len", 100),
        lat,
        r.text_of(c, "privacy", "any", PRIVACY),
        model,
        server,
        r.num(c, "weight_bits", 3.7, 0.999, 32.0),
        r.num(c, "adapter_rank", 16, -1.0, 4097, integer=True),
        tuple(weights),
    )


def _tables(r: _Reader, j: dict[str, Any], key: str, hint: str) -> list[Any]:
    v = j.get(key)
    if not isinstance(v, list) or not v:
        raise r.fail(key, f"the hybrid job has no [[jobs.{key}]]", hint)
    return v


def _hybrid_job(r: _Reader, j: dict[str, Any], i: int, catalog: Catalog | None) -> HybridSpec:
    if catalog is None:
        raise r.fail(
            "kind", "a hybrid job needs the catalog to resolve its systems", "Load it with load_scenario"
        )
    classes = tuple(
        _request_class(r, c, k)
        for k, c in enumerate(_tables(r, j, "classes", "Add [[jobs.classes]] tables (docs/scenarios.md)"))
    )
    total = sum(c.share for c in classes)
    if abs(total - 1.0) > 1e-6:
        raise r.fail(
            "share", f"the request classes' shares add up to {total:g}, not 1", "Make the shares sum to 1"
        )
    devices = []
    for k, g in enumerate(
        _tables(r, j, "devices", "Add [[jobs.devices]] tables: system, count, requests_per_day")
    ):
        if not isinstance(g, dict):
            raise r.fail("devices", f"device group {k + 1} is not a table", "Write [[jobs.devices]] tables")
        sysname = r.text_of(g, "system")
        devices.append(
            DeviceGroup(
                r.text_of(g, "name", sysname or f"devices-{k + 1}"),
                r.system(catalog, sysname, "system") if sysname else None,
                float(r.num(g, "count", None, 0.0, 1e11) or 0.0),
                float(r.num(g, "requests_per_day", None, 0.0, 1e6) or 0.0),
                r.text_of(g, "path", "neural_engine", DEVICE_PATHS),
            )
        )
    pools = []
    for k, p in enumerate(_tables(r, j, "pools", "Add [[jobs.pools]] tables: system and tier")):
        if not isinstance(p, dict) or "system" not in p:
            raise r.fail("pools", f"server pool {k + 1} has no 'system'", 'Add system = "aws-p5.48xlarge"')
        price = r.num(p, "usd_per_node_hour", None, 0.0, 1e6)
        if price is not None and not p.get("price_source"):
            raise r.fail(
                "usd_per_node_hour", "a stated pool price needs 'price_source'", "Say where it comes from"
            )
        pools.append(
            ServerPool(
                r.system(catalog, r.text_of(p, "system"), "system"),
                r.text_of(p, "tier", "cloud", POOL_TIERS),
                price,
                str(p.get("price_source", "")),
                str(p.get("price_as_of", "")),
            )
        )
    return HybridSpec(
        r.text_of(j, "name", f"hybrid-{i + 1}"),
        classes,
        tuple(devices),
        tuple(pools),
        r.num(j, "peak_to_mean", 2.0, 0.999, 100.0),
        r.num(j, "hours", 730.0, 0.0, 1e6),
        r.num(j, "max_battery_share_per_day", 0.05, 0.0, 1.000001),
    )

"""Study files: the axes of a design-space sweep and what to compute at every point (docs/sweeps.md).

A study is TOML::

    name = "Trainium2 vs H200 vs TPU v6e"
    compute = "train"             # train | serve | plan
    objective = "cost"            # for points the planner sizes: cost | time | energy
    price_fallback = false        # a price kind a system lacks: no cost (false) or the next kind

    [axes]
    models = ["llama-3-70b"]
    systems = ["aws-trn2.48xlarge", "h200"]       # systems, or chips (their default system)
    chips = [1024, 4096, "deadline"]              # or {from = 64, to = 65536, count = 20}
    pricing = ["on_demand", "capacity_block"]
    precisions = ["bf16"]                          # serve: the weight format
    stacks = ["default"]                           # recorded with each row (not yet modelled)
    [[axes.scenarios]]                             # constraints; optional
    name = "90 days"
    deadline_days = 90
    [[axes.mixes]]                                 # request mixes, serve only
    name = "chat"
    input_len = 1000
    output_len = 250
    rate = 200

    [train]                       # the training job (tokens, seq_len, global_batch)
    [serve]                       # kv, hours
    [search]
    fixed = { tp_overlap = 1, dp_overlap = 1 }     # layout degrees pinned at every point

    [[exclude]]                   # points to leave out: every key given must match
    system = "gcp-tpu-v6e-pod"
    precision = "fp8"

The study expands to the cartesian product of its axes, minus the excluded points. Names resolve
here (a typo fails before any point runs, naming the file and line); every point is a plain,
picklable :class:`Point` whose ``point_id`` is a hash of its inputs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xpuplan.datafiles import KeyLocator, NumberReader, read_toml
from xpuplan.errors import UnknownNameError
from xpuplan.hardware.catalog import Catalog, default_catalog
from xpuplan.hardware.records import Pricing, System
from xpuplan.layout.layout import LAYOUT_FIELDS
from xpuplan.perf.estimate import default_system
from xpuplan.perf.machine import MAX_CHIPS
from xpuplan.planner.scenario import OBJECTIVES
from xpuplan.workload.job import KV_FORMATS, TRAIN_PRECISIONS, WEIGHT_FORMATS
from xpuplan.workload.library import get_model, model_library

COMPUTE = ("train", "serve", "plan")
SIZED = {"train": "deadline", "serve": "rate"}  # the chip-count word for "the planner sizes it"
MAX_POINTS = 10_000_000
DEFAULT_FIXED = {"tp_overlap": 1, "dp_overlap": 1}  # as the planner searches (overlap on)
SCENARIO_KEYS = ("name", "deadline_days", "budget_usd", "power_mw")
MIX_KEYS = ("name", "input_len", "output_len", "rate", "ttft_ms", "tpot_ms", "hours")
EXCLUDE_KEYS = ("model", "system", "chips", "pricing", "precision", "stack", "scenario", "mix")


@dataclass(frozen=True)
class Scenario:
    """Constraints every point of a study row is checked against (all optional)."""

    name: str
    deadline_days: float | None = None
    budget_usd: float | None = None
    power_mw: float | None = None


@dataclass(frozen=True)
class Mix:
    """A serving request mix."""

    name: str
    input_len: int = 1000
    output_len: int = 250
    rate: float | None = None  # requests/s to sustain
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    hours: float = 730.0  # serving period, for the cost column


@dataclass(frozen=True)
class Point:
    """One point of a study: everything its one API call needs, as plain values."""

    index: int
    compute: str  # train | serve
    model: str
    system: str
    chips: int | None  # None: the planner sizes it (deadline / rate)
    pricing: str
    precision: str
    stack: str | None
    scenario: Scenario
    mix: Mix | None
    tokens: float | None
    seq_len: int
    global_batch: int
    kv: str
    fixed: tuple[tuple[str, int], ...]
    objective: str
    price_fallback: bool
    point_id: str = ""

    def key(self) -> dict[str, Any]:
        """The inputs that identify the point (what its id hashes)."""
        d = asdict(self)
        d.pop("index")
        d.pop("point_id")
        return d


def point_id(p: Point) -> str:
    text = json.dumps(p.key(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Study:
    name: str
    path: str
    compute: str
    points: tuple[Point, ...]
    excluded: int
    text_sha256: str
    axes: dict[str, list[Any]] = field(default_factory=dict)


class _Reader(KeyLocator, NumberReader):
    """Typed access to the study mapping; errors point at the file and the key's line."""

    optional = True
    open_lo = True
    int_results = True

    def choice(self, d: dict[str, Any], key: str, default: str, choices: Iterable[str]) -> str:
        v = d.get(key, default)
        options = tuple(choices)
        if not isinstance(v, str) or v not in options:
            import difflib

            close = difflib.get_close_matches(str(v), options, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else "Use one of " + ", ".join(options)
            raise self.fail(key, f"'{key}' = {v!r} is not one of {', '.join(options)}", hint)
        return v

    def items(self, d: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
        v = d.get(key, default)
        v = v if isinstance(v, list) else [v]
        if not v:
            raise self.fail(key, f"'{key}' is empty", "Give at least one value, or leave the key out")
        return v

    def table(self, d: dict[str, Any], key: str) -> dict[str, Any]:
        v = d.get(key) or {}
        if not isinstance(v, dict):
            raise self.fail(key, f"'{key}' must be a table", "Write it as a TOML table (docs/sweeps.md)")
        return v

    def only(self, d: dict[str, Any], keys: Iterable[str], what: str) -> None:
        extra = sorted(set(d) - set(keys))
        if extra:
            raise self.fail(extra[0], f"unknown key '{extra[0]}' in {what}", "Use " + ", ".join(keys))


def _system(cat: Catalog, r: _Reader, name: Any) -> str:
    if not isinstance(name, str):
        raise r.fail("systems", f"a system must be a name, got {name!r}", 'e.g. systems = ["h200"]')
    try:
        rec = cat.find(name)
    except UnknownNameError as e:
        raise UnknownNameError(e.kind, name, _known_systems(cat), where=r.where("systems")) from None
    return rec.id if isinstance(rec, System) else default_system(cat, rec.id).id


def _known_systems(cat: Catalog) -> list[str]:
    recs: list[Any] = [*cat.chips.values(), *cat.systems.values()]
    return [n for rec in recs for n in (rec.id, *rec.aliases)]


def _model(r: _Reader, name: Any) -> str:
    if not isinstance(name, str):
        raise r.fail("models", f"a model must be a name, got {name!r}", 'e.g. models = ["llama-3-70b"]')
    try:
        return get_model(name).id
    except UnknownNameError:
        known = [n for m in model_library().values() for n in (m.id, *m.aliases)]
        raise UnknownNameError("model", name, known, where=r.where("models")) from None


def _chips(r: _Reader, v: Any, compute: str) -> list[int | None]:
    """Chip counts: ints, the sizing word (None), or a {from, to, count, spacing} range."""
    word = SIZED.get(compute)
    if compute == "plan":
        if v is not None:
            raise r.fail("chips", "a 'plan' study sizes every point itself", "Leave 'chips' out")
        return [None]
    if v is None:
        raise r.fail("axes", "the study has no 'chips' axis", f'Add chips = [64, 512] or ["{word}"]')
    if isinstance(v, dict):
        r.only(v, ("from", "to", "count", "spacing"), "the chips range")
        lo, hi = r.num(v, "from", None, 0, MAX_CHIPS, True), r.num(v, "to", None, 0, MAX_CHIPS, True)
        n = r.num(v, "count", None, 0, 100_000, True)
        if lo is None or hi is None or n is None or hi < lo:
            raise r.fail(
                "chips", "a chips range needs from ≤ to and count", "{from = 64, to = 8192, count = 8}"
            )
        log = r.choice(v, "spacing", "log", ("log", "linear")) == "log"
        steps = [i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        vals = [lo * (hi / lo) ** t if log else lo + (hi - lo) * t for t in steps]
        return sorted({round(x) for x in vals})
    out: list[int | None] = []
    for x in r.items({"chips": v}, "chips", []):
        if x == word:
            out.append(None)
        elif isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_CHIPS:
            out.append(x)
        else:
            raise r.fail(
                "chips", f"chip count {x!r} is not valid", f'Give counts 1..{MAX_CHIPS:,} or "{word}"'
            )
    return out


def _scenarios(r: _Reader, v: Any) -> list[Scenario]:
    if v is None:
        return [Scenario("none")]
    out = []
    for i, s in enumerate(r.items({"scenarios": v}, "scenarios", [])):
        if not isinstance(s, dict):
            raise r.fail("scenarios", "each scenario must be a table", "Write [[axes.scenarios]] tables")
        r.only(s, SCENARIO_KEYS, "a scenario")
        out.append(
            Scenario(
                str(s.get("name", f"scenario-{i + 1}")),
                r.num(s, "deadline_days", None, 0, 36500),
                r.num(s, "budget_usd", None, 0, 1e13),
                r.num(s, "power_mw", None, 0, 1e5),
            )
        )
    return out


def _mixes(r: _Reader, v: Any, compute: str, serving: bool) -> list[Mix | None]:
    if not serving:
        if v is not None:
            raise r.fail(
                "mixes", "request mixes belong to a serving study", 'Set compute = "serve" or drop them'
            )
        return [None]
    if v is None:
        return [Mix("default")]
    out: list[Mix | None] = []
    for i, m in enumerate(r.items({"mixes": v}, "mixes", [])):
        if not isinstance(m, dict):
            raise r.fail("mixes", "each mix must be a table", "Write [[axes.mixes]] tables")
        r.only(m, MIX_KEYS, "a request mix")
        mix = Mix(
            str(m.get("name", f"mix-{i + 1}")),
            r.num(m, "input_len", None, 0, 1e7, True) or 1000,
            r.num(m, "output_len", None, 0, 1e7, True) or 250,
            r.num(m, "rate", None, 0, 1e9),
            r.num(m, "ttft_ms", None, 0, 1e9),
            r.num(m, "tpot_ms", None, 0, 1e9),
            r.num(m, "hours", None, 0, 1e6) or 730.0,
        )
        out.append(mix)
    return out


def _fixed(r: _Reader, search: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    fixed = search.get("fixed", DEFAULT_FIXED)
    if not isinstance(fixed, dict):
        raise r.fail("fixed", "'fixed' must be a table of layout degrees", "e.g. fixed = { tp = 8 }")
    r.only(fixed, LAYOUT_FIELDS, "[search] fixed")
    for k, v in fixed.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise r.fail(k, f"fixed '{k}' must be a whole number ≥ 0, got {v!r}", "Give a degree")
    return tuple(sorted(fixed.items()))


def load_study(path: Path, catalog: Catalog | None = None) -> Study:
    """Read, check and expand a study file (see the module docstring)."""
    cat = catalog or default_catalog()
    d = read_toml(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    r = _Reader(path, text)
    r.only(
        d,
        ("name", "compute", "objective", "price_fallback", "axes", "train", "serve", "search", "exclude"),
        "the study",
    )
    compute = r.choice(d, "compute", "train", COMPUTE)
    ax, train, serve, search = (r.table(d, k) for k in ("axes", "train", "serve", "search"))
    r.only(
        ax, ("models", "systems", "chips", "pricing", "precisions", "stacks", "scenarios", "mixes"), "[axes]"
    )
    r.only(train, ("tokens", "seq_len", "global_batch"), "[train]")
    r.only(serve, ("kv", "hours"), "[serve]")
    r.only(search, ("fixed",), "[search]")
    serving = compute == "serve" or (compute == "plan" and "mixes" in ax)
    kind = "serve" if serving else "train"
    if "models" not in ax or "systems" not in ax:
        raise r.fail(
            "axes", "the study needs 'models' and 'systems' in [axes]", "docs/sweeps.md has an example"
        )
    formats = WEIGHT_FORMATS if serving else TRAIN_PRECISIONS
    axes: dict[str, list[Any]] = {
        "model": [_model(r, m) for m in r.items(ax, "models", [])],
        "system": list(dict.fromkeys(_system(cat, r, s) for s in r.items(ax, "systems", []))),
        "chips": _chips(r, ax.get("chips"), compute),
        "pricing": [
            r.choice({"pricing": p}, "pricing", "", [k.value for k in Pricing])
            for p in r.items(ax, "pricing", ["on_demand"])
        ],
        "precision": [
            r.choice({"precisions": p}, "precisions", "", formats)
            for p in r.items(ax, "precisions", ["bf16"])
        ],
        "stack": [None if s in ("", "default") else str(s) for s in r.items(ax, "stacks", ["default"])],
        "scenario": _scenarios(r, ax.get("scenarios")),
        "mix": _mixes(r, ax.get("mixes"), compute, serving),
    }
    tokens = r.num(train, "tokens", None, 0, 1e18)
    if kind == "train" and compute == "plan" and tokens is None:
        raise r.fail(
            "train", "a planned training study needs [train] tokens", "Add tokens = 15e12 under [train]"
        )
    if serving and None in axes["chips"] and any(m is None or m.rate is None for m in axes["mix"]):
        raise r.fail("mixes", "points sized for the rate need a rate in every mix", "Add rate = requests/s")
    base = {
        "tokens": tokens,
        "seq_len": r.num(train, "seq_len", None, 0, 1e7, True) or 4096,
        "global_batch": r.num(train, "global_batch", None, 0, 1e9, True) or 1024,
        "kv": r.choice(serve, "kv", "bf16", KV_FORMATS),
        "fixed": _fixed(r, search),
        "objective": r.choice(d, "objective", "cost", OBJECTIVES),
        "price_fallback": bool(d.get("price_fallback", False)),
    }
    excludes = _excludes(r, d.get("exclude", []), cat, compute)
    n = math.prod(len(v) for v in axes.values())
    if n > MAX_POINTS:
        raise r.fail("axes", f"the study has {n:,} points", f"Keep it under {MAX_POINTS:,} or split it")
    points, excluded = _expand(axes, base, kind, excludes)
    if not points:
        raise r.fail("exclude", "every point is excluded", "Loosen the [[exclude]] tables")
    return Study(
        str(d.get("name", path.stem)),
        str(path),
        compute,
        tuple(points),
        excluded,
        hashlib.sha256(text.encode()).hexdigest(),
        {k: [asdict(x) if hasattr(x, "__dataclass_fields__") else x for x in v] for k, v in axes.items()},
    )


def _excludes(r: _Reader, raw: Any, cat: Catalog, compute: str) -> list[dict[str, set[Any]]]:
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise r.fail("exclude", "'exclude' must be [[exclude]] tables", "docs/sweeps.md")
    out = []
    for t in raw:
        r.only(t, EXCLUDE_KEYS, "an [[exclude]] table")
        rule: dict[str, set[Any]] = {}
        for k, v in t.items():
            vals = v if isinstance(v, list) else [v]
            if k == "system":
                vals = [_system(cat, r, s) for s in vals]
            elif k == "model":
                vals = [_model(r, m) for m in vals]
            elif k == "chips":
                vals = [None if x == SIZED.get(compute) else x for x in vals]
            rule[k] = set(vals)
        out.append(rule)
    return out


def _expand(
    axes: dict[str, list[Any]], base: dict[str, Any], kind: str, excludes: list[dict[str, set[Any]]]
) -> tuple[list[Point], int]:
    """The cartesian product in axis order, pricing fastest: points that differ only in price sit
    side by side, so the worker that gets them runs their one search once."""
    order = ("model", "scenario", "mix", "precision", "stack", "system", "chips", "pricing")
    points: list[Point] = []
    excluded = 0
    for combo in itertools.product(*(axes[k] for k in order)):
        v = dict(zip(order, combo, strict=True))
        names = {**v, "scenario": v["scenario"].name, "mix": v["mix"].name if v["mix"] else None}
        if any(all(names[k] in vals for k, vals in rule.items()) for rule in excludes):
            excluded += 1
            continue
        p = Point(
            len(points),
            kind,
            v["model"],
            v["system"],
            v["chips"],
            v["pricing"],
            v["precision"],
            v["stack"],
            v["scenario"],
            v["mix"],
            **base,
        )
        points.append(Point(**{**asdict_shallow(p), "point_id": point_id(p)}))
    return points, excluded


def asdict_shallow(p: Point) -> dict[str, Any]:
    """The fields of ``p`` without copying nested dataclasses into dicts."""
    return {f: getattr(p, f) for f in p.__dataclass_fields__}

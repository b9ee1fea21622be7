"""Load the hardware catalog (TOML records and a prices CSV) into SI records.

Layout of ``xpuplan/data`` (schema in ``docs/catalog.md``)::

    chips/<id>.toml      one chip per file
    systems/<id>.toml    one system per file
    prices.csv           one published price per row
    energy.toml          facility defaults (PUE)

Every record must carry ``source`` and ``as_of``; a missing one is a :class:`DataError` naming the
file, so a broken catalog fails at load, not in the middle of a plan.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from xpuplan import units
from xpuplan.datafiles import Field, data_dir, read_toml
from xpuplan.errors import DataError, UnknownNameError
from xpuplan.hardware.purchase import PurchaseUnit, load_purchase_units, node_unit
from xpuplan.hardware.records import (
    OPTIONAL_FRACTIONS,
    Chip,
    Dtype,
    Efficiency,
    EnergyDefaults,
    Interval,
    NetworkKind,
    PowerSpec,
    Price,
    Pricing,
    Provenance,
    ScaleOut,
    ScaleUp,
    System,
    Topology,
)

_R = TypeVar("_R", Chip, System)


def normalise(name: str) -> str:
    """Canonical form for id / alias look-up: lower case, '-' for '_' and spaces."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _need(d: Mapping[str, Any], key: str, path: Path, kind: type = object) -> Any:
    if key not in d or d[key] is None or d[key] == "":
        raise DataError(f"missing required key '{key}'", f"Add '{key} = ...' to the record", str(path))
    v = d[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if kind is not object and not isinstance(v, kind):
        raise DataError(f"key '{key}' must be {kind.__name__}, got {v!r}", "Fix the value", str(path))
    return v


def _num(d: Mapping[str, Any], key: str, path: Path, positive: bool = True) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DataError(f"key '{key}' must be a number, got {v!r}", "Fix the value", str(path))
    if positive and not v > 0:
        raise DataError(f"key '{key}' must be > 0, got {v}", "Fix the value or remove it", str(path))
    return float(v)


def _source(d: Mapping[str, Any], path: Path) -> tuple[str, str]:
    src = d.get("source")
    if isinstance(src, list):
        src = "; ".join(str(s) for s in src)
    if not src:
        raise DataError("record has no 'source'", 'Every record needs source = "URL + locator"', str(path))
    as_of = d.get("as_of")
    if not as_of:
        raise DataError("record has no 'as_of'", 'Every record needs as_of = "YYYY-MM-DD"', str(path))
    return str(src), str(as_of)


def _provenance(d: Mapping[str, Any], path: Path) -> dict[str, Provenance]:
    out: dict[str, Provenance] = {}
    for key, p in (d.get("provenance") or {}).items():
        if not isinstance(p, dict) or not p.get("source") or not p.get("as_of"):
            raise DataError(
                f"provenance.'{key}' needs source and as_of",
                "Add both to the inline table",
                str(path),
            )
        out[key] = Provenance(str(p["source"]), str(p["as_of"]), str(p.get("note", "")))
    return out


def _efficiency(d: Mapping[str, Any], path: Path) -> Efficiency:
    e = d.get("efficiency") or {}
    kw: dict[str, Any] = {}
    for key in ("matmul", "matmul_knee", "memory", "network", "attention", *OPTIONAL_FRACTIONS):
        v = _num(e, key, path, positive=False)
        if v is not None:
            kw[key] = v
    if e.get("source"):
        kw["provenance"] = Provenance(str(e["source"]), str(e.get("as_of", "")), str(e.get("note", "")))
    try:
        return Efficiency(**kw)
    except ValueError as err:
        raise DataError(str(err), "Fix the [efficiency] table", str(path)) from err


_CAPACITY_UNITS = {
    "GB": units.gbyte(1.0),
    "GiB": units.gib(1.0),
    "TB": units.gbyte(1e3),
    "TiB": units.gib(1024.0),
}


def parse_capacity(text: str) -> tuple[float, str] | None:
    """``"80 GB"`` → ``(80.0, "GB")``; None when the text is not a number and a unit of
    :data:`_CAPACITY_UNITS`."""
    parts = text.replace(",", "").split()
    if len(parts) != 2 or parts[1] not in _CAPACITY_UNITS:
        return None
    try:
        return float(parts[0]), parts[1]
    except ValueError:
        return None


def _capacity(mem: Mapping[str, Any], path: Path) -> float:
    """Memory capacity in bytes from ``capacity_gib`` (binary) or ``capacity_gb`` (decimal).

    ``capacity_datasheet`` keeps the figure as the vendor prints it (``"80 GB"``): its number must
    equal the record's, and where its unit differs from the key's (vendors print "GB" for binary
    HBM stacks) ``capacity_reading`` must say why the record reads it the other way."""
    if mem.get("capacity_gib") is not None:
        key, cap = "capacity_gib", units.gib(_num(mem, "capacity_gib", path) or 0.0)
    elif mem.get("capacity_gb") is not None:
        key, cap = "capacity_gb", units.gbyte(_num(mem, "capacity_gb", path) or 0.0)
    else:
        raise DataError("missing memory capacity", "Add capacity_gb or capacity_gib to [memory]", str(path))
    sheet = mem.get("capacity_datasheet")
    if sheet is None:
        return cap
    parsed = parse_capacity(str(sheet))
    if parsed is None:
        raise DataError(
            f"capacity_datasheet '{sheet}' is not '<number> <unit>'",
            f'Write e.g. "80 GB"; units: {", ".join(_CAPACITY_UNITS)}',
            str(path),
        )
    figure, unit = parsed
    key_unit = "GiB" if key == "capacity_gib" else "GB"
    scale = 1024.0 if unit in ("TB", "TiB") else 1.0
    if abs(figure * scale - float(mem[key])) > 1e-9 * max(1.0, figure):
        raise DataError(
            f"{key} = {mem[key]} but the datasheet says {sheet}",
            "Make the two figures agree (the datasheet is the source)",
            str(path),
        )
    if unit.endswith("iB") != (key_unit == "GiB") and not mem.get("capacity_reading"):
        raise DataError(
            f"the datasheet says {sheet} but the record reads it as {key_unit}",
            "Say why in capacity_reading (e.g. the HBM stacks are binary), or use the datasheet's unit",
            str(path),
        )
    return cap


def _power(p: Mapping[str, Any], path: Path) -> PowerSpec | None:
    """The power figure's standing: published, or estimated with a basis and a range."""
    tdp = _num(p, "tdp_w", path)
    estimated = bool(p.get("tdp_estimated", False))
    rng = p.get("tdp_range_w")
    basis = str(p.get("tdp_basis", ""))
    if tdp is None:
        if estimated or rng or basis:
            raise DataError("tdp_estimated/tdp_range_w/tdp_basis without tdp_w", "Add tdp_w", str(path))
        return None
    if not estimated:
        if rng:
            raise DataError("tdp_range_w on a published TDP", "Set tdp_estimated = true", str(path))
        return PowerSpec(tdp, False, None, basis)
    if not basis or not isinstance(rng, list) or len(rng) != 2:
        raise DataError(
            "an estimated TDP needs tdp_basis and tdp_range_w = [low, high]",
            "Say what the estimate rests on and how far it may be off",
            str(path),
        )
    lo, hi = (float(x) for x in rng)
    if not 0 < lo <= tdp <= hi:
        raise DataError(f"tdp_w {tdp} outside tdp_range_w {rng}", "Fix the range", str(path))
    return PowerSpec(tdp, True, (lo, hi), basis)


def parse_chip(d: Mapping[str, Any], path: Path) -> Chip:
    cid = _need(d, "id", path, str)
    source, as_of = _source(d, path)
    peaks: dict[Dtype, float] = {}
    for key in d.get("peak_tflops") or {}:
        try:
            dt = Dtype(key)
        except ValueError as e:
            known = ", ".join(x.value for x in Dtype)
            raise DataError(
                f"unknown dtype '{key}' in [peak_tflops]", f"Use one of {known}", str(path)
            ) from e
        f = _num(d["peak_tflops"], key, path)
        if f is not None:
            peaks[dt] = units.tflop_s(f)
    mem = d.get("memory") or {}
    cap = _capacity(mem, path)
    bw = _num(mem, "bandwidth_tbyte_s", path)
    if bw is None:
        raise DataError("missing memory bandwidth", "Add bandwidth_tbyte_s to [memory]", str(path))
    sram = _num(mem, "sram_mib", path)
    link = _num(d.get("scale_up") or {}, "link_gbyte_s", path)
    host = _num(d.get("host_link") or {}, "gbyte_s", path)
    return Chip(
        id=cid,
        name=_need(d, "name", path, str),
        vendor=_need(d, "vendor", path, str),
        category=_need(d, "category", path, str),
        training=bool(d.get("training", False)),
        peak_flops=peaks,
        mem_bytes=cap,
        mem_bw=units.tbyte_s(bw),
        sram_bytes=units.mib(sram) if sram else None,
        link_bw=units.gbyte_s(link) if link else None,
        tdp_w=_num(d.get("power") or {}, "tdp_w", path),
        efficiency=_efficiency(d, path),
        source=source,
        as_of=as_of,
        aliases=tuple(d.get("aliases", ())),
        notes=str(d.get("notes", "")),
        provenance=_provenance(d, path),
        host_bw=units.gbyte_s(host) if host else None,
        power=_power(d.get("power") or {}, path),
        mem_datasheet=str(mem.get("capacity_datasheet", "")),
    )


def parse_system(d: Mapping[str, Any], path: Path) -> System:
    sid = _need(d, "id", path, str)
    source, as_of = _source(d, path)
    su = d.get("scale_up") or {}
    so = d.get("scale_out") or {}
    try:
        topo = Topology(su.get("topology", "none"))
        net = NetworkKind(so.get("kind", "none"))
    except ValueError as e:
        raise DataError(str(e), "Use a topology/network kind listed in docs/catalog.md", str(path)) from e
    link = _num(su, "link_gbyte_s", path)
    gbit = _num(so, "gbit_s_per_node", path, positive=False) or 0.0
    max_chips = so.get("max_chips")
    if net is NetworkKind.NONE and not max_chips:
        # no scale-out network: the cluster is one node
        max_chips = int(_need(d, "chips_per_node", path, int))
    scale_up = ScaleUp(
        topology=topo,
        domain_chips=int(_need(su, "domain_chips", path, int)) if su else 1,
        link_bw=units.gbyte_s(link) if link else None,
        torus_dims=tuple(int(x) for x in su.get("torus_dims", ())),
        latency_s=(_num(su, "latency_us", path) or 5.0) * 1e-6,
        torus_wrap=int(_num(su, "torus_wrap", path, positive=False) or 0),
    )
    scale_out = ScaleOut(
        kind=net,
        bw_per_node=units.gbit_s(gbit),
        max_chips=int(max_chips) if max_chips else None,
        latency_s=(_num(so, "latency_us", path) or 10.0) * 1e-6,
    )
    return System(
        id=sid,
        name=_need(d, "name", path, str),
        provider=_need(d, "provider", path, str),
        kind=_need(d, "kind", path, str),
        chip=_need(d, "chip", path, str),
        chips_per_node=int(_need(d, "chips_per_node", path, int)),
        scale_up=scale_up,
        scale_out=scale_out,
        host_w_per_node=_num(d.get("power") or {}, "host_w_per_node", path),
        source=source,
        as_of=as_of,
        aliases=tuple(d.get("aliases", ())),
        notes=str(d.get("notes", "")),
        provenance=_provenance(d, path),
        mem_bytes_per_node=_capacity(d["memory"], path) if d.get("memory") else None,
    )


def parse_prices(path: Path, chips_per_node: Mapping[str, int]) -> list[Price]:
    out: list[Price] = []
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(f"cannot read prices ({e.strerror})", "Check the path", str(path)) from e
    for i, row in enumerate(
        csv.DictReader(line for line in text.splitlines() if not line.startswith("#")), 2
    ):
        where = f"{path}:{i}"
        if not row.get("source") or not row.get("as_of"):
            raise DataError("price row has no source or as_of", "Fill both columns", where)
        try:
            pricing = Pricing(row["pricing"])
            usd = float(row["usd_per_hour"])
            per = row.get("per", "node") or "node"
            n = int(row.get("chips_per_unit") or 1)
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"bad price row ({e})", "See docs/catalog.md for the columns", where) from e
        if not usd > 0:
            raise DataError("usd_per_hour must be > 0", "Fix the value", where)
        if per not in ("node", "chip"):
            raise DataError(f"'per' must be node or chip, got '{per}'", "Fix the column", where)
        if row["system"] not in chips_per_node:
            raise UnknownNameError("system", row["system"], chips_per_node.keys(), where=where)
        # a per-chip price covers chips_per_unit chips; scale it to the system's node
        node_usd = usd if per == "node" else usd / n * chips_per_node[row["system"]]
        out.append(
            Price(
                row["system"],
                pricing,
                node_usd,
                row.get("region", ""),
                row["source"],
                row["as_of"],
                row.get("note", ""),
            )
        )
    return out


@dataclass(frozen=True)
class Catalog:
    """All chips, systems and prices, with id/alias look-up."""

    chips: Mapping[str, Chip]
    systems: Mapping[str, System]
    prices: tuple[Price, ...]
    energy: EnergyDefaults
    units: Mapping[tuple[str, Pricing], PurchaseUnit] = field(default_factory=dict)

    @staticmethod
    def _index(records: Iterable[Chip | System]) -> dict[str, str]:
        idx: dict[str, str] = {}
        for r in records:
            idx[normalise(r.id)] = r.id
            for a in r.aliases:
                idx.setdefault(normalise(a), r.id)
        return idx

    @cached_property
    def _chip_index(self) -> dict[str, str]:
        """Normalised id/alias → chip id, built once per catalog (records are immutable)."""
        return self._index(self.chips.values())

    @cached_property
    def _system_index(self) -> dict[str, str]:
        return self._index(self.systems.values())

    @staticmethod
    def _names(records: Iterable[Chip | System]) -> list[str]:
        return [n for r in records for n in (r.id, *r.aliases)]

    @classmethod
    def _lookup(cls, what: str, name: str, idx: dict[str, str], records: Mapping[str, _R]) -> _R:
        key = normalise(name)
        if key not in idx:
            raise UnknownNameError(what, name, cls._names(records.values()))
        return records[idx[key]]

    def chip(self, name: str) -> Chip:
        return self._lookup("chip", name, self._chip_index, self.chips)

    def system(self, name: str) -> System:
        return self._lookup("system", name, self._system_index, self.systems)

    def find(self, name: str) -> Chip | System:
        """A chip or a system by id or alias (chips first)."""
        try:
            return self.chip(name)
        except UnknownNameError:
            try:
                return self.system(name)
            except UnknownNameError:
                names = self._names([*self.chips.values(), *self.systems.values()])
                raise UnknownNameError("chip or system", name, names) from None

    def systems_for_chip(self, chip_id: str) -> list[System]:
        return [s for s in self.systems.values() if s.chip == chip_id]

    def prices_for(self, system_id: str) -> list[Price]:
        return [p for p in self.prices if p.system == system_id]

    def with_prices(self, prices: Iterable[Price]) -> Catalog:
        """A new catalog with ``prices`` added to its own (e.g. rows from ``catalog refresh``):
        :func:`xpuplan.hardware.pricing.current_price` then picks among all of them by kind and date."""
        extra = tuple(prices)
        unknown = sorted({p.system for p in extra} - set(self.systems))
        if unknown:
            raise UnknownNameError("system", unknown[0], self.systems.keys())
        return Catalog(self.chips, self.systems, (*self.prices, *extra), self.energy)

    def purchase_unit(self, system: System, pricing: Pricing) -> PurchaseUnit:
        """What one buys of ``system`` at ``pricing`` (``data/purchase_units.toml``); a system
        without a record is bought in whole nodes, billed per second."""
        return self.units.get((system.id, pricing)) or node_unit(system, pricing)

    def with_chip(self, chip: Chip) -> Catalog:
        """A new catalog with ``chip`` added, or replacing the chip of the same id (whose aliases
        it keeps when it brings none: a calibrated H100 still answers to 'h100')."""
        old = self.chips.get(chip.id)
        if old is not None and not chip.aliases:
            chip = replace(chip, aliases=old.aliases)
        return replace(self, chips={**self.chips, chip.id: chip})

    def with_local_system(self, chip: Chip) -> Catalog:
        """A new catalog with ``chip`` and a one-chip system around it (``<id>-device``: kind
        "device", no scale-up fabric, no scale-out network), so a calibrated chip can be planned on."""
        system = System(
            id=f"{chip.id}-device",
            name=f"{chip.name} (this machine)",
            provider="local",
            kind="device",
            chip=chip.id,
            chips_per_node=1,
            scale_up=ScaleUp(Topology.NONE, 1, None),
            scale_out=ScaleOut(NetworkKind.NONE, 0.0, 1),
            host_w_per_node=None,
            source=chip.source,
            as_of=chip.as_of,
            notes="a single calibrated device (xpuplan calibrate)",
        )
        cat = self.with_chip(chip)
        return replace(cat, systems={**cat.systems, system.id: system})


# the efficiencies `xpuplan fit` sets, in the order it fits them (validation/fit.py)
FITTED_EFFICIENCIES = ("matmul", "matmul_fp8", "matmul_fp4", "matmul_serve", "memory")


_TASK_PARAMS = {"train": ("matmul", "matmul_fp8", "matmul_fp4"), "infer": ("matmul_serve", "memory")}


def _chip_intervals(d: Mapping[str, Any], c: Chip, params: Mapping[str, Any]) -> dict[str, Interval]:
    """The chip's interval per task: its vendor's class when the fit has a case of the chip's own
    for that task, else the (wider) class of predictions on borrowed or prior efficiencies."""
    table = d.get("intervals") or {}
    out: dict[str, Interval] = {}
    for task, ps in _TASK_PARAMS.items():
        own = any(isinstance(params.get(p), dict) and params[p].get("basis") == "fitted" for p in ps)
        for key in ((f"{c.vendor}/{task}" if own else f"no-own-case/{task}"), f"all/{task}"):
            v = table.get(key)
            if isinstance(v, dict) and "low" in v and "high" in v:
                out[task] = Interval(float(v["low"]), float(v["high"]), key, int(v.get("n", 0)))
                break
    return out


def _apply_fit(chips: dict[str, Chip], path: Path) -> dict[str, Chip]:
    """The chips with the efficiencies ``xpuplan fit`` wrote to ``fit.toml`` (each with its basis
    and cases); chips the file does not name keep their record's values."""
    d = read_toml(path)
    out = dict(chips)
    for cid, params in (d.get("chips") or {}).items():
        if cid not in out or not isinstance(params, dict):
            continue
        c = out[cid]
        kw: dict[str, Any] = {}
        notes = []
        for p in FITTED_EFFICIENCIES:
            f = params.get(p)
            if not isinstance(f, dict) or (
                p in ("matmul_fp8", "matmul_fp4") and getattr(c.efficiency, p) is None
            ):
                continue
            kw[p] = float(f["value"])
            n = len(f.get("cases") or [])
            notes.append(f"{p} {f['value']:.3f} ({f.get('basis', '?')}" + (f", {n} cases)" if n else ")"))
        intervals = _chip_intervals(d, c, params)
        if intervals:
            out[cid] = c = replace(c, intervals=intervals)
        if kw:
            own = any(isinstance(f, dict) and f.get("basis") == "fitted" for f in params.values())
            basis = "" if own else "; an assumption: no validation case of this chip's own"
            prov = Provenance(
                f"data/fit.toml ({'; '.join(notes)}){basis}", str(d.get("as_of", "")), "xpuplan fit"
            )
            try:
                eff = replace(c.efficiency, **kw, provenance=prov)
            except ValueError as err:
                raise DataError(str(err), "Run 'xpuplan fit --write' again", str(path)) from err
            out[cid] = replace(c, efficiency=eff)
    return out


def load_catalog(root: Path | None = None, apply_fit: bool = True) -> Catalog:
    """Load and check every record under ``root`` (default: the packaged data); ``apply_fit``:
    with the fitted efficiencies of ``fit.toml`` (``xpuplan fit``) over the records' own."""
    root = root or data_dir()
    chips: dict[str, Chip] = {}
    for path in sorted((root / "chips").glob("*.toml")):
        c = parse_chip(read_toml(path), path)
        if c.id in chips:
            raise DataError(f"duplicate chip id '{c.id}'", "Ids must be unique", str(path))
        chips[c.id] = c
    systems: dict[str, System] = {}
    for path in sorted((root / "systems").glob("*.toml")):
        s = parse_system(read_toml(path), path)
        if s.chip not in chips:
            raise UnknownNameError("chip", s.chip, chips.keys(), where=str(path))
        systems[s.id] = s
    if apply_fit and (root / "fit.toml").exists():
        chips = _apply_fit(chips, root / "fit.toml")
    prices_path = root / "prices.csv"
    cpn = {k: s.chips_per_node for k, s in systems.items()}
    prices = parse_prices(prices_path, cpn) if prices_path.exists() else []
    e = read_toml(root / "energy.toml")
    src, as_of = _source(e, root / "energy.toml")
    energy = EnergyDefaults(
        float(_need(e, "pue", root / "energy.toml", float)), src, as_of, str(e.get("note", ""))
    )
    units_path = root / "purchase_units.toml"
    units = load_purchase_units(units_path, systems) if units_path.exists() else {}
    return Catalog(chips, systems, tuple(prices), energy, units)


_FRACTION = Field("num", 0.0, 1.0)
CHIP_SCHEMA = {
    **{k: Field("str") for k in ("id", "name", "vendor", "category", "source", "as_of", "notes")},
    "training": Field("bool"),
    "aliases": Field("strs"),
    "peak_tflops": {dt.value: Field("num", 0.0, 1e6, "dense TFLOP/s") for dt in Dtype},
    "memory": {
        "capacity_gib": Field("num", 0.0, 1e6, "GiB"),
        "capacity_gb": Field("num", 0.0, 1e6, "GB"),
        "bandwidth_tbyte_s": Field("num", 0.0, 1e5, "TB/s"),
        "sram_mib": Field("num", 0.0, 1e6, "MiB"),
    },
    "scale_up": {"link_gbyte_s": Field("num", 0.0, 1e5, "GB/s per chip"), "tech": Field("str")},
    "host_link": {"gbyte_s": Field("num", 0.0, 1e5, "GB/s per chip, one direction"), "tech": Field("str")},
    "power": {"tdp_w": Field("num", 0.0, 1e6, "W")},
    "efficiency": {
        **{k: _FRACTION for k in ("matmul", "memory", "network", "attention", *OPTIONAL_FRACTIONS)},
        "matmul_knee": Field("num", 0.0, 1e5, "GEMM side at half the rate"),
        **{k: Field("str") for k in ("source", "as_of", "note")},
    },
    "provenance": Field("table"),
    "calibration": Field("table", doc="the raw measurements and fits (not read)"),
}
"""The keys of a chip record as a calibration file (``xpuplan calibrate``) writes it."""


def load_calibration(path: Path) -> Chip:
    """A chip record written by ``xpuplan calibrate`` (or any chip file); :class:`DataError` on
    a missing, unreadable or malformed file, an unknown key or a number out of range."""
    chip = parse_chip(read_toml(Path(path), CHIP_SCHEMA), Path(path))
    if not chip.peak_flops:
        raise DataError("no [peak_tflops] in the calibration", "Write it with 'xpuplan calibrate'", str(path))
    return chip


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()

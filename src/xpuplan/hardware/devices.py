"""On-device profiles (``data/devices/<system>.toml``): the realism a phone or Mac adds to its chip.

A chip record holds peaks and the memory system; a device profile says what a model may really
use there: the memory one process may hold (not the whole DRAM), the battery, and the compute path
(Neural Engine or GPU) with its power and the fraction of burst speed it keeps once hot. Every
table carries ``source`` and ``as_of``; estimated powers say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.errors import DataError
from xpuplan.hardware.records import Provenance
from xpuplan.units import GIB


@dataclass(frozen=True, slots=True)
class DevicePath:
    """One compute path of a device (Neural Engine, GPU)."""

    name: str
    peaks: dict[str, float]  # FLOP/s (OP/s for int8) by format
    power_w: float  # device power while the model runs on this path
    power_estimated: bool
    sustained_fraction: float  # share of burst speed kept once the device is hot
    burst_s: float  # seconds of full speed before it fades
    provenance: Provenance
    power_range_w: tuple[float, float] | None = None
    power_basis: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < self.sustained_fraction <= 1.0:
            raise ValueError(f"sustained_fraction must be in (0, 1], got {self.sustained_fraction}")
        if self.power_w <= 0 or self.burst_s < 0 or not self.peaks:
            raise ValueError("power_w must be > 0, burst_s >= 0, and a path needs a peak")

    def seconds(self, burst_time_s: float) -> float:
        """Wall time of work that takes ``burst_time_s`` at full speed: after ``burst_s`` the
        device runs at ``sustained_fraction`` of that speed."""
        if burst_time_s <= self.burst_s or self.sustained_fraction >= 1.0:
            return burst_time_s
        return self.burst_s + (burst_time_s - self.burst_s) / self.sustained_fraction


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    system: str
    app_memory_bytes: float
    app_memory: Provenance
    paths: dict[str, DevicePath]
    battery_wh: float | None = None  # None: a desktop
    battery: Provenance | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _prov(t: Mapping[str, Any], where: str) -> Provenance:
    for k in ("source", "as_of"):
        if not t.get(k):
            raise DataError(f"missing '{k}'", f"Every table needs {k}", where)
    return Provenance(str(t["source"]), str(t["as_of"]), str(t.get("note", "")))


def _num(t: Mapping[str, Any], key: str, where: str) -> float:
    v = t.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise DataError(f"'{key}' must be a non-negative number, got {v!r}", "Fix the value", where)
    return float(v)


def _path(name: str, t: Mapping[str, Any], where: str) -> DevicePath:
    peaks = {fmt: _num(t, f"{fmt}_tflops", where) * 1e12 for fmt in ("fp16", "int8") if f"{fmt}_tflops" in t}
    rng = t.get("power_range_w")
    try:
        return DevicePath(
            name,
            peaks,
            _num(t, "power_w", where),
            bool(t.get("power_estimated", False)),
            _num(t, "sustained_fraction", where),
            _num(t, "burst_s", where),
            _prov(t, where),
            (float(rng[0]), float(rng[1])) if rng else None,
            str(t.get("power_basis", "")),
        )
    except (ValueError, TypeError, IndexError) as e:
        raise DataError(str(e), "See data/devices/README.md", where) from e


def load_device_profile(path: Path) -> DeviceProfile:
    d = read_toml(path)
    where = str(path)
    if not d.get("system"):
        raise DataError("missing 'system'", "Name the device system id", where)
    mem = d.get("app_memory") or {}
    paths = {k: _path(k, v, f"{where} [paths.{k}]") for k, v in (d.get("paths") or {}).items()}
    if not paths:
        raise DataError("no [paths.*]", "Give at least one compute path", where)
    bat = d.get("battery")
    return DeviceProfile(
        str(d["system"]),
        _num(mem, "gib", f"{where} [app_memory]") * GIB,
        _prov(mem, f"{where} [app_memory]"),
        paths,
        _num(bat, "wh", f"{where} [battery]") if bat else None,
        _prov(bat, f"{where} [battery]") if bat else None,
    )


@lru_cache(maxsize=1)
def device_profiles() -> dict[str, DeviceProfile]:
    """Every packaged device profile, by system id."""
    return {
        p.system: p for p in (load_device_profile(f) for f in sorted((data_dir() / "devices").glob("*.toml")))
    }

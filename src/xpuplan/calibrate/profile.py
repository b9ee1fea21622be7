"""Turn fits into a chip record in the catalog schema (``docs/catalog.md``) and write it as TOML.

Peak convention (``docs/calibration.md``). The model prices a GEMM at ``peak · matmul · n/(n+knee)``,
so only the product ``peak · matmul`` is measured. With a nominal peak (``--peak-tflops``) for
the fastest dtype given, ``peak`` is that figure and ``matmul`` = measured large-GEMM rate / peak (the
other dtypes' peaks are their measured rates / ``matmul`` unless given too). Without one, a
measured peak IS the achievable peak: ``peak`` = the fitted large-GEMM rate and ``matmul`` = 1.
Memory likewise: ``bandwidth`` = the nominal figure (``--mem-bw-gbyte-s``) or the best STREAM rate,
and ``memory`` = the rate decode-shaped GEMMs stream their weights at / ``bandwidth``.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpuplan.calibrate.bench import Measurements
from xpuplan.calibrate.fit import Fits, attention_fraction
from xpuplan.errors import InputError
from xpuplan.hardware.catalog import parse_chip
from xpuplan.hardware.records import Chip, Dtype


@dataclass(frozen=True)
class Nominal:
    """Vendor figures the user gives: dense peaks (FLOP/s per dtype) and memory bandwidth (bytes/s)."""

    peak_flops: dict[str, float] = field(default_factory=dict)
    mem_bw: float | None = None


def parse_peaks(text: str) -> dict[str, float]:
    """``"fp32=67,bf16=989"`` (TFLOP/s) → FLOP/s per dtype."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, val = part.partition("=")
        try:
            dt = Dtype(key.strip().lower()).value
            tf = float(val)
        except ValueError:
            raise InputError(f"bad peak '{part}'", "Give DTYPE=TFLOPS pairs, e.g. fp32=67,bf16=989") from None
        if not (math.isfinite(tf) and tf > 0):
            raise InputError(f"peak for {dt} must be a positive number, got {val}", "e.g. bf16=989")
        out[dt] = tf * 1e12
    return out


@dataclass(frozen=True)
class DeviceInfo:
    backend: str
    device: str
    device_name: str
    category: str
    versions: dict[str, str]
    memory_bytes: float

    @property
    def versions_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.versions.items())


_VENDORS = (
    ("nvidia", ("nvidia", "geforce", "tesla", "quadro")),
    ("amd", ("amd", "epyc", "ryzen", "instinct", "radeon")),
    ("intel", ("intel", "xeon", "gaudi")),
    ("apple", ("apple",)),
    ("google", ("tpu",)),
    ("aws", ("neuron", "trainium", "inferentia", "graviton")),
)


def vendor_of(device_name: str) -> str:
    low = device_name.lower()
    return next((v for v, keys in _VENDORS if any(k in low for k in keys)), "unknown")


@dataclass(frozen=True)
class Calibration:
    """A measured device as a catalog chip: recorded peaks and efficiencies, fits, raw data."""

    chip_id: str
    info: DeviceInfo
    measurements: Measurements
    fits: Fits
    peaks: dict[str, float]  # FLOP/s as recorded
    mem_bw: float  # bytes/s as recorded
    efficiency: dict[str, float]
    link_bw: float | None
    as_of: str
    notes: tuple[str, ...]
    provenance: dict[str, str]  # dotted key → why

    @property
    def source(self) -> str:
        i = self.info
        return f"measured by xpuplan calibrate on {i.device_name} with {i.backend} ({i.versions_text})"

    def to_toml(self) -> str:
        return render_toml(self)

    def to_chip(self) -> Chip:
        return parse_chip(tomllib.loads(self.to_toml()), Path(f"<calibration {self.chip_id}>"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.chip_id,
            "device": self.info.device_name,
            "backend": self.info.backend,
            "versions": self.info.versions,
            "as_of": self.as_of,
            "peak_tflops": {k: v / 1e12 for k, v in self.peaks.items()},
            "memory_bandwidth_gbyte_s": self.mem_bw / 1e9,
            "link_gbyte_s": None if self.link_bw is None else self.link_bw / 1e9,
            "efficiency": self.efficiency,
            "notes": list(self.notes),
            "fits": self.fits.to_dict(),
            "measurements": self.measurements.to_dict(),
        }


def _peaks(
    fits: Fits, nominal: Nominal, notes: list[str], prov: dict[str, str]
) -> tuple[dict[str, float], float]:
    """Recorded peaks and the ``matmul`` fraction, by the convention in the module docstring."""
    named = [c for c in fits.curves.values() if c.dtype in nominal.peak_flops]
    ref = max(named, key=lambda c: c.rate) if named else fits.reference
    given = nominal.peak_flops.get(ref.dtype)
    matmul = 1.0 if given is None else ref.rate / given
    if matmul > 1.0:
        notes.append(
            f"measured {ref.dtype} rate exceeds the nominal peak given ({matmul:.2f}×): matmul capped at 1"
        )
        matmul = 1.0
    peaks = {dt: nominal.peak_flops.get(dt, c.rate / matmul) for dt, c in fits.curves.items()}
    peaks.update({dt: v for dt, v in nominal.peak_flops.items() if dt not in peaks})
    for dt in fits.curves:
        how = (
            "nominal, given by the user" if dt in nominal.peak_flops else "measured large-GEMM rate / matmul"
        )
        prov[f"peak_tflops.{dt}"] = how
    if "bf16" not in peaks and "fp16" not in peaks:
        peaks["bf16"] = peaks[ref.dtype]
        prov["peak_tflops.bf16"] = (
            f"not measured (the backend has no bf16 matmul): set to the {ref.dtype} peak, so the "
            "model's bf16-priced terms (LM head, attention core, MFU) use the measured rate"
        )
    return peaks, matmul


def _link(info: DeviceInfo, fits: Fits, notes: list[str]) -> float | None:
    """Scale-up link bandwidth: only when the collectives ran between separate devices."""
    if not fits.collectives:
        return None
    if info.category == "cpu":
        notes.append("collectives ran between processes on one CPU: recorded in [calibration], not as a link")
        return None
    ar = [c.bus_bw for c in fits.collectives if c.op == "all_reduce"]
    return statistics.median(ar or [c.bus_bw for c in fits.collectives])


def build_calibration(
    info: DeviceInfo, meas: Measurements, fits: Fits, chip_id: str, nominal: Nominal, as_of: str
) -> Calibration:
    """Apply the peak convention to the fits and assemble the chip record."""
    notes: list[str] = list(meas.notes)
    prov: dict[str, str] = {}
    peaks, matmul = _peaks(fits, nominal, notes, prov)
    mem_bw = nominal.mem_bw or fits.stream_bw
    streaming = fits.decode_bw or fits.stream_bw
    eff: dict[str, float] = {
        "matmul": matmul,
        "matmul_knee": fits.reference.knee,
        "memory": min(1.0, streaming / mem_bw),
    }
    attn = attention_fraction(meas.attention, peaks.get("bf16") or peaks["fp16"])
    if attn is None:
        notes.append("fused attention not measured on this backend: the model's default efficiency applies")
    else:
        if attn > 1.0:
            notes.append(f"fused attention ran at {attn:.2f}× the bf16 peak: attention capped at 1")
        eff["attention"] = min(1.0, attn)
    link = _link(info, fits, notes)
    if link is not None:
        eff["network"] = 1.0  # the link bandwidth recorded is the measured bus bandwidth
    return Calibration(chip_id, info, meas, fits, peaks, mem_bw, eff, link, as_of, tuple(notes), prov)


# ---- TOML --------------------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def toml_value(v: Any) -> str:
    """One TOML value: strings, booleans, integers, finite floats (6 digits), lists, inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to TOML")
        return repr(float(f"{v:.6g}"))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _table(name: str, d: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict):
            lines += [f"{_key(k)} = ["] + [f"  {toml_value(x)}," for x in v] + ["]"]
        else:
            lines.append(f"{_key(k)} = {toml_value(v)}")
    return [*lines, ""]


def render_toml(c: Calibration) -> str:
    i = c.info
    tera = {k: v / 1e12 for k, v in c.peaks.items()}
    head = {
        "id": c.chip_id,
        "name": f"{i.device_name} [{i.backend} {i.device}]",
        "vendor": vendor_of(i.device_name),
        "category": i.category,
        "training": i.category in ("gpu", "tpu", "npu"),
        "source": c.source,
        "as_of": c.as_of,
        "notes": " ".join(c.notes) or "",
    }
    lines = [
        f"# Calibration of {i.device_name}, written by `xpuplan calibrate` (docs/calibration.md).",
        "# Peaks are measured achievable rates unless given as nominal figures (see [provenance]).",
        *(f"{_key(k)} = {toml_value(v)}" for k, v in head.items()),
        "",
        *_table("peak_tflops", tera),
        *_table("memory", {"capacity_gib": i.memory_bytes / 2**30, "bandwidth_tbyte_s": c.mem_bw / 1e12}),
    ]
    if c.link_bw is not None:
        lines += _table("scale_up", {"link_gbyte_s": c.link_bw / 1e9, "tech": "measured bus bandwidth"})
    eff_src = "fitted by xpuplan calibrate from the measurements in [calibration] (docs/calibration.md)"
    lines += _table("efficiency", {**c.efficiency, "source": eff_src, "as_of": c.as_of})
    prov = {k: {"source": c.source, "as_of": c.as_of, "note": note} for k, note in c.provenance.items()}
    lines += _table("provenance", prov)
    lines += _table("calibration", _raw(c))
    return "\n".join(lines)


def _raw(c: Calibration) -> dict[str, Any]:
    """The measurements and fits, for the record (the catalog loader ignores this table)."""
    m = c.measurements.to_dict()
    fits = c.fits.to_dict()
    return {
        "backend": c.info.backend,
        "device": c.info.device,
        "versions": c.info.versions,
        "wall_s": m["wall_s"],
        "fit_matmul": list(fits["matmul"].values()),
        "stream_bw_gbyte_s": fits["stream_bw"] / 1e9,
        "decode_bw_gbyte_s": None if fits["decode_bw"] is None else fits["decode_bw"] / 1e9,
        "fit_collectives": fits["collectives"] or None,
        "matmul": m["matmul"],
        "decode": m["decode"],
        "stream": m["stream"],
        "attention": m["attention"] or None,
        "collectives": m["collectives"] or None,
    }

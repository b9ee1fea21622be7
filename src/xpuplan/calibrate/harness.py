"""Measure → fit → chip record: what ``xpuplan calibrate`` runs."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

from xpuplan.calibrate.backend import STREAM_KINDS, Backend
from xpuplan.calibrate.bench import QUICK, Measurements, Progress, Suite, measure
from xpuplan.calibrate.fit import fit_all
from xpuplan.calibrate.profile import Calibration, DeviceInfo, Nominal, build_calibration
from xpuplan.datafiles import write_text
from xpuplan.errors import InputError, MeasurementError

_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

STABLE_TOLERANCE = 0.10  # a re-measured reference figure must agree with the suite's within 10%
STABLE_TRIES = 4  # re-measurements before the machine is called too busy
MAX_FIT_RMS = 0.25  # a GEMM curve missing its own points by more (relative rms) is not written


def describe(backend: Backend) -> DeviceInfo:
    return DeviceInfo(
        backend=backend.name,
        device=backend.device,
        device_name=backend.device_name(),
        category=backend.category(),
        versions=backend.versions(),
        memory_bytes=backend.memory_bytes(),
    )


def calibrate(
    backend: Backend,
    suite: Suite = QUICK,
    chip_id: str = "local",
    nominal: Nominal | None = None,
    collectives: bool = True,
    progress: Progress | None = None,
    as_of: str | None = None,
) -> Calibration:
    """Measure ``backend`` with ``suite`` and fit a chip record named ``chip_id``."""
    if not _ID.match(chip_id):
        raise InputError(
            f"bad chip id '{chip_id}'", "Use lower case letters, digits, '.' and '-', e.g. local"
        )
    meas = measure(backend, suite, collectives, progress)
    fits = fit_all(meas)
    for c in fits.curves.values():
        if c.rms > MAX_FIT_RMS:
            raise MeasurementError(
                f"the {c.dtype} GEMM timings do not follow a curve: the fit misses them by "
                f"{c.rms:.0%} rms, more than the {MAX_FIT_RMS:.0%} a calibration may",
                "The machine is too busy to measure: close other programs and run it again",
            )
    notes = settle(backend, suite, meas)
    meas = replace(meas, notes=[*meas.notes, *notes])
    today = as_of or dt.date.today().isoformat()
    return build_calibration(describe(backend), meas, fits, chip_id, nominal or Nominal(), today)


def _reference(meas: Measurements, n: int) -> dict[str, float]:
    """The figures the fit leans on most: the largest square GEMM's rate per dtype, best STREAM."""
    out = {f"{s.dtype} GEMM {n}³": s.rate for s in meas.matmul if (s.m, s.n, s.k) == (n, n, n)}
    out["STREAM"] = max(s.bytes_per_s for s in meas.stream)
    return out


def settle(backend: Backend, suite: Suite, meas: Measurements) -> list[str]:
    """Measure the reference figures again until a re-measurement agrees with the suite's
    (within :data:`STABLE_TOLERANCE`): on a busy machine they wander, and a calibration from
    wandering figures would be a guess. After :data:`STABLE_TRIES` disagreeing tries:
    :class:`MeasurementError` (nothing is written)."""
    n = max(suite.squares)
    ref = _reference(meas, n)
    worst = ""
    for i in range(1, STABLE_TRIES + 1):
        again = {
            f"{dt} GEMM {n}³": 2.0 * n**3 / backend.matmul(n, n, n, dt, suite.repeats)
            for dt in backend.dtypes()
        }
        again["STREAM"] = max(backend.stream(k, suite.stream_bytes, suite.repeats) for k in STREAM_KINDS)
        off = {k: abs(again[k] / v - 1.0) for k, v in ref.items() if k in again}
        if all(x <= STABLE_TOLERANCE for x in off.values()):
            return [] if i == 1 else [f"reference figures agreed on re-measurement {i} of {STABLE_TRIES}"]
        k = max(off, key=lambda x: off[x])
        worst = f"{k}: {ref[k]:.3g} in the suite, {again[k]:.3g} measured again ({off[k]:.0%} apart)"
    raise MeasurementError(
        f"the figures did not settle in {STABLE_TRIES} re-measurements ({worst})",
        "The machine is too busy to measure: close other programs and run it again",
    )


def write_calibration(cal: Calibration, path: Path) -> Path:
    """Write the calibration file safely (:func:`xpuplan.datafiles.write_text`: a regular file
    or a new path, a temporary file renamed over the target)."""
    return write_text(path, cal.to_toml())

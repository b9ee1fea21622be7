"""Measure → fit → chip record: what ``xpuplan calibrate`` runs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from xpuplan.calibrate.backend import Backend
from xpuplan.calibrate.bench import QUICK, Progress, Suite, measure
from xpuplan.calibrate.fit import fit_all
from xpuplan.calibrate.profile import Calibration, DeviceInfo, Nominal, build_calibration
from xpuplan.datafiles import write_text
from xpuplan.errors import InputError

_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


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
    today = as_of or dt.date.today().isoformat()
    return build_calibration(describe(backend), meas, fit_all(meas), chip_id, nominal or Nominal(), today)


def write_calibration(cal: Calibration, path: Path) -> Path:
    """Write the calibration file safely (:func:`xpuplan.datafiles.write_text`: a regular file
    or a new path, a temporary file renamed over the target)."""
    return write_text(path, cal.to_toml())

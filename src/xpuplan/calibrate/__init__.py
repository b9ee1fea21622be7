"""Calibration on real hardware (issue 8): measures a device and writes a calibration file in the
catalog schema. Never imports perf; the planner compares predictions with real runs
(:mod:`xpuplan.validation.calibration_check`)."""

from xpuplan.calibrate.backend import (
    BACKENDS,
    Backend,
    BackendMissingError,
    CollectiveSample,
    DecodeSpec,
    TrainSpec,
    get_backend,
)
from xpuplan.calibrate.bench import FULL, QUICK, Measurements, Suite, measure
from xpuplan.calibrate.fake import FakeBackend
from xpuplan.calibrate.fit import Fits, fit_all
from xpuplan.calibrate.harness import calibrate, describe, write_calibration
from xpuplan.calibrate.profile import Calibration, Nominal, parse_peaks
from xpuplan.calibrate.runs import RunTimes, model_dict, run_real

__all__ = [
    "BACKENDS",
    "FULL",
    "QUICK",
    "Backend",
    "BackendMissingError",
    "Calibration",
    "CollectiveSample",
    "DecodeSpec",
    "FakeBackend",
    "Fits",
    "Measurements",
    "Nominal",
    "RunTimes",
    "Suite",
    "TrainSpec",
    "calibrate",
    "describe",
    "fit_all",
    "get_backend",
    "measure",
    "model_dict",
    "parse_peaks",
    "run_real",
    "write_calibration",
]

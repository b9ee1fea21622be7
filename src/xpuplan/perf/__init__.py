"""Performance model: training step time, memory, collectives (scalars or arrays)."""

from xpuplan.perf.estimate import TrainEstimate, default_system, estimate_train, machine
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, default_params
from xpuplan.perf.train import MEM_PARTS, TIME_PARTS, TrainArrays, evaluate_train

__all__ = [
    "MEM_PARTS",
    "TIME_PARTS",
    "Machine",
    "PerfParams",
    "TrainArrays",
    "TrainEstimate",
    "default_params",
    "default_system",
    "estimate_train",
    "evaluate_train",
    "machine",
]

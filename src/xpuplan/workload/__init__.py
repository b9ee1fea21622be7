"""Workloads: transformer shapes, their arithmetic, and the jobs run on them."""

from xpuplan.workload.library import get_model, load_hf_config, model_from_hf_config, model_library
from xpuplan.workload.model import (
    BYTES_PER_VALUE,
    FfnType,
    Mla,
    Model,
    Moe,
    Norm,
    Position,
    StateBytes,
    state_bytes,
)

__all__ = [
    "BYTES_PER_VALUE",
    "FfnType",
    "Mla",
    "Model",
    "Moe",
    "Norm",
    "Position",
    "StateBytes",
    "get_model",
    "load_hf_config",
    "model_from_hf_config",
    "model_library",
    "state_bytes",
]

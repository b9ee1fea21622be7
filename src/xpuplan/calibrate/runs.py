"""Real runs: the small GPT's shapes as a model-file mapping, and the measured step times.

``model_dict`` describes exactly the network :mod:`xpuplan.calibrate.torch_runs` builds (GPT-2
style), in the keys of a model file (``docs/models.md``), so the planner can predict the same run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from xpuplan.calibrate.backend import Backend, DecodeSpec, TrainSpec
from xpuplan.calibrate.timing import Contention
from xpuplan.datafiles import as_dict

QUICK_TRAIN = TrainSpec(steps=5, warmup=2)
FULL_TRAIN = TrainSpec(steps=10, warmup=3)
QUICK_DECODE = DecodeSpec(new=24)
FULL_DECODE = DecodeSpec(new=64)


def model_dict(spec: TrainSpec | DecodeSpec, as_of: str) -> dict[str, Any]:
    """The GPT of ``spec`` as a model-file mapping (for ``workload.library.model_from_dict``)."""
    ctx = spec.seq if isinstance(spec, TrainSpec) else spec.prompt + spec.new
    return {
        "id": f"calibration-gpt-{spec.layers}x{spec.hidden}",
        "name": f"calibration GPT ({spec.layers} layers, hidden {spec.hidden})",
        "source": "xpuplan.calibrate.torch_runs (GPT-2 style, Radford et al. 2019)",
        "as_of": as_of,
        "layers": spec.layers,
        "hidden": spec.hidden,
        "heads": spec.heads,
        "kv_heads": spec.heads,
        "head_dim": spec.hidden // spec.heads,
        "ffn": 4 * spec.hidden,
        "ffn_type": "gelu_mlp",
        "vocab": spec.vocab,
        "max_seq_len": ctx,
        "tied_embeddings": True,
        "norm": "layernorm",
        "position": "learned",
        "linear_bias": True,
    }


@dataclass(frozen=True)
class RunTimes:
    """Measured step times of the real runs, seconds."""

    train: list[float]
    decode: list[float]
    notes: list[str] = field(default_factory=list)

    @property
    def train_median_s(self) -> float:
        return statistics.median(self.train)

    @property
    def decode_median_s(self) -> float:
        return statistics.median(self.decode)

    def to_dict(self) -> dict[str, Any]:
        keys = ("train", "decode", "train_median_s", "decode_median_s", "notes")
        return as_dict(self, *keys, rename={"train": "train_step_s", "decode": "decode_step_s"})


def run_real(backend: Backend, train: TrainSpec, decode: DecodeSpec) -> RunTimes:
    """Train and decode the small GPT on the backend; every timed step is kept."""
    with Contention() as busy:
        times = RunTimes(backend.train_steps(train), backend.decode_steps(decode))
    note = busy.note("real runs")
    return RunTimes(times.train, times.decode, [note] if note else [])

"""The one seam between calibration and a real device: the :class:`Backend` protocol.

A backend measures; it never fits or predicts. Every measurement returns SI (seconds, bytes/s).
Backends for optional frameworks import them lazily and raise :class:`BackendMissingError` with the
install command when they are absent, so ``import xpuplan.calibrate`` never needs torch or JAX.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from xpuplan.errors import InputError, XpuplanError

# Collective operations, named as in NCCL / torch.distributed.
COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
# Streaming kernels (STREAM, McCalpin 1995): copy a→b (2 arrays moved), triad a = b + s·c (3).
STREAM_KINDS = ("copy", "triad")
# Bytes per value of the matmul formats.
BYTES = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1}


def ring_terms(op: str, n: int) -> tuple[float, float]:
    """(bandwidth coefficient, latency steps) of a ring / tree collective over ``n`` ranks, as in
    :mod:`xpuplan.perf.collectives` (all-reduce moves ``2(n-1)/n·S``, the others ``(n-1)/n·S``)."""
    hops = math.ceil(math.log2(max(n, 1)))
    if op == "all_reduce":
        return 2.0 * (n - 1) / n, 2.0 * hops
    return (n - 1) / n, float(hops)


class BackendMissingError(InputError):
    """The framework a backend needs is not installed (or sees no such device)."""


def import_backend(name: str, hint: str, *modules: str) -> list[Any]:
    """The ``modules`` backend ``name`` needs, imported; without one, a :class:`BackendMissingError`
    saying that the backend is not installed and how to install it (``hint``)."""
    try:
        return [importlib.import_module(m) for m in modules]
    except ImportError as e:
        raise BackendMissingError(f"backend {name} is not installed", hint) from e


class MeasurementError(XpuplanError):
    """A measurement failed on the device (a worker process died, a kernel raised)."""


@dataclass(frozen=True, slots=True)
class CollectiveSample:
    """One collective: ``op`` over ``ranks`` processes/devices on ``nbytes`` (the full tensor)."""

    op: str
    ranks: int
    nbytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class TinyGpt:
    """The shape of the small GPT-2-style model a calibration run times (``runs.py`` writes it as
    a model record)."""

    layers: int = 4
    hidden: int = 256
    heads: int = 4
    vocab: int = 512


@dataclass(frozen=True, slots=True)
class TrainSpec(TinyGpt):
    """The model trained with Adam (one micro-batch of ``batch`` sequences of ``seq`` tokens)."""

    seq: int = 128
    batch: int = 8
    steps: int = 6  # timed steps (median reported)
    warmup: int = 2
    precision: str = "fp32"  # fp32, or bf16 (autocast mixed precision: bf16 matmuls, fp32 Adam)


@dataclass(frozen=True, slots=True)
class DecodeSpec(TinyGpt):
    """Greedy decoding with a KV cache: ``batch`` sequences, ``prompt`` tokens in, ``new`` out, on
    a wider model than training's."""

    hidden: int = 1024
    heads: int = 16
    batch: int = 4
    prompt: int = 64
    new: int = 32  # timed decode steps (median reported)


@runtime_checkable
class Backend(Protocol):
    """What calibration needs from a device. Times are medians of repeated, warmed-up runs."""

    name: str  # numpy | torch | jax | neuron | fake
    device: str  # cpu | cuda | mps | tpu | ... (the framework's device string)

    def device_name(self) -> str:
        """Human name of the device (CPU model, GPU name)."""
        ...

    def category(self) -> str:
        """Catalog chip category: cpu | gpu | tpu | npu | soc."""
        ...

    def versions(self) -> dict[str, str]:
        """Software versions that shape the result (framework, BLAS, driver)."""
        ...

    def memory_bytes(self) -> float:
        """Device memory capacity, bytes (host RAM for a CPU)."""
        ...

    def dtypes(self) -> tuple[str, ...]:
        """Matmul number formats this backend can time on this device (catalog dtype names)."""
        ...

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        """Seconds for one ``(m×k)·(k×n)`` product."""
        ...

    def stream(self, kind: str, nbytes: int, repeats: int) -> float:
        """Bytes/s of a STREAM kernel (``copy`` or ``triad``) on arrays of ``nbytes`` each."""
        ...

    def weights_stream(self, batch: int, rows: int, cols: int, count: int, repeats: int) -> float:
        """Bytes/s of fp32 weights streamed by decode-shaped GEMMs: ``batch`` activation rows
        times ``count`` distinct ``rows×cols`` weight matrices in turn (as ``nn.Linear`` holds
        them), so the weights together exceed the caches, as a decode step's do."""
        ...

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        """Seconds for one causal fused-attention forward in bf16 (None: no fused kernel here)."""
        ...

    def collective_ranks(self) -> int:
        """Processes or devices a collective can span here (1: collectives are not measured)."""
        ...

    def collectives(self, ops: Sequence[str], sizes: Sequence[int], repeats: int) -> list[CollectiveSample]:
        """Time every op at every size over :meth:`collective_ranks` ranks."""
        ...

    def train_steps(self, spec: TrainSpec) -> list[float]:
        """Seconds of each timed training step of the small GPT."""
        ...

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        """Seconds of each timed decode step (one token for every sequence of the batch)."""
        ...


BackendFactory = Callable[[str | None], Backend]


def _numpy(device: str | None) -> Backend:
    from xpuplan.calibrate.numpy_backend import NumpyBackend

    return NumpyBackend(device)


def _torch(device: str | None) -> Backend:
    from xpuplan.calibrate.torch_backend import TorchBackend

    return TorchBackend(device)


def _jax(device: str | None) -> Backend:
    from xpuplan.calibrate.optional import JaxBackend

    return JaxBackend(device)


def _neuron(device: str | None) -> Backend:
    from xpuplan.calibrate.optional import NeuronBackend

    return NeuronBackend(device)


def _fake(device: str | None) -> Backend:
    from xpuplan.calibrate.fake import FakeBackend

    return FakeBackend()


# An explicit registry: a name maps to a factory; a typo fails here, not deep in a measurement.
BACKENDS: dict[str, BackendFactory] = {
    "numpy": _numpy,
    "torch": _torch,
    "jax": _jax,
    "neuron": _neuron,
    "fake": _fake,
}


def get_backend(name: str = "auto", device: str | None = None) -> Backend:
    """A backend by name. ``auto``: torch where installed, else numpy."""
    from xpuplan.errors import UnknownNameError

    key = name.strip().lower()
    if key == "auto":
        try:
            return _torch(device)
        except BackendMissingError:
            return _numpy(device)
    if key not in BACKENDS:
        raise UnknownNameError("backend", name, [*BACKENDS, "auto"])
    return BACKENDS[key](device)

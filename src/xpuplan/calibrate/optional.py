"""Backends for frameworks this project does not install: JAX (CPU, GPU, TPU) and AWS Neuron
(torch-neuronx on Trainium / Inferentia). Each imports its framework when made and, without it,
raises :class:`BackendMissingError` naming the pip command. Neither is a project dependency nor
exercised in CI (``docs/calibration.md``: JAX was run once on a CPU by hand; Neuron never); both
time matmuls, STREAM, decode-shaped GEMMs and fused attention. Collectives and the real runs need
the torch backend.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from typing import Any

from xpuplan.calibrate.backend import (
    BackendMissingError,
    CollectiveSample,
    DecodeSpec,
    TrainSpec,
    import_backend,
)
from xpuplan.calibrate.numpy_backend import cpu_name, host_memory_bytes
from xpuplan.calibrate.timing import median_seconds, stream_bytes_moved
from xpuplan.calibrate.torch_backend import TorchBackend, import_torch
from xpuplan.errors import InputError

JAX_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _no_runs(name: str) -> InputError:
    return InputError(f"the {name} backend has no model runs", "Use --backend torch for 'calibrate check'")


class JaxBackend:
    """JAX on its default (or the named) platform: cpu, gpu or tpu."""

    name = "jax"

    def __init__(self, device: str | None = None) -> None:
        hint = "pip install jax (CPU), 'jax[cuda12]' or 'jax[tpu]'"
        jax, jnp = import_backend("jax", hint, "jax", "jax.numpy")
        self.jax, self.jnp = jax, jnp
        try:
            devices = jax.devices(device) if device else jax.devices()
        except RuntimeError as e:
            raise BackendMissingError(f"JAX sees no '{device}' device", "Use cpu, gpu or tpu") from e
        self.dev = devices[0]
        self.device = str(self.dev.platform)

    def device_name(self) -> str:
        if self.device == "cpu":
            return f"{cpu_name()} ({os.cpu_count()} threads)"
        return str(getattr(self.dev, "device_kind", self.device))

    def category(self) -> str:
        return {"gpu": "gpu", "tpu": "tpu"}.get(self.device, "cpu")

    def versions(self) -> dict[str, str]:
        import jaxlib

        return {
            "python": platform.python_version(),
            "jax": self.jax.__version__,
            "jaxlib": jaxlib.__version__,
        }

    def memory_bytes(self) -> float:
        stats = getattr(self.dev, "memory_stats", lambda: None)() or {}
        return float(stats.get("bytes_limit") or host_memory_bytes())

    def dtypes(self) -> tuple[str, ...]:
        return ("fp32", "bf16") if self.device != "gpu" else ("fp32", "bf16", "fp16")

    def _arr(self, shape: tuple[int, ...], dtype: str) -> Any:
        x = self.jnp.ones(shape, dtype=getattr(self.jnp, JAX_DTYPES[dtype]))
        return self.jax.device_put(x, self.dev)

    def _time(self, fn: Callable[..., Any], args: Sequence[Any], repeats: int) -> float:
        f = self.jax.jit(fn)
        return median_seconds(lambda: f(*args).block_until_ready(), repeats)

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        return self._time(self.jnp.matmul, (self._arr((m, k), dtype), self._arr((k, n), dtype)), repeats)

    def stream(self, kind: str, nbytes: int, repeats: int) -> float:
        n = max(nbytes // 4, 1)
        b, c = self._arr((n,), "fp32"), self._arr((n,), "fp32")
        if kind == "copy":  # STREAM "scale": copy traffic, and XLA cannot elide it as it may x * 1
            sec = self._time(lambda x: x * 3.0, (b,), repeats)
        else:
            sec = self._time(lambda x, y: x + 3.0 * y, (b, c), repeats)
        return stream_bytes_moved(kind, 4 * n) / sec

    def weights_stream(self, batch: int, rows: int, cols: int, count: int, repeats: int) -> float:
        x = self._arr((batch, cols), "fp32")
        ws = [self._arr((rows, cols), "fp32") * (i + 1) for i in range(count)]  # distinct buffers
        sweep = self.jax.jit(lambda x, ws: [x @ w.T for w in ws])

        def run() -> None:
            for y in sweep(x, ws):
                y.block_until_ready()

        return 4.0 * rows * cols * count / median_seconds(run, repeats)

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        dpa = getattr(self.jax.nn, "dot_product_attention", None)
        if dpa is None:
            return None
        q = self._arr((batch, seq, heads, head_dim), "bf16")
        return self._time(lambda a, b, c: dpa(a, b, c, is_causal=True), (q, q, q), repeats)

    def collective_ranks(self) -> int:
        return 1

    def collectives(self, ops: Sequence[str], sizes: Sequence[int], repeats: int) -> list[CollectiveSample]:
        return []

    def train_steps(self, spec: TrainSpec) -> list[float]:
        raise _no_runs(self.name)

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        raise _no_runs(self.name)


class NeuronBackend(TorchBackend):
    """AWS Trainium / Inferentia through torch-neuronx (torch-xla): lazy tensors, so every timed
    call ends with ``mark_step`` and a wait for the device."""

    name = "neuron"

    def __init__(self, device: str | None = None) -> None:
        hint = "pip install torch-neuronx (on a Trn/Inf instance)"
        _, xm = import_backend("neuron", hint, "torch_neuronx", "torch_xla.core.xla_model")
        self.torch = import_torch()
        self.xm = xm
        self.device = str(xm.xla_device())
        self.kind = "xla"

    def device_name(self) -> str:
        return f"AWS NeuronCore ({self.device})"

    def category(self) -> str:
        return "npu"

    def versions(self) -> dict[str, str]:
        import torch_neuronx

        return {**super().versions(), "torch-neuronx": str(getattr(torch_neuronx, "__version__", "?"))}

    def memory_bytes(self) -> float:
        return host_memory_bytes()

    def dtypes(self) -> tuple[str, ...]:
        return ("fp32", "bf16")

    def sync(self) -> None:
        self.xm.mark_step()
        self.xm.wait_device_ops()

    def collective_ranks(self) -> int:
        return 1

    def train_steps(self, spec: TrainSpec) -> list[float]:
        raise _no_runs(self.name)

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        raise _no_runs(self.name)

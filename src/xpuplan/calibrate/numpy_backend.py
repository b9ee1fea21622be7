"""CPU through NumPy's BLAS: fp32 matmuls and STREAM bandwidth. No fused attention, no collectives,
no model runs (those need the torch backend)."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence

import numpy as np

from xpuplan.calibrate.backend import CollectiveSample, DecodeSpec, TrainSpec
from xpuplan.calibrate.timing import median_seconds, stream_bytes_moved
from xpuplan.errors import InputError


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def host_memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0.0


def blas_name() -> str:
    """The BLAS library NumPy was built with (name and version where NumPy says)."""
    try:
        cfg = np.show_config(mode="dicts")  # type: ignore[func-returns-value]
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown BLAS"


class NumpyBackend:
    """CPU BLAS through NumPy (fp32 only: NumPy has no bf16, and its fp16 matmul skips BLAS)."""

    name = "numpy"

    def __init__(self, device: str | None = None) -> None:
        if device not in (None, "cpu"):
            raise InputError(f"the numpy backend runs on the CPU only, not '{device}'", "Leave --device out")
        self.device = "cpu"
        self._rng = np.random.default_rng(0)

    def device_name(self) -> str:
        return f"{cpu_name()} ({os.cpu_count()} threads)"

    def category(self) -> str:
        return "cpu"

    def versions(self) -> dict[str, str]:
        return {"python": platform.python_version(), "numpy": np.__version__, "blas": blas_name()}

    def memory_bytes(self) -> float:
        return host_memory_bytes()

    def dtypes(self) -> tuple[str, ...]:
        return ("fp32",)

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        if dtype != "fp32":
            raise InputError(f"the numpy backend cannot time {dtype} matmuls", "Use fp32")
        a = self._rng.standard_normal((m, k), dtype=np.float32)
        w = self._rng.standard_normal((n, k), dtype=np.float32)  # (out, in), as nn.Linear holds it
        c = np.empty((m, n), dtype=np.float32)
        return median_seconds(lambda: np.matmul(a, w.T, out=c), repeats)

    def weights_stream(self, batch: int, rows: int, cols: int, count: int, repeats: int) -> float:
        x = self._rng.standard_normal((batch, cols), dtype=np.float32)
        ws = [np.full((rows, cols), 0.5, dtype=np.float32) for _ in range(count)]
        c = np.empty((batch, rows), dtype=np.float32)

        def sweep() -> None:
            for w in ws:
                np.matmul(x, w.T, out=c)

        return 4.0 * rows * cols * count / median_seconds(sweep, repeats)

    def stream(self, kind: str, nbytes: int, repeats: int) -> float:
        n = max(nbytes // 4, 1)
        a, b, c = (np.full(n, v, dtype=np.float32) for v in (1.0, 2.0, 0.5))
        if kind == "copy":
            t = median_seconds(lambda: np.copyto(b, a), repeats, warmup=3)
            return stream_bytes_moved("copy", 4 * n) / t

        def triad() -> None:  # NumPy has no fused triad: two passes, 5 arrays of traffic
            np.multiply(c, 3.0, out=a)
            np.add(a, b, out=a)

        t = median_seconds(triad, repeats, warmup=3)
        return 5.0 * 4 * n / t

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        return None

    def collective_ranks(self) -> int:
        return 1

    def collectives(self, ops: Sequence[str], sizes: Sequence[int], repeats: int) -> list[CollectiveSample]:
        return []

    def train_steps(self, spec: TrainSpec) -> list[float]:
        raise InputError("the numpy backend cannot run a model", "Use --backend torch (pip install torch)")

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        raise InputError("the numpy backend cannot run a model", "Use --backend torch (pip install torch)")

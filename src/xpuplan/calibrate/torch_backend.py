"""PyTorch on the CPU, CUDA, ROCm (torch's ``cuda`` device on a HIP build) or Apple MPS.

Optional: torch is imported when the backend is made, and its absence is a
:class:`~xpuplan.calibrate.backend.BackendMissingError` with the install command.
"""

from __future__ import annotations

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

INSTALL_HINT = "pip install 'xpuplan[calibrate]' (torch==2.13.0, the CPU build) or a torch for your GPU"


def import_torch() -> Any:
    (torch,) = import_backend("torch", INSTALL_HINT, "torch")
    return torch


def resolve_device(torch: Any, device: str | None) -> str:
    """``None``: the best device present (cuda, then mps, then cpu); ``rocm`` is torch's ``cuda``."""
    if device is None:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    dev = "cuda" if device.lower() in ("rocm", "gpu") else device.lower()
    kind = dev.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise BackendMissingError(f"torch sees no CUDA/ROCm device for '{device}'", "Use --device cpu")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise BackendMissingError("torch sees no Apple MPS device", "Use --device cpu")
    if kind not in ("cpu", "cuda", "mps"):
        raise BackendMissingError(f"unknown torch device '{device}'", "Use cpu, cuda, rocm or mps")
    return dev


TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class TorchBackend:
    """Matmuls, STREAM, fused attention (SDPA), torch.distributed collectives and the real runs."""

    name = "torch"

    def __init__(self, device: str | None = None) -> None:
        self.torch = import_torch()
        self.device = resolve_device(self.torch, device)
        self.kind = self.device.split(":")[0]

    # ---- description -------------------------------------------------------------------------

    def device_name(self) -> str:
        t = self.torch
        if self.kind == "cuda":
            return str(t.cuda.get_device_name(self.device))
        if self.kind == "mps":
            return f"Apple GPU (MPS) on {platform.machine()}"
        return f"{cpu_name()} ({t.get_num_threads()} threads)"

    def category(self) -> str:
        return {"cuda": "gpu", "mps": "soc"}.get(self.kind, "cpu")

    def versions(self) -> dict[str, str]:
        t = self.torch
        v = {"python": platform.python_version(), "torch": str(t.__version__)}
        if self.kind == "cuda":
            hip = getattr(t.version, "hip", None)
            v["hip" if hip else "cuda"] = str(hip or t.version.cuda)
        return v

    def memory_bytes(self) -> float:
        if self.kind == "cuda":
            return float(self.torch.cuda.get_device_properties(self.device).total_memory)
        return host_memory_bytes()

    def dtypes(self) -> tuple[str, ...]:
        if self.kind == "cuda":
            bf16 = ("bf16",) if self.torch.cuda.is_bf16_supported() else ()
            return ("fp32", "tf32", *bf16, "fp16")
        if self.kind == "mps":
            return ("fp32", "fp16")
        return ("fp32", "bf16")

    # ---- microbenchmarks ---------------------------------------------------------------------

    def sync(self) -> None:
        if self.kind == "cuda":
            self.torch.cuda.synchronize()
        elif self.kind == "mps":
            self.torch.mps.synchronize()

    def _time(self, fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
        with self.torch.no_grad():
            return median_seconds(fn, repeats, sync=self.sync, warmup=warmup)

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        t = self.torch
        dt = getattr(t, TORCH_DTYPES[dtype])
        a = t.randn(m, k, device=self.device, dtype=dt)
        w = t.randn(n, k, device=self.device, dtype=dt)  # (out, in), as nn.Linear holds it
        linear = t.nn.functional.linear
        tf32 = t.backends.cuda.matmul.allow_tf32
        t.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        try:
            return self._time(lambda: linear(a, w), repeats)
        finally:
            t.backends.cuda.matmul.allow_tf32 = tf32

    def weights_stream(self, batch: int, rows: int, cols: int, count: int, repeats: int) -> float:
        t = self.torch
        x = t.randn(batch, cols, device=self.device)
        ws = [t.full((rows, cols), 0.5, device=self.device) for _ in range(count)]
        linear = t.nn.functional.linear

        def sweep() -> None:
            for w in ws:
                linear(x, w)

        return 4.0 * rows * cols * count / self._time(sweep, repeats)

    def stream(self, kind: str, nbytes: int, repeats: int) -> float:
        t = self.torch
        n = max(nbytes // 4, 1)
        a, b, c = (t.full((n,), v, device=self.device, dtype=t.float32) for v in (1.0, 2.0, 0.5))
        if kind == "copy":
            sec = self._time(lambda: b.copy_(a), repeats, warmup=3)
        else:
            sec = self._time(lambda: t.add(b, c, alpha=3.0, out=a), repeats, warmup=3)
        return stream_bytes_moved(kind, 4 * n) / sec

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        t = self.torch
        sdpa = t.nn.functional.scaled_dot_product_attention
        q, k, v = (
            t.randn(batch, heads, seq, head_dim, device=self.device, dtype=t.bfloat16) for _ in range(3)
        )
        return self._time(lambda: sdpa(q, k, v, is_causal=True), repeats)

    # ---- collectives and real runs -----------------------------------------------------------

    def collective_ranks(self) -> int:
        dist = self.torch.distributed
        if not dist.is_available():
            return 1
        if self.kind == "cpu":
            return 2 if dist.is_gloo_available() else 1
        if self.kind == "cuda" and dist.is_nccl_available():
            return int(self.torch.cuda.device_count())
        return 1

    def collectives(self, ops: Sequence[str], sizes: Sequence[int], repeats: int) -> list[CollectiveSample]:
        from xpuplan.calibrate.torch_collectives import run_collectives

        ranks = self.collective_ranks()
        if ranks < 2:
            return []
        return run_collectives(self.kind, ranks, list(ops), list(sizes), repeats)

    def train_steps(self, spec: TrainSpec) -> list[float]:
        from xpuplan.calibrate.torch_runs import train_steps

        return train_steps(self.device, self.sync, spec)

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        from xpuplan.calibrate.torch_runs import decode_steps

        return decode_steps(self.device, self.sync, spec)

"""Collectives over real processes with torch.distributed: gloo between CPU processes, NCCL (RCCL on
ROCm) between GPUs. The worker processes meet through a file store, so nothing listens on a port."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xpuplan.calibrate.backend import CollectiveSample, MeasurementError


def _op(dist: Any, torch: Any, op: str, x: Any, world: int) -> Callable[[], object]:
    """The collective ``op`` on tensor ``x`` (the full, unsharded size), output buffers made once."""
    if op == "all_reduce":
        return lambda: dist.all_reduce(x)
    if op == "all_gather":
        shard = x[: x.numel() // world]
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        return lambda: gather(x, shard)
    if op == "reduce_scatter":
        out = torch.empty(x.numel() // world, dtype=x.dtype, device=x.device)
        scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
        return lambda: scatter(out, x)
    out_a2a = torch.empty_like(x)
    return lambda: dist.all_to_all_single(out_a2a, x)


def _time_op(dist: Any, fn: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    for _ in range(2):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _worker(
    rank: int, world: int, kind: str, store: str, ops: list[str], sizes: list[int], repeats: int
) -> list:
    import torch
    import torch.distributed as dist

    if kind == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        device, backend, sync = torch.device("cpu"), "gloo", lambda: None
    else:
        torch.cuda.set_device(rank)
        device, backend, sync = torch.device("cuda", rank), "nccl", torch.cuda.synchronize
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world)
    out = []
    try:
        for op in ops:
            for size in sizes:
                n = max(size // 4 // world, 1) * world  # float32 values, divisible by the ranks
                x = torch.ones(n, dtype=torch.float32, device=device)
                sec = _time_op(dist, _op(dist, torch, op, x, world), sync, repeats)
                out.append((op, world, 4 * n, sec))
    finally:
        dist.destroy_process_group()
    return out


def run_collectives(
    kind: str, world: int, ops: list[str], sizes: list[int], repeats: int, timeout_s: float = 600.0
) -> list[CollectiveSample]:
    """Start ``world`` worker processes (``python -m`` this module, so no caller's ``__main__`` is
    re-imported); rank 0 reports the median time of every op at every size."""
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        procs = []
        for rank in range(world):
            args = json.dumps([rank, world, kind, store, ops, sizes, repeats])
            cmd = [sys.executable, "-m", "xpuplan.calibrate.torch_collectives", args]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [p.communicate(timeout=timeout_s) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        if p.returncode != 0:
            tail = err.strip().splitlines()[-1:] or ["no message"]
            raise MeasurementError(f"a collective worker failed ({tail[0]})", "Run with --no-collectives")
    return [CollectiveSample(op, w, nbytes, sec) for op, w, nbytes, sec in json.loads(results[0][0])]


if __name__ == "__main__":
    print(json.dumps(_worker(*json.loads(sys.argv[1]))))

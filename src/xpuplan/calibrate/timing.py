"""Timing: warm up, then the median of repeated runs (robust to the odd scheduler stall).

Each sample times one call, so a stall (a thread woken late, a page fault) spoils one sample, not
all; the median then ignores it. Tiny kernels take more samples within a small time budget.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def _noop() -> None:
    return None


def median_seconds(
    fn: Callable[[], object],
    repeats: int = 5,
    sync: Callable[[], None] = _noop,
    warmup: int = 2,
    budget_s: float = 1.0,
    min_time_s: float = 0.02,
) -> float:
    """Median wall time of ``fn()`` (followed by ``sync()``, for asynchronous devices).

    Takes at least ``repeats`` samples (at least 3 once ``budget_s`` is spent) and keeps sampling
    until ``min_time_s`` has passed, so microsecond kernels get many samples.
    """
    for _ in range(max(warmup, 0)):
        fn()
        sync()
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        enough = len(samples) >= repeats and spent >= min_time_s
        if enough or (spent >= budget_s and len(samples) >= 3) or len(samples) >= 10_000:
            break
    return statistics.median(samples)


def _busy_jiffies() -> int | None:
    """CPU time all processes spent busy, in clock ticks (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # all but idle, iowait


class Contention:
    """How much CPU *other* processes used while a measurement ran: a shared machine's neighbours
    slow a benchmark down, and the figures should say so. Linux only (elsewhere: None)."""

    def __enter__(self) -> Contention:
        self.busy0 = _busy_jiffies()
        self.own0 = sum(os.times()[:4])
        self.t0 = time.perf_counter()
        self.fraction: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        busy1 = _busy_jiffies()
        if self.busy0 is None or busy1 is None:
            return
        tick = os.sysconf("SC_CLK_TCK")
        others = (busy1 - self.busy0) / tick - (sum(os.times()[:4]) - self.own0)
        wall = time.perf_counter() - self.t0
        if wall >= 0.5:  # /proc/stat counts 10 ms ticks: shorter windows say nothing
            self.fraction = min(max(others, 0.0) / (wall * (os.cpu_count() or 1)), 1.0)

    def note(self, what: str, threshold: float = 0.1) -> str | None:
        """A warning when other processes took more than ``threshold`` of the CPUs."""
        if self.fraction is None or self.fraction <= threshold:
            return None
        return f"other processes used {self.fraction:.0%} of the CPUs during the {what}: figures may be low"


def stream_bytes_moved(kind: str, nbytes: int) -> int:
    """Bytes a STREAM kernel moves, STREAM's convention: copy reads one array and writes one
    (2×), triad reads two and writes one (3×); write-allocate traffic is not counted."""
    return {"copy": 2, "triad": 3}[kind] * nbytes

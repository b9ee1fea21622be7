"""Microbenchmarks: matmul over shapes and dtypes, STREAM bandwidth, decode-shaped GEMMs, fused
attention, and collectives over message sizes. ``QUICK`` keeps a 2-core CPU under ~20 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xpuplan.calibrate.backend import COLLECTIVE_OPS, STREAM_KINDS, Backend, CollectiveSample
from xpuplan.calibrate.timing import Contention

Progress = Callable[[int, int], None]
MIB = 2**20


@dataclass(frozen=True)
class Suite:
    """What to measure. Shapes are (m, n, k); attention shapes (batch, heads, seq, head_dim)."""

    squares: tuple[int, ...]  # n×n×n GEMMs: the shape-efficiency curve
    skinny: tuple[tuple[int, int, int], ...]  # unequal GEMMs: the curve follows the smallest side
    decode: tuple[int, int, int, int]  # decode-shaped GEMMs: (batch, rows, cols, matrices)
    stream_bytes: int  # per STREAM array, beyond the last-level cache
    attention: tuple[tuple[int, int, int, int], ...]
    collective_bytes: tuple[int, ...]
    repeats: int


QUICK = Suite(
    squares=(32, 64, 128, 256, 512, 1024),
    skinny=((2048, 1024, 256), (4096, 256, 512)),
    decode=(4, 4096, 1024, 16),  # 16 × 16 MiB of fp32 weights
    stream_bytes=256 * MIB,
    attention=((8, 4, 128, 64), (2, 4, 512, 64), (1, 8, 1024, 64)),
    collective_bytes=(4096, 64 * 1024, MIB, 8 * MIB),
    repeats=5,
)
FULL = Suite(
    squares=(32, 64, 128, 256, 384, 512, 768, 1024, 2048, 4096),
    skinny=((4096, 1024, 256), (8192, 256, 1024), (4096, 4096, 512), (1024, 8192, 8192)),
    decode=(4, 4096, 1024, 32),
    stream_bytes=512 * MIB,
    attention=((8, 8, 128, 64), (4, 8, 512, 64), (2, 16, 1024, 128), (1, 16, 4096, 128)),
    collective_bytes=(4096, 64 * 1024, MIB, 8 * MIB, 64 * MIB),
    repeats=15,
)


@dataclass(frozen=True, slots=True)
class MatmulSample:
    m: int
    n: int
    k: int
    dtype: str
    seconds: float

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    @property
    def rate(self) -> float:
        """Achieved FLOP/s."""
        return self.flops / self.seconds

    @property
    def nmin(self) -> int:
        return min(self.m, self.n, self.k)


@dataclass(frozen=True, slots=True)
class StreamSample:
    kind: str
    nbytes: int  # per array
    bytes_per_s: float


@dataclass(frozen=True, slots=True)
class DecodeStreamSample:
    """``batch`` rows times ``count`` distinct ``rows×cols`` fp32 weight matrices in turn."""

    batch: int
    rows: int
    cols: int
    count: int
    bytes_per_s: float  # weights streamed


@dataclass(frozen=True, slots=True)
class AttentionSample:
    batch: int
    heads: int
    seq: int
    head_dim: int
    seconds: float

    @property
    def flops(self) -> float:
        """Causal forward FLOPs of QKᵀ and A·V: ``(s+1)/2`` keys per query (as the model counts)."""
        return self.batch * self.seq * 2.0 * self.heads * (self.seq + 1) * self.head_dim


@dataclass(frozen=True)
class Measurements:
    """Everything one calibration measured, in SI."""

    matmul: list[MatmulSample]
    decode: DecodeStreamSample | None
    stream: list[StreamSample]
    attention: list[AttentionSample]
    collectives: list[CollectiveSample]
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "matmul": [{**_row(s), "tflop_s": s.rate / 1e12} for s in self.matmul],
            "decode": None if self.decode is None else _row(self.decode),
            "stream": [_row(s) for s in self.stream],
            "attention": [_row(s) for s in self.attention],
            "collectives": [_row(s) for s in self.collectives],
            "wall_s": self.wall_s,
            "notes": self.notes,
        }


def _row(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


def _matmul_jobs(b: Backend, suite: Suite) -> list[tuple[int, int, int, str]]:
    shapes = [(n, n, n) for n in suite.squares] + list(suite.skinny)
    return [(m, n, k, dt) for dt in b.dtypes() for (m, n, k) in shapes]


def measure(
    backend: Backend, suite: Suite = QUICK, collectives: bool = True, progress: Progress | None = None
) -> Measurements:
    """Run every microbenchmark of ``suite`` on ``backend``; ``progress(done, total)`` after each."""
    t0 = time.perf_counter()
    jobs = _matmul_jobs(backend, suite)
    do_coll = collectives and backend.collective_ranks() > 1
    total = len(jobs) + 1 + len(STREAM_KINDS) + len(suite.attention) + int(do_coll)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with Contention() as busy:
        mm = []
        for m, n, k, dt in jobs:
            mm.append(MatmulSample(m, n, k, dt, backend.matmul(m, n, k, dt, suite.repeats)))
            tick()
        decode = DecodeStreamSample(*suite.decode, backend.weights_stream(*suite.decode, suite.repeats))
        tick()
        streams = []
        for kind in STREAM_KINDS:
            streams.append(
                StreamSample(
                    kind, suite.stream_bytes, backend.stream(kind, suite.stream_bytes, suite.repeats)
                )
            )
            tick()
        attn = []
        for shape in suite.attention:
            sec = backend.attention(*shape, suite.repeats)
            if sec is not None:
                attn.append(AttentionSample(*shape, sec))
            tick()
    notes = [n for n in [busy.note("microbenchmarks")] if n]
    coll: list[CollectiveSample] = []
    if do_coll:
        coll = backend.collectives(COLLECTIVE_OPS, suite.collective_bytes, suite.repeats)
        tick()
    elif collectives:
        notes.append("collectives not measured: one device or process here")
    return Measurements(mm, decode, streams, attn, coll, time.perf_counter() - t0, notes)

"""Fit the measurements to the parameters the performance model uses.

* GEMM shape curve: the model prices a GEMM of smallest dimension ``n`` at ``R·n/(n+knee)``
  (``perf/train.py``). Then ``1/rate = 1/R + (knee/R)·(1/n)`` is a line in ``1/n``: a weighted
  least-squares fit (weights make the residuals relative) gives ``R`` and ``knee`` in closed form.
* Fused attention: the model prices the causal forward at ``A·P_bf16·q/(q+128)``
  (FlashAttention's 128-query tiles); ``A`` is the median over the measured shapes.
* Collectives: ``t = c·S/bw + hops·latency`` with ``c``, ``hops`` of the ring/tree algorithms in
  ``perf/collectives.py``; a relative least-squares line in ``S`` gives ``bw`` and ``latency``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xpuplan.calibrate.backend import ring_terms
from xpuplan.calibrate.bench import AttentionSample, MatmulSample, Measurements
from xpuplan.errors import InputError

ATTENTION_TILE = 128.0  # queries per tile in the model's attention term (perf/train.py)
# GEMMs whose smallest side is below this are recorded but not fitted: their time is per-call
# overhead (Python, dispatch, kernel launch), which the model does not price per GEMM.
FIT_MIN_DIM = 128


def line_fit(x: Sequence[float], y: Sequence[float], w: Sequence[float]) -> tuple[float, float]:
    """Weighted least squares ``y ≈ a + b·x``; (a, b). One distinct x: a flat line through the mean."""
    sw = sum(w)
    mx = sum(wi * xi for wi, xi in zip(w, x, strict=True)) / sw
    my = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sw
    sxx = sum(wi * (xi - mx) ** 2 for wi, xi in zip(w, x, strict=True))
    if sxx <= 0.0:
        return my, 0.0
    b = sum(wi * (xi - mx) * (yi - my) for wi, xi, yi in zip(w, x, y, strict=True)) / sxx
    return my - b * mx, b


@dataclass(frozen=True)
class CurveFit:
    """Achieved GEMM rate ``rate·n/(n+knee)`` for one dtype; ``rms`` is the relative misfit."""

    dtype: str
    rate: float  # FLOP/s a large GEMM approaches
    knee: float  # smallest dimension at which half of ``rate`` is reached
    rms: float
    points: int

    def predict(self, nmin: float) -> float:
        return self.rate * nmin / (nmin + self.knee)


def fit_curve(samples: Sequence[MatmulSample], dtype: str) -> CurveFit:
    pts = [s for s in samples if s.dtype == dtype and s.nmin >= FIT_MIN_DIM]
    if not pts:
        raise InputError(f"no {dtype} matmul was measured", "Measure at least one GEMM of that dtype")
    x = [1.0 / s.nmin for s in pts]
    y = [1.0 / s.rate for s in pts]
    w = [s.rate**2 for s in pts]  # relative residuals: (Δy / y)²
    a, b = line_fit(x, y, w)
    if b < 0.0 or a <= 0.0:
        # no knee in range (flat or noisy data), or still climbing at the largest size:
        # the best measured rate, and the knee that the rest of the points imply
        a = min(y) if a <= 0.0 else a
        b = max(statistics.median((yi - a) / xi for xi, yi in zip(x, y, strict=True)), 0.0)
    fit = CurveFit(dtype, 1.0 / a, b / a, 0.0, len(pts))
    rms = math.sqrt(statistics.fmean((fit.predict(s.nmin) / s.rate - 1.0) ** 2 for s in pts))
    return CurveFit(dtype, fit.rate, fit.knee, rms, len(pts))


def attention_fraction(samples: Sequence[AttentionSample], bf16_peak: float) -> float | None:
    """Median over shapes of the fraction of ``bf16_peak`` the fused kernel reaches, with the
    model's tile term taken out (may exceed 1: the caller caps it and says so)."""
    if not samples:
        return None
    frac = [s.flops / s.seconds / (bf16_peak * s.seq / (s.seq + ATTENTION_TILE)) for s in samples]
    return statistics.median(frac)


@dataclass(frozen=True)
class CollectiveFit:
    op: str
    ranks: int
    bus_bw: float  # bytes/s, in the ring algorithm's bus-bandwidth convention
    latency_s: float  # per latency step


def fit_collectives(meas: Measurements) -> list[CollectiveFit]:
    out = []
    for op, ranks in sorted({(c.op, c.ranks) for c in meas.collectives}):
        pts = [c for c in meas.collectives if c.op == op and c.ranks == ranks]
        a, b = line_fit([c.nbytes for c in pts], [c.seconds for c in pts], [1 / c.seconds**2 for c in pts])
        coef, hops = ring_terms(op, ranks)
        bw = coef / b if b > 0 else coef * max(c.nbytes for c in pts) / min(c.seconds for c in pts)
        out.append(CollectiveFit(op, ranks, bw, max(a, 0.0) / max(hops, 1.0)))
    return out


@dataclass(frozen=True)
class Fits:
    """Every fitted quantity, before the peak convention is applied (see ``profile.py``)."""

    curves: dict[str, CurveFit]
    stream_bw: float  # best STREAM rate, bytes/s
    decode_bw: float | None  # weights streamed by decode-shaped GEMMs, bytes/s
    collectives: list[CollectiveFit]

    @property
    def reference(self) -> CurveFit:
        """The fastest dtype's curve: its knee is the one recorded."""
        return max(self.curves.values(), key=lambda c: c.rate)

    def to_dict(self) -> dict[str, Any]:
        return {
            "matmul": {k: asdict(v) for k, v in self.curves.items()},
            "stream_bw": self.stream_bw,
            "decode_bw": self.decode_bw,
            "collectives": [asdict(c) for c in self.collectives],
        }


def fit_all(meas: Measurements) -> Fits:
    dtypes = sorted({s.dtype for s in meas.matmul})
    if not dtypes or not meas.stream:
        raise InputError("nothing to fit: no matmul or no bandwidth was measured", "Run the full suite")
    return Fits(
        curves={dt: fit_curve(meas.matmul, dt) for dt in dtypes},
        stream_bw=max(s.bytes_per_s for s in meas.stream),
        decode_bw=None if meas.decode is None else meas.decode.bytes_per_s,
        collectives=fit_collectives(meas),
    )

"""A deterministic synthetic device, so the whole harness runs in CPU-only tests (httpx's
``MockTransport`` idea: one seam, one fake).

Its times follow the roofline the model assumes, with parameters you pass in: a GEMM of smallest
dimension ``n`` runs at ``rate·n/(n+knee)``; decode-shaped GEMMs stream their weights at
``bandwidth·gemv_efficiency``; STREAM kernels run at ``bandwidth``; fused attention at
``attention·rate_bf16·q/(q+128)``; a ring collective costs ``c·S/link + hops·latency``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xpuplan.calibrate.backend import CollectiveSample, DecodeSpec, TrainSpec, ring_terms


@dataclass
class FakeBackend:
    """A synthetic device with a known roofline. ``calls`` counts measurements (for tests)."""

    rates: dict[str, float] = field(default_factory=lambda: {"fp32": 20e12, "bf16": 80e12})
    knee: float = 128.0
    bandwidth: float = 1.0e12  # bytes/s, STREAM
    gemv_efficiency: float = 0.8
    attention_efficiency: float = 0.4
    link_bw: float = 50e9  # bus bandwidth, bytes/s
    link_latency_s: float = 10e-6
    ranks: int = 2
    memory: float = 64 * 2**30
    name: str = "fake"
    device: str = "fake0"
    calls: int = 0

    def device_name(self) -> str:
        return "Fake accelerator (synthetic roofline)"

    def category(self) -> str:
        return "gpu"

    def versions(self) -> dict[str, str]:
        return {"fake": "1"}

    def memory_bytes(self) -> float:
        return self.memory

    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.rates)

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        self.calls += 1
        nmin = min(m, n, k)
        return 2.0 * m * n * k / (self.rates[dtype] * nmin / (nmin + self.knee))

    def stream(self, kind: str, nbytes: int, repeats: int) -> float:
        self.calls += 1
        return self.bandwidth

    def weights_stream(self, batch: int, rows: int, cols: int, count: int, repeats: int) -> float:
        self.calls += 1
        return self.bandwidth * self.gemv_efficiency

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        self.calls += 1
        flops = batch * seq * 2.0 * heads * (seq + 1) * head_dim  # causal forward, QKᵀ and A·V
        return flops / (self.rates["bf16"] * self.attention_efficiency * seq / (seq + 128.0))

    def collective_ranks(self) -> int:
        return self.ranks

    def collectives(self, ops: Sequence[str], sizes: Sequence[int], repeats: int) -> list[CollectiveSample]:
        self.calls += 1
        out = []
        for op in ops:
            c, hops = ring_terms(op, self.ranks)
            for s in sizes:
                out.append(
                    CollectiveSample(op, self.ranks, s, c * s / self.link_bw + hops * self.link_latency_s)
                )
        return out

    # ---- "real" runs: a plain roofline of the GPT, independent of the performance model -------

    def train_steps(self, spec: TrainSpec) -> list[float]:
        h, L, tok = spec.hidden, spec.layers, spec.batch * spec.seq
        params = 12 * L * h * h + spec.vocab * h
        rate = self.rates[spec.precision] * h / (h + self.knee)
        t = 6.0 * params * tok / rate + 16.0 * params / self.bandwidth  # GEMMs + Adam
        return [t] * spec.steps

    def decode_steps(self, spec: DecodeSpec) -> list[float]:
        params = 12 * spec.layers * spec.hidden**2 + spec.vocab * spec.hidden
        t = 4.0 * params / (self.bandwidth * self.gemv_efficiency)
        return [t] * spec.new

"""Encoder serving search: number format and batch per replica (one replica per chip).

Maximises sequences/s under a latency target, or, given a request rate, takes the smallest batch
(lowest latency) that sustains it. :func:`as_serve_result` restates the answer as a
:class:`~xpuplan.search.serve_search.ServeSearchResult` (one "output" per sequence), so the
planner, the claims and the validator reach encoders through ``search_serve``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from xpuplan.datafiles import FieldsDict
from xpuplan.perf import encoder as enc
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, default_params
from xpuplan.search.serve_search import SearchOutcome, ServePlan, ServeSearchResult, batch_axis
from xpuplan.units import GIB
from xpuplan.workload.job import ENCODER_FORMATS, EncoderJob, ServeJob

BATCHES = 2 ** np.arange(0, 13)  # 1 .. 4096 sequences per batch and replica


@dataclass(frozen=True)
class EncoderPlan(FieldsDict):
    """One encoder configuration on ``chips`` chips (one replica each) and what it does."""

    model: str
    seq_len: int
    weights: str  # the format asked for
    compute: str  # the format the GEMMs run in
    mode: str  # dynamic (served requests) | static (offline batches)
    replicas: int
    batch: int  # sequences per batch and replica
    batch_s: float
    latency_s: float
    sequences_per_s: float  # all replicas
    tokens_per_s: float
    flops_per_sequence: float
    achieved_tflops_per_chip: float
    bound: str  # compute | memory (what sets the GEMMs' time)
    weights_gib: float
    activations_gib: float
    chips: int


@dataclass(frozen=True)
class EncoderSearchResult(SearchOutcome[EncoderPlan]):
    """An encoder search; its curve is the winning format at every batch that fits."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "encoder", **super().to_dict()}


def _plan(job: EncoderJob, m: Machine, r: enc.EncoderArrays, b: np.ndarray, i: int, mode: str) -> EncoderPlan:
    n = m.chips
    sps = float(r.sequences_per_s[i]) * n
    flops = job.model.encoder_flops_per_sequence(job.tokens_per_sequence)
    return EncoderPlan(
        model=job.model.id,
        seq_len=job.seq_len,
        weights=job.weights,
        compute=enc.compute_format(job, m),
        mode=mode,
        replicas=n,
        batch=int(b[i]),
        batch_s=float(r.batch_s[i]),
        latency_s=float(r.latency_s[i]),
        sequences_per_s=sps,
        tokens_per_s=sps * job.tokens_per_sequence,
        flops_per_sequence=flops,
        achieved_tflops_per_chip=sps / n * flops / 1e12,
        bound="memory" if bool(r.memory_bound[i]) else "compute",
        weights_gib=r.weights_bytes / GIB,
        activations_gib=float(r.activation_bytes[i]) / GIB,
        chips=n,
    )


def search_encoder(
    job: EncoderJob,
    m: Machine,
    weights: tuple[str, ...] | None = None,
    mode: str = "dynamic",
    latency_s: float | None = None,
    rate: float | None = None,
    fixed: dict[str, int] | None = None,
    params: PerfParams | None = None,
) -> EncoderSearchResult:
    """Best format and batch for ``job`` on ``m`` under a latency target (or a request rate)."""
    params = params or default_params()
    fixed = dict(fixed or {})
    batches = batch_axis(fixed, BATCHES)
    counts: dict[str, int] = {}
    evaluated = feasible = 0
    best: tuple[float, EncoderJob, enc.EncoderArrays, int] | None = None
    for fmt in weights or (job.weights,):
        if fmt not in ENCODER_FORMATS:
            fmt = "int8" if fmt in ("int4", "fp4") else "bf16"  # weight-only formats: nearest GEMM path
        j = replace(job, weights=fmt)
        r = enc.evaluate_encoder(j, m, batches, params, mode)
        reason = r.reason.copy()
        if latency_s is not None:
            reason = np.where((reason == enc.OK) & (r.latency_s > latency_s), enc.LATENCY, reason)
        ok = reason == enc.OK
        evaluated += len(batches)
        feasible += int(ok.sum())
        for code, c in zip(*np.unique(reason[~ok], return_counts=True), strict=True):
            key = enc.ENCODER_REASON_TEXT[int(code)]
            counts[key] = counts.get(key, 0) + int(c)
        sps = r.sequences_per_s * m.chips
        score = np.where(ok, sps, -np.inf)
        if rate is not None:
            score = np.where(ok & (sps >= rate), -r.latency_s, -np.inf)
        if not np.isfinite(score).any():
            continue
        i = int(np.argmax(score))
        if best is None or score[i] > best[0]:
            best = (float(score[i]), j, r, i)
    if best is None:
        if rate is not None and feasible:
            counts[enc.ENCODER_REASON_TEXT[enc.RATE]] = feasible
        return EncoderSearchResult(evaluated, 0, counts, None, [])
    _, j, r, i = best
    ok = r.reason == enc.OK
    if latency_s is not None:
        ok &= r.latency_s <= latency_s
    curve = [_plan(j, m, r, batches, int(k), mode) for k in np.flatnonzero(ok)]
    return EncoderSearchResult(evaluated, feasible, counts, _plan(j, m, r, batches, i, mode), curve)


def _as_serve_plan(p: EncoderPlan) -> ServePlan:
    """An encoder plan in the serving record's fields: one output per sequence, latency as TTFT."""
    same = {k: getattr(p, k) for k in ("replicas", "batch", "weights", "mode", "weights_gib", "chips")}
    return ServePlan(
        tp=1,
        pp=1,
        ep=1,
        **same,
        ttft_s=p.latency_s,
        tpot_s=0.0,
        e2e_s=p.latency_s,
        output_tokens_per_s=p.sequences_per_s,
        total_tokens_per_s=p.tokens_per_s,
        requests_per_s=p.sequences_per_s,
        kv_gib=0.0,
        max_batch=p.batch,
    )


def as_serve_result(res: EncoderSearchResult) -> ServeSearchResult:
    """The encoder search restated as a serving search (``output_tokens_per_s`` = sequences/s)."""
    return ServeSearchResult(
        res.configs_evaluated,
        res.configs_feasible,
        res.reasons,
        _as_serve_plan(res.best) if res.best else None,
        [_as_serve_plan(p) for p in res.curve],
        {**res.extra, "encoder": res.best.to_dict() if res.best else None},
    )


def search_encoder_as_serve(
    serve_job: ServeJob,
    m: Machine,
    weights: tuple[str, ...] | None,
    mode: str,
    ttft_s: float | None,
    rate: float | None,
    fixed: dict[str, int] | None,
    params: PerfParams | None,
) -> ServeSearchResult:
    """``search_serve``'s encoder branch: a serve job's prompt is the sequence, its TTFT target the
    latency target; ``continuous`` batching is dynamic batching, ``static`` an offline batch."""
    fmts = tuple(weights or (serve_job.weights,))
    job = EncoderJob(serve_job.model, serve_job.input_len, fmts[0] if fmts[0] in ENCODER_FORMATS else "bf16")
    res = search_encoder(
        job, m, fmts, "static" if mode == "static" else "dynamic", ttft_s, rate, fixed, params
    )
    return as_serve_result(res)

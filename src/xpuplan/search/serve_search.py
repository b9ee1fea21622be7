"""Serving search: TP / PP / EP, replicas, batch and weight format for a model on N chips.

Maximises output tokens/s (or minimises cost per token, the same at a fixed chip count) under TTFT
and TPOT targets, and returns the latency–throughput curve of the winner's layout (one point per
batch size). Candidates are arrays; the loop runs over weight formats only (a handful).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from xpuplan.datafiles import as_dict
from xpuplan.hardware.records import Interval
from xpuplan.perf import serve as sv
from xpuplan.perf import serve_tail as tail
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams, serve_params
from xpuplan.search.space import divisors
from xpuplan.workload.job import ServeJob

BATCHES = 2 ** np.arange(0, 13)  # 1 .. 4096 sequences in flight per replica


@dataclass(frozen=True)
class ServePlan:
    """One serving configuration and its predicted behaviour."""

    tp: int
    pp: int
    ep: int
    replicas: int
    batch: int  # sequences in flight per replica
    weights: str
    mode: str
    ttft_s: float
    tpot_s: float
    e2e_s: float
    output_tokens_per_s: float  # all replicas
    total_tokens_per_s: float
    requests_per_s: float
    weights_gib: float
    kv_gib: float
    max_batch: int
    chips: int
    kv: str = "bf16"  # KV-cache format the configuration runs with
    interval: Interval | None = None  # 80% prediction interval (cross-validated), when fitted

    def describe(self) -> str:
        """The configuration as a label: "TP8 PP2 ×4 batch 64 int8" (PP only where it splits)."""
        pp = f" PP{self.pp}" if self.pp > 1 else ""
        return f"TP{self.tp}{pp} ×{self.replicas} batch {self.batch} {self.weights}"

    def interval_dict(self) -> dict[str, Any] | None:
        iv = self.interval
        if iv is None:
            return None
        d = iv.to_dict()
        d.update(
            output_tokens_per_s=iv.rate(self.output_tokens_per_s),
            ttft_s=iv.time(self.ttft_s),
            tpot_s=iv.time(self.tpot_s),
            e2e_s=iv.time(self.e2e_s),
        )
        return d

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "interval"}
        d["interval"] = self.interval_dict()
        return d


class _Plan(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=_Plan)


@dataclass(frozen=True)
class SearchOutcome(Generic[P]):
    """What a serving search found: how many configurations it priced and fitted, why the rest
    failed, the best plan and the latency–throughput curve (the best at every batch that fits)."""

    configs_evaluated: int
    configs_feasible: int
    reasons: dict[str, int]
    best: P | None
    curve: list[P]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        keys = ("configs_evaluated", "configs_feasible", "reasons", "best", "curve")
        ren = {"reasons": "infeasible_reasons", "curve": "latency_throughput_curve"}
        return {**as_dict(self, *keys, rename=ren), **self.extra}


@dataclass(frozen=True)
class ServeSearchResult(SearchOutcome[ServePlan]):
    """A decoder serving search; its curve is the best layout at every batch that fits."""


def batch_axis(fixed: dict[str, int], batches: np.ndarray) -> np.ndarray:
    """The batches a search tries: ``fixed["batch"]`` alone; or an engine's largest batch
    ``fixed["max_batch"]`` and the ``batches`` (powers of two) below it; or all ``batches``."""
    if "batch" in fixed:
        return np.array([fixed["batch"]])
    if "max_batch" in fixed:
        cap = fixed["max_batch"]
        return np.unique(np.append(batches[batches < cap], cap))
    return batches


def _space(job: ServeJob, m: Machine, fixed: dict[str, int]) -> sv.ServeConfig:
    n = m.chips
    d = divisors(n)
    tp = d[d <= m.domain] if "tp" not in fixed else np.array([fixed["tp"]])
    cols: dict[str, np.ndarray] = {"tp": tp}
    pp_all = d if "pp" not in fixed else np.array([fixed["pp"]])
    cols = {"tp": np.repeat(cols["tp"], len(pp_all)), "pp": np.tile(pp_all, len(cols["tp"]))}
    keep = n % (cols["tp"] * cols["pp"]) == 0
    cols = {k: v[keep] for k, v in cols.items()}
    model = job.model
    if model.moe:
        ep = cols["tp"].copy() if "ep" not in fixed else np.full_like(cols["tp"], fixed["ep"])
    else:
        ep = np.ones_like(cols["tp"])
    cols["ep"] = ep
    batches = batch_axis(fixed, BATCHES)
    k = len(cols["tp"])
    out = {c: np.repeat(v, len(batches)) for c, v in cols.items()}
    out["batch"] = np.tile(batches, k)
    return sv.ServeConfig(out["tp"], out["pp"], out["ep"], out["batch"])


def search_serve(
    job: ServeJob,
    m: Machine,
    weights: tuple[str, ...] | None = None,
    mode: str = "continuous",
    ttft_s: float | None = None,
    tpot_s: float | None = None,
    rate: float | None = None,
    fixed: dict[str, int] | None = None,
    params: PerfParams | None = None,
    percentile: float | None = None,
    input_cv: float = 0.0,
) -> ServeSearchResult:
    """Best serving configuration of ``job`` on ``m`` under latency targets (or a request rate).
    With ``percentile`` (continuous batching), ``tpot_s`` and ``ttft_s`` bound the per-request TPOT
    and TTFT at that percentile under Poisson arrivals (:mod:`xpuplan.perf.serve_tail`, prompt
    lengths with coefficient of variation ``input_cv``), not the means.
    An encoder model (``kind = "encoder"``) is priced by :mod:`xpuplan.search.encoder_search`."""
    if job.model.is_encoder:
        from xpuplan.search.encoder_search import search_encoder_as_serve

        return search_encoder_as_serve(job, m, weights, mode, ttft_s, rate, fixed, params)
    params = params or serve_params(m.chip)  # the chip's default serving stack
    fixed = dict(fixed or {})
    formats = weights or (job.weights,)
    best: tuple[float, ServePlan, sv.ServeArrays, sv.ServeConfig, int, ServeJob] | None = None
    evaluated = feasible = 0
    counts: dict[str, int] = {}
    for fmt in formats:
        # 8- and 4-bit float weights come with an fp8 KV cache where the chip computes in fp8
        # (TensorRT-LLM, vLLM); other formats keep the job's KV format
        kv = "fp8" if fmt in ("fp8", "fp4") and m.chip.supports("fp8") else job.kv
        j = replace(job, weights=fmt, kv=kv)
        if fmt in ("fp8", "fp4") and not m.chip.supports(fmt) and not m.chip.supports("fp8"):
            # no fp8/fp4 path: the format is refused for this chip
            counts[sv.SERVE_REASON_TEXT[sv.DTYPE]] = counts.get(sv.SERVE_REASON_TEXT[sv.DTYPE], 0) + 1
            continue
        cfg = _space(j, m, fixed)
        reason = sv.check_serve(cfg, j.model, m)
        res = sv.evaluate_serve(j, cfg, m, params, mode)
        reason = np.where(reason == 0, res.reason, reason)
        replicas = m.chips // (cfg.tp * cfg.pp)
        out_tps = res.output_tokens_per_s * replicas
        if ttft_s is not None:
            ttft = res.ttft
            if percentile is not None and mode == "continuous":
                ttft = tail.ttft_at_percentile(j, cfg, m, params, res.tpot, percentile)
            reason = np.where((reason == 0) & (ttft > ttft_s), sv.TTFT, reason)
        if tpot_s is not None:
            tpot = res.tpot
            if percentile is not None and mode == "continuous":
                tpot = tail.tpot_tail(j, cfg, m, params, res.tpot, percentile, input_cv)
            reason = np.where((reason == 0) & (tpot > tpot_s), sv.TPOT, reason)
        evaluated += len(cfg.tp)
        ok = reason == 0
        feasible += int(ok.sum())
        for code, c in zip(*np.unique(reason[~ok], return_counts=True), strict=True):
            key = sv.SERVE_REASON_TEXT[int(code)]
            counts[key] = counts.get(key, 0) + int(c)
        if not ok.any():
            continue
        score = np.where(ok, out_tps, -np.inf)
        if rate is not None:
            # the smallest batch that sustains the rate (lowest latency), among those that can
            reqs = res.requests_per_s * replicas
            can = ok & (reqs >= rate)
            if not can.any():
                continue
            score = np.where(can, -res.e2e, -np.inf)
        i = int(np.argmax(score))
        if best is None or score[i] > best[0]:
            best = (float(score[i]), _plan(cfg, res, i, replicas, fmt, mode, m, kv), res, cfg, i, j)
    # what was asked, for the report: the targets beside the figures, and the KV format requested
    asked = {"ttft_target_s": ttft_s, "tpot_target_s": tpot_s, "kv_requested": job.kv}
    if best is None:
        if rate is not None and feasible:
            counts[sv.SERVE_REASON_TEXT[sv.RATE]] = feasible
        return ServeSearchResult(evaluated, 0, counts, None, [], extra=asked)
    _, plan, res, cfg, i, j = best
    same = (cfg.tp == cfg.tp[i]) & (cfg.pp == cfg.pp[i]) & (cfg.ep == cfg.ep[i]) & (res.reason == 0)
    replicas = m.chips // (cfg.tp * cfg.pp)
    curve = [_plan(cfg, res, int(k), replicas, j.weights, mode, m, j.kv) for k in np.flatnonzero(same)]
    return ServeSearchResult(evaluated, feasible, counts, plan, curve, extra=asked)


def _plan(
    cfg: sv.ServeConfig,
    res: sv.ServeArrays,
    i: int,
    replicas: np.ndarray,
    fmt: str,
    mode: str,
    m: Machine,
    kv: str = "bf16",
) -> ServePlan:
    r = int(replicas[i])
    return ServePlan(
        tp=int(cfg.tp[i]),
        pp=int(cfg.pp[i]),
        ep=int(cfg.ep[i]),
        replicas=r,
        batch=int(cfg.batch[i]),
        weights=fmt,
        mode=mode,
        ttft_s=float(res.ttft[i]),
        tpot_s=float(res.tpot[i]),
        e2e_s=float(res.e2e[i]),
        output_tokens_per_s=float(res.output_tokens_per_s[i]) * r,
        total_tokens_per_s=float(res.total_tokens_per_s[i]) * r,
        requests_per_s=float(res.requests_per_s[i]) * r,
        weights_gib=float(res.weights_bytes[i]) / 2**30,
        kv_gib=float(res.kv_bytes[i]) / 2**30,
        max_batch=int(res.max_batch[i]),
        chips=m.chips,
        kv=kv,
        interval=m.chip.intervals.get("infer"),
    )

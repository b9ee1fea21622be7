"""A finite serving run: ``N`` requests through ``B`` in-flight slots, priced step by step.

An offline throughput benchmark is one finite run, and its figure is the run's tokens over the
run's time: MLPerf Offline sends one query of ``generated_samples_per_query`` samples (LoadGen
``loadgen.cc``; ``mlperf_log_detail.txt``) and the result is those samples over the time to the
last one's end (``result_samples_per_second``); ``trtllm-bench throughput`` queues its
``num_requests`` at an infinite rate and reports the total output tokens over the run. The steady
state of :func:`xpuplan.perf.serve.evaluate_serve` (every slot busy for ever) prices neither end:

* **Admission.** In-flight batching (Orca, Yu et al. OSDI 2022) admits a waiting request into the
  slot a finished one frees, first come first served; the schedule is that of list scheduling
  (Graham 1969): each request starts when the earliest slot frees.
* **The drain.** Once the queue is empty the batch shrinks as requests end, down to the longest
  one alone. With long-tailed output lengths (MLPerf DeepSeek-R1: median 2,194, p99 32,768
  generated tokens) the last requests run for thousands of steps at a small batch, whose steps
  cost more per token than full ones (the weights are read once per step whatever the batch).
* **Waves.** With equal lengths (trtllm-bench's fixed-length datasets) requests start and end
  together, ``ceil(N/B)`` waves of ``O`` steps, the last one ``N mod B`` wide.

Each stretch of steps with the same sequences in flight is priced as one step of the serving
model (:func:`xpuplan.perf.serve._step`) at that batch, at the mean context of the sequences then
in flight, with the prompts admitted at its start prefilled over it (in-flight batching mixes
them into the decode steps), times its length in steps.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.perf.serve import ServeConfig, _step
from xpuplan.workload.job import ServeJob

F = np.ndarray
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class RunSegments:
    """Stretches of a run with the same sequences in flight, as equal-length columns."""

    steps: F  # decode steps in the stretch
    live: F  # sequences in flight
    position: F  # their mean output position at the stretch's middle (tokens generated so far)
    admitted: F  # requests admitted at the stretch's start (their prompts prefilled over it)
    tokens: float  # output tokens of the whole run


def schedule(batch: int, lengths: F) -> RunSegments:
    """List-schedule requests with output ``lengths`` (tokens, in arrival order) onto ``batch``
    slots: request ``i`` starts when the earliest slot frees and holds it ``lengths[i]`` steps."""
    L = np.maximum(np.asarray(lengths, dtype=float), 1.0)
    slots = [0.0] * max(int(batch), 1)
    starts = np.empty(len(L))
    for i, n in enumerate(L):
        s = heapq.heappop(slots)
        starts[i] = s
        heapq.heappush(slots, s + n)
    ends = starts + L
    events = np.unique(np.concatenate([starts, ends]))
    lo, hi = events[:-1], events[1:]
    s_sorted, e_order = np.sort(starts), np.argsort(ends)
    e_sorted, s_by_end = ends[e_order], starts[e_order]
    begun = np.searchsorted(s_sorted, lo, side="right")
    done = np.searchsorted(e_sorted, lo, side="right")
    live = (begun - done).astype(float)
    start_sum = (
        np.concatenate([[0.0], np.cumsum(s_sorted)])[begun]
        - np.concatenate([[0.0], np.cumsum(s_by_end)])[done]
    )
    keep = live > 0
    mid = (lo + hi) / 2.0
    position = np.where(keep, mid - start_sum / np.maximum(live, 1.0), 0.0)
    admitted = (begun - np.searchsorted(s_sorted, lo, side="left")).astype(float)
    return RunSegments((hi - lo)[keep], live[keep], position[keep], admitted[keep], float(L.sum()))


def quantile_lengths(percentiles: F, n: int) -> F:
    """``n`` output lengths that follow a distribution given by its percentiles (0, 1, ..., 100),
    in a well-mixed deterministic order: the golden-ratio sequence ``frac(i·φ)`` through the
    interpolated quantile function (a low-discrepancy stand-in for LoadGen's shuffled samples)."""
    q = np.asarray(percentiles, dtype=float)
    u = np.mod(np.arange(1, n + 1) * GOLDEN, 1.0)
    return np.round(np.interp(u, np.linspace(0.0, 1.0, len(q)), q))


def run_time(job: ServeJob, cfg: ServeConfig, m: Machine, params: PerfParams, segs: RunSegments) -> float:
    """Seconds of the run on one replica of the configuration ``cfg`` (its first column): every
    stretch priced as one step of its sequences at their mean context, times its steps."""
    n = len(segs.steps)
    one = ServeConfig(
        np.full(n, cfg.tp[0]), np.full(n, cfg.pp[0]), np.full(n, cfg.ep[0]), segs.live.astype(np.int64)
    )
    I = float(job.input_len)
    prefill = segs.admitted * I / segs.steps
    t = _step(job.model, job, m, one, segs.live, I + segs.position, prefill, I, params)
    return float(np.sum(segs.steps * t))

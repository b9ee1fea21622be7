"""The TPOT tail under load: the per-request time per output token at a percentile, not the mean.

MLPerf LoadGen checks TPOT at the 99th percentile over requests (``*.Server.
target_latency_percentile = 99`` in ``loadgen/mlperf.conf``), where one request's TPOT is its
decode time divided by its output tokens after the first. Queries arrive as a Poisson process
(LoadGen ``loadgen/test_settings.h``: "Queries have a random poisson (non-uniform) arrival rate";
``loadgen/loadgen.cc``: exponentially distributed gaps), mlcommons/inference at commit
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9.

Under continuous batching at concurrency ``B`` with mean output ``O``, requests arrive at
``B / O`` per decode step, so while one request decodes its ``O`` tokens ``N ~ Poisson(B)`` others
arrive, and their prompts are prefilled in the steps it shares with them (a whole prompt in one
step, or in chunks: the total is the same). Its decode time is ``O·t_dec + W``, with ``W`` the
prefill work of those ``N`` prompts. ``W`` is a compound Poisson sum of prompt lengths ``I_j``:
``E[W] = B·E[I]·c`` and ``Var[W] = B·E[I²]·c² = B·E[I]²·(1 + cv²)·c²`` (``c`` the prefill time per
token, ``cv`` the prompt lengths' coefficient of variation). The mean step ``t_mean = t_dec +
B·E[I]·c / O`` is what :func:`xpuplan.perf.serve.evaluate_serve` returns as TPOT; at the
percentile with normal quantile ``z``::

    TPOT_p = t_dec + (t_mean - t_dec) · (1 + z · sqrt((1 + cv²) / B))

The prefill share of the step is what fluctuates; the decode part (weights and KV reads) does not.
Below the compute knee the roofline hides prefill tokens under the weight reads, so the share (and
its tail) is zero there.

TTFT at a percentile: a request arrives during a step already in flight and waits out its residual
(uniform over the step: ``p/100`` of it at percentile ``p``); its prompt then runs in the next step
together with the ``B`` decodes and the prompts of the others that arrived in the same step, ``n ~
Poisson(B / O)`` of them independently of the tagged arrival (Poisson arrivals see time averages,
Wolff 1982). ``TTFT_p = p/100 · t_mean + t_step(B decodes, (1 + n_p)·I prompt tokens)``, with
``n_p`` the Poisson quantile.

Token budget and chunked prefill (Sarathi-Serve, Agrawal et al. OSDI 2024, §4: stall-free batching
under a token budget per iteration; vLLM ``max_num_batched_tokens``, TensorRT-LLM ``max_num_tokens``
with ``enable_chunked_context``; ``params.max_num_batched_tokens``, 0 = none). A step holds the
``B`` running decodes and at most ``c = budget - B`` prompt tokens (:func:`prefill_chunk`), so the
``(1 + n_p)·I`` tokens ahead of the tagged prompt's first token take ``k = ceil((1 + n_p)·I / c)``
steps, each carrying ``(1 + n_p)·I / k`` of them: ``TTFT_p = wait + k · t_step(B, (1 + n_p)·I /
k)`` (a 32k-token prompt under a 2,048-token budget: 17 or more steps). The prompts arriving per
step, ``B·E[I]/O`` tokens on average, must fit in ``c`` or the prefill queue grows without bound:
such a batch has no finite TTFT (:func:`prefill_stable`). The same budget bounds the prefill a
decode step carries, so the TPOT tail is at most one step at the full budget, ``t_step(B, c)``
(:func:`tpot_tail`): chunking caps the interference of a long prompt with the decodes, where a
whole 32k prompt in one step would stall every running sequence for its whole prefill.

Multi-step scheduling (vLLM V0 ``num_scheduler_steps = n``; vLLM docs, engine arguments: "Maximum
number of forward steps per scheduler call"; vllm/engine/llm_engine.py at v0.6.x schedules only when
the previous multi-step window is done): prompts join only between windows of ``n`` decode steps,
so the step in flight becomes the window in flight, ``p/100 · n · t_mean``, and the prompts that
arrive with the tagged one are those of the window, ``n ~ Poisson(n·B / O)``
(:func:`scheduling_window`; ``n = 1`` is the single step above).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.perf.serve import ServeConfig, _step
from xpuplan.workload.job import ServeJob

F = np.ndarray


def normal_quantile(percentile: float) -> float:
    """``z`` with ``P(Z <= z) = percentile / 100`` for a standard normal (2.326 at 99)."""
    return float(NormalDist().inv_cdf(percentile / 100.0))


def prefill_share_tail(batch: F, percentile: float, input_cv: float = 0.0) -> F:
    """``W_p / E[W]``: the prefill work a request shares its decode steps with, at ``percentile``,
    over its mean (compound Poisson with ``batch`` arrivals on average, normal approximation)."""
    b = np.maximum(np.asarray(batch, dtype=float), 1.0)
    return 1.0 + normal_quantile(percentile) * np.sqrt((1.0 + input_cv**2) / b)


def tpot_at_percentile(t_mean: F, t_decode: F, batch: F, percentile: float, input_cv: float = 0.0) -> F:
    """Per-request TPOT at ``percentile`` from the mean step ``t_mean`` (decode plus its share of
    prefill) and the decode-only step ``t_decode`` at the same batch."""
    share = np.maximum(t_mean - t_decode, 0.0)
    return t_decode + share * prefill_share_tail(batch, percentile, input_cv)


def decode_step(job: ServeJob, cfg: ServeConfig, m: Machine, params: PerfParams) -> F:
    """The continuous-batching step of :func:`xpuplan.perf.serve.evaluate_serve` without its share
    of prefill: ``batch`` decode tokens at the mean context ``I + O/2``."""
    I, O = float(job.input_len), float(job.output_len)
    B = cfg.batch.astype(float)
    return _step(job.model, job, m, cfg, B, I + O / 2.0 + 0.0 * B, 0.0 * B, I, params)


def poisson_quantile(lam: F, percentile: float) -> F:
    """The smallest ``k`` with ``P(N <= k) >= percentile / 100`` for ``N ~ Poisson(lam)``."""
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    top = int(np.ceil(float(lam.max(initial=0.0)) + 10.0 * np.sqrt(float(lam.max(initial=0.0))) + 10.0))
    k = np.arange(top + 1, dtype=float)
    # log pmf, stable for large lam: k·ln(lam) - lam - ln(k!)
    logk = np.concatenate(([0.0], np.cumsum(np.log(k[1:]))))
    log_lam = np.log(np.maximum(lam, 1e-300))  # lam 0: all mass at k = 0
    logpmf = k[:, None] * log_lam[None, :] - lam[None, :] - logk[:, None]
    cdf = np.cumsum(np.exp(logpmf), axis=0)
    return np.argmax(cdf >= percentile / 100.0 - 1e-12, axis=0).astype(float)


def ttft_at_percentile(
    job: ServeJob, cfg: ServeConfig, m: Machine, params: PerfParams, t_mean: F, percentile: float
) -> F:
    """TTFT at ``percentile`` under Poisson arrivals: the residual of the step in flight plus the
    next step, which prefills this prompt and those of the others that arrived with it."""
    I, O = float(job.input_len), float(job.output_len)
    B = cfg.batch.astype(float)
    wait, others = scheduling_window(t_mean, B, O, params.scheduler_steps, percentile)
    ahead = (1.0 + others) * I  # prompt tokens up to the tagged prompt's last
    chunk = prefill_chunk(B, params.max_num_batched_tokens)
    steps = np.where(chunk > 0, np.ceil(ahead / np.maximum(chunk, 1e-30)), np.inf)
    steps = np.where(np.isfinite(chunk), steps, 1.0)
    per = ahead / np.where(np.isfinite(steps), steps, 1.0)
    dec = B if params.chunked_prefill else 0.0 * B  # prefill-first: the prompts step alone
    nxt = _step(job.model, job, m, cfg, dec, I + O / 2.0 + 0.0 * B, per, I, params)
    ok = prefill_stable(B, I, O, params.max_num_batched_tokens)
    return np.where(ok, wait + steps * nxt, np.inf)


def prefill_chunk(batch: F, budget: float) -> F:
    """Prompt tokens one step takes beside its ``batch`` decodes under a token budget:
    ``budget - batch`` (at least 0; TensorRT-LLM and vLLM count each decode as one token of the
    budget); no budget (0): unbounded."""
    b = np.asarray(batch, dtype=float)
    if budget <= 0:
        return np.full_like(b, np.inf)
    return np.maximum(budget - b, 0.0)


def prefill_stable(batch: F, input_len: float, output_len: float, budget: float) -> F:
    """Whether the prompts that arrive per step, ``batch·I/O`` tokens on average (one request
    finishes every ``O/batch`` steps and is replaced), fit in the step's prompt chunk: otherwise
    the prefill queue, and the TTFT, grow without bound."""
    b = np.asarray(batch, dtype=float)
    return b * input_len / output_len <= prefill_chunk(b, budget)


def tpot_tail(
    job: ServeJob,
    cfg: ServeConfig,
    m: Machine,
    params: PerfParams,
    t_mean: F,
    percentile: float,
    input_cv: float = 0.0,
) -> F:
    """Per-request TPOT at ``percentile`` (:func:`tpot_at_percentile`), at most one step at the
    full token budget (``batch`` decodes and a whole chunk of prompt tokens): a step never
    carries more prefill than the budget leaves, however long the prompts."""
    t = tpot_at_percentile(t_mean, decode_step(job, cfg, m, params), cfg.batch, percentile, input_cv)
    chunk = prefill_chunk(cfg.batch, params.max_num_batched_tokens)
    if not np.isfinite(chunk).any():
        return t
    I, O = float(job.input_len), float(job.output_len)
    B = cfg.batch.astype(float)
    full = _step(
        job.model, job, m, cfg, B, I + O / 2.0 + 0.0 * B, np.where(np.isfinite(chunk), chunk, 0.0), I, params
    )
    return np.where(np.isfinite(chunk), np.maximum(np.minimum(t, full), t_mean), t)


def scheduling_window(t_mean: F, batch: F, output_len: float, steps: float, percentile: float) -> tuple[F, F]:
    """(wait, others) at ``percentile`` for an arrival under a scheduler that admits prompts every
    ``steps`` decode steps of ``t_mean``: the residual of the window in flight, ``p/100 · steps ·
    t_mean``, and the Poisson quantile of the prompts that arrive in one window, ``steps · batch /
    output_len`` on average (requests arrive at ``batch / output_len`` per step)."""
    n = max(float(steps), 1.0)
    others = poisson_quantile(n * np.asarray(batch, dtype=float) / output_len, percentile)
    return percentile / 100.0 * n * np.asarray(t_mean, dtype=float), others

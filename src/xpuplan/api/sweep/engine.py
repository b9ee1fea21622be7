"""Engines that run a study's points: a local process pool (default) or a Ray cluster.

Both ship the same :func:`~xpuplan.api.sweep.point.run_batch` over chunks of points and hand each
finished chunk to the store as it arrives, so a sweep stopped at any moment keeps every finished
chunk and ``--resume`` computes only the rest. Rows do not depend on the engine, the number of
workers or the chunk size.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpuplan.api.sweep.point import run_batch
from xpuplan.api.sweep.store import Store
from xpuplan.api.sweep.study import Point, Study
from xpuplan.datafiles import FieldsDict
from xpuplan.errors import InputError
from xpuplan.planner.constraints import Why

ENGINES = ("local", "ray")
Batch = list[Point]


@dataclass(frozen=True)
class SweepRun(FieldsDict):
    """What one ``run_sweep`` call did."""

    study: str
    out: str
    engine: str
    points: int  # in the study
    resumed: int  # already in the dataset before this run
    computed: int  # written by this run
    statuses: dict[str, int]  # of the rows written by this run
    lost: int  # points whose chunk was lost (a dead Ray worker): run again with --resume
    wall_s: float
    batch: int
    workers: int


def _batches(points: Sequence[Point], size: int) -> list[Batch]:
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


def default_batch(n: int, workers: int, engine: str) -> int:
    """Points per task: enough to amortise a task's overhead (more for Ray, whose tasks cost
    milliseconds to schedule), small enough that every worker gets several and a kill loses little."""
    per = 8  # tasks per worker
    cap = 256 if engine == "ray" else 64
    return max(1, min(cap, math.ceil(n / (max(workers, 1) * per))))


def _local(batches: list[Batch], workers: int) -> Iterator[list[dict[str, Any]]]:
    """A process pool over the cores (in-process when ``workers`` is 1). Workers are spawned, not
    forked, so they start clean of the parent's threads."""
    if workers <= 1:
        for b in batches:
            yield run_batch(b)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        pending = {pool.submit(run_batch, b) for b in batches}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    rows = f.result()
                except BrokenProcessPool:
                    raise InputError(
                        "a worker process died (out of memory, or killed); the finished points are kept",
                        "Run again with --resume (with fewer --workers if memory is short)",
                    ) from None
                yield rows
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _ray_cluster(address: str | None) -> Iterator[tuple[Any, int]]:
    """Ray and the cluster's CPUs: the cluster at ``address``, or the one this process already
    initialised, or a local one started here (``ray.init()``) and stopped after."""
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed", "Install it with: pip install 'xpuplan[ray]'") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = address or "a local cluster"
            raise InputError(f"cannot start or reach Ray at {where} ({e})", "Check --address") from None
    try:
        yield ray, max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started:
            ray.shutdown()


def _ray(ray: Any, batches: list[Batch], lost: list[int]) -> Iterator[list[dict[str, Any]]]:
    """Each chunk a Ray task running the same ``run_batch``; chunks come back as they finish."""
    task = ray.remote(num_cpus=1, max_retries=2)(run_batch)
    refs = {task.remote(b): len(b) for b in batches}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            try:
                rows = ray.get(ref)
            except Exception:  # the chunk's worker died past its retries: leave it to --resume
                lost.append(refs[ref])
                continue
            yield rows


def _worded(row: dict[str, Any], word: Callable[[Why], str | None] | None) -> dict[str, Any]:
    why = row.pop("_why", None)
    if why is not None and word is not None and row.get("reason") is not None:
        row["reason"] = word(why)
    return row


def run_sweep(
    study: Study,
    out: Path,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    fresh: bool = False,
    batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    word: Callable[[Why], str | None] | None = None,
) -> SweepRun:
    """Compute every point of ``study`` not yet in the dataset at ``out``, writing a part file
    per finished chunk; ``progress(done, total)`` after each. ``word`` puts a row's reason in
    words (``report.wording.reason``; None: the reason's code)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine '{engine}'", "Use --engine local or --engine ray")
    if address is not None and engine != "ray":
        raise InputError("--address is for the Ray engine", "Add --engine ray")
    if workers is not None and engine == "ray":
        raise InputError("--workers is for the local engine", "Ray uses every CPU of the cluster")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be ≥ 1, got {workers}", "Give the number of processes")
    if batch is not None and batch < 1:
        raise InputError(f"--batch must be ≥ 1, got {batch}", "Give the points per task")
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        store = Store(out)
        done = stack.enter_context(store.open(study, resume, fresh))
        if engine == "ray":
            ray, n_workers = stack.enter_context(_ray_cluster(address))
        else:
            ray, n_workers = None, workers or (os.cpu_count() or 1)
        todo = [p for p in study.points if p.point_id not in done]
        resumed = len(study.points) - len(todo)
        size = batch or default_batch(len(todo), n_workers, engine)
        batches = _batches(todo, size)
        statuses: dict[str, int] = {}
        lost: list[int] = []
        finished = resumed
        if progress:
            progress(finished, len(study.points))
        rows_iter = _local(batches, min(n_workers, len(batches))) if ray is None else _ray(ray, batches, lost)
        for rows in rows_iter:
            store.write_part([_worded(r, word) for r in rows])
            for r in rows:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            finished += len(rows)
            if progress:
                progress(finished, len(study.points))
    return SweepRun(
        study.name,
        str(out),
        engine,
        len(study.points),
        resumed,
        finished - resumed,
        statuses,
        sum(lost),
        time.perf_counter() - t0,
        size,
        n_workers,
    )

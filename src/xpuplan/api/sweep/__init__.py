"""Design-space sweeps: a study file's axes expanded into points, each point one call of the public
API (:func:`xpuplan.api.search`, the serving search behind :func:`~xpuplan.api.public.search_serve`
or :func:`~xpuplan.api.plan`), run on a local process pool or a Ray cluster, written as one Parquet
dataset per study (docs/sweeps.md).

::

    from xpuplan.api import sweep
    study = sweep.load_study(Path("examples/study_trn2_h200_v6e.toml"))
    run = sweep.run_sweep(study, Path("study.parquet"))          # engine="ray" for Ray
    summary = sweep.show(Path("study.parquet"))

Nothing here prints; the CLI renders the summary.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from xpuplan.api.sweep.engine import ENGINES, SweepRun, default_batch, run_sweep
from xpuplan.api.sweep.point import COLUMNS, run_batch, run_point
from xpuplan.api.sweep.store import read_manifest, read_rows
from xpuplan.api.sweep.study import Point, Study, load_study
from xpuplan.api.sweep.summary import cases, pareto, series, summarise_rows


def dataset_path(study: Path, out: Path | None = None) -> Path:
    """Where a study's dataset goes: ``out``, else ``<study name>.parquet`` in the working folder."""
    return out if out is not None else Path(f"{study.stem}.parquet")


def locate(target: Path, out: Path | None = None) -> Path:
    """The dataset folder for ``target``: a study file's (``out``, else its default path), or
    ``target`` itself."""
    if target.suffix.lower() == ".toml":
        return dataset_path(target, out)
    return out if out is not None else target


def show(target: Path, out: Path | None = None) -> dict[str, Any]:
    """The summary of a study's results: per case, offers, Pareto fronts, break-even prices."""
    root = locate(target, out)
    rows = read_rows(root)
    return {**summarise_rows(rows, read_manifest(root)), "dataset": str(root)}


def study_report_data(target: Path, out: Path | None = None, max_cases: int = 12) -> dict[str, Any]:
    """What the HTML report of a study draws: the summary and, per case, each offer's points."""
    root = locate(target, out)
    rows = read_rows(root)
    manifest = read_manifest(root) or {}
    summary = summarise_rows(rows, manifest)
    by_case = cases(rows)
    for c, key in zip(summary["cases"], by_case, strict=True):
        c["series"] = series(by_case[key])
    shown = summary["cases"][:max_cases]
    return {
        **summary,
        "cases": shown,
        "cases_left_out": len(summary["cases"]) - len(shown),
        "dataset": str(root),
        "manifest": manifest,
        "generated": dt.datetime.now().isoformat(timespec="seconds"),
    }


__all__ = [
    "COLUMNS",
    "ENGINES",
    "Point",
    "Study",
    "SweepRun",
    "dataset_path",
    "default_batch",
    "load_study",
    "locate",
    "pareto",
    "read_rows",
    "run_batch",
    "run_point",
    "run_sweep",
    "show",
    "study_report_data",
]

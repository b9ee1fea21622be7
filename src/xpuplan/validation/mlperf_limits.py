"""MLPerf Inference scenarios and the per-token latency limits of their LLM benchmarks.

A suite case from MLPerf Inference states its scenario (``inference_setup.scenario``: Offline,
Server or Interactive). Offline has no latency bound: the engine takes the batch up to KV capacity.
Server and Interactive are served requests under a TTFT and a TPOT limit per benchmark, which
``data/validation/mlperf_latency_limits.toml`` holds with its source (LoadGen's ``mlperf.conf``).
LoadGen checks the limits at the 99th percentile; the serving search bounds TPOT at that
percentile (:mod:`xpuplan.perf.serve_tail`: Poisson arrivals, the prefill a request shares its
steps with) and TTFT there too (the step in flight, then a step with the prompts that arrived
with it); the case's ``assumed`` says so.

``data/validation/mlperf_datasets.toml`` holds the token lengths of each benchmark's dataset (the
reference implementation's mean output per sample; the mean input where a source states it),
used where a case states none.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from xpuplan.datafiles import Field, data_dir, positive, read_toml
from xpuplan.errors import DataError

_META = {
    "source": Field("str", doc="repository, path and commit the limits are read from"),
    "url": Field("str", doc="the file at that commit"),
    "as_of": Field("date", doc="when the limits were read (the MLPerf round)"),
    "percentile": positive(100.0, "the percentile LoadGen checks the limits at"),
}
_LIMIT = {
    "benchmark": Field("str", doc="the MLPerf benchmark name (mlperf.conf key)"),
    "scenario": Field("str", doc="Server | Interactive"),
    "models": Field("list", doc="the suite cases' model.name values that run the benchmark"),
    "ttft_ms": positive(1e6, "time-to-first-token limit, ms"),
    "tpot_ms": positive(1e5, "time-per-output-token limit, ms"),
}
SCHEMA = {"meta": _META, "limit": [_LIMIT]}
SCENARIOS = ("Offline", "Server", "Interactive")


@dataclass(frozen=True, slots=True)
class LatencyLimit:
    benchmark: str
    scenario: str
    ttft_s: float
    tpot_s: float
    percentile: float


def limits_path() -> Path:
    return data_dir() / "validation" / "mlperf_latency_limits.toml"


@cache
def _limits(path: Path) -> dict[tuple[str, str], LatencyLimit]:
    data = read_toml(path, SCHEMA)  # type: ignore[arg-type]
    pct = float(data["meta"]["percentile"])
    out: dict[tuple[str, str], LatencyLimit] = {}
    for row in data.get("limit", []):
        if row["scenario"] not in SCENARIOS[1:]:
            raise DataError(
                f"MLPerf limit '{row['benchmark']}' has scenario '{row['scenario']}'",
                "Use Server or Interactive (Offline has no latency limit)",
                str(path),
            )
        lim = LatencyLimit(row["benchmark"], row["scenario"], row["ttft_ms"] / 1e3, row["tpot_ms"] / 1e3, pct)
        for name in row["models"]:
            key = (str(name).lower(), row["scenario"])
            if key in out:
                raise DataError(
                    f"two MLPerf limits for model '{name}' in {row['scenario']}",
                    "List each model once per scenario",
                    str(path),
                )
            out[key] = lim
    return out


def mlperf_scenario(c: dict[str, Any]) -> str | None:
    """Offline / Server / Interactive for an MLPerf Inference case (the first word of
    ``inference_setup.scenario``), else None."""
    title = str((c.get("source") or {}).get("title") or "")
    if "mlperf inference" not in title.lower():
        return None
    words = str((c.get("inference_setup") or {}).get("scenario") or "").split()
    first = words[0].strip(".,:;()") if words else ""
    return first if first in SCENARIOS else None


def latency_limit(c: dict[str, Any], path: Path | None = None) -> LatencyLimit | None:
    """The MLPerf TTFT/TPOT limits a Server or Interactive case ran under; None for Offline, for a
    case that is not MLPerf Inference, or a benchmark the table does not list."""
    scenario = mlperf_scenario(c)
    if scenario in (None, "Offline"):
        return None
    name = str((c.get("model") or {}).get("name") or "").lower()
    return _limits(path or limits_path()).get((name, str(scenario)))


# ---- dataset token lengths (data/validation/mlperf_datasets.toml) ------------------------------

_DS_META = {
    "source": Field("str", doc="repository, commit and paths the lengths are read from"),
    "url": Field("str", doc="the repository tree at that commit"),
    "as_of": Field("date", doc="when the lengths were read (the MLPerf round)"),
}
_DATASET = {
    "benchmark": Field("str", doc="the MLPerf benchmark name (mlperf.conf key)"),
    "dataset": Field("str", doc="what the dataset is, in words"),
    "models": Field("list", doc="the suite cases' model.name values that run the benchmark"),
    "output_mean": positive(1e6, "mean generated tokens per sample (the reference's), where stated"),
    "output_source": Field("str", doc="file and figure the output mean is read from"),
    "input_mean": positive(1e7, "mean prompt tokens per sample, where a source states it"),
    "input_source": Field("str", doc="URL (commit-pinned) and locator the input mean is read from"),
    "input_as_of": Field("date", doc="when the input mean's source was published"),
    "input_basis": Field("str", doc="how the input mean was had: stated, computed, or assumed"),
    "output_percentiles": Field(
        "list",
        doc="the 0th..100th percentiles of the output tokens per sample (101 values), where a table gives them",
    ),
    "output_percentiles_source": Field(
        "str", doc="URL (commit-pinned) and how the percentiles were computed"
    ),
}
DATASET_SCHEMA = {"meta": _DS_META, "dataset": [_DATASET]}


@dataclass(frozen=True, slots=True)
class DatasetLengths:
    benchmark: str
    output_mean: float | None
    output_source: str
    input_mean: float | None
    input_basis: str | None
    output_percentiles: tuple[float, ...] = ()  # 0th..100th, the shape of the output lengths


def datasets_path() -> Path:
    return data_dir() / "validation" / "mlperf_datasets.toml"


@cache
def _datasets(path: Path) -> dict[str, DatasetLengths]:
    data = read_toml(path, DATASET_SCHEMA)  # type: ignore[arg-type]
    out: dict[str, DatasetLengths] = {}
    for row in data.get("dataset", []):
        ds = DatasetLengths(
            row["benchmark"],
            float(row["output_mean"]) if "output_mean" in row else None,
            str(row.get("output_source", "")),
            float(row["input_mean"]) if "input_mean" in row else None,
            row.get("input_basis"),
            _percentiles(row, path),
        )
        for name in row["models"]:
            if str(name).lower() in out:
                raise DataError(f"two MLPerf datasets for model '{name}'", "List each model once", str(path))
            out[str(name).lower()] = ds
    return out


def _percentiles(row: dict[str, Any], path: Path) -> tuple[float, ...]:
    raw = row.get("output_percentiles") or []
    try:
        pc = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        pc = ()
    if raw and (len(pc) != 101 or any(b < a for a, b in itertools.pairwise(pc)) or pc[0] < 0):
        raise DataError(
            f"MLPerf dataset '{row['benchmark']}': output_percentiles must be 101 non-decreasing token counts",
            "Give the 0th, 1st, ..., 100th percentiles",
            str(path),
        )
    return pc


def dataset_lengths(c: dict[str, Any], path: Path | None = None) -> DatasetLengths | None:
    """The published token lengths of the MLPerf dataset an MLPerf Inference case ran, else None."""
    if "mlperf" not in (str(c.get("source")) + str(c.get("inference_setup"))).lower():
        return None
    name = str((c.get("model") or {}).get("name") or "").lower()
    return _datasets(path or datasets_path()).get(name)

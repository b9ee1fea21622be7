"""MLPerf Inference scenarios and the per-token latency limits of their LLM benchmarks.

A suite case from MLPerf Inference states its scenario (``inference_setup.scenario``: Offline,
Server or Interactive). Offline has no latency bound: the engine takes the batch up to KV capacity.
Server and Interactive are served requests under a TTFT and a TPOT limit per benchmark, which
``data/validation/mlperf_latency_limits.toml`` holds with its source (LoadGen's ``mlperf.conf``).
LoadGen checks the limits at the 99th percentile; the serving model predicts means, and the
validator compares the mean with the limit (it says so in the case's ``assumed``).
"""

from __future__ import annotations

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

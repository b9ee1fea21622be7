"""Tables as CSV: the same records the ``--json`` output holds, flattened to columns.

Nested mappings become ``outer.inner`` columns (``peak_tflops_dense.bf16``, ``time_s.compute``);
lists are joined with ``;``. Values stay in the units their column names state.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Chip, System
from xpuplan.report.terminal import chip_dict, model_dict, price_dict, system_dict
from xpuplan.workload.model import Model


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list | tuple):
            out[key] = ";".join(str(x) for x in v)
        else:
            out[key] = v
    return out


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(v: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text starting with ``= + - @`` (or a tab or
    carriage return) gets a leading ``'`` (OWASP "CSV injection"); numbers stay numbers."""
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v


def records_csv(records: Iterable[Mapping[str, Any]], drop: tuple[str, ...] = ("provenance",)) -> str:
    """CSV text of ``records``: columns are every flattened key, in first-seen order."""
    rows = [
        {cell(k): cell(v) for k, v in _flat({k: v for k, v in r.items() if k not in drop}).items()}
        for r in records
    ]
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cols), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def chips_csv(chips: Iterable[Chip]) -> str:
    return records_csv(chip_dict(c) for c in sorted(chips, key=lambda c: (c.vendor, c.id)))


def systems_csv(systems: Iterable[System]) -> str:
    return records_csv(system_dict(s) for s in sorted(systems, key=lambda s: s.id))


def prices_csv(cat: Catalog) -> str:
    prices = sorted(cat.prices, key=lambda p: (p.system, p.pricing.value))
    return records_csv(price_dict(p, cat) for p in prices)


def models_csv(models: Iterable[Model]) -> str:
    rows = []
    for m in sorted(models, key=lambda m: m.id):
        d = model_dict(m)
        d["moe"] = d["moe"] or {}
        rows.append(d)
    return records_csv(rows)


def search_csv(res: Any) -> str:
    """The top layouts of a training search (or one estimate), best first."""
    ests = res.top if hasattr(res, "top") else [res]
    return records_csv({"rank": i, **e.to_dict()} for i, e in enumerate(ests, 1))


def serve_csv(res: Any) -> str:
    """The latency–throughput curve of the best serving layout (one row per batch)."""
    return records_csv(p.to_dict() for p in res.curve)


def validation_csv(results: Iterable[Any]) -> str:
    return records_csv(r.to_dict() for r in results)

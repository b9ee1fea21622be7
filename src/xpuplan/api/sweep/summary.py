"""What a study's rows say: per case, each offer's cheapest and fastest point, the Pareto front of
time against cost (overall and per vendor), and the break-even price at which an offer overtakes
the cheapest one. Plain dicts for ``sweep show``, ``--json`` and the HTML report; nothing prints.

A *case* is one job: the rows that share compute, model, precision, stack, scenario and mix. An
*offer* is one system at one price kind; its points are the cluster sizes of the study.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

CASE_KEYS = ("compute", "model", "precision", "stack", "scenario", "mix")
POINT_KEYS = (
    "system",
    "pricing",
    "vendor",
    "chip",
    "chips_used",
    "layout",
    "time_s",
    "cost_usd",
    "energy_j",
    "usd_per_million_tokens",
    "mfu",
)


def _priced(r: dict[str, Any]) -> bool:
    c, t = r.get("cost_usd"), r.get("time_s")
    return r["status"] == "ok" and c is not None and t is not None and math.isfinite(c) and math.isfinite(t)


def pareto(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row beats on both time and cost (both minimised), fastest first."""
    front: list[dict[str, Any]] = []
    best = math.inf
    for r in sorted(rows, key=lambda r: (r["time_s"], r["cost_usd"])):
        if r["cost_usd"] < best:
            front.append(r)
            best = r["cost_usd"]
    return front


def _brief(r: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if r is None else {k: r.get(k) for k in POINT_KEYS}


def _offers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["system"], r["pricing"]), []).append(r)
    out = []
    for (system, pricing), rs in by.items():
        ok = [r for r in rs if _priced(r)]
        timed = [r for r in rs if r["status"] == "ok" and r.get("time_s") is not None]
        status = Counter(r["status"] for r in rs)
        out.append(
            {
                "offer": f"{system} ({pricing})",
                "system": system,
                "pricing": pricing,
                "vendor": rs[0]["vendor"],
                "chip": rs[0]["chip"],
                "points": len(rs),
                "statuses": dict(status),
                "unpriced": sum(1 for r in rs if r["status"] == "ok" and r.get("cost_usd") is None),
                "usd_per_chip_hour": next(
                    (r["usd_per_chip_hour"] for r in rs if r.get("usd_per_chip_hour")), None
                ),
                "cheapest": _brief(min(ok, key=lambda r: (r["cost_usd"], r["time_s"]), default=None)),
                "fastest": _brief(
                    min(timed, key=lambda r: (r["time_s"], r.get("cost_usd") or 0), default=None)
                ),
            }
        )
    return out


def _break_even(offers: list[dict[str, Any]]) -> None:
    """Attach, to each priced offer, the price per chip-hour at which its cheapest point costs the
    same as the cheapest offer's (cost is proportional to price at every size, so the cheapest
    size stays the cheapest). For the leader: the price up to which it stays cheapest."""
    priced = sorted(
        (o for o in offers if o["cheapest"] and o["usd_per_chip_hour"]),
        key=lambda o: o["cheapest"]["cost_usd"],
    )
    for o in offers:
        o.update(leader=False, break_even_ratio=None, break_even_usd_per_chip_hour=None)
    if not priced:
        return
    lead = priced[0]
    lead["leader"] = True
    for o in priced:
        other = priced[1] if o is lead and len(priced) > 1 else lead
        if other is o:
            continue
        ratio = other["cheapest"]["cost_usd"] / o["cheapest"]["cost_usd"]
        o["break_even_ratio"] = ratio
        o["break_even_usd_per_chip_hour"] = o["usd_per_chip_hour"] * ratio


def _case(key: tuple[Any, ...], rows: list[dict[str, Any]]) -> dict[str, Any]:
    case = dict(zip(CASE_KEYS, key, strict=True))
    offers = _offers(rows)
    _break_even(offers)
    offers.sort(
        key=lambda o: (o["cheapest"] is None, (o["cheapest"] or {}).get("cost_usd") or 0.0, o["offer"])
    )
    ok = [r for r in rows if _priced(r)]
    vendors = sorted({r["vendor"] for r in ok})
    reasons = Counter(  # by kind: "misses the 90-day deadline (742 days)" counts as its first part
        r["reason"].split(" (")[0]
        for r in rows
        if r["status"] in ("infeasible", "constrained") and r.get("reason")
    )
    errors = Counter(r["error"] for r in rows if r["status"] == "error")
    train = case["compute"] == "train"
    return {
        "case": case,
        "label": " · ".join(str(v) for k, v in case.items() if v not in (None, "none") and k != "compute"),
        "time_unit": "days"
        if train and any(r.get("tokens") for r in rows)
        else ("step s" if train else "request s"),
        "points": len(rows),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "offers": offers,
        "pareto": [_brief(r) for r in pareto(ok)],
        "vendor_pareto": {v: [_brief(r) for r in pareto(r for r in ok if r["vendor"] == v)] for v in vendors},
        "reasons": dict(reasons.most_common(5)),
        "errors": dict(errors.most_common(5)),
    }


def cases(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in CASE_KEYS), []).append(r)
    return out


def summarise_rows(rows: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of a study's rows (see the module docstring)."""
    m = manifest or {}
    return {
        "study": m.get("study"),
        "study_file": m.get("study_file"),
        "points_expected": m.get("points"),
        "points": len(rows),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "versions": sorted({f"catalog {r['catalog_version']}, model {r['model_version']}" for r in rows}),
        "cases": [_case(k, rs) for k, rs in cases(rows).items()],
    }


def series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per offer, its priced points ordered by cluster size (the lines of the cost–time plot)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted((r for r in rows if _priced(r)), key=lambda r: r["chips_used"] or 0):
        out.setdefault(f"{r['system']} ({r['pricing']})", []).append(_brief(r) or {})
    return out

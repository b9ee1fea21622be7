"""The plan as terminal tables and CSV rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from xpuplan.planner.plan import PlanResult
from xpuplan.report import fmt, wording
from xpuplan.report.csv_out import cell
from xpuplan.report.hybrid_view import print_hybrid
from xpuplan.report.legend import SERVE_LEGEND, TRAIN_LEGEND
from xpuplan.units import SECONDS_PER_DAY

CSV_COLUMNS = (
    "job",
    "kind",
    "rank",
    "system",
    "chip",
    "vendor",
    "chips",
    "layout",
    "chips_used",
    "utilisation",
    "time_days",
    "latency_s",
    "cost_usd",
    "energy_mwh",
    "facility_mw",
    "energy_estimated",
    "pricing",
    "price_as_of",
    "feasible",
    "reason",
    "savings_vs_baseline",
    "price_performance_vs_baseline",
    "published_mfu",
    "mfu_above_published",
)


def plan_rows(r: PlanResult) -> list[dict[str, Any]]:
    rows = []
    for j in r.jobs:
        for i, o in enumerate(j.options, 1):
            rows.append(
                {
                    "job": o.job,
                    "kind": o.kind,
                    "rank": i,
                    "system": o.system,
                    "chip": o.chip,
                    "vendor": o.vendor,
                    "chips": o.chips,
                    "layout": o.layout,
                    "chips_used": o.chips_used or o.chips,
                    "utilisation": o.utilisation,
                    "time_days": None
                    if o.kind == "serve" or o.time_s is None
                    else o.time_s / SECONDS_PER_DAY,
                    "latency_s": o.time_s if o.kind == "serve" else None,
                    "cost_usd": o.cost_usd,
                    "energy_mwh": None if o.energy_j is None else o.energy_j / 3.6e9,
                    "facility_mw": o.facility_mw,
                    "energy_estimated": o.energy_estimated,
                    "pricing": o.pricing,
                    "price_as_of": o.price_as_of,
                    "feasible": o.feasible,
                    "reason": wording.reason(o.why),
                    "savings_vs_baseline": o.savings_vs_baseline,
                    "price_performance_vs_baseline": o.price_perf_vs_baseline,
                    "published_mfu": o.published_mfu,
                    "mfu_above_published": o.mfu_above_published,
                }
            )
    return rows


def plan_csv(r: PlanResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for row in plan_rows(r):
        w.writerow({k: cell(v) for k, v in row.items()})
    return buf.getvalue()


def objective_value(objective: str, value: float | None) -> str:
    """The fleet objective with its unit: dollars, energy (kWh/MWh), or the makespan."""
    if value is None:
        return "—"
    if objective == "cost":
        return fmt.money(value)
    if objective == "energy":
        return fmt.energy(value)
    return f"{fmt.duration(value)} (makespan)"


def _vs(o: Any) -> str:
    if o.savings_vs_baseline is None or o.price_perf_vs_baseline is None:
        return "—"
    return f"{o.savings_vs_baseline * 100:+.0f}% cost · {o.price_perf_vs_baseline:.2f}× perf/$"


def print_plan(console: Console, r: PlanResult) -> None:
    sc = r.scenario
    console.print(f"[bold]{fmt.safe(sc.name)}[/] — objective: {sc.objective}; baseline: {sc.baseline or '—'}")
    specs = {s.name: s for s in sc.jobs} | {x.name: x for h in r.hybrid for x in h.server_specs}
    for h in r.hybrid:
        print_hybrid(console, h)
    for j in r.jobs:
        spec = specs[j.job]
        title = f"{fmt.safe(j.job)} ({j.kind}, {getattr(spec, 'model', '')})"
        t = Table(title=title, header_style="bold", title_justify="left")
        serve = j.kind == "serve"
        ttft = getattr(spec, "ttft_ms", None)
        tpot = getattr(spec, "tpot_ms", None)
        cols = [
            "#",
            "system",
            "chips",
            "layout",
            "latency" if serve else "MFU",
            f"TTFT (≤ {fmt.duration(ttft / 1e3)})" if serve and ttft else "",
            f"TPOT (≤ {fmt.duration(tpot / 1e3)})" if serve and tpot else "",
            "" if serve else "time",
            "cost",
            "energy",
            "power",
            "vs baseline",
        ]
        for col in cols:
            if col:
                t.add_column(col, justify="left" if col in ("system", "layout") else "right")
        for i, o in enumerate(j.options, 1):
            if not o.feasible and o.cost_usd is None:
                cells = [
                    str(i),
                    o.system,
                    f"{o.chips:,}" if o.chips else "—",
                    f"[dim]{fmt.safe(wording.reason(o.why), 1000)}[/]",
                ]
                cells += [""] * (len(t.columns) - len(cells))
                t.add_row(*cells)
                continue
            style = "" if o.feasible else "dim"
            first = fmt.duration(o.time_s) if serve else fmt.pct(o.utilisation)
            if o.mfu_above_published is not None:
                first += " [yellow]![/]"  # above every comparable published run: see the note below
            lay = (o.layout or "—") + wording.chips_idle(o.chips_used, o.chips)
            cells = [str(i), o.system, f"{o.chips:,}", lay, first]
            got = ((o.detail or {}).get("plan") or {}) if serve else {}
            if serve and ttft:
                cells.append(fmt.duration(got.get("ttft_s")))
            if serve and tpot:
                cells.append(fmt.duration(got.get("tpot_s")))
            if not serve:
                cells.append(fmt.duration(o.time_s))
            cells += [
                fmt.money(o.cost_usd),
                fmt.energy(o.energy_j) + (" est." if o.energy_estimated else ""),
                fmt.megawatts(o.facility_mw) + (" est." if o.energy_estimated else ""),
                _vs(o) if o.feasible else f"[red]{fmt.safe(wording.reason(o.why), 1000)}[/]",
            ]
            t.add_row(*cells, style=style)
        console.print(t)
        ok = [o for o in j.options if o.feasible]
        if len(ok) >= 2 and ok[0].interval is not None:
            same = ok[0].overlaps(ok[1], sc.objective)
            if same is not None:
                iv = ok[0].interval
                console.print(
                    f"  80% intervals ({iv.basis}, cross-validated): {ok[0].system} and {ok[1].system} "
                    + ("overlap — the ranking of these two is not certain" if same else "do not overlap")
                )
        for note in filter(None, map(wording.mfu_flag, j.options)):
            console.print(
                f"  [yellow]! {fmt.safe(note, 1000)} (xpuplan train --search says which term differs)[/]"
            )
        console.print(f"[dim]  {SERVE_LEGEND if serve else TRAIN_LEGEND}[/]")
        s = j.sensitivity
        if s and s.runner_up and s.break_even_price_ratio:
            console.print(
                f"  runner-up {s.runner_up} would win if its price fell to "
                f"{s.break_even_price_ratio:.2f}× today's, or its throughput rose "
                f"{s.break_even_efficiency_ratio:.2f}×; {s.winner} at "
                + ", ".join(f"{w['case']}: {'still best' if w['still_best'] else 'loses'}" for w in s.what_if)
            )
    f = r.fleet
    console.print(
        f"[bold]fleet plan[/] ({f.objective}): "
        + (
            objective_value(f.objective, f.value)
            if f.status == "optimal"
            else f"[red]{fmt.safe(wording.fleet_reason(r), 1000)}[/]"
        )
    )
    for fo, count in f.assignment:
        n = round(count)
        if fo.kind == "serve":
            part = (
                f" in {n:,} group{'s' if n != 1 else ''} ({wording.fleet_unit(fo)}), "
                f"capacity for {min(1.0, n * fo.capacity / fo.demand):.0%} of the requests, {fmt.money(fo.cost_usd * n)}"
            )
        else:
            part = f" ({wording.fleet_unit(fo)}), {fmt.money(fo.cost_usd)}"
        console.print(f"  {fmt.safe(fo.job)}: {fo.system} × {fo.chips * n:,} chips{part}")
    for b in f.binding:
        console.print(f"  [yellow]{fmt.safe(wording.binding_text(b, f.objective), 1000)}[/]")
    for note in wording.result_notes(r):
        console.print(f"[dim]• {fmt.safe(note, 2000)}[/]")

"""Sweeps on screen and in HTML: the progress bar with its ETA, the run's tally, the study summary
(offers, Pareto fronts, break-even prices) and the study's report page. Renders only: the numbers
come from :mod:`xpuplan.api.sweep`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from xpuplan.report import fmt
from xpuplan.report.html import CSS, _e, _Figures, _hover, _pareto_front, _table, _time_cost
from xpuplan.report.terminal import progress_ticks
from xpuplan.units import SECONDS_PER_DAY

MAX_FRONT = 12  # Pareto points listed per case in the terminal


def sweep_progress(
    console: Console, quiet: bool = False
) -> AbstractContextManager[Callable[[int, int], None]]:
    """``tick(done, total)`` drawing points done, elapsed time and the ETA (terminals only)."""
    columns = (
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return progress_ticks(console, quiet, columns, "sweep", None)


def print_run(console: Console, run: dict[str, Any]) -> None:
    tally = ", ".join(f"{n:,} {s}" for s, n in sorted(run["statuses"].items())) or "nothing new"
    console.print(
        f"[bold]{run['study']}[/]: {run['points']:,} points, {run['computed']:,} computed now ({tally}), "
        f"{run['resumed']:,} already done · {run['engine']} engine, {run['workers']} workers, "
        f"{run['batch']} points per task · {fmt.duration(run['wall_s'])}"
    )
    if run["lost"]:
        console.print(f"[yellow]{run['lost']:,} points lost with their worker: run again with --resume[/]")
    console.print(f"wrote {run['out']} (xpuplan sweep show {run['out']})")


def _offers_table(case: dict[str, Any]) -> Table:
    t = Table(title=f"{case['label']}: cheapest and fastest point of each offer", title_justify="left")
    for col in (
        "system (price kind)",
        "$/chip-h",
        "ok/points",
        "cheapest",
        "time",
        "cost",
        "fastest",
        "time",
        "cost",
        "break-even $/chip-h",
    ):
        t.add_column(col, justify="left" if col.startswith(("system", "cheapest", "fastest")) else "right")
    for o in case["offers"]:
        c, f = o["cheapest"] or {}, o["fastest"] or {}
        be = o["break_even_usd_per_chip_hour"]
        be_txt = "—" if be is None else f"{be:,.2f}" + (" (leads up to)" if o["leader"] else "")
        t.add_row(
            o["offer"],
            "—" if o["usd_per_chip_hour"] is None else f"{o['usd_per_chip_hour']:,.3f}",
            f"{o['statuses'].get('ok', 0)}/{o['points']}",
            f"{c['chips_used']:,} chips" if c else ("unpriced" if o["unpriced"] else "—"),
            fmt.duration(c.get("time_s")),
            fmt.money(c.get("cost_usd")),
            f"{f['chips_used']:,} chips" if f else "—",
            fmt.duration(f.get("time_s")),
            fmt.money(f.get("cost_usd")),
            be_txt,
            style="bold green" if o["leader"] else None,
        )
    return t


def print_summary(console: Console, s: dict[str, Any]) -> None:
    tally = ", ".join(f"{n:,} {k}" for k, n in sorted(s["statuses"].items()))
    expected = s.get("points_expected")
    of = f" of {expected:,}" if expected and expected != s["points"] else ""
    console.print(
        f"[bold]{s.get('study') or s['dataset']}[/]: {s['points']:,}{of} points ({tally}) in {s['dataset']}"
    )
    for v in s["versions"]:
        console.print(f"  computed with {v}")
    for case in s["cases"]:
        console.print()
        console.print(_offers_table(case))
        front = case["pareto"]
        if front:
            console.print(f"Pareto front (time vs cost), {len(front)} point(s):")
            for p in front[:MAX_FRONT]:
                console.print(
                    f"  {p['system']} ({p['pricing']}) × {p['chips_used']:,}: {fmt.duration(p['time_s'])}, "
                    f"{fmt.money(p['cost_usd'])} · {p['layout']}"
                )
        for vendor, pts in case["vendor_pareto"].items():
            best = ", ".join(
                f"{p['chips_used']:,}×{p['chip']} {fmt.duration(p['time_s'])}/{fmt.money(p['cost_usd'])}"
                for p in pts[:4]
            )
            console.print(f"  [dim]{vendor} front:[/] {best}" + (" …" if len(pts) > 4 else ""))
        for why, n in case["reasons"].items():
            console.print(f"  [dim]{n:,} not ok: {why}[/]")
        for err, n in case["errors"].items():
            console.print(f"  [red]{n:,} error(s):[/] {err}")
    console.print(
        "\nBreak-even: the price per chip-hour at which an offer's cheapest point costs as much as the "
        "leader's (for the leader: the price up to which it stays cheapest)."
    )


# ---- HTML -----------------------------------------------------------------------------------------


def _scale(case: dict[str, Any]) -> tuple[float, str]:
    if case["time_unit"] == "days":
        return SECONDS_PER_DAY, "time to train (days)"
    return 1.0, "step time (s)" if case["time_unit"] == "step s" else "end-to-end latency per request (s)"


def _time_cost_figure(
    case: dict[str, Any], title: str, series: dict[str, Any], text: Callable[[str, Any], str], **style: Any
) -> tuple[Any, float]:
    """A log-log cost-vs-time figure of ``case``, one trace per ``series`` item (name → points,
    hover text ``text(name, point)``); with the time scale of its x axis."""
    import plotly.graph_objects as go

    scale, xlabel = _scale(case)
    fig = go.Figure()
    for name, pts in series.items():
        fig.add_trace(_hover(*_time_cost(pts, scale), name, [text(name, p) for p in pts], **style))
    fig.update_layout(
        title=f"{case['label']}: {title}",
        xaxis={"title": xlabel, "type": "log"},
        yaxis={"title": "cost (USD)", "type": "log"},
    )
    return fig, scale


def _cost_time(figs: _Figures, case: dict[str, Any]) -> str:
    fig, scale = _time_cost_figure(
        case,
        "cost vs time, each offer across cluster sizes",
        case["series"],
        lambda name, p: (
            f"{_e(name)} × {p['chips_used']:,}<br>{_e(p['layout'])}<br>{fmt.duration(p['time_s'])}, {fmt.money(p['cost_usd'])}"
        ),
    )
    front = case["pareto"]
    if front:
        fig.add_trace(_pareto_front(*_time_cost(front, scale)))
    cap = (
        "Each line is one system at one price kind, its points the cluster sizes of the study (hover for "
        "the size and layout); only points that meet the scenario's constraints and have a price of that kind."
    )
    return figs.div(fig, cap)


def _vendor_fronts(figs: _Figures, case: dict[str, Any]) -> str:
    fig, _ = _time_cost_figure(
        case,
        "Pareto front per vendor",
        case["vendor_pareto"],
        lambda _, p: f"{_e(p['system'])} ({_e(p['pricing'])}) × {p['chips_used']:,}<br>{_e(p['layout'])}",
        line={"shape": "hv"},
    )
    return figs.div(
        fig, "Per chip vendor, the points no other point of that vendor beats on both time and cost."
    )


def _break_even(figs: _Figures, case: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    offers = [o for o in case["offers"] if o["break_even_usd_per_chip_hour"] is not None]
    if not offers:
        return ""
    names = [o["offer"] for o in offers]
    fig = go.Figure(
        [
            go.Bar(
                name="price today",
                x=names,
                y=[o["usd_per_chip_hour"] for o in offers],
                marker_color="#1f77b4",
            ),
            go.Bar(
                name="break-even price",
                x=names,
                y=[o["break_even_usd_per_chip_hour"] for o in offers],
                marker_color="#ff7f0e",
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"{case['label']}: break-even price per chip-hour",
        yaxis={"title": "USD per chip-hour"},
    )
    lead = next((o["offer"] for o in offers if o["leader"]), "the leader")
    cap = (
        f"Orange: the price at which each offer's cheapest point would cost as much as that of {_e(lead)}, "
        "the cheapest today (for the leader itself: the price up to which it stays cheapest)."
    )
    return figs.div(fig, cap)


def _summary_table(case: dict[str, Any]) -> str:
    head = [
        "system (price kind)",
        "vendor",
        "$/chip-h",
        "ok / points",
        "cheapest point",
        "cost",
        "fastest point",
        "break-even $/chip-h",
    ]
    rows, classes = [], []
    for o in case["offers"]:
        c, f = o["cheapest"] or {}, o["fastest"] or {}
        be = o["break_even_usd_per_chip_hour"]
        rows.append(
            [
                _e(o["offer"]),
                _e(o["vendor"]),
                "—" if o["usd_per_chip_hour"] is None else f"{o['usd_per_chip_hour']:,.3f}",
                f"{o['statuses'].get('ok', 0)} / {o['points']}",
                _e(f"{c['chips_used']:,} chips, {fmt.duration(c['time_s'])}") if c else "—",
                fmt.money(c.get("cost_usd")),
                _e(f"{f['chips_used']:,} chips, {fmt.duration(f['time_s'])}") if f else "—",
                "—" if be is None else f"{be:,.2f}",
            ]
        )
        classes.append("best" if o["leader"] else ("" if c else "no"))
    return _table(head, rows, classes, left=2)


def render_study_html(data: dict[str, Any], version: str = "") -> str:
    """The study's report as one self-contained HTML document (Plotly inlined)."""
    from plotly.offline import get_plotlyjs

    figs = _Figures()
    title = f"Study: {data.get('study') or data['dataset']}"
    tally = ", ".join(f"{n:,} {k}" for k, n in sorted(data["statuses"].items()))
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">xpuplan {_e(version)} · generated {_e(data["generated"])} · {data["points"]:,} points '
        f"({_e(tally)}) · dataset <code>{_e(data['dataset'])}</code> · {_e('; '.join(data['versions']))}</p>",
    ]
    for case in data["cases"]:
        body.append(f"<h2>{_e(case['label'])}</h2>")
        body.append(f'<section class="card">{_summary_table(case)}</section>')
        body += [_cost_time(figs, case), _vendor_fronts(figs, case), _break_even(figs, case)]
    if data.get("cases_left_out"):
        body.append(
            f"<p>{data['cases_left_out']} more case(s) in the dataset: query it (docs/sweeps.md).</p>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        f"</head><body><main>{''.join(body)}</main></body></html>\n"
    )

"""The plan as a terminal table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from xpuplan.planner.plan import PlanResult
from xpuplan.report import fmt


def print_plan(console: Console, r: PlanResult) -> None:
    sc = r.scenario
    console.print(
        f"[bold]{sc.name}[/]: {sc.tokens / 1e12:g}T tokens, seq {sc.seq_len:,}, "
        f"global batch {sc.global_batch:,}, {sc.precision}, deadline {sc.deadline_days:g} days; "
        f"baseline {sc.baseline}"
    )
    t = Table(header_style="bold", title="ranked by cost (feasible first)")
    for col in (
        "#",
        "system",
        "chips",
        "layout",
        "MFU",
        "time",
        "cost",
        "energy",
        "MW",
        "vs baseline",
    ):
        t.add_column(col, justify="left" if col in ("system", "layout") else "right", overflow="fold")
    for i, o in enumerate(r.options, 1):
        if o.estimate is None:
            t.add_row(str(i), o.system, f"{o.chips:,}", f"[dim]{o.reason}[/]", "", "", "", "", "", "")
            continue
        vs = "—"
        if o.savings_vs_baseline is not None and o.price_perf_vs_baseline is not None:
            vs = f"{o.savings_vs_baseline * 100:+.0f}% cost, {o.price_perf_vs_baseline:.2f}× perf/$"
        time = fmt.duration(o.time_s) + ("" if o.meets_deadline else " [red](late)[/]")
        t.add_row(
            str(i),
            o.system,
            f"{o.chips:,}",
            o.estimate.layout.describe(),
            fmt.pct(o.estimate.mfu),
            time,
            fmt.money(o.cost_usd),
            fmt.energy(o.energy_j),
            "—" if o.facility_mw is None else f"{o.facility_mw:.1f}",
            vs,
        )
    console.print(t)
    for n in r.notes:
        console.print(f"[dim]• {n}[/]")

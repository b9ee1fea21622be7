"""Hybrid jobs in words and tables: where each request class runs, the server fleet, cost per
million requests, device energy and the break-evens that would move a class between tiers."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from xpuplan.planner.hybrid import HybridPlan
from xpuplan.report import fmt, wording


def _mwh(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} mWh"


def where_text(c: dict[str, Any]) -> str:
    """'84% device · 16% not served' and the like (``c``: a ClassPlan's dict)."""
    parts = [
        f"{share:.0%} {label}"
        for share, label in (
            (c["device_share"], "device"),
            (c["server_share"], c["server_tier"] or "server"),
            (c["unserved_share"], "not served"),
        )
        if share > 0.0005
    ]
    return " · ".join(parts) or "—"


def break_even_lines(c: dict[str, Any]) -> list[str]:
    """What would move the class between tiers, in words (``c``: a ClassPlan's dict)."""
    b: dict[str, Any] = c["break_even"]
    out = []
    if "device_speedup_first" in b:
        out.append(
            f"more of it runs on the device if devices get {b['device_speedup_first']:.2f}× faster "
            f"(all of it at {b['device_speedup_all']:.2f}×)"
        )
    if "app_memory_needed_gib" in b:
        out.append(f"fits on the device with {b['app_memory_needed_gib']:.1f} GiB of app memory")
    if "latency_target_moves_off_device_ms" in b and c["device_share"] > 0:
        out.append(
            f"leaves the device if its latency target drops below {b['latency_target_moves_off_device_ms']:,.0f} ms"
        )
    if "runner_up_system" in b:
        out.append(
            f"moves to {b['runner_up_system']} ({b['runner_up_tier']}) if its price falls to "
            f"{b['runner_up_price_factor']:.2f}× today's"
        )
    if "server_usd_per_device_kwh" in b:
        out.append(
            f"a server request costs what a device request would at {fmt.money(b['server_usd_per_device_kwh'])}"
            " per kWh of device energy"
        )
    return out


def print_hybrid(console: Console, h: HybridPlan) -> None:
    per_m = fmt.money(h.usd_per_million_requests)
    console.print(
        f"[bold]{h.job}[/] (hybrid): {h.requests_per_day / 1e6:,.0f} M requests a day; servers "
        f"{fmt.money(h.server_cost_usd)} per {h.hours:g} h = {per_m} per million requests (all requests; "
        f"on-device ones cost the operator nothing); device energy {_mwh(h.device_energy_mwh_per_request)} "
        "per on-device request"
    )
    t = Table(title="where each request class runs", header_style="bold", title_justify="left")
    for col in (
        "class",
        "privacy",
        "M req/day",
        "where",
        "device latency",
        "device energy",
        "server",
        "server latency",
        "$/M requests",
    ):
        t.add_column(col, justify="left" if col in ("class", "where", "server", "privacy") else "right")
    for c in h.classes:
        server = "—" if c.server_system is None else f"{c.server_system} × {c.server_chips:,}"
        if c.server_job and c.server_system is None:
            server = "[red]no pool meets the target[/]"
        t.add_row(
            c.name,
            c.privacy,
            f"{c.requests_per_day / 1e6:,.0f}",
            where_text(c.to_dict()),
            fmt.duration(c.device_latency_s),
            _mwh(c.device_energy_mwh),
            server,
            fmt.duration(c.server_latency_s),
            fmt.money(c.usd_per_million_requests) if c.server_job else "$0",
        )
    console.print(t)
    for c in h.classes:
        why = "; ".join(f"{wording.reason(k)} ({v / 1e6:,.0f} M/day)" for k, v in c.reasons.items())
        lines = break_even_lines(c.to_dict())
        if why or lines:
            console.print(
                f"  [bold]{c.name}[/]: " + "; ".join(([f"off the device: {why}"] if why else []) + lines)
            )
    d = Table(title="devices", header_style="bold", title_justify="left")
    for col in ("group", "devices", "M req/day", "on device", "Wh/day", "battery/day"):
        d.add_column(col, justify="left" if col == "group" else "right")
    for g in h.devices:
        est = " est." if g["power_estimated"] else ""
        d.add_row(
            g["name"],
            f"{g['count'] / 1e6:,.0f} M",
            f"{g['requests_per_day'] / 1e6:,.0f}",
            fmt.pct(g["on_device_share"]),
            f"{g['device_wh_per_day']:.3f}{est}",
            "—" if g["battery_share_per_day"] is None else fmt.pct(g["battery_share_per_day"]) + est,
        )
    console.print(d)
    if h.pools:
        console.print(
            "  server fleet (sized for "
            f"{h.peak_to_mean:g}× the mean rate): "
            + "; ".join(
                f"{p['class']} → {p['system']} × {p['chips']:,} chips ({p['layout']})" for p in h.pools
            )
        )

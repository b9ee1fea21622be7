"""Human units: the only place SI values become days, $M, MWh, GiB, TFLOP/s."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from xpuplan.datafiles import strip_controls
from xpuplan.units import GIB, SECONDS_PER_DAY, SECONDS_PER_HOUR


def duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 2 * SECONDS_PER_HOUR:
        return f"{s / 60:.1f} min"
    if s < 2 * SECONDS_PER_DAY:
        return f"{s / SECONDS_PER_HOUR:.1f} h"
    return f"{s / SECONDS_PER_DAY:.1f} days"


def money(usd: float | None) -> str:
    if usd is None or not math.isfinite(usd):
        return "—"
    if abs(usd) >= 1e9:
        return f"${usd / 1e9:.2f}B"
    if abs(usd) >= 1e6:
        return f"${usd / 1e6:.2f}M"
    if abs(usd) >= 1e3:
        return f"${usd / 1e3:.1f}k"
    return f"${usd:.2f}"


def energy(j: float | None) -> str:
    if j is None or not math.isfinite(j):
        return "—"
    mwh = j / 3.6e9
    if mwh >= 1000:
        return f"{mwh / 1000:.2f} GWh"
    if mwh >= 1:
        return f"{mwh:.1f} MWh"
    return f"{mwh * 1000:.1f} kWh"


def gib(b: float | None) -> str:
    return "—" if b is None else f"{b / GIB:.1f} GiB"


def flops(f: float | None) -> str:
    if f is None or not math.isfinite(f):
        return "—"
    return f"{f / 1e12:,.0f}" if f >= 1e13 else f"{f / 1e12:,.1f}"


def pct(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x * 100:.1f}%"


def count(n: float) -> str:
    return f"{n:,.0f}"


def megawatts(mw: float | None) -> str:
    if mw is None or not math.isfinite(mw):
        return "—"
    return f"{mw:.1f} MW" if mw >= 1 else f"{mw * 1000:.0f} kW"


SAFE_LEN = 200  # characters of a name shown in a table or a line


def safe(text: object, limit: int = SAFE_LEN) -> str:
    """A string from a file or the command line, made safe to print through Rich: control
    characters (ANSI/OSC escapes) removed, markup escaped (``[/bold]`` prints as itself), and cut
    to ``limit`` characters so a 100,000-character name costs no more than a short one."""
    from rich.markup import escape

    s = strip_controls(str(text))
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return escape(s)


def interval_line(iv: Any, what: str, lo: float, hi: float, unit: Callable[[float], str]) -> str:
    """One sentence giving a prediction's 80% interval and where it comes from."""
    return (
        f"80% interval for {what}: {unit(lo)} – {unit(hi)} "
        f"(cross-validated errors of {iv.basis}, {iv.n} cases)"
    )


def priced_on(e: Any) -> str:
    """The prefix of a cost line: the system and its price basis ("on aws-p5.48xlarge (on-demand,
    price as of 2026-11-01): "); ``e``: a result's ``economics``."""
    return f"on {e.system} ({e.pricing}, price as of {e.price_as_of}): "


def pue_basis(e: Any) -> str:
    """The suffix of an energy line: "at PUE 1.20 (chips at TDP plus host power)", the TDP said
    to be an estimate where it is (hardware.pricing.power_w: the one power sum)."""
    tdp = "an estimated TDP" if e.power_estimated else "TDP"
    return f"at PUE {e.pue:.2f} (chips at {tdp} plus host power)"


def money_lines(e: Any, cost: str | None, energy: str | None) -> list[str]:
    """A result's cost line (on its system and price basis) and energy line (at its PUE), each
    where the result has the figure (None: the catalog lacks a price or a TDP)."""
    out = [priced_on(e) + cost] if cost is not None else []
    return out + ([f"{energy} {pue_basis(e)}"] if energy is not None else [])

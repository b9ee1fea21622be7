"""The ranking cases of ``xpuplan validate``: Kendall's tau-b per group, in-sample and under CV."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from xpuplan.report import fmt


def _tau(r: Any | None) -> str:
    if r is None:
        return "—"
    if r.tau is None:
        return "[dim]no order[/]"
    colour = "green" if r.ok else "red"
    return f"[{colour}]{r.tau:+.2f}[/]"


def print_rankings(console: Console, rankings: list[Any], cv: list[Any] | None = None) -> None:
    """One row per ranking group: what varies, how many cases, tau-b (in-sample, and under
    cross-validation when given), and the stated reason where the group is an expected failure."""
    if not rankings:
        return
    by_cv = {r.group.id: r for r in cv or []}
    t = Table(title="ranking cases: Kendall's tau-b, predicted vs measured order (target ≥ 0.8)")
    cols = ["group", "n", "varies", "in-sample tau", *(["CV tau"] if cv is not None else []), "note"]
    for col in cols:
        t.add_column(col, justify="right" if "tau" in col or col == "n" else "left", overflow="fold")
    for r in rankings:
        note = r.reason or (f"xfail: {r.group.xfail}" if r.group.xfail else "")
        row = [fmt.safe(r.group.id), str(len(r.group.cases)), fmt.safe(r.group.varies, 80), _tau(r)]
        if cv is not None:
            row.append(_tau(by_cv.get(r.group.id)))
        t.add_row(*row, f"[dim]{fmt.safe(note, 160)}[/]")
    console.print(t)
    final = cv if cv is not None else rankings
    met = sum(1 for r in final if r.ok)
    xfail = sum(1 for r in final if not r.ok and r.group.xfail)
    which = "cross-validated" if cv is not None else "in-sample"
    console.print(
        f"{met} of {len(final)} ranking groups at tau ≥ 0.8 ({which}); {xfail} below it with a stated reason (xfail)"
    )

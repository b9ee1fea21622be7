"""Tables as lists of columns: each header beside the cell it shows of a row's record."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

Column = tuple[str, Callable[[Any], str]]  # a header and the cell it shows of a row's record


def table(
    title: str | None, columns: Sequence[Column], rows: Iterable[Any], left: Container[str] | None = None
) -> Table:
    """A table of ``rows``, one cell per column; ``left``: the columns set flush left (None: all)."""
    t = Table(title=title, header_style="bold")
    for name, _ in columns:
        t.add_column(name, justify="left" if left is None or name in left else "right")
    for r in rows:
        t.add_row(*(cell(r) for _, cell in columns))
    return t


def dash(x: float | None, spec: str) -> str:
    """``x`` formatted by ``spec``, or a dash where there is no value."""
    return "—" if x is None else format(x, spec)


def search_header(console: Console, r: Any, what: str) -> bool:
    """The opening lines of a search result ``r`` (its ``configs_evaluated``,
    ``configs_feasible``, ``reasons`` and ``best``): how many ``what`` configurations it priced and
    fitted, and when none fits, why; True when there is a feasible best to show."""
    console.print(f"evaluated {r.configs_evaluated:,} {what} configurations, {r.configs_feasible:,} feasible")
    if r.best.feasible:
        return True
    reasons = "; ".join(f"{c.reason} ({c.count:,})" for c in r.reasons)
    console.print(f"[bold red]no configuration meets the request:[/] {reasons}")
    return False

"""Tables as lists of columns: each header beside the cell it shows of a row's record."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

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

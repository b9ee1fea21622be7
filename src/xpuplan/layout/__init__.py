"""Parallel layouts and their validity rules: where workload and hardware first meet."""

from xpuplan.layout.layout import (
    LAYOUT_FIELDS,
    REASON_TEXT,
    Layout,
    LayoutArray,
    Reason,
    Recompute,
    check,
    parse_layout,
)

__all__ = [
    "LAYOUT_FIELDS",
    "REASON_TEXT",
    "Layout",
    "LayoutArray",
    "Reason",
    "Recompute",
    "check",
    "parse_layout",
]

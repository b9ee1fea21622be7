"""Rendering: terminal tables, human units, (later) the HTML report. Never computes a result."""

from xpuplan.report.plan_view import plan_csv, plan_rows, print_plan
from xpuplan.report.terminal import (
    chip_dict,
    chips_table,
    model_dict,
    models_table,
    price_dict,
    prices_table,
    print_estimate,
    print_search,
    print_serve,
    print_validation,
    progress_bar,
    record_table,
    system_dict,
    systems_table,
)

__all__ = [
    "chip_dict",
    "chips_table",
    "model_dict",
    "models_table",
    "plan_csv",
    "plan_rows",
    "price_dict",
    "prices_table",
    "print_estimate",
    "print_plan",
    "print_search",
    "print_serve",
    "print_validation",
    "progress_bar",
    "record_table",
    "system_dict",
    "systems_table",
]

"""Rendering: terminal tables, human units, the HTML report. Never computes a result."""

from xpuplan.report.csv_out import (
    chips_csv,
    models_csv,
    prices_csv,
    records_csv,
    search_csv,
    serve_csv,
    systems_csv,
    validation_csv,
)
from xpuplan.report.fmt import safe as safe_text
from xpuplan.report.html import render_html
from xpuplan.report.plan_view import plan_csv, plan_rows, print_plan
from xpuplan.report.ranking_view import print_rankings
from xpuplan.report.terminal import (
    chip_dict,
    chips_table,
    model_dict,
    models_table,
    price_dict,
    prices_table,
    print_cross_validation,
    print_estimate,
    print_fit,
    print_search,
    print_serve,
    print_validation,
    progress_bar,
    record_table,
    system_dict,
    systems_table,
)
from xpuplan.report.wording import plan_dict

__all__ = [
    "chip_dict",
    "chips_csv",
    "chips_table",
    "model_dict",
    "models_csv",
    "models_table",
    "plan_csv",
    "plan_dict",
    "plan_rows",
    "price_dict",
    "prices_csv",
    "prices_table",
    "print_cross_validation",
    "print_estimate",
    "print_fit",
    "print_plan",
    "print_rankings",
    "print_search",
    "print_serve",
    "print_validation",
    "progress_bar",
    "record_table",
    "records_csv",
    "render_html",
    "safe_text",
    "search_csv",
    "serve_csv",
    "system_dict",
    "systems_csv",
    "systems_table",
    "validation_csv",
]

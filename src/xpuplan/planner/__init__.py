"""Planner: rank systems for a scenario; validation against published runs."""

from xpuplan.planner.plan import Option, PlanResult, Scenario, default_scenario, load_scenario, plan
from xpuplan.planner.validate import CaseResult, summarise, validate

__all__ = [
    "CaseResult",
    "Option",
    "PlanResult",
    "Scenario",
    "default_scenario",
    "load_scenario",
    "plan",
    "summarise",
    "validate",
]

"""Planner: size and rank systems for a scenario, plan a fleet, sensitivity. Returns data only."""

from xpuplan.planner.fleet import FleetLimits, FleetOption, FleetPlan, plan_fleet
from xpuplan.planner.plan import JobPlan, Option, PlanResult, Scenario, default_scenario, load_scenario, plan
from xpuplan.planner.scenario import Constraints, ServeSpec, TrainSpec

__all__ = [
    "Constraints",
    "FleetLimits",
    "FleetOption",
    "FleetPlan",
    "JobPlan",
    "Option",
    "PlanResult",
    "Scenario",
    "ServeSpec",
    "TrainSpec",
    "default_scenario",
    "load_scenario",
    "plan",
    "plan_fleet",
]

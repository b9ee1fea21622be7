"""xpuplan: plan AI compute across every kind of accelerator.

The stable public API is listed in ``__all__`` (pinned by ``tests/test_public_api.py``).
"""

__version__ = "0.1.0"

from xpuplan.api import estimate, parse_recompute, search
from xpuplan.errors import ConfigError, DataError, InputError, UnknownNameError, XpuplanError
from xpuplan.hardware import Catalog, Chip, System, default_catalog, load_catalog
from xpuplan.layout import Layout, LayoutArray, Reason, Recompute
from xpuplan.perf import Machine, TrainEstimate, estimate_train, evaluate_train, machine
from xpuplan.planner import PlanResult, Scenario, default_scenario, plan
from xpuplan.search import SearchResult, SpaceOptions, search_train
from xpuplan.validation import validate
from xpuplan.workload import Model, get_model, load_hf_config, model_library
from xpuplan.workload.job import TrainJob

__all__ = [
    "Catalog",
    "Chip",
    "ConfigError",
    "DataError",
    "InputError",
    "Layout",
    "LayoutArray",
    "Machine",
    "Model",
    "PlanResult",
    "Reason",
    "Recompute",
    "Scenario",
    "SearchResult",
    "SpaceOptions",
    "System",
    "TrainEstimate",
    "TrainJob",
    "UnknownNameError",
    "XpuplanError",
    "__version__",
    "default_catalog",
    "default_scenario",
    "estimate",
    "estimate_train",
    "evaluate_train",
    "get_model",
    "load_catalog",
    "load_hf_config",
    "machine",
    "model_library",
    "parse_recompute",
    "plan",
    "search",
    "search_train",
    "validate",
]

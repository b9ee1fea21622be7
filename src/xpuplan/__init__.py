"""xpuplan: plan AI compute across every kind of accelerator.

The stable public API is listed in ``__all__`` (pinned by ``tests/test_public_api.py``): the
functions of :mod:`xpuplan.api.public`, the records they take and the typed results they return.
The layers below (``xpuplan.perf``, ``xpuplan.search``, ...) stay importable from their modules.
"""

__version__ = "0.1.0"

from xpuplan.api.public import (
    check_claim,
    estimate_serve,
    estimate_train,
    plan,
    search_serve,
    search_train,
    validate,
)
from xpuplan.api.results import (
    CaseResult,
    ClaimResult,
    Economics,
    EncoderResult,
    EncoderSearchResult,
    ErrorStats,
    GroupErrors,
    Part,
    PlanResult,
    ReasonCount,
    ServeResult,
    ServeSearchResult,
    TrainResult,
    TrainSearchResult,
    ValidationResult,
)
from xpuplan.errors import ConfigError, DataError, InputError, UnknownNameError, XpuplanError
from xpuplan.hardware import Catalog, Chip, System, default_catalog, load_catalog
from xpuplan.layout import Layout, Reason, Recompute
from xpuplan.planner import Scenario, default_scenario
from xpuplan.workload import Model, get_model, load_hf_config, model_library
from xpuplan.workload.job import ServeJob, TrainJob

__all__ = [
    "CaseResult",
    "Catalog",
    "Chip",
    "ClaimResult",
    "ConfigError",
    "DataError",
    "Economics",
    "EncoderResult",
    "EncoderSearchResult",
    "ErrorStats",
    "GroupErrors",
    "InputError",
    "Layout",
    "Model",
    "Part",
    "PlanResult",
    "Reason",
    "ReasonCount",
    "Recompute",
    "Scenario",
    "ServeJob",
    "ServeResult",
    "ServeSearchResult",
    "System",
    "TrainJob",
    "TrainResult",
    "TrainSearchResult",
    "UnknownNameError",
    "ValidationResult",
    "XpuplanError",
    "__version__",
    "check_claim",
    "default_catalog",
    "default_scenario",
    "estimate_serve",
    "estimate_train",
    "get_model",
    "load_catalog",
    "load_hf_config",
    "model_library",
    "plan",
    "search_serve",
    "search_train",
    "validate",
]

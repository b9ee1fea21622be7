"""xpuplan: plan AI compute across every kind of accelerator.

The stable public API is listed in ``__all__`` (pinned by ``tests/test_public_api.py``): the
functions of :mod:`xpuplan.api.public`, the records they take and the typed results they return.
The layers below (``xpuplan.perf``, ``xpuplan.search``, ...) stay importable from their modules.
"""

__version__ = "0.1.0"

from xpuplan.api import public as _public
from xpuplan.api import results as _results
from xpuplan.api.public import *  # noqa: F403  (the public functions; their list lives in api.public)
from xpuplan.api.results import *  # noqa: F403  (the typed results; their list lives in api.results)
from xpuplan.errors import ConfigError, DataError, InputError, UnknownNameError, XpuplanError
from xpuplan.hardware import Catalog, Chip, System, default_catalog, load_catalog
from xpuplan.layout import Layout, Reason, Recompute
from xpuplan.planner import Scenario, default_scenario
from xpuplan.workload import Model, get_model, load_hf_config, model_library
from xpuplan.workload.job import ServeJob, TrainJob

__all__ = [
    *_public.__all__,
    *_results.__all__,
    "Catalog",
    "Chip",
    "ConfigError",
    "DataError",
    "InputError",
    "Layout",
    "Model",
    "Reason",
    "Recompute",
    "Scenario",
    "ServeJob",
    "System",
    "TrainJob",
    "UnknownNameError",
    "XpuplanError",
    "__version__",
    "default_catalog",
    "default_scenario",
    "get_model",
    "load_catalog",
    "load_hf_config",
    "model_library",
]

"""Hardware catalog: chips, systems, prices, energy defaults (data, not code)."""

from xpuplan.hardware import records
from xpuplan.hardware.catalog import Catalog, default_catalog, load_calibration, load_catalog, normalise
from xpuplan.hardware.records import *  # noqa: F403 (the records, as records.__all__ names them)

__all__ = ["Catalog", "default_catalog", "load_calibration", "load_catalog", "normalise"]
__all__ += records.__all__

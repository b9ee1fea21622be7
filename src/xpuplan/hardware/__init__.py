"""Hardware catalog: chips, systems, prices, energy defaults (data, not code)."""

from xpuplan.hardware.catalog import Catalog, default_catalog, load_calibration, load_catalog, normalise
from xpuplan.hardware.records import (
    Chip,
    Dtype,
    Efficiency,
    EnergyDefaults,
    NetworkKind,
    PowerSpec,
    Price,
    Pricing,
    Provenance,
    ScaleOut,
    ScaleUp,
    System,
    Topology,
)

__all__ = [
    "Catalog",
    "Chip",
    "Dtype",
    "Efficiency",
    "EnergyDefaults",
    "NetworkKind",
    "PowerSpec",
    "Price",
    "Pricing",
    "Provenance",
    "ScaleOut",
    "ScaleUp",
    "System",
    "Topology",
    "default_catalog",
    "load_calibration",
    "load_catalog",
    "normalise",
]

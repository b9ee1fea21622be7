"""SI constants and converters.

Catalog keys carry their unit at the edge (``hbm_gib``, ``hbm_tbyte_s``, ``link_gbyte_s``,
``tdp_w``, ``usd_per_hour``); loaders convert once with the helpers below and everything inside the
package is SI: bytes, bytes/s, FLOP/s, seconds, watts, joules. Human units appear only in ``report``.
"""

from __future__ import annotations

# Decimal (SI) multipliers.
KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12
PETA = 1e15

# Binary multipliers (memory capacities quoted in GiB).
KIB = 1024.0
MIB = 1024.0**2
GIB = 1024.0**3
TIB = 1024.0**4

BITS_PER_BYTE = 8.0
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
JOULES_PER_KWH = 3.6e6
JOULES_PER_MWH = 3.6e9


def gib(x: float) -> float:
    """GiB → bytes."""
    return x * GIB


def gbyte(x: float) -> float:
    """GB (decimal) → bytes."""
    return x * GIGA


def tbyte_s(x: float) -> float:
    """TB/s (decimal bytes) → bytes/s."""
    return x * TERA


def gbyte_s(x: float) -> float:
    """GB/s (decimal bytes) → bytes/s."""
    return x * GIGA


def gbit_s(x: float) -> float:
    """Gbit/s → bytes/s."""
    return x * GIGA / BITS_PER_BYTE


def tflop_s(x: float) -> float:
    """TFLOP/s → FLOP/s."""
    return x * TERA


def mib(x: float) -> float:
    """MiB → bytes."""
    return x * MIB


def usd_per_hour_to_per_s(x: float) -> float:
    return x / SECONDS_PER_HOUR

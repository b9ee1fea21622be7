"""Collective-communication time on a network tier: bandwidth and latency terms.

Bandwidth term of the ring algorithms (Patarasuk & Yuan 2009; NCCL's bus-bandwidth convention): an
all-reduce of ``S`` bytes over ``n`` ranks moves ``2(n-1)/n · S`` per rank, all-gather /
reduce-scatter ``(n-1)/n · S`` (``S`` the full, unsharded size), all-to-all ``(n-1)/n · S`` (``S``
what one rank sends in all). Latency term of the tree / recursive-doubling algorithms NCCL switches
to for small messages (Thakur et al. 2005): ``log2 n`` steps (twice for an all-reduce), each paying the
link latency — so a large collective costs the ring's bandwidth and a small one the tree's latency.
Hierarchical all-reduce (reduce-scatter inside the domain, all-reduce across domains on
``S / n_in``, all-gather inside) is NCCL's tree/2-level scheme and the JAX scaling book's
multi-slice recipe.

All functions take scalars or NumPy arrays and broadcast.
"""

from __future__ import annotations

import numpy as np

from xpuplan.perf import xp

Arr = np.ndarray | float


def _ranks(n: Arr) -> np.ndarray:
    """Group sizes as floats, at least one rank."""
    return xp.maximum(n, 1.0)


def _hops(n: np.ndarray) -> np.ndarray:
    """Latency steps of a tree / recursive-doubling collective over ``n`` ranks (0 for one rank)."""
    return xp.ceil(xp.log2(n))


def all_reduce(size: Arr, n: Arr, bw: Arr, lat: Arr) -> np.ndarray:
    """Ring all-reduce of ``size`` bytes over ``n`` ranks at ``bw`` bytes/s per rank (0 for n = 1)."""
    n = _ranks(n)
    return 2.0 * (n - 1.0) / n * size / bw + 2.0 * _hops(n) * lat


def all_gather(size: Arr, n: Arr, bw: Arr, lat: Arr) -> np.ndarray:
    """Ring all-gather (or reduce-scatter) whose full result is ``size`` bytes (0 for n = 1)."""
    n = _ranks(n)
    return (n - 1.0) / n * size / bw + _hops(n) * lat


reduce_scatter = all_gather


def all_to_all(size: Arr, n: Arr, bw: Arr, lat: Arr) -> np.ndarray:
    """All-to-all where each rank sends ``size`` bytes in all (a 1/n share stays local)."""
    return all_gather(size, n, bw, lat)


def p2p(size: Arr, bw: Arr, lat: Arr) -> np.ndarray:
    """One point-to-point send."""
    return size / bw + lat  # type: ignore[return-value]


def hierarchical_all_reduce(
    size: Arr, n_in: Arr, n_out: Arr, bw_in: Arr, lat_in: Arr, bw_out: Arr, lat_out: Arr
) -> np.ndarray:
    """All-reduce over ``n_in × n_out`` ranks: ``n_in`` per fast domain, ``n_out`` domains."""
    n_in = _ranks(n_in)
    inner = 2.0 * all_gather(size, n_in, bw_in, lat_in)  # reduce-scatter + all-gather
    return inner + all_reduce(size / n_in, n_out, bw_out, lat_out)


def hierarchical_all_gather(
    size: Arr, n_in: Arr, n_out: Arr, bw_in: Arr, lat_in: Arr, bw_out: Arr, lat_out: Arr
) -> np.ndarray:
    """All-gather (or reduce-scatter) over ``n_in × n_out`` ranks, two levels."""
    n_in = _ranks(n_in)
    outer = all_gather(size / n_in, n_out, bw_out, lat_out)
    return outer + all_gather(size, n_in, bw_in, lat_in)

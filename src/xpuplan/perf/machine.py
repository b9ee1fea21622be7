"""A chip in a system, reduced to the numbers the performance model uses (SI).

TPU slices (systems with ``scale_up.torus_wrap``): a job's chips sit in ICI slices, tori of the
shape the case or user names or, by default, the shape Cloud TPU gives that many chips; chips
beyond one slice sit in further slices joined by the data-centre network (DCN) at the per-host
NIC rate (Multislice; JAX scaling book ch. 5 "Scaling Between Pods"). Ranks are laid out on the
slice's axes innermost first, and a group uses the links of the axes it spans: both directions
of an axis it covers whole when that axis has its wraparound link (a ring), one direction of an
axis without one or that it covers in part, shared where another group crosses the same axis
(:func:`axis_links`; scaling book ch. 2 ICI table footnote, ch. 3 AllGather). The axis order is
chosen per layout for the innermost block (:meth:`Machine.torus_share`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from xpuplan.hardware.records import Chip, Dtype, System, Topology
from xpuplan.perf import xp

F = np.ndarray | float
MAX_CHIPS = 10_000_000  # the largest cluster anyone plans (10x the million-TPU deals of 2025)


@lru_cache(maxsize=256)
def slice_shape(n: int, dims: tuple[int, ...], wrap: int) -> tuple[int, ...]:
    """The torus shape Cloud TPU gives a slice of ``n`` chips of a pod whose largest slice is
    ``dims``: ``len(dims)`` factors of ``n`` within the pod's axes, multiples of 4 where the
    count allows (v4/v5p/v7 slices of 64 chips and more are whole 4x4x4 cubes: v4-384 is 4x4x12,
    not 4x6x8; v5e/v6e: 2x4, 4x8, 8x16), then the most even (Cloud TPU docs, "TPU v4/v5p/v5e
    topologies"). Ascending; a count the pod's axes cannot hold keeps the most even split."""
    k = max(len(dims), 1)
    bound = sorted(dims) if dims else [n] * k
    best: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    for shape in _factorisations(n, k):
        fits = all(a <= b for a, b in zip(shape, bound, strict=True))
        cubes = all(a % min(wrap, 4) == 0 for a in shape) if wrap else False
        key = (0 if fits else 1, 0 if cubes else 1, max(shape), -min(shape))
        if best is None or key < best[0]:
            best = (key, shape)
    return best[1] if best else (n,)


def _factorisations(n: int, k: int, lo: int = 1) -> list[tuple[int, ...]]:
    """Ascending ``k``-tuples of factors ≥ ``lo`` whose product is ``n``."""
    if k == 1:
        return [(n,)] if n >= lo else []
    out: list[tuple[int, ...]] = []
    a = lo
    while a**k <= n:
        if n % a == 0:
            out += [(a, *rest) for rest in _factorisations(n // a, k - 1, a)]
        a += 1
    return out


@lru_cache(maxsize=64)
def _orders(dims: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """The distinct orders in which a slice's axes can take the ranks, innermost first."""
    return tuple(sorted(set(itertools.permutations(dims))))


def axis_links(order: tuple[int, ...], wrap: int, inner: F, n: F) -> F:
    """Links (in one-way link units) a group of ``n`` ranks at stride ``inner`` uses when the
    ranks fill the axes ``order`` innermost first. On each axis it spans: 2 where the group (with
    its interleaved siblings) covers the whole axis and the axis wraps around, a bidirectional
    ring; 1 where it does not wrap or the group holds only part of the axis, a line run one way
    (scaling book ch. 3 pop quiz 2: a v5e 8x4 mesh gathers over its 4-axis at the one-way rate,
    (N-1)/N·V / W). Divided by the group's stride along the axis (its interleaved sibling groups
    share the links), and halved on an axis it shares with the group laid out inside or after
    it (one holds part of the axis, the other crosses it at a stride): their collectives run at
    the same time (FSDP's gathers are overlapped with the TP/CP collectives on the critical path,
    XLA's latency-hiding scheduler), so each gets half of those links."""
    total = 0.0 * n
    reach, top = 1.0, inner * n
    for d in order:
        lo = xp.maximum(inner, reach)
        ext = xp.minimum(top, reach * d) / lo  # ranks of the group along this axis
        stride = lo / reach
        ring = 2.0 if wrap and d % wrap == 0 else 1.0
        whole = ext * stride >= d * (1.0 - 1e-12)
        dirs = xp.where(whole, ring, 1.0)
        shared = xp.where(whole & (stride < 1.0 + 1e-12), 1.0, 0.5)
        total = total + xp.where(ext > 1.0 + 1e-12, shared * dirs / stride, 0.0)
        reach *= d
    return total


def roofline(compute_s: Any, memory_s: Any, p: float) -> Any:
    """Time of a kernel that needs ``compute_s`` at its achieved FLOP rate and ``memory_s`` at its
    achieved bandwidth: the smooth roofline ``(compute^p + memory^p)^(1/p)``
    (``PerfParams.roofline_p``). Infinite ``p`` is the ideal roofline of Williams et al. 2009, the
    longer of the two; ``p = 1`` runs them one after the other; in between, a kernel at its ridge
    point takes ``2^(1/p)`` times either roof and one far from it nearly its roof. The one rule
    every decoder serving roofline uses (perf/serve.py)."""
    hi = np.maximum(compute_s, memory_s)
    if math.isinf(p):
        return hi
    lo = np.minimum(compute_s, memory_s)
    with np.errstate(invalid="ignore"):
        smooth = hi * (1.0 + (lo / np.maximum(hi, 1e-300)) ** p) ** (1.0 / p)
    # an infinite roof (an unsupported format's peak) stays infinite, as the larger would be
    return np.where(np.isinf(hi), hi, smooth)


@dataclass(frozen=True)
class Machine:
    """``chips`` chips of ``chip`` in ``system``: compute, memory and the two network tiers."""

    chip: Chip
    system: System
    chips: int
    # the ICI slice the chips sit in (a torus_wrap system), e.g. (4, 4, 4) for v4-128; () = the
    # shape Cloud TPU gives min(chips, domain_chips) chips (slice_shape)
    slice_dims: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # A CPU's memory belongs to the instance, not the socket: where the system record says
        # how much its nodes have, each chip (socket) gets its share of it.
        per_chip = self.system.mem_bytes_per_chip
        if per_chip is not None and per_chip != self.chip.mem_bytes:
            object.__setattr__(self, "chip", replace(self.chip, mem_bytes=per_chip))

    @property
    def domain(self) -> int:
        """Chips in one scale-up domain (never more than the cluster). A system whose chips have
        no scale-up link bandwidth on record (multi-socket CPU servers) has domains of one chip."""
        if not (self.system.scale_up.link_bw or self.chip.link_bw):
            return 1
        if self.system.scale_up.torus_wrap:
            return max(1, min(math.prod(self.torus), self.chips))
        return max(1, min(self.system.scale_up.domain_chips, self.chips))

    @property
    def torus(self) -> tuple[int, ...]:
        """The shape of one ICI slice (systems with ``torus_wrap``)."""
        if self.slice_dims:
            return self.slice_dims
        su = self.system.scale_up
        n = min(self.chips, su.domain_chips)
        return slice_shape(n, su.torus_dims or (su.domain_chips,), su.torus_wrap)

    def torus_share(self, n: F, inner: F) -> np.ndarray:
        """Share of the chip's ICI links (2 per axis of the pod) a group of ``n`` ranks at stride
        ``inner`` uses in its slice (:func:`axis_links`). The slice's axes take the ranks in the
        order that serves the innermost block (the ``inner`` ranks inside the group: TP for the
        DP and CP groups) best, then the group itself: a 12-way model-parallel group on a
        12x16x16 v4 slice gets the 12-axis ring, as PaLM ran (Chowdhery et al. 2022 §4)."""
        su = self.system.scale_up
        links = 2.0 * len(su.torus_dims or self.torus)
        inner = xp.maximum(inner, 1.0)
        best_key, best = -1.0, 0.0 * n
        for order in _orders(self.torus):
            mine = axis_links(order, su.torus_wrap, inner, n)
            key = 1e4 * axis_links(order, su.torus_wrap, 1.0, inner) + mine
            better = key > best_key + 1e-9
            best, best_key = xp.where(better, mine, best), xp.maximum(key, best_key)
        return xp.where(best > 0.0, best, 1.0) / links  # one rank: no traffic, any link

    @property
    def up_bw(self) -> float:
        """Achievable scale-up bandwidth per chip, one direction, bytes/s."""
        link = self.system.scale_up.link_bw or self.chip.link_bw or 0.0
        return max(link * self.chip.efficiency.network, 1.0)

    @property
    def up_lat(self) -> float:
        return self.system.scale_up.latency_s

    @property
    def out_bw(self) -> float:
        """Achievable scale-out bandwidth per chip (node NIC share), one direction, bytes/s."""
        per_chip = self.system.scale_out.bw_per_node / self.system.chips_per_node
        return max(per_chip * self.chip.efficiency.network, 1.0)

    @property
    def out_lat(self) -> float:
        return self.system.scale_out.latency_s

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for the matmul format; bf16 falls back to fp16 (e.g. V100)."""
        p = self.chip.peak(dtype)
        if p is None and dtype == "bf16":
            p = self.chip.peak(Dtype.FP16)
        if p is None:
            return float("nan")
        return p

    def up_fraction(self, n_in: np.ndarray) -> np.ndarray:
        """Share of the per-chip scale-up bandwidth a group of ``n_in`` ranks can use."""
        su = self.system.scale_up
        if su.topology is Topology.TORUS or su.topology is Topology.RING:
            dims = sorted(su.torus_dims) if su.torus_dims else [self.domain]
            used = xp.ones_like(n_in)
            reach = float(dims[0])
            for _ in dims[1:]:
                used = used + (n_in > reach)
                reach *= _
            return used / len(dims)
        if su.topology is Topology.MESH:
            # A full mesh wires each chip to every other chip of the node with its own links
            # (HLS-Gaudi2: 3 x 100 GbE to each of 7 peers; MI300X: one xGMI link per peer): a
            # group of n ranks reaches n - 1 of the node's domain_chips - 1 peers, however few
            # chips the job holds (Intel Gaudi Network Configuration; AMD MI300X platform brief).
            links = max(su.domain_chips - 1, 1)
            return xp.minimum(xp.maximum((n_in - 1.0) / links, 1.0 / links), 1.0)
        return xp.ones_like(n_in)

    def split(self, group: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ranks of a group inside one domain and the number of domains it spans.

        ``inner`` is the product of the degrees placed inside this group (rank stride).
        """
        fit = xp.floor(self.domain / xp.maximum(inner, 1.0))
        n_in = xp.minimum(xp.maximum(fit, 1.0), group)
        return n_in, xp.ceil(group / n_in)

    def group_bw(self, group: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, ...]:
        """(n_in, n_out, bw_in, bw_out) for a group at stride ``inner``."""
        n_in, n_out = self.split(group, inner)
        if self.system.scale_up.torus_wrap:
            bw_in = self.up_bw * self.torus_share(n_in, inner)
        else:
            bw_in = self.up_bw * self.up_fraction(n_in)
        return n_in, n_out, bw_in, xp.full_like(n_in, self.out_bw)

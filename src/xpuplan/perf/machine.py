"""A chip in a system, reduced to the numbers the performance model uses (SI)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from xpuplan.hardware.records import Chip, Dtype, System, Topology
from xpuplan.perf import xp

MAX_CHIPS = 10_000_000  # the largest cluster anyone plans (10x the million-TPU deals of 2025)


@dataclass(frozen=True)
class Machine:
    """``chips`` chips of ``chip`` in ``system``: compute, memory and the two network tiers."""

    chip: Chip
    system: System
    chips: int

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
        return max(1, min(self.system.scale_up.domain_chips, self.chips))

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
        bw_in = self.up_bw * self.up_fraction(n_in)
        return n_in, n_out, bw_in, xp.full_like(n_in, self.out_bw)

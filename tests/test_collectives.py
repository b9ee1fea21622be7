"""Collectives and the network tiers, against hand computations.

Collective times follow NCCL's bus-bandwidth rule (nccl-tests, doc/PERFORMANCE.md): a ring
all-reduce of ``S`` bytes over ``n`` ranks moves ``2(n-1)/n · S`` through each rank's link, an
all-gather or reduce-scatter ``(n-1)/n · S`` (``S`` the full result), so time = moved / bus
bandwidth. The latency term is that of a tree / recursive doubling: ``ceil(log2 n)`` steps
(Thakur et al. 2005), twice for an all-reduce. Every expected number below is written out by hand.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency, NetworkKind, ScaleOut, ScaleUp, Topology
from xpuplan.perf import collectives as coll
from xpuplan.perf.machine import Machine

GB = 1e9
US = 1e-6


# ---- collectives ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, want",
    [
        (1, 0.0),  # one rank: nothing moves, no step
        (2, 2 * 1 / 2 * 1 * GB / (100 * GB) + 2 * 1 * US),  # 10 ms + 2 steps of 1 µs
        (8, 2 * 7 / 8 * 1 * GB / (100 * GB) + 2 * 3 * US),  # 17.5 ms + 6 µs
        (5, 2 * 4 / 5 * 1 * GB / (100 * GB) + 2 * 3 * US),  # ceil(log2 5) = 3 steps
    ],
)
def test_ring_all_reduce_by_bus_bandwidth(n: int, want: float) -> None:
    assert coll.all_reduce(1 * GB, n, 100 * GB, 1 * US) == pytest.approx(want, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize(
    "n, want",
    [
        (1, 0.0),
        (4, 3 / 4 * 1 * GB / (100 * GB) + 2 * US),  # 7.5 ms + log2 4 = 2 steps
        (16, 15 / 16 * 1 * GB / (100 * GB) + 4 * US),
    ],
)
def test_all_gather_reduce_scatter_and_all_to_all(n: int, want: float) -> None:
    for f in (coll.all_gather, coll.reduce_scatter, coll.all_to_all):
        assert f(1 * GB, n, 100 * GB, 1 * US) == pytest.approx(want, rel=1e-12, abs=1e-18), f


def test_small_messages_pay_the_tree_latency() -> None:
    # 1 KiB over 64 ranks at 100 GB/s: the bandwidth term is 20 ns, the 2·log2(64) = 12 steps of
    # 5 µs dominate
    t = coll.all_reduce(1024.0, 64, 100 * GB, 5 * US)
    assert t == pytest.approx(2 * 63 / 64 * 1024 / (100 * GB) + 12 * 5 * US, rel=1e-12)


def test_p2p_is_size_over_bandwidth_plus_latency() -> None:
    assert coll.p2p(50 * 2**20, 25 * GB, 3 * US) == pytest.approx(50 * 2**20 / (25 * GB) + 3 * US)


def test_hierarchical_all_reduce() -> None:
    """8 ranks per domain at 400 GB/s, 4 domains at 50 GB/s (NCCL 2-level / JAX multi-slice):
    reduce-scatter inside (7/8·S), all-reduce across on S/8 (2·3/4·S/8), all-gather inside."""
    S = 8 * GB
    inner = 2 * (7 / 8 * S / (400 * GB) + 3 * 1 * US)
    outer = 2 * 3 / 4 * (S / 8) / (50 * GB) + 2 * 2 * 10 * US
    got = coll.hierarchical_all_reduce(S, 8, 4, 400 * GB, 1 * US, 50 * GB, 10 * US)
    assert got == pytest.approx(inner + outer, rel=1e-12)
    # one domain: just the ring inside (the across-domain all-reduce of one rank is free)
    one = coll.hierarchical_all_reduce(S, 8, 1, 400 * GB, 1 * US, 50 * GB, 10 * US)
    assert one == pytest.approx(2 * 7 / 8 * S / (400 * GB) + 6 * US, rel=1e-12)


def test_hierarchical_all_gather() -> None:
    """All-gather of an 8 GB result over 8 × 4 ranks: across domains each rank gathers S/8
    ((4-1)/4 of it moves), then inside the domain the full S ((8-1)/8 of it moves)."""
    S = 8 * GB
    outer = 3 / 4 * (S / 8) / (50 * GB) + 2 * 10 * US
    inner = 7 / 8 * S / (400 * GB) + 3 * 1 * US
    got = coll.hierarchical_all_gather(S, 8, 4, 400 * GB, 1 * US, 50 * GB, 10 * US)
    assert got == pytest.approx(outer + inner, rel=1e-12)


def test_collectives_broadcast_over_arrays() -> None:
    n = np.array([1.0, 2.0, 8.0])
    got = coll.all_reduce(1 * GB, n, 100 * GB, 1 * US)
    want = [coll.all_reduce(1 * GB, float(k), 100 * GB, 1 * US) for k in n]
    np.testing.assert_allclose(got, want, rtol=1e-15)
    got = coll.hierarchical_all_gather(1 * GB, n, n, 100 * GB, 1 * US, 10 * GB, 1 * US)
    want = [coll.hierarchical_all_gather(1 * GB, k, k, 100 * GB, 1 * US, 10 * GB, 1 * US) for k in n]
    np.testing.assert_allclose(got, want, rtol=1e-15)


# ---- the machine: domain, per-chip bandwidth, group placement -----------------------------------------


def machine(
    catalog: Catalog,
    topology: Topology = Topology.SWITCH,
    domain: int = 8,
    dims: tuple[int, ...] = (),
    chips: int = 64,
    link: float | None = 100 * GB,
    chip_link: float | None = None,
) -> Machine:
    """A catalog chip in a made-up system with round numbers: 100 GB/s scale-up links, 8 chips and
    400 GB/s of NICs per node, collectives at half the line rate (efficiency.network = 0.5)."""
    chip = replace(catalog.chip("nvidia-h100-sxm"), link_bw=chip_link, efficiency=Efficiency(network=0.5))
    base = catalog.system("aws-p5.48xlarge")
    system = replace(
        base,
        chips_per_node=8,
        scale_up=ScaleUp(topology, domain, link, dims, latency_s=1 * US),
        scale_out=ScaleOut(NetworkKind.EFA, 400 * GB, None, latency_s=7 * US),
    )
    return Machine(chip, system, chips)


def test_tier_bandwidths_and_latencies(catalog: Catalog) -> None:
    m = machine(catalog)
    assert m.up_bw == pytest.approx(100 * GB * 0.5)  # link × collective efficiency
    assert m.out_bw == pytest.approx(400 * GB / 8 * 0.5)  # the node's NICs shared by its 8 chips
    assert (m.up_lat, m.out_lat) == (1 * US, 7 * US)
    # the system's link bandwidth wins over the chip's; without either, a domain is one chip
    assert machine(catalog, link=None, chip_link=30 * GB).up_bw == pytest.approx(15 * GB)
    assert machine(catalog, link=None, chip_link=None).domain == 1


@pytest.mark.parametrize(
    "domain, chips, want",
    [(8, 64, 8), (72, 16, 16), (8, 3, 3), (1, 8, 1)],  # never more than the cluster
)
def test_domain_is_capped_by_the_cluster(catalog: Catalog, domain: int, chips: int, want: int) -> None:
    assert machine(catalog, domain=domain, chips=chips).domain == want


@pytest.mark.parametrize(
    "topology, domain, dims, n, share",
    [
        # switch (NVSwitch): every group gets the full per-chip bandwidth
        (Topology.SWITCH, 8, (), 2, 1.0),
        (Topology.SWITCH, 8, (), 8, 1.0),
        # 4x4x4 torus (Trn2 UltraServer): a group along one axis uses that axis' third of the
        # chip's links, a 4x4 plane two thirds, the whole cube all three (JAX scaling book, ICI)
        (Topology.TORUS, 64, (4, 4, 4), 4, 1 / 3),
        (Topology.TORUS, 64, (4, 4, 4), 16, 2 / 3),
        (Topology.TORUS, 64, (4, 4, 4), 64, 1.0),
        (Topology.TORUS, 64, (4, 4, 4), 5, 2 / 3),  # one more than an axis spills onto a second
        # axes are filled shortest first: (8, 2) is a 2-ring, then the 8-ring
        (Topology.TORUS, 16, (8, 2), 2, 1 / 2),
        (Topology.TORUS, 16, (8, 2), 4, 1.0),
        (Topology.TORUS, 16, (), 16, 1.0),  # no dims on record: one ring over the domain
        (Topology.RING, 16, (4, 4), 4, 1 / 2),  # a 2D ring (Trn1) like a 2D torus
        (Topology.RING, 12, (), 12, 1.0),
        # full mesh of 8 (MI300X): a group of n reaches n-1 of the 7 point-to-point links
        (Topology.MESH, 8, (), 2, 1 / 7),
        (Topology.MESH, 8, (), 4, 3 / 7),
        (Topology.MESH, 8, (), 8, 1.0),
        (Topology.MESH, 8, (), 1, 1 / 7),
    ],
)
def test_up_fraction_by_topology(
    catalog: Catalog, topology: Topology, domain: int, dims: tuple[int, ...], n: int, share: float
) -> None:
    m = machine(catalog, topology, domain, dims)
    assert m.up_fraction(float(n)) == pytest.approx(share, rel=1e-12)
    arr = m.up_fraction(np.array([float(n), float(n)]))
    np.testing.assert_allclose(arr, [share, share], rtol=1e-12)


@pytest.mark.parametrize("chips, n", [(2, 2), (4, 4), (4, 2)])
def test_a_job_smaller_than_the_mesh_keeps_its_share_of_the_links(
    catalog: Catalog, chips: int, n: int
) -> None:
    # HLS-Gaudi2: 21 x 100 GbE per chip wire 8 chips all-to-all, 3 ports to each of 7 peers. A TP2
    # job on 2 of the 8 chips reaches its one peer over those 3 ports only: 262.5 / 7 = 37.5 GB/s,
    # not the chip's 262.5 (Intel Gaudi Network Configuration). Hand: 100 GB/s x 0.5 x (n-1)/7.
    m = machine(catalog, Topology.MESH, 8, chips=chips)
    assert m.domain == chips  # the job still holds only its chips
    assert m.up_fraction(float(n)) == pytest.approx((n - 1) / 7, rel=1e-12)
    _, _, bw_in, _ = m.group_bw(np.array([float(n)]), np.array([1.0]))
    assert bw_in[0] == pytest.approx(100 * GB * 0.5 * (n - 1) / 7)


@pytest.mark.parametrize(
    "group, inner, n_in, n_out",
    [
        (4, 1, 4, 1),  # fits one 8-chip domain
        (16, 1, 8, 2),  # two domains of 8
        (4, 4, 2, 2),  # stride 4: two of its ranks per domain
        (8, 8, 1, 8),  # stride 8: every rank in another domain
        (8, 16, 1, 8),  # stride beyond the domain: still one rank per domain
        (6, 1, 6, 1),
        (12, 2, 4, 3),  # stride 2 leaves room for 4 per domain: ceil(12 / 4) = 3 domains
    ],
)
def test_split_places_a_group_across_domains(
    catalog: Catalog, group: int, inner: int, n_in: int, n_out: int
) -> None:
    m = machine(catalog, domain=8)
    assert m.split(float(group), float(inner)) == (n_in, n_out)


def test_group_bw_combines_split_and_topology(catalog: Catalog) -> None:
    m = machine(catalog, Topology.MESH, 8)
    n_in, n_out, bw_in, bw_out = m.group_bw(np.array([16.0]), np.array([2.0]))
    assert (n_in[0], n_out[0]) == (4, 4)
    assert bw_in[0] == pytest.approx(50 * GB * 3 / 7)  # 4 ranks of a mesh of 8 reach 3 of 7 links
    assert bw_out[0] == pytest.approx(25 * GB)
    torus = machine(catalog, Topology.TORUS, 64, (4, 4, 4))
    _, _, bw_in, bw_out = torus.group_bw(16.0, 1.0)
    assert (bw_in, bw_out) == (pytest.approx(50 * GB * 2 / 3), pytest.approx(25 * GB))

"""TPU slices: the ICI torus a job's chips sit in, the links a group of ranks uses on its axes
(wraparound per axis), and multi-slice jobs joined over DCN (issue 14 item 2). Each figure is
written by hand from the JAX scaling book ("How to Scale Your Model", ch. 2 TPUs: ICI table and
its footnote on wraparound; ch. 3 Sharding: AllGather over one and several axes; ch. 5 Training:
"Scaling Between Pods"), the Cloud TPU topology tables and MaxText's hierarchical mesh."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from handsized import EMB, GB, LAYER, OUT_LAT, PARAMS, UP_BW, UP_LAT, L, h, machine, tiny
from xpuplan.hardware import Catalog
from xpuplan.layout import Layout, Reason
from xpuplan.perf import Machine, estimate_train
from xpuplan.perf.machine import axis_links, slice_shape
from xpuplan.validation.validate import case_machine
from xpuplan.workload.job import TrainJob


def tpu(catalog: Catalog, system: str, chips: int, dims: tuple[int, ...] = ()) -> Machine:
    s = catalog.system(system)
    return Machine(catalog.chip(s.chip), s, chips, dims)


@pytest.mark.parametrize(
    "n, dims, wrap, want",
    [
        (64, (16, 16, 16), 4, (4, 4, 4)),  # v4-128: one 4x4x4 cube
        (192, (16, 16, 16), 4, (4, 4, 12)),  # v4-384: whole cubes, not the more even 4x6x8
        (512, (16, 16, 24), 4, (8, 8, 8)),  # v5p-1024
        (256, (16, 24, 24), 4, (4, 8, 8)),  # tpu7x-4x8x8
        (4, (16, 16, 16), 4, (1, 2, 2)),  # one v4 host, 2x2x1
        (8, (16, 16), 16, (2, 4)),  # v5e-8 / v6e-8: 2x4
        (32, (16, 16), 16, (4, 8)),
        (128, (16, 16), 16, (8, 16)),
        (256, (16, 16), 16, (16, 16)),  # the full v5e / v6e pod
    ],
)
def test_slice_shape_is_the_cloud_tpu_topology(
    n: int, dims: tuple[int, ...], wrap: int, want: tuple[int, ...]
) -> None:
    assert slice_shape(n, dims, wrap) == want


@pytest.mark.parametrize(
    "system, chips, dims, n, inner, share",
    [
        # v5e 4x8: no axis of 16, so no wraparound; a gather over all 32 runs each axis one way:
        # 2 of the chip's 4 one-way link units (scaling book ch. 3 pop quiz 2, a v5e 8x4 mesh)
        ("gcp-tpu-v5e-pod", 32, (), 32, 1, 2 / 4),
        # the full 16x16 v5e pod wraps on both axes: both directions of both, all 4 links
        ("gcp-tpu-v5e-pod", 256, (), 256, 1, 4 / 4),
        ("gcp-tpu-v5e-pod", 256, (), 16, 1, 2 / 4),  # TP16: one 16-ring
        ("gcp-tpu-v5e-pod", 256, (), 16, 16, 2 / 4),  # DP16 past TP16: the other 16-ring
        # 4 ranks at stride 4 on a 16-ring past a TP4 block: 4 interleaved rings share its 2
        # links, 0.5 each, and the axis is shared with the TP4 groups at the same time: 0.25
        ("gcp-tpu-v5e-pod", 256, (), 4, 4, 0.25 / 4),
        # v4 4x4x4: axes of 4 wrap (a multiple of 4, ch. 2 footnote): 2 of 6 links per axis
        ("gcp-tpu-v4-pod", 64, (), 4, 1, 2 / 6),
        ("gcp-tpu-v4-pod", 64, (), 16, 1, 4 / 6),
        ("gcp-tpu-v4-pod", 64, (), 64, 1, 6 / 6),
        # 12 = one whole 4-ring (2 links) and a line over 3 of the next axis' 4 positions (one
        # link, shared with the group laid out after it: half): priced at what it gets
        ("gcp-tpu-v4-pod", 64, (), 12, 1, (2 + 1 / 2) / 6),
        # PaLM on v4 (Chowdhery et al. 2022 §4): 12-way model parallelism on a 12x16x16 slice
        # takes the 12-axis ring, the 256-way FSDP the two 16-rings
        ("gcp-tpu-v4-pod", 3072, (12, 16, 16), 12, 1, 2 / 6),
        ("gcp-tpu-v4-pod", 3072, (12, 16, 16), 256, 12, 4 / 6),
    ],
)
def test_torus_share_by_axes_and_wraparound(
    catalog: Catalog, system: str, chips: int, dims: tuple[int, ...], n: int, inner: int, share: float
) -> None:
    m = tpu(catalog, system, chips, dims)
    assert m.torus_share(float(n), float(inner)) == pytest.approx(share, rel=1e-12)
    arr = m.torus_share(np.array([float(n), 1.0]), np.array([float(inner), 1.0]))
    np.testing.assert_allclose(arr, [share, 1 / (2 * len(m.torus))], rtol=1e-12)  # scalar = array


def test_a_line_runs_one_way_a_ring_both() -> None:
    # 16 ranks on one axis of 16: a ring where the axis wraps (2 link units), a line where not (1)
    assert axis_links((16,), 16, 1.0, 16.0) == 2.0
    assert axis_links((16,), 4, 1.0, 16.0) == 2.0
    assert axis_links((8,), 16, 1.0, 8.0) == 1.0
    # 8 ranks on a 4x4 v4 plane: the first 4-ring whole (2), a line over half of the second axis,
    # which the 2 ranks at stride 8 cross at the same time: each gets half, 0.5 and 0.5 · 2 / 2
    assert axis_links((4, 4), 4, 1.0, 8.0) == 2.0 + 0.5
    assert axis_links((4, 4), 4, 8.0, 2.0) == 0.5 * 2.0 / 2.0


def test_the_axis_order_serves_the_innermost_block(catalog: Catalog) -> None:
    """On a v4 4x4x12 slice (v4-384), TP 12 may take the 12-axis ring (2 links) or a 4-ring plus
    a shared line over 3 of a second 4-axis (2 + 1/2): the order gives it the latter, and the DP
    group at stride 12 the rest, in the same order; on the PaLM slice above, the 12-ring wins."""
    m = tpu(catalog, "gcp-tpu-v4-pod", 192)
    assert m.torus == (4, 4, 12) and m.domain == 192
    assert m.torus_share(12.0, 1.0) == pytest.approx(2.5 / 6)


def test_multislice_places_slices_over_dcn(catalog: Catalog) -> None:
    """4 x v4-128: four 4x4x4 slices; a 256-rank group has 64 ranks per slice across 4 slices,
    and the DCN share of a chip is the host's NIC (200 Gbit/s) over its 4 chips."""
    m = tpu(catalog, "gcp-tpu-v4-pod", 256, (4, 4, 4))
    assert m.domain == 64
    n_in, n_out, bw_in, bw_out = m.group_bw(256.0, 1.0)
    assert (n_in, n_out) == (64, 4)
    eff = m.chip.efficiency.network
    assert bw_in == pytest.approx(m.chip.link_bw * eff)  # all 6 links of the cube
    assert bw_out == pytest.approx(200e9 / 8 / 4 * eff)


@pytest.mark.parametrize(
    "node, count, dims",
    [
        ("4 x v4-128 slice(s)", 256, (4, 4, 4)),
        ("1 x v4-384 slice(s)", 192, (4, 4, 12)),
        ("1 x tpu7x-4x8x8 (256 chips) slice", 256, (4, 8, 8)),
        ("v6e-8 (2x4 topology)", 8, (2, 4)),
        ("2 x v6e-256 slices (multislice over DCN)", 512, (16, 16)),
    ],
)
def test_case_slices_from_the_node_text(
    catalog: Catalog, node: str, count: int, dims: tuple[int, ...]
) -> None:
    chip = {"v4": "tpu-v4", "tpu7x": "tpu-v7", "v6e": "tpu-v6e"}[
        next(k for k in ("tpu7x", "v4", "v6e") if k in node)
    ]
    c = {"hardware": {"chip_key": chip, "count": count, "node": node, "interconnect": "ICI"}}
    assert case_machine(c, catalog, chip, count).torus == dims


# ---- multislice data parallelism: FSDP inside, DP across (MaxText hierarchical mesh) -------------

P_DEV = L * LAYER + 2 * EMB + h  # parameters of the hand-sized model on one device


def _ring_ag(size: float, n: int) -> float:
    return (n - 1) / n * size / UP_BW + math.ceil(math.log2(n)) * UP_LAT


def test_dcn_data_parallel_keeps_fsdp_in_the_domain(catalog: Catalog) -> None:
    """16 ZeRO-3 ranks in two 8-chip domains with ``dcn_data_parallel``: the 2-byte parameters are
    gathered inside the domain (twice per micro-batch) and the gradients reduce-scattered there,
    then each rank's 1/8 share all-reduced across the two domains over the NIC share (400 GB/s /
    8 × 0.5), once per step and exposed; optimizer state sharded over 8, not 16. No overlap here."""
    B, dp = 32, 16
    mb = B // dp
    job = TrainJob(tiny(), B, 2048)
    lay = Layout(dp=dp, zero=3, dp_overlap=False)
    hsdp = estimate_train(job, lay, machine(catalog, dp), replace(PARAMS, dcn_data_parallel=1.0))
    flat = estimate_train(job, lay, machine(catalog, dp), PARAMS)
    assert hsdp.reason in (Reason.OK, Reason.MEMORY)
    out_bw = 400 * GB / 8 * 0.5
    dcn = 2 * 1 / 2 * (2 * P_DEV / 8) / out_bw + 2 * OUT_LAT
    want = _ring_ag(2 * P_DEV, 8) + mb * 2 * _ring_ag(2 * P_DEV, 8) + dcn
    assert hsdp.time_s["dp_comm"] == pytest.approx(want, rel=1e-12)
    assert hsdp.memory_bytes["optimizer"] == pytest.approx(2 * flat.memory_bytes["optimizer"], rel=1e-12)
    # inside one domain nothing changes
    one = estimate_train(job, Layout(dp=8, zero=3, dp_overlap=False), machine(catalog, 8), PARAMS)
    one_h = estimate_train(
        job,
        Layout(dp=8, zero=3, dp_overlap=False),
        machine(catalog, 8),
        replace(PARAMS, dcn_data_parallel=1.0),
    )
    assert one_h.time_s["dp_comm"] == pytest.approx(one.time_s["dp_comm"], rel=1e-12)


def test_factorisations_of_exact_powers() -> None:
    """The ascending k-tuples of factors whose product is n, written out by hand; an exact power
    (8 = 2³, 16 = 4², 64 = 4³) includes its all-equal tuple, the one a cube slice takes."""
    from xpuplan.perf.machine import _factorisations

    assert _factorisations(8, 3) == [(1, 1, 8), (1, 2, 4), (2, 2, 2)]
    assert _factorisations(16, 2) == [(1, 16), (2, 8), (4, 4)]
    assert _factorisations(64, 3) == [
        (1, 1, 64),
        (1, 2, 32),
        (1, 4, 16),
        (1, 8, 8),
        (2, 2, 16),
        (2, 4, 8),
        (4, 4, 4),
    ]
    assert _factorisations(7, 2) == [(1, 7)]
    assert _factorisations(5, 1) == [(5,)] and _factorisations(5, 1, 6) == []


def test_an_eight_chip_v4_slice_is_a_2x2x2_cube(catalog: Catalog) -> None:
    """Cloud TPU v4-16 (8 chips, "TPU v4 topologies") is a 2x2x2 slice, the most even of the
    factorisations of 8 into three axes; v4-128 (64 chips) one 4x4x4 cube. Computed afresh (the
    shapes are cached: cleared first) through the machine's torus and its domain of 8 chips."""
    assert slice_shape.__wrapped__(8, (16, 16, 16), 4) == (2, 2, 2)
    assert slice_shape.__wrapped__(64, (16, 16, 16), 4) == (4, 4, 4)
    slice_shape.cache_clear()
    m = tpu(catalog, "gcp-tpu-v4-pod", 8)
    assert m.torus == (2, 2, 2) and m.domain == 8

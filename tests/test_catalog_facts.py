"""Catalog facts that change plans (issue 16): units, CPU memory, TPU networks, power estimates."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from xpuplan import units
from xpuplan.datafiles import data_dir
from xpuplan.errors import DataError, XpuplanError
from xpuplan.hardware import Catalog, load_catalog
from xpuplan.hardware.catalog import parse_capacity, parse_chip
from xpuplan.perf.estimate import machine

CHIPS = sorted((data_dir() / "chips").glob("*.toml"))
ACCELERATORS = ("gpu", "tpu", "npu")


def _raw(path: Path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize("path", CHIPS, ids=[p.stem for p in CHIPS])
def test_capacity_matches_the_datasheet_figure_in_its_stated_unit(path: Path, cat: Catalog) -> None:
    mem = _raw(path)["memory"]
    parsed = parse_capacity(mem["capacity_datasheet"])  # every chip keeps the figure as printed
    assert parsed is not None
    figure, printed = parsed
    key = "capacity_gib" if "capacity_gib" in mem else "capacity_gb"
    per_unit = units.gib(1.0) if key == "capacity_gib" else units.gbyte(1.0)
    chip = cat.chips[_raw(path)["id"]]
    assert chip.mem_bytes == pytest.approx(figure * per_unit)
    if printed.endswith("iB") != (key == "capacity_gib"):
        assert mem.get("capacity_reading"), "a unit read against the datasheet's needs its reason"


def test_hbm_is_in_one_unit_throughout(cat: Catalog) -> None:
    # vendors print "GB" for binary HBM stacks: every accelerator record reads its memory as GiB
    for path in CHIPS:
        d = _raw(path)
        if d["category"] in ACCELERATORS:
            assert "capacity_gib" in d["memory"], path.stem
    assert cat.chips["nvidia-h100-sxm"].mem_bytes == 80 * 2**30


@pytest.mark.parametrize(
    "memory, fix",
    [
        ({"capacity_gib": 80, "capacity_datasheet": "81 GB"}, "agree"),  # figure differs
        ({"capacity_gib": 80, "capacity_datasheet": "80 GB"}, "capacity_reading"),  # unit read, no reason
        ({"capacity_gb": 80, "capacity_datasheet": "80 gigs"}, "units"),  # not a figure and a unit
    ],
)
def test_a_capacity_that_disagrees_with_its_datasheet_is_a_data_error(memory: dict, fix: str) -> None:
    d = _raw(data_dir() / "chips" / "nvidia-h100-sxm.toml")
    d["memory"] = {**memory, "bandwidth_tbyte_s": 3.35}
    with pytest.raises(DataError) as e:
        parse_chip(d, Path("h100.toml"))
    assert fix in str(e.value)


# ---- CPU hosts: memory is the instance's ---------------------------------------------------------

INSTANCE_GIB = {  # AWS EC2 instance-types guide (co.html / gp.html), Memory (GiB)
    "aws-c7i.48xlarge": 384,
    "aws-m7i.48xlarge": 768,
    "aws-c7a.48xlarge": 384,
    "aws-c7g.16xlarge": 128,
    "aws-m7g.16xlarge": 256,
    "aws-c8g.48xlarge": 384,
    "aws-m8g.48xlarge": 768,
}


@pytest.mark.parametrize("system, gib", INSTANCE_GIB.items())
def test_cpu_instances_have_the_memory_aws_lists(system: str, gib: int, cat: Catalog) -> None:
    s = cat.systems[system]
    assert s.mem_bytes_per_node == gib * 2**30
    m = machine(system, s.chips_per_node, catalog=cat)
    assert m.chip.mem_bytes * s.chips_per_node == gib * 2**30  # each socket gets its share


def test_405b_in_bf16_does_not_fit_one_sapphire_rapids_socket() -> None:
    from xpuplan import api

    res = api.search_serve("llama-3.1-405b", "intel-xeon-8480", 1, input_len=1024, output_len=128)
    assert not res.best.feasible and res.best.tpot_s is None
    assert res.best.reason is not None and "memory" in res.best.reason


def test_zen4_and_sapphire_rapids_have_matrix_peaks(cat: Catalog) -> None:
    zen4, spr = cat.chips["amd-epyc-9654"], cat.chips["intel-xeon-8480"]
    # Zen 4: 2 x 256-bit pipes; bf16 dot products 2x and int8 VNNI 4x the fp32 FMA rate
    assert zen4.peak("bf16") == pytest.approx(2 * zen4.peak("fp32"), rel=1e-3)
    assert zen4.peak("int8") == pytest.approx(4 * zen4.peak("fp32"), rel=1e-3)
    # AMX: 1,024 bf16 / 2,048 int8 ops per cycle per core, 56 cores at 2.0 GHz
    assert spr.peak("bf16") == pytest.approx(56 * 2.0e9 * 1024, rel=1e-3)
    assert spr.peak("int8") == pytest.approx(56 * 2.0e9 * 2048, rel=1e-3)
    for c in (zen4, spr):
        assert {"peak_tflops.bf16", "peak_tflops.int8"} <= c.provenance.keys()


# ---- TPU networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "system, gbit_per_chip",
    [("gcp-tpu-v5p-pod", 50), ("gcp-tpu-v6e-pod", 100), ("gcp-tpu-v7-pod", 100)],  # Google's table
)
def test_tpu_dcn_bandwidth_per_chip(system: str, gbit_per_chip: int, cat: Catalog) -> None:
    s = cat.systems[system]
    assert s.scale_out.bw_per_node / s.chips_per_node == pytest.approx(units.gbit_s(gbit_per_chip))


def test_tpu_slices_are_what_google_schedules(cat: Catalog) -> None:
    v5p, v7 = cat.systems["gcp-tpu-v5p-pod"], cat.systems["gcp-tpu-v7-pod"]
    assert v5p.scale_up.domain_chips == 6144 and v5p.scale_up.torus_dims == (16, 16, 24)
    assert len(v7.scale_up.torus_dims) == 3  # a 3D torus, not a ring of 9,216
    assert (
        v7.scale_up.domain_chips
        == v7.scale_up.torus_dims[0] * v7.scale_up.torus_dims[1] * v7.scale_up.torus_dims[2]
    )


# ---- power -------------------------------------------------------------------------------------------


def test_every_accelerator_has_a_power_figure_published_or_estimated(cat: Catalog) -> None:
    for chip in cat.chips.values():
        if chip.category not in ACCELERATORS:
            continue
        assert chip.tdp_w is not None and chip.power is not None, chip.id
        if chip.power.estimated:
            lo, hi = chip.power.range_w or (0.0, 0.0)
            assert lo <= chip.tdp_w <= hi and chip.power.basis, chip.id


def test_tpus_trainium_inferentia_power_is_marked_estimated(cat: Catalog) -> None:
    for cid in (
        "tpu-v5e",
        "tpu-v5p",
        "tpu-v6e",
        "tpu-v7",
        "aws-trainium1",
        "aws-trainium2",
        "aws-inferentia2",
    ):
        assert cat.chips[cid].tdp_estimated, cid
    assert not cat.chips["tpu-v4"].tdp_estimated  # Google publishes a measured maximum


def test_cpu_and_apple_power_estimates_by_hand(cat: Catalog) -> None:
    """Where no TDP is published, the estimate follows its stated basis (tdp_basis) and is sourced."""
    g3, g4 = cat.chips["aws-graviton3"], cat.chips["aws-graviton4"]
    m2max, m2u = cat.chips["apple-m2-max"], cat.chips["apple-m2-ultra"]
    for chip in (g3, g4, m2max, m2u):
        p = chip.provenance["power.tdp_w"]
        assert chip.tdp_estimated and p.source.startswith("https://") and p.as_of, chip.id
    assert g3.tdp_w == 100.0  # the reported package power
    assert g4.tdp_w == pytest.approx(96 * 100 / 64 * 1.13, abs=1.0)  # per core x cores, +13% clock/uncore
    assert g4.power is not None and g4.power.range_w == (130.0, 500 / 2)  # up to Grace's 500 W / 2 dies
    assert m2u.tdp_w == pytest.approx(0.8 * 295, abs=1.0)  # 0.8 x Apple's measured wall maximum
    assert m2max.tdp_w == pytest.approx(0.8 * 145 * (1 / 3 + 2 / 3 * 38 / 30), abs=2.5)  # 38-core GPU


def test_an_estimated_tdp_needs_a_basis_and_a_range() -> None:
    d = _raw(data_dir() / "chips" / "tpu-v6e.toml")
    d["power"] = {"tdp_w": 385, "tdp_estimated": True}
    with pytest.raises(DataError):
        parse_chip(d, Path("v6e.toml"))


def test_plan_energy_on_an_estimated_tdp_says_so() -> None:
    from xpuplan import api

    res = api.search_serve("llama-3-8b", "tpu-v6e", 8, input_len=512, output_len=128)
    assert res.best.economics.power_estimated is True and res.to_dict()["power_estimated"] is True
    res = api.search_serve("llama-3-8b", "nvidia-h100-sxm", 8, input_len=512, output_len=128)
    assert res.best.economics.power_estimated is False and res.to_dict()["power_estimated"] is False


def test_unknown_names_still_fail_cleanly(cat: Catalog) -> None:
    with pytest.raises(XpuplanError):
        machine("no-such-chip", 1, catalog=cat)

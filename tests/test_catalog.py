"""The hardware catalog: provenance on every record, look-ups, validation chip keys, loader errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xpuplan.errors import DataError, UnknownNameError
from xpuplan.hardware import Catalog, Dtype, load_catalog
from xpuplan.hardware.catalog import data_dir

VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "validation" / "dev.yaml"

REQUIRED_CHIPS = """
nvidia-v100 nvidia-a100-80gb nvidia-h100-sxm nvidia-h800 nvidia-h200 nvidia-b200 nvidia-gb200
amd-mi250x amd-mi300x amd-mi325x amd-mi355x aws-trainium1 aws-trainium2 aws-trainium3
aws-inferentia2 aws-graviton3 aws-graviton4 tpu-v4 tpu-v5e tpu-v5p tpu-v6e tpu-v7 intel-gaudi2
intel-gaudi3 apple-m2-ultra apple-m4-max apple-a17-pro apple-a18-pro intel-xeon-8480 amd-epyc-9654
""".split()


def test_every_record_has_source_and_as_of(catalog: Catalog) -> None:
    records = [*catalog.chips.values(), *catalog.systems.values(), *catalog.prices]
    assert records
    for r in records:
        assert r.source.strip(), r
        assert str(r.as_of).strip(), r
    for c in catalog.chips.values():
        for key, p in c.provenance.items():
            assert p.source and p.as_of, (c.id, key)
        e = c.efficiency.provenance
        assert e is not None and e.source, f"{c.id}: [efficiency] needs a source"
    assert catalog.energy.source and catalog.energy.as_of


def test_raw_files_name_source_and_as_of() -> None:
    """Read the TOML text itself, so a loader default could not hide a missing key."""
    import tomllib

    for path in sorted((data_dir() / "chips").glob("*.toml")) + sorted(
        (data_dir() / "systems").glob("*.toml")
    ):
        d = tomllib.loads(path.read_text())
        assert d.get("source") and d.get("as_of"), path.name


@pytest.mark.parametrize("chip_id", REQUIRED_CHIPS)
def test_required_chips_exist_with_core_numbers(catalog: Catalog, chip_id: str) -> None:
    c = catalog.chip(chip_id)
    assert c.mem_bytes > 0 and c.mem_bw > 0
    assert c.peak_flops, "at least one dense peak"
    assert catalog.systems_for_chip(c.id), "every chip sits in at least one system"


def test_validation_chip_keys_resolve(catalog: Catalog) -> None:
    if not VALIDATION.is_file():
        pytest.skip("../shared/validation/dev.yaml not present")
    cases = yaml.safe_load(VALIDATION.read_text())
    keys = {c["hardware"]["chip_key"] for c in cases}
    assert len(keys) >= 10
    for k in keys:
        assert catalog.chip(k).id == k


def test_aliases_resolve_case_and_separator_insensitive(catalog: Catalog) -> None:
    assert catalog.chip("H100").id == "nvidia-h100-sxm"
    assert catalog.chip("nvidia_h100_sxm").id == "nvidia-h100-sxm"
    assert catalog.system("p5").id == "aws-p5.48xlarge"


def test_aliases_are_unique_across_records(catalog: Catalog) -> None:
    from xpuplan.hardware import normalise

    seen: dict[str, str] = {}
    for r in [*catalog.chips.values(), *catalog.systems.values()]:
        for a in {normalise(x) for x in (r.id, *r.aliases)}:
            assert a not in seen or seen[a] == r.id, f"alias {a} used by {seen.get(a)} and {r.id}"
            seen[a] = r.id


def test_unknown_chip_suggests_close_names(catalog: Catalog) -> None:
    with pytest.raises(UnknownNameError) as e:
        catalog.chip("h10")
    assert "h100" in e.value.one_line()


def test_dense_peaks_are_not_sparse_headlines(catalog: Catalog) -> None:
    # H100 SXM dense bf16 is 989 TFLOP/s; the 1,979 headline includes 2:4 sparsity.
    assert catalog.chip("nvidia-h100-sxm").peak(Dtype.BF16) == pytest.approx(989.4e12, rel=0.01)
    assert catalog.chip("tpu-v5p").peak(Dtype.BF16) == pytest.approx(459e12, rel=0.01)


def test_per_chip_prices_scale_to_the_node(catalog: Catalog) -> None:
    v5p = catalog.system("gcp-tpu-v5p-pod")
    od = [p for p in catalog.prices_for(v5p.id) if p.pricing.value == "on_demand"]
    assert od
    assert od[0].usd_per_chip_hour(v5p.chips_per_node) == pytest.approx(4.2, rel=0.01)


def _copy_catalog(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(data_dir(), tmp_path / "data")
    return tmp_path / "data"


def test_missing_source_is_a_data_error(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    f = root / "chips" / "nvidia-h100-sxm.toml"
    f.write_text("\n".join(ln for ln in f.read_text().splitlines() if not ln.startswith("as_of")))
    with pytest.raises(DataError, match="as_of"):
        load_catalog(root)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    (root / "chips" / "broken.toml").write_text("id = [unclosed\n")
    with pytest.raises(DataError) as e:
        load_catalog(root)
    assert "broken.toml" in e.value.one_line()

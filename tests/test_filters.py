"""Candidate filters: providers, exclusions, price kinds and regions, from the CLI and scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xpuplan.errors import UnknownNameError
from xpuplan.hardware import Catalog
from xpuplan.planner import plan
from xpuplan.planner.plan import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_provider_filter_on_the_multi_vendor_example(catalog: Catalog) -> None:
    r = _cli("plan", str(ROOT / "examples" / "multi_vendor_fleet.toml"), "--provider", "aws,gcp", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    used = {o["system"] for j in d["jobs"] for o in j["options"]}
    used |= {a["system"] for a in d["fleet"]["assignment"]}
    assert used and {catalog.systems[s].provider for s in used} <= {"aws", "gcp"}
    assert "azure-nd-mi300x-v5" not in used  # named in the file's candidates, dropped by the filter


def test_unknown_provider_is_one_line_with_a_suggestion() -> None:
    r = _cli("plan", str(ROOT / "examples" / "lora_finetune.toml"), "--provider", "aws,gpc")
    assert r.returncode == 2
    assert "Did you mean 'gcp'" in r.stderr and "Traceback" not in r.stderr


def test_scenario_filters_exclude_price_kind_and_region(tmp_path: Path, catalog: Catalog) -> None:
    f = tmp_path / "s.toml"
    f.write_text(
        (ROOT / "examples" / "lora_finetune.toml").read_text()
        + '\n[candidates]\nproviders = ["aws"]\nexclude = ["aws-p6-b200.48xlarge"]\n'
        'price_kinds = ["on_demand"]\nregions = ["us-east-1"]\n'
    )
    sc = load_scenario(f, catalog)
    r = plan(sc, catalog)
    systems = {o.system for j in r.jobs for o in j.options}
    assert systems and "aws-p6-b200.48xlarge" not in systems
    for j in r.jobs:
        for o in j.options:
            assert catalog.systems[o.system].provider == "aws"
            assert o.pricing in (None, "on_demand")
    for fo, _ in r.fleet.assignment:
        regions = {p.region for p in catalog.prices_for(fo.system) if p.pricing.value == "on_demand"}
        assert any("us-east-1" in reg for reg in regions)


@pytest.mark.parametrize(
    "line, kind", [('providers = ["awz"]', "provider"), ('price_kinds = ["hourly"]', "price kind")]
)
def test_bad_filter_in_a_scenario_names_the_line(
    tmp_path: Path, catalog: Catalog, line: str, kind: str
) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[jobs]]\nkind = "serve"\nmodel = "llama-3-8b"\nrate = 5\n[candidates]\n' + line + "\n")
    with pytest.raises(UnknownNameError, match=kind) as e:
        load_scenario(f, catalog)
    assert e.value.where == f"{f}:6"

"""Prices an analyst can cite: sourced and dated rows, a dated history, like-for-like comparisons,
and rows refreshed from the clouds' own exports (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xpuplan import api
from xpuplan.claims.engine import ClaimResult, evaluate_builtin
from xpuplan.errors import DataError
from xpuplan.hardware import Catalog, Pricing, load_catalog
from xpuplan.hardware.pricing import common_kind, current_price
from xpuplan.hardware.refresh import check, refresh

FIXTURES = Path(__file__).parent / "fixtures" / "prices"
PRICE_METRICS = ("price_performance", "cost")


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_every_price_row_has_a_url_and_a_full_date(cat: Catalog) -> None:
    for p in cat.prices:
        assert re.search(r"https?://", p.source), (p.system, p.pricing, p.source)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.as_of), (p.system, p.pricing, p.as_of)


def test_a_plan_can_be_priced_at_a_date(cat: Catalog) -> None:
    p5 = cat.systems["aws-p5.48xlarge"]
    kinds = {(p.pricing, p.as_of) for p in cat.prices_for(p5.id)}
    assert len([k for k in kinds if k[0] is Pricing.ON_DEMAND]) >= 2  # a history, not one row
    before_cut = current_price(cat, p5, Pricing.ON_DEMAND, on="2024-12-03")
    today = current_price(cat, p5, Pricing.ON_DEMAND)
    assert before_cut is not None and today is not None
    assert before_cut.as_of <= "2024-12-03" < today.as_of
    assert before_cut.usd_per_node_hour > today.usd_per_node_hour  # the June 2025 price cut
    assert current_price(cat, p5, Pricing.ON_DEMAND, on="2020-01-01") is None


def test_common_kind_is_shared_or_none(cat: Catalog) -> None:
    s = cat.systems
    # p5 has On-Demand and Capacity Blocks, trn2 only Capacity Blocks: the comparison uses blocks
    assert common_kind(cat, [s["aws-p5.48xlarge"], s["aws-trn2.48xlarge"]]) is Pricing.CAPACITY_BLOCK
    assert common_kind(cat, [s["aws-trn2.48xlarge"], s["gcp-tpu-v4-pod"]]) is None


@pytest.fixture(scope="module")
def results(cat: Catalog) -> dict[str, ClaimResult]:
    return {r.id: r for r in evaluate_builtin(cat)}


def test_every_claim_price_comparison_is_like_for_like(results: dict[str, ClaimResult]) -> None:
    compared = 0
    for r in results.values():
        for c in r.checks:
            if c.metric not in PRICE_METRICS:
                continue
            for case in c.cases:
                s, b = case.inputs.get("subject"), case.inputs.get("baseline")
                if case.value is None or s is None or b is None:
                    continue
                assert s["pricing"] == b["pricing"], (r.id, c.label, case.label)
                compared += 1
    assert compared > 0


def test_every_plan_comparison_is_like_for_like() -> None:
    res = api.plan(api.default_scenario())
    seen = 0
    for job in res.jobs:
        base = next((o for o in job.options if o.system == res.scenario.baseline and o.feasible), None)
        for o in job.options:
            if o.savings_vs_baseline is not None:
                assert base is not None and o.pricing == base.pricing, (job.job, o.system)
                seen += 1
    assert res.scenario.baseline is None or seen > 0


@pytest.mark.parametrize(
    "fixture, system, kind, usd_per_node_hour, as_of",
    [
        ("aws_ec2_offer.json", "aws-p5.48xlarge", Pricing.ON_DEMAND, 55.04, "2026-07-01"),
        ("gcp_tpu_skus.json", "gcp-tpu-v5p-pod", Pricing.ON_DEMAND, 4 * 4.20, "2026-11-01"),
        ("gcp_tpu_skus.json", "gcp-tpu-v5p-pod", Pricing.SPOT, 4 * 1.68, "2026-11-01"),
        ("azure_retail_prices.json", "azure-nd-mi300x-v5", Pricing.ON_DEMAND, 48.0, "2026-05-01"),
        ("azure_retail_prices.json", "azure-nd-mi300x-v5", Pricing.COMMIT_1Y, 294336.0 / 8760, "2026-05-01"),
    ],
)
def test_refresh_reads_each_clouds_export(
    fixture: str, system: str, kind: Pricing, usd_per_node_hour: float, as_of: str, cat: Catalog
) -> None:
    rows = refresh(FIXTURES / fixture, cat)
    hit = [p for p in rows if p.system == system and p.pricing is kind]
    assert hit and hit[0].usd_per_node_hour == pytest.approx(usd_per_node_hour)
    assert hit[0].as_of == as_of and "https://" in hit[0].source and fixture in hit[0].source
    # Windows, dedicated hosts, storage SKUs and instances without a catalog system are left out
    assert all(p.system in cat.systems for p in rows)
    assert len([p for p in rows if p.system == "aws-p5.48xlarge"]) <= 1


def test_refreshed_rows_are_what_a_plan_uses(tmp_path: Path, cat: Catalog) -> None:
    text, n = api.refresh_prices(FIXTURES / "azure_retail_prices.json", cat)
    assert n == 3
    path = tmp_path / "azure.csv"
    path.write_text(text)
    merged = api.with_price_file(path, cat)
    p = current_price(merged, merged.systems["azure-nd-mi300x-v5"], Pricing.COMMIT_1Y, strict=True)
    assert p is not None and p.usd_per_node_hour == pytest.approx(294336.0 / 8760)
    assert current_price(cat, cat.systems["azure-nd-mi300x-v5"], Pricing.COMMIT_1Y, strict=True) is None


def test_refresh_refuses_what_is_not_a_price_export(tmp_path: Path, cat: Catalog) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(DataError):
        refresh(bad, cat)
    bad.write_text("not json")
    with pytest.raises(DataError):
        refresh(bad, cat)


def test_catalog_check_reports_no_url_year_only_and_note_mismatch(cat: Catalog) -> None:
    from dataclasses import replace

    p = cat.prices[0]
    broken = replace(p, source="a rate table", as_of="2025", note="$1.00 per GPU-hour")
    found = check(Catalog(cat.chips, cat.systems, (broken,), cat.energy))
    problems = {f.problem for f in found if f.record.startswith("price:")}
    assert problems == {"no-url", "year-only-date", "disagrees-with-note"}
    assert not [f for f in check(cat) if f.record.startswith("price:")]  # the shipped prices are clean


def test_docs_claims_table_is_generated_not_hand_edited(results: dict[str, ClaimResult]) -> None:
    from xpuplan.report.claims_view import claims_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "claims.md").read_text()
    table = doc.split("<!-- claims:begin -->\n", 1)[1].split("<!-- claims:end -->", 1)[0]
    assert table == claims_markdown(list(results.values())), "run: python benchmarks/claims_doc.py"

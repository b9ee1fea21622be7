"""Purchase units: every priced system says what can be bought; plans buy and price whole units;
a budget that admits a plan admits it at every larger budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xpuplan.errors import DataError
from xpuplan.hardware import Catalog, Pricing
from xpuplan.hardware.purchase import allocate, billed_hours, largest_within, load_purchase_units
from xpuplan.planner import (
    Constraints,
    FleetLimits,
    FleetOption,
    Scenario,
    ServeSpec,
    TrainSpec,
    plan,
    plan_fleet,
)
from xpuplan.planner.plan import load_scenario
from xpuplan.report import wording

ROOT = Path(__file__).resolve().parents[1]


def test_every_priced_system_and_kind_has_purchase_units(catalog: Catalog) -> None:
    missing = sorted(
        {(p.system, p.pricing.value) for p in catalog.prices} - {(s, k.value) for s, k in catalog.units}
    )
    assert not missing, f"add these to data/purchase_units.toml: {missing}"
    for u in catalog.units.values():
        assert u.source and u.as_of and u.unit
        assert u.chips == tuple(sorted(u.chips))


def test_units_are_what_the_providers_sell(catalog: Catalog) -> None:
    def unit(system: str, kind: Pricing) -> tuple[int, ...]:
        return catalog.units[(system, kind)].chips

    assert unit("aws-p5.48xlarge", Pricing.ON_DEMAND) == (8,)
    assert unit("aws-p6e-gb200-ultraserver", Pricing.CAPACITY_BLOCK) == (36, 72)
    assert unit("aws-trn2-ultraserver", Pricing.CAPACITY_BLOCK) == (64,)
    assert unit("gcp-tpu-v6e-pod", Pricing.ON_DEMAND) == (1, 4, 8, 16, 32, 64, 128, 256)
    assert max(unit("gcp-tpu-v5p-pod", Pricing.ON_DEMAND)) == 6144  # largest single slice


@pytest.mark.parametrize(
    "system, kind, chips, want",
    [
        ("aws-p6e-gb200-ultraserver", Pricing.CAPACITY_BLOCK, 4, (36, 1)),  # 4 GPUs: a whole 36-GPU block
        ("aws-p6e-gb200-ultraserver", Pricing.CAPACITY_BLOCK, 40, (72, 1)),  # one x72 beats two x36 (fewer)
        ("aws-trn1.32xlarge", Pricing.ON_DEMAND, 7, (16, 1)),  # 7 chips: one 16-chip instance
        ("gcp-tpu-v5p-pod", Pricing.ON_DEMAND, 2, (4, 1)),  # the smallest v5p slice is 2x2x1
        ("gcp-tpu-v6e-pod", Pricing.ON_DEMAND, 12, (16, 1)),
        ("gcp-tpu-v6e-pod", Pricing.ON_DEMAND, 600, (128, 5)),  # a multislice of big slices, not 75 x v6e-8
        ("gcp-tpu-v5p-pod", Pricing.ON_DEMAND, 8192, (4096, 2)),  # not 2 x 6,144
    ],
)
def test_allocation_is_the_smallest_whole_unit_cluster(
    catalog: Catalog, system: str, kind: Pricing, chips: int, want: tuple[int, int]
) -> None:
    a = allocate(catalog.units[(system, kind)], chips)
    assert (a.unit_chips, a.count) == want
    assert a.chips >= chips


def test_largest_within_a_cap(catalog: Catalog) -> None:
    u = catalog.units[("aws-p6e-gb200-ultraserver", Pricing.CAPACITY_BLOCK)]
    assert largest_within(u, 35) is None
    top = largest_within(u, 100)
    assert top is not None and top.chips == 72


def test_billing_rounds_to_what_is_paid(catalog: Catalog) -> None:
    cb = catalog.units[("aws-p5.48xlarge", Pricing.CAPACITY_BLOCK)]
    assert billed_hours(cb, 5.9) == 24.0  # a one-day block
    assert billed_hours(cb, 15 * 24) == 21 * 24  # beyond 14 days: 7-day steps
    assert billed_hours(cb, 200 * 24) == (182 + 21) * 24  # the longest block, then the rest
    od = catalog.units[("aws-p5.48xlarge", Pricing.ON_DEMAND)]
    assert billed_hours(od, 0.001) == pytest.approx(1 / 60)  # 60-second minimum
    assert billed_hours(od, 5.5) == pytest.approx(5.5)
    commit = catalog.units[("gcp-tpu-v6e-pod", Pricing.COMMIT_1Y)]
    assert billed_hours(commit, 730) == 8760.0  # a commitment is paid for its term


def test_bad_units_file_names_the_record(tmp_path: Path, catalog: Catalog) -> None:
    f = tmp_path / "u.toml"
    f.write_text('["aws-p5.48xlarge".on_demand]\nunit = "x"\nchips = [0]\nsource = "s"\nas_of = "2025"\n')
    with pytest.raises(DataError, match="chips"):
        load_purchase_units(f, catalog.systems)
    f.write_text('["aws-p5.48xlarge".weekly]\nunit = "x"\nchips = [8]\nsource = "s"\nas_of = "2025"\n')
    with pytest.raises(DataError, match="price kind"):
        load_purchase_units(f, catalog.systems)


@pytest.mark.parametrize("example", ["multi_vendor_fleet.toml", "lora_finetune.toml"])
def test_example_fleets_buy_and_price_whole_units(catalog: Catalog, example: str) -> None:
    r = plan(load_scenario(ROOT / "examples" / example, catalog), catalog)
    assert r.fleet.status == "optimal"
    by_job = {o.job: o for j in r.jobs for o in r.tried[j.job]}
    assert by_job
    for fo, count in r.fleet.assignment:
        assert count == round(count) and count >= 1
        o = next(
            o
            for o in r.tried[fo.job]
            if o.system == fo.system and o.fleet_ok and (fo.kind == "serve" or o.chips == fo.chips)
        )
        unit = catalog.purchase_unit(catalog.systems[fo.system], Pricing(o.pricing))
        assert allocate(unit, fo.chips).chips == fo.chips, f"{fo.system}: {fo.chips} chips is not whole units"
        buy = (o.detail or {})["purchase"]
        price = o.cost_usd or 0.0
        hours = buy["billed_hours"]
        # the price is whole units × the billed hours (never pro rata)
        per_chip_hour = price / (buy["chips"] * hours)
        rows = [p for p in catalog.prices_for(fo.system) if p.pricing.value == o.pricing]
        assert any(
            per_chip_hour == pytest.approx(p.usd_per_chip_hour(catalog.systems[fo.system].chips_per_node))
            for p in rows
        )


# ---- a larger budget never loses a plan ------------------------------------------------------------

_train = st.builds(
    lambda job, s, chips, cost, mw: FleetOption(job, "finetune", s, s, chips, cost, 1.0, mw, 10.0),
    st.sampled_from(["t1", "t2"]),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([8, 16, 36, 64]),
    st.floats(10, 1000),
    st.floats(0.01, 1.0),
)
_serve = st.builds(
    lambda s, chips, cost, cap, mw: FleetOption(
        "srv",
        "serve",
        s,
        s,
        chips,
        cost,
        1.0,
        mw,
        1.0,
        capacity=cap,
        demand=25.0,
        max_count=int(25.0 // cap) + 1,
    ),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([1, 8, 16, 72]),
    st.floats(5, 500),
    st.floats(1.0, 30.0),
    st.floats(0.01, 0.5),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_train, min_size=1, max_size=6),
    st.lists(_serve, min_size=1, max_size=4),
    st.floats(50, 5000),
    st.floats(1.0, 4.0),
    st.sampled_from([None, 64, 128]),
    st.sampled_from([None, 0.7]),
)
def test_a_larger_budget_admits_every_plan_a_smaller_one_does(
    train: list[FleetOption],
    serve: list[FleetOption],
    budget: float,
    more: float,
    supply: int | None,
    share: float | None,
) -> None:
    opts = train + serve
    supplies = {} if supply is None else dict.fromkeys("abc", supply)
    small = plan_fleet(opts, FleetLimits(supplies, 2.0, budget, share))
    large = plan_fleet(opts, FleetLimits(supplies, 2.0, budget * more, share))
    if small.status == "optimal":
        assert large.status == "optimal"
        assert large.value is not None and small.value is not None
        assert large.value <= small.value * (1 + 1e-9) + 1e-6
        assert small.value <= budget * (1 + 1e-9)
        for _fo, count in small.assignment:
            assert count == round(count)  # whole groups, whole jobs


def _mixed(budget: float) -> Scenario:
    return Scenario(
        name="budget",
        jobs=(
            TrainSpec("lora", "finetune", "llama-3-8b", 2e9, 4096, 128, "bf16", 16),
            ServeSpec("srv", "llama-3-8b", 200.0, 1000, 250, 1000.0, 50.0, ("bf16", "fp8"), 730.0),
        ),
        systems=("aws-trn1.32xlarge", "gcp-tpu-v5p-pod"),
        constraints=Constraints(
            deadline_days=7.0, budget_usd=budget, available={"gcp-tpu-v5p-pod": 8, "aws-trn1.32xlarge": 96}
        ),
    )


def test_planner_budget_is_monotone_when_serving_must_be_mixed(catalog: Catalog) -> None:
    """Supply caps the cheapest server below the rate, so serving needs a mix: every option alone
    costs more than the plan's serving share. Such options were once dropped as 'over budget',
    which made a smaller budget infeasible though a larger one returned a cheaper plan."""
    loose = plan(_mixed(1e6), catalog)
    assert loose.fleet.status == "optimal" and loose.fleet.value is not None
    servers = {fo.system for fo, _ in loose.fleet.assignment if fo.kind == "serve"}
    assert servers == {"aws-trn1.32xlarge", "gcp-tpu-v5p-pod"}  # the mix
    alone = [o for o in loose.tried["srv"] if o.feasible]  # within the supply on its own
    assert alone and all((o.cost_usd or 0) > loose.fleet.value for o in alone)  # each costs more
    for budget in (loose.fleet.value * 1.001, loose.fleet.value * 2):
        r = plan(_mixed(budget), catalog)
        assert r.fleet.status == "optimal", wording.fleet_plan_reason(r.fleet)
        assert r.fleet.value == pytest.approx(loose.fleet.value, rel=1e-6)
    tight = plan(_mixed(loose.fleet.value * 0.5), catalog)
    assert tight.fleet.status == "infeasible" and "budget" in tight.fleet.culprits

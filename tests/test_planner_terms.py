"""Cost, power, PUE and the constraint checks of the planner, and the fleet MIP's duals, by hand.

The catalog here is the packaged one with p5's price, host power and the H100's TDP pinned to round
numbers (a catalog refresh must not move these expected figures): $80 per node-hour On-Demand,
4,000 W of host per 8-GPU node, 700 W per GPU.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from xpuplan.hardware import Catalog
from xpuplan.hardware.pricing import current_price, facility_power_w, it_power_w
from xpuplan.hardware.records import Dtype, Price, Pricing
from xpuplan.layout import Reason
from xpuplan.perf.params import default_params
from xpuplan.planner import Constraints, FleetLimits, FleetOption, Scenario, ServeSpec, TrainSpec, plan_fleet
from xpuplan.planner.constraints import Why, WhyCode
from xpuplan.planner.rank import Option, choose, rank_serve, rank_train, train_sizes, with_baseline
from xpuplan.report import wording
from xpuplan.report.wording import reason as word
from xpuplan.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from xpuplan.workload.job import TrainJob
from xpuplan.workload.library import get_model

P5 = "aws-p5.48xlarge"
USD_NODE_H, HOST_W, TDP_W = 80.0, 4000.0, 700.0


@pytest.fixture(scope="module")
def cat(catalog: Catalog) -> Catalog:
    p5 = replace(catalog.systems[P5], host_w_per_node=HOST_W)
    h100 = replace(catalog.chips[p5.chip], tdp_w=TDP_W)
    price = Price(P5, Pricing.ON_DEMAND, USD_NODE_H, "test", "test", "2026-01-01")
    others = tuple(p for p in catalog.prices if p.system != P5)
    return replace(
        catalog,
        systems={**catalog.systems, P5: p5},
        chips={**catalog.chips, h100.id: h100},
        prices=(*others, price),
    )


# ---- power and PUE (hardware/pricing.py) -------------------------------------------------------------------


def test_it_and_facility_power(cat: Catalog) -> None:
    p5 = cat.systems[P5]
    # 12 GPUs at 0.8 of TDP, and the hosts of the 2 nodes they occupy (a partly used node still runs)
    it = 12 * TDP_W * 0.8 + 2 * HOST_W
    assert it_power_w(cat, p5, 12, 0.8) == pytest.approx(it)
    assert facility_power_w(cat, p5, 12, 0.8) == pytest.approx(it * cat.energy.pue)
    assert facility_power_w(cat, p5, 12, 0.8, pue=1.4) == pytest.approx(it * 1.4)
    no_tdp = replace(cat, chips={**cat.chips, p5.chip: replace(cat.chips[p5.chip], tdp_w=None)})
    assert it_power_w(no_tdp, p5, 8, 0.8) is None and facility_power_w(no_tdp, p5, 8, 0.8) is None


def test_price_policy(cat: Catalog) -> None:
    """The preferred kind if quoted, else the next in the list; the latest rows; the cheapest of them."""
    rows = (
        Price(P5, Pricing.ON_DEMAND, 90.0, "a", "s", "2025-01-01"),
        Price(P5, Pricing.ON_DEMAND, 70.0, "b", "s", "2024-01-01"),  # older, cheaper: superseded
        Price(P5, Pricing.ON_DEMAND, 95.0, "c", "s", "2025-01-01"),
        Price(P5, Pricing.COMMIT_1Y, 50.0, "a", "s", "2025-06-01"),
    )
    c = replace(cat, prices=rows)
    p5 = c.systems[P5]
    assert current_price(c, p5).usd_per_node_hour == 90.0  # type: ignore[union-attr]
    assert current_price(c, p5, Pricing.COMMIT_1Y).usd_per_node_hour == 50.0  # type: ignore[union-attr]
    assert current_price(c, p5, Pricing.CAPACITY_BLOCK).pricing is Pricing.ON_DEMAND  # type: ignore[union-attr]
    assert current_price(c, p5, on="2024-06-30").usd_per_node_hour == 70.0  # type: ignore[union-attr]
    assert current_price(c, p5, on="2023-12-31") is None


# ---- training options: sizes, cost, energy, the constraint checks --------------------------------------------


FT = TrainSpec("ft", "finetune", "llama-3-8b", 2e9, 4096, 64)


def _sc(**cons: object) -> Scenario:
    return Scenario("t", (FT,), systems=(P5,), constraints=Constraints(**cons))  # type: ignore[arg-type]


def _two(**cons: object) -> Scenario:
    """A supply of 16 chips: one or two nodes, whatever the deadline asks for."""
    return _sc(available={P5: 16}, **cons)


def test_train_sizes_from_the_deadline(cat: Catalog) -> None:
    """The first guess: the job's FLOPs over (deadline × peak × 0.35), rounded up to a power of two
    of nodes, then ×½, ×1, ×2, ×4 in whole nodes, capped by the supply."""
    job = TrainJob(get_model("llama-3-8b"), 64, 4096, tokens=2e9)
    peak = cat.chips["nvidia-h100-sxm"].peak("bf16") or math.nan
    sc = _sc(deadline_days=0.05)
    need = job.model.train_flops_per_token(4096) * 2e9 / (0.05 * SECONDS_PER_DAY * peak * 0.35)
    nodes = 2 ** math.ceil(math.log2(need / 8))
    want = sorted({max(1, int(nodes * k)) * 8 for k in (0.5, 1, 2, 4)})
    unit = cat.purchase_unit(cat.systems[P5], Pricing.ON_DEMAND)  # whole 8-GPU instances
    sizes = train_sizes(job, sc, cat.systems[P5], peak, unit)
    # the provider's largest cluster (20,000 for p5) is searched too, as the largest one can have
    assert nodes > 1 and sizes == [*want, cat.systems[P5].scale_out.max_chips]
    cap = 3 * 8 * nodes // 2
    sizes = train_sizes(job, _sc(deadline_days=0.05, available={P5: cap}), cat.systems[P5], peak, unit)
    assert sizes == [*(n for n in want if n <= cap), cap]
    assert train_sizes(job, _sc(deadline_days=0.05, available={P5: 4}), cat.systems[P5], peak, unit) == []


@pytest.fixture(scope="module")
def tried(cat: Catalog) -> list[Option]:
    return rank_train(FT, _two(), cat, cat.systems[P5], 1.25, default_params())


def test_train_option_cost_and_energy(cat: Catalog, tried: list[Option]) -> None:
    """Cost: whole nodes × price × billed time (On-Demand bills whole seconds); energy: IT power ×
    PUE × time."""
    pf = default_params().power_fraction
    assert [o.chips for o in tried] == [8, 16] and all(o.feasible for o in tried)
    for o in tried:
        assert o.time_s is not None
        nodes = math.ceil(o.chips / 8)
        billed_s = math.ceil(o.time_s)
        assert o.cost_usd == pytest.approx(USD_NODE_H * nodes * billed_s / SECONDS_PER_HOUR, rel=1e-12)
        watts = o.chips * TDP_W * pf + nodes * HOST_W
        assert o.energy_j == pytest.approx(watts * 1.25 * o.time_s, rel=1e-12)
        assert o.facility_mw == pytest.approx(watts * 1.25 / 1e6, rel=1e-12)
        est = o.detail["estimate"]  # type: ignore[index]
        assert o.time_s == pytest.approx(est["time_to_train_s"]) and o.utilisation == est["mfu"]
        assert o.pricing == "on_demand" and o.price_as_of == "2026-01-01"


def test_train_constraint_checks(cat: Catalog, tried: list[Option]) -> None:
    fastest = min(o.time_s or math.inf for o in tried)
    cheapest = min(o.cost_usd or math.inf for o in tried)
    lowest = min(o.facility_mw or math.inf for o in tried)
    sys_ = cat.systems[P5]
    params = default_params()

    def run(**cons: object) -> list[Option]:
        return rank_train(FT, _two(**cons), cat, sys_, 1.25, params)

    late = run(deadline_days=fastest / SECONDS_PER_DAY * 0.999)
    assert not any(o.feasible for o in late) and all("deadline" in (word(o.why) or "") for o in late)
    just = run(deadline_days=fastest / SECONDS_PER_DAY * 1.001)
    assert sum(o.feasible for o in just) >= 1
    poor = run(budget_usd=cheapest * 0.999)
    assert not any(o.feasible for o in poor) and all("budget" in (word(o.why) or "") for o in poor)
    assert any(o.feasible for o in run(budget_usd=cheapest * 1.001))
    weak = run(power_mw=lowest * 0.999)
    assert not any(o.feasible for o in weak) and all("MW" in (word(o.why) or "") for o in weak)
    assert any(o.feasible for o in run(power_mw=lowest * 1.001))
    unpriced = replace(cat, prices=tuple(p for p in cat.prices if p.system != P5))
    none = rank_train(FT, _two(), unpriced, sys_, 1.25, params)
    assert all(not o.feasible and word(o.why) == "no published price" for o in none)


def test_the_planner_searches_its_bounded_space(cat: Catalog) -> None:
    """The planner searches each size in a bounded space (planner/rank.py rank_train): micro-batches
    of at most 16 sequences and TP/DP communication overlapped with compute (search/space.py
    SpaceOptions). Short sequences make the bound bind: Llama 3 8B at 128 tokens, 512 sequences
    on one p5 node, where the unbounded search's best runs micro-batches of 32 (4,096 tokens)."""
    from xpuplan.perf import Machine
    from xpuplan.search.train_search import search_train

    short = TrainSpec("short", "finetune", "llama-3-8b", 1e9, 128, 512)
    sc = Scenario("t", (short,), systems=(P5,), constraints=Constraints(available={P5: 8}))
    sys_ = cat.systems[P5]
    (o,) = rank_train(short, sc, cat, sys_, 1.25, default_params())
    lay = o.detail["estimate"]["layout"]  # type: ignore[index]
    assert o.chips == 8 and o.feasible
    assert lay["microbatch"] <= 16 and lay["dp_overlap"] is True
    assert lay["tp"] == 1 or lay["tp_overlap"] is True
    job = TrainJob(get_model("llama-3-8b"), 512, 128, "bf16", 1e9)
    free = search_train(job, Machine(cat.chips[sys_.chip], sys_, 8), None, params=default_params(), top_k=1)
    assert free.best is not None and free.best.layout.microbatch == 32
    assert o.time_s is not None and free.best.time_to_train_s is not None
    assert o.time_s >= free.best.time_to_train_s


def test_a_size_that_factors_runs_on_all_its_chips(cat: Catalog) -> None:
    """24 chips (3 nodes of 8) hold a layout of their own (its TP·PP·DP·CP = 24): the planner runs
    the job on all of them, none idle; only a size with no layout falls back to the largest
    power of two it holds (16)."""
    opts = rank_train(FT, _sc(available={P5: 24}), cat, cat.systems[P5], 1.25, default_params())
    o = next(o for o in opts if o.chips == 3 * 8)
    lay = o.detail["estimate"]["layout"]  # type: ignore[index]
    assert o.feasible and o.chips_used is None
    assert lay["tp"] * lay["pp"] * lay["dp"] * lay["cp"] == 3 * 8


def test_a_size_without_a_layout_says_why(cat: Catalog) -> None:
    """Llama 3.1 405B on one p5 node: fully sharded over the 8 GPUs its mixed-precision training
    state alone, 2 + 2 + 12 bytes per parameter (Rajbhandari et al. 2020), is 405.85e9 × 16 / 8 =
    812 GB per GPU against 80 GiB of HBM: no layout, and the option carries the search's reason."""
    big = TrainSpec("big", "pretrain", "llama-3.1-405b", 2e9, 8192, 64)
    sc = Scenario("t", (big,), systems=(P5,), constraints=Constraints(available={P5: 8}))
    assert 405.85e9 * 16 / 8 > 80 * 2**30
    (o,) = rank_train(big, sc, cat, cat.systems[P5], 1.25, default_params())
    assert (o.chips, o.feasible, o.layout) == (8, False, None)
    assert o.why == Why(WhyCode.NO_LAYOUT, chips=8, detail=Reason.MEMORY.text)


def test_a_precision_the_chip_lacks_is_one_priced_refusal(cat: Catalog) -> None:
    """fp8 training on an H100 record with only a bf16 peak (no fp8, no fp16 to fall back on):
    one refusal naming the chip and the format, still carrying the system's price."""
    h100 = cat.chips["nvidia-h100-sxm"]
    bf16 = replace(h100, peak_flops={Dtype.BF16: h100.peak_flops[Dtype.BF16]})
    no_fp8 = replace(cat, chips={**cat.chips, h100.id: bf16})
    spec = replace(FT, precision="fp8")
    (o,) = rank_train(spec, _sc(), no_fp8, no_fp8.systems[P5], 1.25, default_params())
    assert (o.chips, o.feasible) == (0, False)
    assert o.why == Why(WhyCode.NO_PRECISION, subject=h100.id, detail="fp8")
    assert (o.pricing, o.price_as_of) == ("on_demand", "2026-01-01")


def test_a_chip_that_does_not_train_is_one_refusal(cat: Catalog) -> None:
    """Inferentia2 is an inference chip (its catalog record: training false): no size is tried."""
    inf2 = cat.systems["aws-inf2.48xlarge"]
    sc = Scenario("t", (FT,), systems=(inf2.id,))
    (o,) = rank_train(FT, sc, cat, inf2, 1.25, default_params())
    assert (o.chips, o.feasible, o.chip, o.system) == (0, False, "aws-inferentia2", inf2.id)
    assert o.why == Why(WhyCode.NOT_TRAINING_CHIP, subject="aws-inferentia2")


def test_choose_by_objective(tried: list[Option]) -> None:
    o = tried[0]
    assert o.cost_usd and o.time_s and o.energy_j
    opts = [
        replace(o, chips=8, cost_usd=o.cost_usd * 0.5, time_s=o.time_s * 2, energy_j=o.energy_j * 0.9),
        replace(o, chips=32, cost_usd=o.cost_usd * 2, time_s=o.time_s * 0.5, energy_j=o.energy_j * 1.2),
        replace(
            o,
            chips=64,
            cost_usd=o.cost_usd * 0.1,
            time_s=o.time_s * 0.1,
            feasible=False,
            why=Why(WhyCode.BUDGET),
        ),
        o,
    ]
    for objective, chips in (("cost", 8), ("time", 32), ("energy", 8)):
        assert choose(replace(_sc(), objective=objective), opts).chips == chips, objective
    # nothing feasible: the fastest attempt, to show why
    missed = [replace(x, feasible=False, why=Why(WhyCode.BUDGET)) for x in opts]
    assert choose(_sc(), missed).chips == 64
    assert choose(_sc(), [replace(o, time_s=None, feasible=False)]).time_s is None


def test_savings_against_the_baseline(tried: list[Option]) -> None:
    a, b = tried[0], replace(tried[0], system="other", cost_usd=(tried[0].cost_usd or 0) * 0.8)
    out = with_baseline([a, b], P5)
    assert out[1].savings_vs_baseline == pytest.approx(0.2)
    assert out[1].price_perf_vs_baseline == pytest.approx(1 / 0.8)
    assert out[0].savings_vs_baseline == pytest.approx(0.0)
    assert with_baseline([a, b], "nobody") == [a, b]


# ---- serving options --------------------------------------------------------------------------------------------


def test_serve_option_groups_cost_and_energy(cat: Catalog) -> None:
    spec = ServeSpec("srv", "llama-3-8b", 400.0, 1000, 200, 2000.0, 100.0, ("bf16",), 10.0)
    sc = Scenario("t", (spec,), systems=(P5,))
    opts = rank_serve(spec, sc, cat, cat.systems[P5], 1.1, default_params())
    o = opts[-1]
    assert o.feasible, word(o.why)
    d = o.detail or {}
    rps = d["plan"]["requests_per_s"]
    groups = math.ceil(400.0 / rps)  # enough replica groups to carry the rate
    assert groups > 1 and d["groups"] == groups and o.chips == groups * d["chips_per_group"]
    nodes = math.ceil(o.chips / 8)
    assert o.cost_usd == pytest.approx(USD_NODE_H * nodes * 10.0, rel=1e-12)
    watts = o.chips * TDP_W * default_params().power_fraction + nodes * HOST_W
    assert o.energy_j == pytest.approx(watts * 1.1 * 10.0 * SECONDS_PER_HOUR, rel=1e-12)
    per_m = USD_NODE_H * nodes * 10.0 / (400.0 * 200 * 10.0 * SECONDS_PER_HOUR) * 1e6
    assert d["usd_per_million_output_tokens"] == pytest.approx(per_m, rel=1e-12)
    assert o.facility_mw == pytest.approx(watts * 1.1 / 1e6, rel=1e-12)
    assert not o.energy_estimated  # the H100's TDP is published
    p = d["plan"]
    assert o.time_s == p["e2e_s"] and o.interval is not None
    pp = f" PP{p['pp']}" if p["pp"] > 1 else ""
    assert o.layout == f"{groups}× [TP{p['tp']}{pp} ×{p['replicas']} batch {p['batch']} {p['weights']}]"
    assert d["rate"] == 400.0 and d["requests_per_s_per_group"] == rps
    assert d["purchase"]["units"] == groups * d["group_purchase"]["units"]
    assert o.fleet_ok and o.pricing == "on_demand" and o.price_as_of
    short = replace(sc, constraints=Constraints(available={P5: o.chips - 1}))
    capped = rank_serve(spec, short, cat, cat.systems[P5], 1.1, default_params())
    assert not capped[-1].feasible and "available" in (word(capped[-1].why) or "")
    assert capped[-1].fleet_ok  # the fleet checks the supply itself (and may use fewer groups)
    broke = replace(sc, constraints=Constraints(budget_usd=(o.cost_usd or 0) * 0.99))
    over = rank_serve(spec, broke, cat, cat.systems[P5], 1.1, default_params())[-1]
    assert "budget" in (word(over.why) or "") and over.fleet_ok
    hot = replace(sc, constraints=Constraints(power_mw=watts * 1.1 / 1e6 * 0.99))
    draws = rank_serve(spec, hot, cat, cat.systems[P5], 1.1, default_params())[-1]
    assert (word(draws.why) or "").startswith(f"draws {watts * 1.1 / 1e6:.1f} MW") and draws.fleet_ok


# ---- the fleet MIP: choices, duals, explanations ----------------------------------------------------------------


def _opt(
    job: str, system: str, vendor: str, cost: float, mw: float, kind: str = "serve", t: float = 1.0
) -> FleetOption:
    return FleetOption(job, kind, system, vendor, 8, cost, cost * 10, mw, t)


def _group(system: str, vendor: str, cost: float, mw: float, capacity: float, chips: int = 8) -> FleetOption:
    """A serving replica group carrying ``capacity`` of a job's 1 request/s; at most 2 are rented."""
    return FleetOption("s", "serve", system, vendor, chips, cost, cost * 10, mw, 1.0, capacity, 1.0, 2)


def test_power_cap_shadow_price() -> None:
    """Half-rate groups A ($50, 1 MW) and B ($75, 0.5 MW) under a 1.5 MW cap: 2 A draw 2 MW, so one
    of each ($125, 1.5 MW). LP with the counts relaxed: the demand and power rows bind, 50 = λ/2 - μ,
    75 = λ/2 - μ/2 → μ = 50: one more MW saves $50."""
    opts = [_group("A", "va", 50.0, 1.0, 0.5), _group("B", "vb", 75.0, 0.5, 0.5)]
    f = plan_fleet(opts, FleetLimits(power_mw=1.5))
    assert f.status == "optimal" and f.value == pytest.approx(125.0, rel=1e-6)
    assert {o.system: n for o, n in f.assignment} == {"A": 1.0, "B": 1.0}  # whole groups
    (b,) = f.binding
    assert (b.limit_code, b.subject) == ("power", None) and b.used == pytest.approx(1.5)
    assert b.shadow_price == pytest.approx(-50.0, rel=1e-6)
    assert "would save 50" in wording.binding_text(b, "cost")
    loose = plan_fleet(opts, FleetLimits(power_mw=3.0))
    assert loose.value == pytest.approx(100.0) and loose.binding == []


def test_supply_and_vendor_share_bind() -> None:
    opts = [_group("A", "va", 50.0, 1.0, 0.5, chips=4), _group("B", "vb", 100.0, 1.0, 0.5, chips=4)]
    f = plan_fleet(opts, FleetLimits(supply={"A": 4}))  # one A group only: A + B = $150
    assert f.value == pytest.approx(150.0, rel=1e-6)
    assert [(b.limit_code, b.subject) for b in f.binding] == [("supply", "A")]
    assert wording.limit_name("supply", "A") == "supply of A"
    # one more A chip: a quarter group more of A for a quarter less of B, saving 0.25 × $50
    assert f.binding[0].shadow_price == pytest.approx(-12.5, rel=1e-6)
    # spend_A ≤ 0.6 · spend: 2 A alone is 100% A; 1 A + 1 B gives B 67%; 2 A + 1 B: 50% each, $200
    g = plan_fleet(opts, FleetLimits(max_vendor_share=0.6))
    assert g.value == pytest.approx(200.0, rel=1e-6)
    assert {o.system: n for o, n in g.assignment} == {"A": 2.0, "B": 1.0}


def test_training_is_all_or_nothing_and_budget_explains() -> None:
    opts = [_opt("t", "A", "va", 100.0, 2.0, "pretrain"), _opt("t", "B", "vb", 150.0, 1.0, "pretrain")]
    f = plan_fleet(opts, FleetLimits(power_mw=1.5))
    assert [(o.system, s) for o, s in f.assignment] == [("B", 1.0)] and f.value == pytest.approx(150.0)
    bad = plan_fleet(opts, FleetLimits(power_mw=1.5, budget_usd=120.0))
    assert bad.status == "infeasible" and bad.value is None
    assert bad.culprits == ("power", "budget")
    assert "power cap" in (wording.fleet_plan_reason(bad) or "") and "budget" in (
        wording.fleet_plan_reason(bad) or ""
    )
    both = plan_fleet(opts, FleetLimits(power_mw=0.5, budget_usd=50.0))
    assert both.culprits == () and "several bind together" in (wording.fleet_plan_reason(both) or "")


def test_the_budget_is_named_while_a_vendor_share_limit_holds() -> None:
    """Dropping the budget alone must keep every other limit: one training job of $100 (vendor va)
    or $150 (vb) under a $50 budget is impossible; without the budget the $100 option runs, and
    as the only spend its vendor holds 100% of it, within a 100% share limit. Dropping the vendor
    share instead leaves the $50 budget, still impossible: the budget alone is to blame."""
    opts = [_opt("t", "A", "va", 100.0, 1.0, "pretrain"), _opt("t", "B", "vb", 150.0, 1.0, "pretrain")]
    f = plan_fleet(opts, FleetLimits(budget_usd=50.0, max_vendor_share=1.0))
    assert f.status == "infeasible" and f.culprits == ("budget",)
    assert (
        wording.fleet_plan_reason(f) == "no fleet meets every limit; it becomes possible without the budget"
    )
    ok = plan_fleet(opts, FleetLimits(max_vendor_share=1.0))
    assert ok.status == "optimal" and ok.value == pytest.approx(100.0)


def test_energy_and_time_objectives() -> None:
    opts = [
        FleetOption("a", "pretrain", "A", "va", 8, 100.0, 5.0, 1.0, 30.0),
        FleetOption("a", "pretrain", "B", "vb", 8, 200.0, 3.0, 1.0, 10.0),
        FleetOption("b", "pretrain", "A", "va", 8, 100.0, 4.0, 1.0, 20.0),
        FleetOption("b", "pretrain", "B", "vb", 8, 300.0, 9.0, 1.0, 25.0),
    ]
    e = plan_fleet(opts, FleetLimits(), "energy")
    assert e.value == pytest.approx(3.0 + 4.0)
    t = plan_fleet(opts, FleetLimits(), "time")  # makespan: a on B (10), b on A (20)
    assert t.value == pytest.approx(20.0)
    assert sorted((o.job, o.system) for o, _ in t.assignment) == [("a", "B"), ("b", "A")]
    c = plan_fleet(opts, FleetLimits(), "cost")
    assert c.value == pytest.approx(200.0)
    assert plan_fleet([], FleetLimits()).status == "infeasible"


@pytest.mark.parametrize(
    "lim, culprit",
    [
        (FleetLimits(supply={"A": 4, "B": 4}), "chip supply"),  # 8 chips needed, 4 of each
        (FleetLimits(power_mw=0.5), "power cap"),
        (FleetLimits(budget_usd=50.0), "budget"),
        (FleetLimits(max_vendor_share=0.4), "vendor share"),  # one training job: 100% of spend
    ],
)
def test_infeasible_fleet_names_the_one_limit(lim: FleetLimits, culprit: str) -> None:
    opts = [_opt("t", "A", "va", 100.0, 1.0, "pretrain"), _opt("t", "B", "vb", 150.0, 1.0, "pretrain")]
    f = plan_fleet(opts, lim)
    assert f.status == "infeasible"
    assert (
        wording.fleet_plan_reason(f)
        == f"no fleet meets every limit; it becomes possible without the {culprit}"
    )


def test_binding_text_and_plan_record() -> None:
    opts = [_group("A", "va", 50.0, 1.0, 0.5), _group("B", "vb", 75.0, 0.5, 0.5)]
    f = plan_fleet(opts, FleetLimits(power_mw=1.5))
    (b,) = f.binding
    assert wording.binding_text(b, "cost") == "power cap binds (1.5 of 1.5 MW); one more MW would save 50 $"
    assert wording.binding_text(b, "energy") == "power cap binds (1.5 of 1.5 MW); one more MW would save 50 J"
    assert wording.binding_text(b, "time") == "power cap binds (1.5 of 1.5 MW); one more MW would save 50 s"
    idle = replace(b, shadow_price=0.0)
    assert wording.binding_text(idle, "cost") == (
        "power cap binds (1.5 of 1.5 MW); relaxing it alone would not lower the objective"
    )
    d = f.to_dict()
    assert (d["status"], d["objective"], d["value"], d["reason"]) == ("optimal", "cost", f.value, None)
    assert [(x["system"], x["share"]) for x in d["assignment"]] == [(o.system, s) for o, s in f.assignment]
    assert d["assignment"][0]["cost_usd"] == 50.0  # per group
    assert d["binding"] == [b.__dict__] and d["why"] is None
    assert wording.binding_of(d["binding"][0]) == b  # the HTML report words the dicts
    bad = plan_fleet(opts, FleetLimits(power_mw=0.1)).to_dict()
    assert wording.fleet_why(bad["why"], bad["culprits"]) == (
        "no fleet meets every limit; it becomes possible without the power cap"
    )


def test_serve_option_without_a_tdp(cat: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """No TDP: no energy and no facility power; under a power cap the option is infeasible and the
    fleet cannot use it (it could not check the cap); without a cap both may use it."""
    import xpuplan.planner.rank as rank

    monkeypatch.setattr(rank, "it_power_w", lambda *a, **k: None)
    spec = ServeSpec("srv", "llama-3-8b", 400.0, 1000, 200, 2000.0, 100.0, ("bf16",), 10.0)
    sc = Scenario("t", (spec,), systems=(P5,))
    free = rank_serve(spec, sc, cat, cat.systems[P5], 1.1, default_params())[-1]
    assert free.feasible and free.fleet_ok and free.energy_j is None and free.facility_mw is None
    capped = replace(sc, constraints=Constraints(power_mw=1e9))
    o = rank_serve(spec, capped, cat, cat.systems[P5], 1.1, default_params())[-1]
    assert not o.feasible and not o.fleet_ok and "cannot check the power cap" in (word(o.why) or "")


def test_a_chip_without_the_precision_falls_back_to_its_fp16_peak(cat: Catalog) -> None:
    """bf16 training on an H100 record with only an fp16 peak (as a V100 has: no bf16 path) is
    planned at the fp16 peak, not refused: the 8-GPU node (the smallest unit, within the supply
    of 8) is tried, and its MFU is the tokens/s times the model FLOPs per token (6N + 12·L·H·Q·T,
    PaLM App. B) over 8 × the fp16 peak, here a made-up 500 TFLOP/s."""
    h100 = cat.chips["nvidia-h100-sxm"]
    fp16_only = replace(cat, chips={**cat.chips, h100.id: replace(h100, peak_flops={Dtype.FP16: 5e14})})
    assert fp16_only.chips[h100.id].peak("bf16") is None
    (o,) = rank_train(FT, _sc(available={P5: 8}), fp16_only, fp16_only.systems[P5], 1.25, default_params())
    assert (o.chips, o.feasible, o.why) == (8, True, None)
    est = o.detail["estimate"]  # type: ignore[index]
    per_token = get_model("llama-3-8b").train_flops_per_token(4096, causal=False)
    assert o.utilisation == pytest.approx(est["tokens_per_s"] * per_token / (8 * 5e14), rel=1e-12)


def test_no_whole_unit_within_the_supply_is_one_refusal(cat: Catalog) -> None:
    """A supply of 4 GPUs holds not one p5.48xlarge instance (8 GPUs, the On-Demand unit): no size
    is tried, and the one option is a refusal naming the unit, with no chips and no layout."""
    (o,) = rank_train(FT, _sc(available={P5: 4}), cat, cat.systems[P5], 1.25, default_params())
    assert (o.chips, o.feasible, o.layout) == (0, False, None)
    assert o.why == Why(WhyCode.NO_UNIT, subject="p5.48xlarge instance")
    assert word(o.why) == "not one p5.48xlarge instance within the chips available"

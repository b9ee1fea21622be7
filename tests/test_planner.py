"""Planner: constraints are never exceeded, impossible plans say why, HiGHS matches brute force."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xpuplan.hardware import Catalog
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
from xpuplan.report.wording import fleet_plan_reason, fleet_reason
from xpuplan.report.wording import reason as word

SYSTEMS = ("aws-p5.48xlarge", "aws-trn2.48xlarge", "gcp-tpu-v6e-pod", "azure-nd-mi300x-v5")


def _scenario(**cons: object) -> Scenario:
    return Scenario(
        name="test",
        jobs=(
            TrainSpec("ft", "finetune", "llama-3-8b", 5e9, 4096, 256),
            ServeSpec("srv", "llama-3-8b", 50.0, 1000, 200, 2000.0, 60.0, ("bf16", "fp8"), 100.0),
        ),
        objective="cost",
        baseline="aws-p5.48xlarge",
        systems=SYSTEMS,
        constraints=Constraints(**cons),  # type: ignore[arg-type]
    )


def test_plan_respects_deadline_budget_supply_and_power(catalog: Catalog) -> None:
    avail = {"aws-p5.48xlarge": 64, "aws-trn2.48xlarge": 64, "gcp-tpu-v6e-pod": 64, "azure-nd-mi300x-v5": 64}
    sc = _scenario(deadline_days=5.0, budget_usd=200_000.0, power_mw=1.0, available=avail)
    r = plan(sc, catalog)
    for job in r.jobs:
        for o in job.options:
            if not o.feasible:
                assert word(o.why)
                continue
            assert o.chips <= avail[o.system]
            assert o.cost_usd is not None and o.cost_usd <= 200_000.0
            assert o.facility_mw is not None and o.facility_mw <= 1.0
            if o.kind != "serve":
                assert o.time_s is not None and o.time_s <= 5 * 86400
    assert r.fleet.status == "optimal"
    used: dict[str, float] = {}
    for fo, share in r.fleet.assignment:
        used[fo.system] = used.get(fo.system, 0.0) + fo.chips * share
    for sys_id, n in used.items():
        assert n <= avail[sys_id] + 1e-6
    assert sum(fo.power_mw * s for fo, s in r.fleet.assignment) <= 1.0 + 1e-9
    assert sum(fo.cost_usd * s for fo, s in r.fleet.assignment) <= 200_000.0 + 1e-6


def test_vendor_share_is_respected(catalog: Catalog) -> None:
    r = plan(_scenario(deadline_days=5.0, max_vendor_share=0.6), catalog)
    assert r.fleet.status == "optimal"
    total = sum(fo.cost_usd * s for fo, s in r.fleet.assignment)
    for v in {fo.vendor for fo, _ in r.fleet.assignment}:
        spend = sum(fo.cost_usd * s for fo, s in r.fleet.assignment if fo.vendor == v)
        assert spend <= 0.6 * total + 1e-6


def test_impossible_scenario_says_which_constraint(catalog: Catalog) -> None:
    r = plan(_scenario(deadline_days=1e-4), catalog)  # 9 seconds for a 5B-token fine-tune
    ft = next(j for j in r.jobs if j.job == "ft")
    assert ft.best is None
    assert all("deadline" in (word(o.why) or "") or not o.feasible for o in ft.options)
    assert r.fleet.status == "infeasible" and fleet_reason(r)


def test_budget_that_no_fleet_meets_is_explained() -> None:
    opts = [
        FleetOption("a", "pretrain", "s1", "v1", 8, 100.0, 1.0, 1.0, 10.0),
        FleetOption("a", "pretrain", "s2", "v2", 8, 120.0, 1.0, 1.0, 10.0),
    ]
    f = plan_fleet(opts, FleetLimits(budget_usd=50.0))
    assert f.status == "infeasible"
    assert f.culprits == ("budget",) and "budget" in (fleet_plan_reason(f) or "")


def _brute(opts: list[FleetOption], lim: FleetLimits) -> float:
    jobs = sorted({o.job for o in opts})
    best = float("inf")
    for pick in itertools.product(*[[o for o in opts if o.job == j] for j in jobs]):
        supply: dict[str, int] = {}
        for o in pick:
            supply[o.system] = supply.get(o.system, 0) + o.chips
        if any(supply.get(s, 0) > cap for s, cap in lim.supply.items()):
            continue
        if lim.power_mw is not None and sum(o.power_mw for o in pick) > lim.power_mw:
            continue
        cost = sum(o.cost_usd for o in pick)
        if lim.max_vendor_share is not None and any(
            sum(o.cost_usd for o in pick if o.vendor == v) > lim.max_vendor_share * cost + 1e-9
            for v in {o.vendor for o in pick}
        ):
            continue
        best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_fleet_matches_brute_force(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    systems = [("p5", "nvidia"), ("trn2", "aws"), ("v6e", "google")]
    opts = [
        FleetOption(
            f"job{j}",
            "pretrain",
            s,
            v,
            rnd.choice([64, 128, 256]),
            rnd.uniform(50, 150),
            1.0,
            rnd.uniform(0.1, 1.0),
            1.0,
        )
        for j in range(4)
        for s, v in systems
    ]
    lim = FleetLimits(supply={"p5": 256, "trn2": 384, "v6e": 256}, power_mw=2.5, max_vendor_share=0.7)
    want = _brute(opts, lim)
    got = plan_fleet(opts, lim)
    if want == float("inf"):
        assert got.status == "infeasible"
    else:
        assert got.status == "optimal"
        assert got.value == pytest.approx(want, rel=1e-6)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[[jobs]]\nkind = "pretrain"\nmodel = "llama-9-70b"\ntokens = 1e12\n', "did you mean"),
        ('[[jobs]]\nkind = "serve"\nmodel = "llama-3-8b"\nrate = -5\n', "rate"),
        (
            '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-8b"\ntokens = 1e12\n[constraints]\ndeadline = 2020-01-01\n',
            "not in the future",
        ),
        (
            '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-8b"\ntokens = 1e12\nseq_len = 4096\nglobal_batch = [\n',
            "TOML",
        ),
        ('objective = "cheap"\n[[jobs]]\nkind = "serve"\nmodel = "llama-3-8b"\nrate = 5\n', "objective"),
        ('name = "no jobs"\n', "jobs"),
    ],
)
def test_bad_scenarios_are_one_line_exit_2(tmp_path: Path, body: str, needle: str) -> None:
    f = tmp_path / "s.toml"
    f.write_text(body)
    r = run("plan", str(f), "--csv", str(tmp_path / "out.csv"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert needle.lower() in r.stderr.lower()
    assert not (tmp_path / "out.csv").exists()
    if "rate" in needle:
        assert "s.toml:4" in r.stderr  # file:line of the offending key


def test_example_scenario_runs_with_json_and_csv(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    r = run(
        "plan", str(root / "examples" / "multi_vendor_fleet.toml"), "--json", "--csv", str(tmp_path / "p.csv")
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {j["job"] for j in d["jobs"]} == {"fine-tune 70B", "serve 8B"}
    assert d["fleet"]["status"] == "optimal"
    assert (tmp_path / "p.csv").read_text().startswith("job,kind,rank,system")


def test_whole_units_that_do_not_factor_run_on_a_power_of_two_and_say_so() -> None:
    """29 GB200 blocks of 36 (1,044 chips) hold no layout for a 1,024-sequence batch; the planner
    runs the job on the 1,024 chips they hold, prices all 1,044 and says 20 sit idle."""
    from xpuplan.api import default_catalog, default_scenario
    from xpuplan.perf.params import default_params
    from xpuplan.planner.rank import rank_train

    cat, sc = default_catalog(), default_scenario()
    opts = rank_train(sc.jobs[0], sc, cat, cat.systems["aws-p6e-gb200-ultraserver"], 1.2, default_params())
    assert opts and all(o.chips % 36 == 0 for o in opts)  # whole 36-GPU blocks only
    o = next(o for o in opts if o.chips == 1044)
    assert o.layout is not None and o.chips_used == 1024  # the planner's data; the report words it
    from xpuplan.report.wording import chips_idle

    assert chips_idle(o.chips_used, o.chips) == " (1,024 of 1,044 chips used, 20 idle)"
    assert not any(o.chips > 1_000_000 for o in opts)  # no 10 M-chip "largest cluster" when none is sourced

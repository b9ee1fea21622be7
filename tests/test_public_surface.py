"""The typed public functions called as a notebook calls them, their figures checked against a
hand computation from the catalog's records (not through the API's own pricing code)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

import xpuplan
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Pricing
from xpuplan.layout import Layout, Recompute, parse_layout
from xpuplan.perf.params import default_params

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "src" / "xpuplan" / "data" / "validation" / "seed_dev.yaml"

# Llama 3 8B on 12 H100 of AWS p5 (8 per node): a part-used second node is rented and powered whole
JOB = dict(global_batch=48, seq_len=4096)


def _hourly_node_price(cat: Catalog, system: str) -> float:
    """The newest on-demand row's USD per node-hour (cheapest of that day), read from the records."""
    rows = [p for p in cat.prices_for(system) if p.pricing is Pricing.ON_DEMAND]
    newest = max(p.as_of for p in rows)
    return min(p.usd_per_node_hour for p in rows if p.as_of == newest)


def _facility_w(cat: Catalog, system: str, chips: int) -> float:
    """chips × TDP × the power fraction, plus each node's host power, all × the PUE."""
    s = cat.system(system)
    nodes = -(-chips // s.chips_per_node)
    it = chips * cat.chip(s.chip).tdp_w * default_params().power_fraction + nodes * s.host_w_per_node
    return it * cat.energy.pue


def test_train_cost_and_energy_are_step_time_times_whole_nodes(catalog: Catalog) -> None:
    r = xpuplan.estimate_train("llama-3-8b", "h100", 12, "TP4 PP1 DP3 mb1", **JOB)
    assert r.feasible and r.reason is None and r.system == "aws-p5.48xlarge" and r.chips == 12
    price = _hourly_node_price(catalog, r.system)
    assert r.economics.nodes == 2
    assert r.usd_per_step == pytest.approx(r.step_time_s * 2 * price / 3600, rel=1e-9)
    watts = _facility_w(catalog, r.system, 12)
    assert r.economics.watts == pytest.approx(watts, rel=1e-9)
    assert r.joules_per_step == pytest.approx(r.step_time_s * watts, rel=1e-9)
    # throughput is the step's tokens over its time; per-token figures follow from it
    assert r.tokens_per_s == pytest.approx(48 * 4096 / r.step_time_s, rel=1e-9)
    assert r.usd_per_million_tokens == pytest.approx(2 * price / 3600 / r.tokens_per_s * 1e6, rel=1e-9)
    assert r.joules_per_token == pytest.approx(watts / r.tokens_per_s, rel=1e-9)
    assert r.economics.pricing == "on_demand" and r.economics.pue == catalog.energy.pue


def test_train_breakdown_and_interval() -> None:
    r = xpuplan.estimate_train("llama-3-8b", "h100", 12, "TP4 PP1 DP3 mb1", **JOB, tokens=1e12)
    assert sum(p.value for p in r.time_parts) >= r.step_time_s * 0.999  # the terms cover the step
    assert {p.name for p in r.memory_parts} >= {"weights", "optimizer", "activations"}
    assert sum(p.value for p in r.memory_parts) == pytest.approx(r.memory_total_bytes, rel=1e-6)
    assert r.interval_basis and r.interval_cases
    for f in ("step_time_s", "tokens_per_s", "mfu", "time_to_train_s", "usd_per_step"):
        lo, x, hi = getattr(r, f + "_low"), getattr(r, f), getattr(r, f + "_high")
        assert lo < x < hi, f
    assert r.time_to_train_s == pytest.approx(1e12 / (48 * 4096) * r.step_time_s, rel=1e-9)


def test_a_layout_in_any_form_is_the_same_layout() -> None:
    want = Layout(tp=4, pp=2, dp=4, vpp=2, sp=True, zero=3, microbatch=1, recompute=Recompute.SELECTIVE)
    forms = (
        want,
        "TP4 PP2 v2 DP4 FSDP SP mb1 rc-selective",
        "tp4 pp2 v2 fsdp sp rc-selective",  # DP implied, case ignored
        {"tp": 4, "pp": 2, "vpp": 2, "zero": 3, "sp": True, "recompute": "selective"},
    )
    got = {xpuplan.estimate_train("llama-3-8b", "h100", 32, f, global_batch=64).layout for f in forms}
    assert got == {want}


@pytest.mark.parametrize(
    "layout",
    [
        Layout(),
        Layout(tp=8, pp=4, dp=2, cp=2, ep=2, vpp=5, zero=0, sp=True, microbatch=3, recompute=Recompute.FULL),
        Layout(dp=64, zero=3, recompute=Recompute.OFFLOAD),
    ],
)
def test_the_notation_reads_back_what_describe_writes(layout: Layout) -> None:
    assert Layout(**parse_layout(layout.describe())) == layout


def test_a_job_overrides_the_loose_numbers() -> None:
    job = xpuplan.TrainJob(xpuplan.get_model("llama-3-8b"), 48, 4096, "bf16", 1e12)
    a = xpuplan.estimate_train("llama-3-8b", "h100", 12, "TP4", job)
    b = xpuplan.estimate_train("llama-3-8b", "h100", 12, "TP4", global_batch=48, seq_len=4096, tokens=1e12)
    assert a == b


def test_a_layout_that_does_not_fit_is_a_value() -> None:
    r = xpuplan.estimate_train("llama-3-70b", "h100", 8, "TP8 mb8", global_batch=64, seq_len=8192)
    assert not r.feasible and r.reason_code is xpuplan.Reason.MEMORY and r.reason
    assert r.memory_total_bytes > r.memory_capacity_bytes


def test_search_train_best_is_the_estimate_of_its_layout() -> None:
    s = xpuplan.search_train("llama-3-8b", "h100", 16, "TP2", global_batch=64, seq_len=4096, top_k=3)
    assert s.best is not None and s.best.layout.tp == 2 and len(s.top) == 3 and s.pareto
    assert s.chips_used == s.chips_asked == 16 and s.why_none is None
    assert s.layouts_feasible + sum(c.count for c in s.reasons) == s.layouts_evaluated
    assert [t.step_time_s for t in s.top] == sorted(t.step_time_s for t in s.top)
    again = xpuplan.estimate_train("llama-3-8b", "h100", 16, s.best.layout, global_batch=64, seq_len=4096)
    assert again.step_time_s == pytest.approx(s.best.step_time_s, rel=1e-12)
    assert again.usd_per_step == pytest.approx(s.best.usd_per_step, rel=1e-12)


def test_serve_cost_and_energy_per_output_token(catalog: Catalog) -> None:
    r = xpuplan.estimate_serve("llama-3-8b", "h100", 2, "TP2", concurrency=32, input_len=1000, output_len=250)
    assert r.feasible and (r.tp, r.pp, r.batch, r.weights, r.mode) == (2, 1, 32, "bf16", "continuous")
    price = _hourly_node_price(catalog, r.system)  # one node, part used, rented whole
    watts = _facility_w(catalog, r.system, 2)
    assert r.economics.usd_per_hour == pytest.approx(price, rel=1e-9)
    assert r.usd_per_million_output_tokens == pytest.approx(
        price / 3600 / r.output_tokens_per_s * 1e6, rel=1e-9
    )
    assert r.joules_per_output_token == pytest.approx(watts / r.output_tokens_per_s, rel=1e-9)
    for f in ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s"):
        assert getattr(r, f + "_low") < getattr(r, f) < getattr(r, f + "_high"), f
    # the lowest latency at a rate: the plan sustains it
    s = xpuplan.search_serve("llama-3-8b", "h100", 8, weights=("bf16", "fp8"), rate=20.0, tpot_ms=50)
    assert s.best.feasible and s.best.requests_per_s >= 20.0 and s.best.tpot_s <= 0.05
    assert s.curve and all(p.feasible and p.tp == s.best.tp for p in s.curve)


def test_serve_json_is_the_typed_record() -> None:
    """``xpuplan serve --json`` is the typed search's ``to_dict``: the targets and the KV format
    asked, every figure of the best with its 80% bounds, and cost and energy at the top level."""
    s = xpuplan.search_serve("llama-3-8b", "h100", 8, weights=("fp8",), kv="bf16", ttft_ms=500, tpot_ms=40)
    b = s.best
    assert isinstance(s, xpuplan.ServeSearchResult) and b.feasible and b.interval is not None
    assert (s.ttft_target_s, s.tpot_target_s, s.kv_requested, b.kv) == (0.5, 0.04, "bf16", "fp8")
    assert b.requests_per_s is not None and b.output_tokens_per_s is not None
    assert b.total_tokens_per_s == pytest.approx(b.requests_per_s * (1000 + 250), rel=1e-9)
    iv = b.interval
    assert (b.tpot_s_low, b.tpot_s_high) == pytest.approx((b.tpot_s / iv.high, b.tpot_s / iv.low))
    d = s.to_dict()
    assert (d["ttft_target_s"], d["tpot_target_s"], d["kv_requested"]) == (0.5, 0.04, "bf16")
    assert d["best"]["tp"] == b.tp and d["best"]["kv"] == "fp8" and d["best"]["tpot_s_high"] == b.tpot_s_high
    assert d["best"]["interval"]["tpot_s"] == [b.tpot_s_low, b.tpot_s_high]
    assert d["best"]["interval"]["low_factor"] == iv.low and d["best"]["interval"]["n"] == iv.n
    assert d["usd_per_million_output_tokens"] == b.usd_per_million_output_tokens
    assert d["joules_per_output_token"] == b.joules_per_output_token and d["pue"] == b.economics.pue
    assert (d["system"], d["pricing"]) == (b.system, b.economics.pricing)
    assert len(d["latency_throughput_curve"]) == len(s.curve)
    assert d["configs_feasible"] + sum(d["infeasible_reasons"].values()) == d["configs_evaluated"]
    cli = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "serve", "--model", "llama-3-8b", "--chip", "h100", "--chips", "8",
         "--weights", "fp8", "--kv", "bf16", "--ttft-ms", "500", "--tpot-ms", "40", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(cli.stdout) == json.loads(json.dumps(d))
    # nothing fits: best is None in the JSON, with the system and no money keys
    none = xpuplan.search_serve("llama-3-70b", "h100", 1).to_dict()
    assert none["best"] is None and none["system"] == "aws-p5.48xlarge" and "pue" not in none


def test_encoder_json_is_the_typed_record(catalog: Catalog) -> None:
    """The encoder's figures by hand: sequences per dollar and per joule from the economics, the
    achieved TFLOP/s per chip from the sequences/s and the FLOPs per sequence."""
    s = xpuplan.search_serve("bert-large", "h100", 8, weights=("int8",), batch=64)
    b = s.best
    assert isinstance(b, xpuplan.EncoderResult) and b.feasible and b.batch == 64 and b.mode == "static"
    assert b.sequences_per_s is not None and b.flops_per_sequence is not None
    usd_s, watts = (b.economics.usd_per_hour or 0) / 3600, b.economics.watts or 0
    assert b.sequences_per_usd == pytest.approx(b.sequences_per_s / usd_s, rel=1e-9)
    assert b.sequences_per_joule == pytest.approx(b.sequences_per_s / watts, rel=1e-9)
    assert b.achieved_tflops_per_chip == pytest.approx(b.sequences_per_s / 8 * b.flops_per_sequence / 1e12)
    assert b.batch_s is not None and b.latency_s is not None and b.batch_s <= b.latency_s
    d = s.to_dict()
    assert d["kind"] == "encoder" and d["sequences_per_usd"] == b.sequences_per_usd
    assert d["best"]["batch_s"] == b.batch_s and d["best"]["latency_s_low"] == b.latency_s_low


def test_serving_what_cannot_fit_says_why() -> None:
    r = xpuplan.estimate_serve("llama-3-70b", "h100", 1, "TP1")
    assert not r.feasible and r.reason and r.ttft_s is None and r.usd_per_million_output_tokens is None


def test_an_encoder_serves_from_the_typed_functions(catalog: Catalog) -> None:
    """BERT-large on one Graviton4 (a c8g.48xlarge node): sequences/s with its interval, and the
    node's on-demand price per million sequences, by hand from the records."""
    r = xpuplan.estimate_serve("bert-large", "aws-graviton4", 1, weights="int8")
    assert isinstance(r, xpuplan.EncoderResult) and r.feasible and r.reason is None
    assert r.system == "aws-c8g.48xlarge" and r.seq_len == 384 and r.replicas == 1 and r.weights == "int8"
    assert r.sequences_per_s is not None and r.latency_s is not None and r.batch is not None
    assert r.tokens_per_s == pytest.approx(r.sequences_per_s * 384, rel=1e-9)
    price = _hourly_node_price(catalog, r.system)
    assert r.usd_per_million_sequences == pytest.approx(price / 3600 / r.sequences_per_s * 1e6, rel=1e-9)
    iv = catalog.chip("aws-graviton4").intervals["infer"]
    assert (r.sequences_per_s_low, r.sequences_per_s_high) == pytest.approx(iv.rate(r.sequences_per_s))
    assert (r.latency_s_low, r.latency_s_high) == pytest.approx(iv.time(r.latency_s))
    assert r.interval_cases == iv.n
    # power: Graviton4 has no published TDP, so J/sequence rests on the catalog's estimate and says so
    g4 = catalog.chip("aws-graviton4")
    assert g4.tdp_estimated and g4.tdp_w is not None and r.economics.power_estimated
    assert catalog.system(r.system).host_w_per_node is None  # no host power on record
    watts = g4.tdp_w * default_params().power_fraction * catalog.energy.pue  # one socket
    assert r.economics.watts == pytest.approx(watts, rel=1e-9)
    assert r.joules_per_sequence == pytest.approx(watts / r.sequences_per_s, rel=1e-9)
    # a latency target: the most sequences/s whose latency meets it, with the batch curve
    s = xpuplan.search_serve("bert-large", "h100", 8, weights=("int8", "bf16"), ttft_ms=10)
    assert isinstance(s, xpuplan.EncoderSearchResult) and s.best.feasible
    assert s.best.latency_s is not None and s.best.latency_s <= 0.010 and s.best.replicas == 8
    assert s.curve and all(p.feasible for p in s.curve)
    assert s.best.joules_per_sequence is not None and s.best.joules_per_sequence > 0


def test_plan_takes_a_path_and_overrides() -> None:
    res = xpuplan.plan(ROOT / "examples" / "default.toml", pue=1.4, objective="time")
    assert isinstance(res, xpuplan.PlanResult) and res.pue == 1.4 and res.scenario.objective == "time"
    assert all(j.best is not None for j in res.jobs)


def test_check_claim_by_id_and_by_file() -> None:
    from xpuplan.claims.engine import builtin_claims

    r = xpuplan.check_claim(ROOT / "examples" / "claim_b200_vs_h100.toml")
    assert isinstance(r, xpuplan.ClaimResult) and r.checks and r.verdict
    same = xpuplan.check_claim(str(ROOT / "examples" / "claim_b200_vs_h100.toml"))
    assert same.verdict is r.verdict
    # who said it and where, as typed fields read from the file (and the same keys in the JSON)
    f = tomllib.loads((ROOT / "examples" / "claim_b200_vs_h100.toml").read_text())
    about = ("title", "who", "source", "as_of", "compares")
    assert tuple(getattr(r, k) for k in about) == tuple(f[k] for k in about)
    assert r.source_says == "" and Path(r.file).name == "claim_b200_vs_h100.toml"
    d = r.to_dict()
    assert {k: d[k] for k in (*about, "source_says", "file")} == {
        k: getattr(r, k) for k in (*about, "source_says", "file")
    }
    claim = builtin_claims()[0]
    assert xpuplan.check_claim(claim.id).id == claim.id


def test_validate_summary_is_the_median_of_the_cases(tmp_path: Path) -> None:
    cases = [c for c in yaml.safe_load(SUITE.read_text()) if c["task"] == "infer"][:4]
    f = tmp_path / "cases.yaml"
    f.write_text(yaml.safe_dump(cases))
    v = xpuplan.validate(f)
    errs = [abs(c.predicted - c.measured) / c.measured for c in v.cases if c.predicted is not None]
    assert v.cv is None and len(v.cases) == 4 and v.infer.predicted == len(errs) > 0
    assert v.infer.median_error == pytest.approx(float(np.median(errs)))
    assert v.infer.p90_error == pytest.approx(float(np.percentile(errs, 90)))
    assert v.train.cases == 0 and v.train.median_error is None
    assert {g.group for g in v.by_chip} == {c.chip for c in v.cases}
    assert {g.group for g in v.by_class} == {k for c in v.cases for k in c.classes}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 0), "chip count"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 20_000_000), "beyond"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, global_batch=0), "global batch"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, seq_len=10**11), "sequence length"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, tokens=math.nan), "tokens"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, {"tp": 0}), "tp must be"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "ZeRO7"), "zero = 7"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "mb5000"), "microbatch"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "TPX"), "notation"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "TP2 TP4"), "twice"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "rc-sometimes"), "recompute"),
        (lambda: xpuplan.estimate_train("llama-3-8b", "h100", 8, "TP3"), "divide"),
        (lambda: xpuplan.search_train("llama-3-8b", "h100", 8, top_k=0), "top_k"),
        (lambda: xpuplan.search_train("llama-3-8b", "h100", 8, "TP16"), "more than"),
        (lambda: xpuplan.estimate_serve("llama-3-8b", "h100", 8, "TP16"), "'tp' = 16"),
        (lambda: xpuplan.search_serve("llama-3-8b", "h100", 8, rate=math.nan), "rate"),
        (lambda: xpuplan.search_serve("llama-3-8b", "h100", 8, tpot_ms=-50), "tpot_ms"),
        (lambda: xpuplan.search_serve("llama-3-8b", "h100", 8, batch=10**12), "batch"),
        (lambda: xpuplan.search_serve("llama-3-8b", "h100", 8, weight_bits=math.inf), "weight bits"),
        (lambda: xpuplan.estimate_serve("llama-3-8b", "h100", 8, {"microbatch": 2}), "tp, pp and ep"),
        (lambda: xpuplan.estimate_serve("bert-large", "h100", 8, "TP8"), "one replica per chip"),
        (lambda: xpuplan.search_serve("bert-large", "h100", 8, concurrency=8), "encoder"),
        (lambda: xpuplan.plan(pue=5.0), "PUE"),
        (lambda: xpuplan.plan(objective="speed"), "objective"),
        (lambda: xpuplan.validate(cv="sometimes"), "source"),
        (lambda: xpuplan.check_claim("no-such-claim"), "no built-in claim"),
    ],
)
def test_bad_numbers_are_input_errors(call: object, match: str) -> None:
    with pytest.raises(xpuplan.InputError, match=re.escape(match)):
        call()  # type: ignore[operator]


def test_the_readme_python_block_runs() -> None:
    """README's "From Python" section, executed as written."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("From Python") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {})

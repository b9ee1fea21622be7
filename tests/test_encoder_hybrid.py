"""Encoders (BERT-class) by hand, the hybrid device/server split on tiny scenarios, the example."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import xpuplan
from xpuplan import api
from xpuplan.errors import InputError
from xpuplan.hardware import Catalog
from xpuplan.hardware.devices import device_profiles
from xpuplan.hardware.records import Efficiency
from xpuplan.perf import Machine, default_params
from xpuplan.perf import encoder as enc
from xpuplan.planner.constraints import Why, WhyCode
from xpuplan.planner.plan import plan
from xpuplan.planner.scenario import load_scenario
from xpuplan.report.wording import plan_dict
from xpuplan.search.encoder_search import search_encoder
from xpuplan.search.serve_search import search_serve
from xpuplan.workload import get_model
from xpuplan.workload.job import EncoderJob, ServeJob

ROOT = Path(__file__).resolve().parents[1]
CLI = (sys.executable, "-m", "xpuplan.cli")
ENC_ARGS = ("--weights", "int8,bf16", "--latency-ms", "130", "--json")


# ---- encoder arithmetic and time ------------------------------------------------------------------


def test_bert_large_flops_by_hand() -> None:
    """BERT-large at 384 tokens: 2·P_layers per token plus bidirectional attention 4·L·s·h.
    P_layers per layer = attention 4h² + 4h, MLP 2hf + f + h, two LayerNorms 4h (h 1024, f 4096)."""
    h, f, L, s = 1024, 4096, 24, 384
    p_layers = L * ((4 * h * h + 4 * h) + (2 * h * f + f + h) + 4 * h)
    assert p_layers == 302_309_376
    by_hand = s * (2 * p_layers + 4 * L * s * h)
    m = get_model("bert-large")
    assert m.encoder_flops_per_sequence(s) == by_hand == 246_669_115_392
    # OpenVINO Open Model Zoo, bert-large-uncased-whole-word-masking-squad: 246.93 GOps at 384
    assert m.encoder_flops_per_sequence(s) == pytest.approx(246.93e9, rel=0.002)


def test_encoder_time_is_the_roofline_by_hand(catalog: Catalog) -> None:
    """With every efficiency 1 and no knee, a large int8 batch on an H100 takes GEMM FLOPs at the
    int8 peak plus attention FLOPs at the bf16 peak (compute-bound: far above the ridge)."""
    chip = catalog.chip("nvidia-h100-sxm")
    ideal = Efficiency(matmul=1.0, matmul_knee=0.0, memory=1.0, network=1.0, attention=1.0)
    m = Machine(replace(chip, efficiency=ideal), catalog.system("aws-p5.48xlarge"), 1)
    model, s, B = get_model("bert-large"), 384, 64
    r = enc.evaluate_encoder(EncoderJob(model, s, "int8"), m, np.array([B]), default_params(), "static")
    gemm = 2 * 302_309_376 * B * s / chip.peak("int8")
    attn = B * s * (4 * 24 * s * 1024) / chip.peak("bf16")
    assert float(r.batch_s[0]) == pytest.approx(gemm + attn, rel=1e-9)
    assert float(r.sequences_per_s[0]) == pytest.approx(B / (gemm + attn), rel=1e-9)
    assert not bool(r.memory_bound[0])


def test_encoder_properties(catalog: Catalog) -> None:
    m = Machine(catalog.chip("aws-graviton4"), catalog.system("aws-c8g.48xlarge"), 2)
    job = EncoderJob(get_model("bert-base"), 128, "int8")
    b = np.array([1, 2, 4, 8, 16, 32])
    st = enc.evaluate_encoder(job, m, b, default_params(), "static")
    dy = enc.evaluate_encoder(job, m, b, default_params(), "dynamic")
    assert np.all(np.diff(st.sequences_per_s) >= -1e-9)  # a larger batch is never slower per sequence
    assert np.allclose(dy.latency_s, 2.0 * st.latency_s)  # dynamic batching: up to two batch times
    bf = enc.evaluate_encoder(replace(job, weights="bf16"), m, b, default_params(), "static")
    assert np.all(st.batch_s < bf.batch_s)  # the int8 path is faster where the chip has one


def test_int8_refused_without_an_int8_path(catalog: Catalog) -> None:
    m = Machine(catalog.chip("nvidia-v100"), catalog.system("aws-p3dn.24xlarge"), 1)
    res = search_encoder(EncoderJob(get_model("bert-large"), 384, "int8"), m, ("int8",))
    assert res.best is None and enc.ENCODER_REASON_TEXT[enc.DTYPE] in res.reasons
    res = search_encoder(EncoderJob(get_model("bert-large"), 384), m, ("int8", "bf16"))
    assert res.best is not None and res.best.compute in ("bf16", "fp16")


def test_encoder_job_checks_its_inputs() -> None:
    with pytest.raises(InputError):
        EncoderJob(get_model("bert-large"), 1000)  # longer than its 512 positions
    with pytest.raises(InputError):
        EncoderJob(get_model("llama-3-8b"), 128)  # a decoder


def test_search_serve_dispatches_encoders(catalog: Catalog) -> None:
    """A serve job on an encoder is priced by the encoder path: one 'output' per sequence."""
    m = Machine(catalog.chip("intel-xeon-8480"), catalog.system("aws-c7i.48xlarge"), 2)
    res = search_serve(ServeJob(get_model("bert-large"), 384, 1, "int8"), m, ("int8",), "static")
    direct = search_encoder(EncoderJob(get_model("bert-large"), 384, "int8"), m, ("int8",), "static")
    assert res.best is not None and direct.best is not None
    assert res.best.output_tokens_per_s == pytest.approx(direct.best.sequences_per_s)
    assert res.best.requests_per_s == pytest.approx(direct.best.sequences_per_s)
    seq = enc.encoder_sequences_per_s(
        EncoderJob(get_model("bert-large"), 384, "int8"), m, direct.best.batch, default_params()
    )
    assert seq == pytest.approx(direct.best.sequences_per_s)


@pytest.mark.parametrize(
    "chip", ["aws-graviton4", "intel-xeon-8480", "amd-epyc-9654", "aws-inferentia2", "nvidia-h100-sxm"]
)
def test_serve_api_prices_bert_large(chip: str) -> None:
    res = api.search_serve("bert-large", chip, 2, output_len=1, weights=("int8", "bf16"), latency_ms=130)
    assert isinstance(res, xpuplan.EncoderSearchResult) and res.best.feasible
    b = res.best
    assert b.latency_s is not None and b.latency_s <= 0.130
    assert b.usd_per_million_sequences == pytest.approx(1e6 / b.sequences_per_usd)
    # the price is whole nodes' (2 chips of one node): $/M sequences = USD/s ÷ sequences/s × 1e6
    usd_s = b.economics.usd_per_hour / 3600
    assert b.usd_per_million_sequences == pytest.approx(usd_s / b.sequences_per_s * 1e6)
    assert b.joules_per_sequence == pytest.approx(b.economics.watts / b.sequences_per_s)


def test_cli_serve_encoder_json() -> None:
    out = subprocess.run(
        [*CLI, "serve", "--model", "bert-large", "--chip", "aws-graviton4", "--chips", "2", *ENC_ARGS],
        capture_output=True,
        text=True,
        check=True,
    )
    d = json.loads(out.stdout)
    assert d["kind"] == "encoder" and d["best"]["compute"] == "int8" and d["best"]["seq_len"] == 384
    assert d["usd_per_million_sequences"] == pytest.approx(1e6 / d["sequences_per_usd"])
    lo, hi = d["best"]["sequences_per_s_low"], d["best"]["sequences_per_s_high"]
    assert lo < d["best"]["sequences_per_s"] < hi and d["best"]["interval"]["sequences_per_s"] == [lo, hi]


def test_cli_serve_encoder_refuses_emit(tmp_path: Path) -> None:
    out = subprocess.run(
        [*CLI, "serve", "--model", "bert-large", "--chip", "nvidia-h100-sxm", "--emit", str(tmp_path / "e")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "is an encoder" in out.stderr and "Traceback" not in out.stderr


# ---- device profiles ------------------------------------------------------------------------------


def test_device_profiles_are_sourced_and_smaller_than_dram(catalog: Catalog) -> None:
    profs = device_profiles()
    assert {"apple-iphone-15-pro", "apple-iphone-16-pro", "apple-mac-mini-m4-pro"} <= set(profs)
    for sid, p in profs.items():
        chip = catalog.chips[catalog.systems[sid].chip]
        assert 0 < p.app_memory_bytes < chip.mem_bytes  # an app's share, not the whole DRAM
        assert p.app_memory.source and p.app_memory.as_of
        for path in p.paths.values():
            assert path.provenance.source.startswith("http") and path.provenance.as_of
            assert path.power_estimated == bool(path.power_basis)


def test_sustained_speed_after_the_burst() -> None:
    ne = device_profiles()["apple-iphone-16-pro"].paths["neural_engine"]
    assert ne.seconds(10.0) == 10.0  # within the burst window
    assert ne.seconds(100.0) == pytest.approx(93.0 + 7.0 / 0.67)


# ---- the hybrid split ------------------------------------------------------------------------------

TINY = """
name = "tiny hybrid"
[[jobs]]
kind = "hybrid"
name = "h"
peak_to_mean = 2.0
hours = 24
max_battery_share_per_day = {battery}
[[jobs.devices]]
name = "phones"
system = "apple-iphone-16-pro"
count = 1000
requests_per_day = 10
[[jobs.devices]]
name = "old phones"
count = 1000
requests_per_day = 10
[[jobs.classes]]
name = "short"
share = 0.5
input_len = 100
output_len = 20
latency_ms = 5000
privacy = "{short_privacy}"
model = "apple-afm-on-device"
[[jobs.classes]]
name = "long"
share = 0.5
input_len = 4000
output_len = 500
latency_ms = 3000
privacy = "{long_privacy}"
model = "apple-afm-on-device"
[[jobs.pools]]
system = "aws-p5.48xlarge"
tier = "cloud"
"""


def _tiny(tmp_path: Path, catalog: Catalog, battery: float = 0.05, short: str = "device", long: str = "any"):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.format(battery=battery, short_privacy=short, long_privacy=long))
    return plan(load_scenario(p, catalog), catalog)


def test_hybrid_split_on_a_tiny_scenario(tmp_path: Path, catalog: Catalog) -> None:
    r = _tiny(tmp_path, catalog)
    (h,) = r.hybrid
    short, long = h.classes
    # 2,000 devices × 10 requests a day, half each class
    assert short.requests_per_day == long.requests_per_day == 10_000
    # short: on the capable phones (half the devices); the old phones cannot run it, and it may not leave
    assert short.device_share == pytest.approx(0.5) and short.unserved_share == pytest.approx(0.5)
    # long: 4,000 + 500 tokens at ~30 tok/s cannot meet 3 s on the phone: all to the cloud
    assert long.server_share == pytest.approx(1.0) and long.server_system == "aws-p5.48xlarge"
    assert long.server_peak_rps == pytest.approx(10_000 / 86400 * 2.0)
    assert long.break_even["device_speedup_first"] > 1.0
    # device energy per request: the path's power × its time (5 W on the Neural Engine)
    (v,) = [v for v in short.verdicts if v.where == "device"]
    assert v.energy_j == pytest.approx(5.0 * v.latency_s)
    assert short.device_energy_mwh == pytest.approx(v.energy_j / 3.6)
    phones = h.devices[0]
    assert phones["battery_share_per_day"] == pytest.approx(5 * v.energy_j / 3600 / 13.90)
    # the server pool joins the fleet plan
    assert r.fleet.status == "optimal"
    assert [o.system for o, _ in r.fleet.assignment] == ["aws-p5.48xlarge"]
    assert h.usd_per_million_requests == pytest.approx(long.server_cost_usd / (20_000 * 24 / 24) * 1e6)


def test_battery_budget_moves_movable_requests_to_servers(tmp_path: Path, catalog: Catalog) -> None:
    r = _tiny(tmp_path, catalog, battery=1e-9, short="any")
    short = r.hybrid[0].classes[0]
    assert short.device_share == 0.0 and short.server_share == pytest.approx(1.0)
    assert Why(WhyCode.BATTERY) in short.reasons


def test_private_class_without_a_private_pool_is_not_served(tmp_path: Path, catalog: Catalog) -> None:
    r = _tiny(tmp_path, catalog, long="private")
    long = r.hybrid[0].classes[1]
    assert long.unserved_share == pytest.approx(1.0) and long.server_system is None
    assert Why(WhyCode.NO_SERVER_POOL, detail="private") in long.reasons


def test_example_apple_hybrid_plans(catalog: Catalog) -> None:
    sc = load_scenario(ROOT / "examples" / "apple_hybrid.toml", catalog)
    r = plan(sc, catalog)
    (h,) = r.hybrid
    assert sum(g["count"] for g in h.devices) == pytest.approx(100e6)
    short, summaries, private = h.classes
    assert short.device_share > 0.5 and short.server_share == 0.0
    # privacy "any": the cheapest pool wins, cloud or private (the private class may not go to the cloud)
    assert 0.0 < summaries.device_share < 1.0 and summaries.server_tier in ("cloud", "private")
    assert private.server_tier == "private" and private.server_share == pytest.approx(1.0)
    assert h.usd_per_million_requests and h.device_energy_mwh_per_request
    assert r.fleet.status == "optimal"
    assert {o.system for o, _ in r.fleet.assignment} >= {"apple-mac-studio-m2-ultra"}
    json.dumps(r.to_dict(), default=str)
    # the device figures the plan rests on are data (kind, path); the report words them
    prof = device_profiles()[h.assumptions[0].device]
    first = h.assumptions[0]
    assert (first.kind, first.path, first.source) == ("app_memory", None, prof.app_memory.source)
    paths = [a for a in h.assumptions if a.kind == "path"]
    assert paths and all(a.path in device_profiles()[a.device].paths for a in paths)
    assert all(a.source == device_profiles()[a.device].paths[a.path or ""].provenance.source for a in paths)
    words = [a["what"] for a in plan_dict(r)["hybrid"][0]["assumptions"]]
    assert words[0] == "app memory" and f"{paths[0].path} path (peaks, power, sustained speed)" in words


def test_cli_plan_prints_the_split() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "plan", str(ROOT / "examples" / "apple_hybrid.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    for text in ("where each request class runs", "private heavy requests", "per million requests", "mWh"):
        assert text in out.stdout


def test_html_report_draws_the_split(tmp_path: Path, catalog: Catalog) -> None:
    from xpuplan.report import html

    (h,) = _tiny(tmp_path, catalog).hybrid
    page = html._hybrid(html._Figures(), json.loads(json.dumps(h.to_dict(), default=str)))
    for text in ("where each request class runs", "short", "long", "aws-p5.48xlarge", "battery/day"):
        assert text in page

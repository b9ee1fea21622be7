"""Calibration (issue 8): the fake backend drives every path of the harness; real backends get
smoke tests that assert sanity (positive, finite, ordered), never speed."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest

from xpuplan import api
from xpuplan.calibrate import (
    QUICK,
    Backend,
    DecodeSpec,
    FakeBackend,
    Nominal,
    RunTimes,
    TrainSpec,
    calibrate,
    get_backend,
    parse_peaks,
    write_calibration,
)
from xpuplan.calibrate.backend import BackendMissingError
from xpuplan.calibrate.numpy_backend import NumpyBackend
from xpuplan.errors import DataError, InputError, UnknownNameError
from xpuplan.hardware import default_catalog, load_calibration
from xpuplan.perf.estimate import machine
from xpuplan.perf.train import TIME_PARTS
from xpuplan.validation.calibration_check import StepBreakdown, check, compare, predict_train

TODAY = "2026-11-26"
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def fake(**kw: object) -> FakeBackend:
    base: dict[str, object] = dict(
        rates={"fp32": 10e12, "bf16": 40e12},
        knee=200.0,
        bandwidth=2e12,
        gemv_efficiency=0.7,
        attention_efficiency=0.35,
        link_bw=100e9,
        link_latency_s=5e-6,
    )
    return FakeBackend(**{**base, **kw})  # type: ignore[arg-type]


class NoAttention(FakeBackend):
    """A device with no fused-attention kernel and no collectives (like the numpy backend)."""

    def attention(self, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float | None:
        return None

    def collective_ranks(self) -> int:
        return 1


# ---- fitting recovers the fake's parameters ------------------------------------------------------


def test_fit_recovers_the_fake_roofline() -> None:
    cal = calibrate(fake(), QUICK, as_of=TODAY)
    fp32, bf16 = cal.fits.curves["fp32"], cal.fits.curves["bf16"]
    assert fp32.rate == pytest.approx(10e12, rel=0.02) and bf16.rate == pytest.approx(40e12, rel=0.02)
    assert fp32.knee == pytest.approx(200.0, rel=0.03)
    assert cal.fits.stream_bw == pytest.approx(2e12, rel=0.01)
    assert cal.efficiency["memory"] == pytest.approx(0.7, rel=0.01)
    assert cal.efficiency["attention"] == pytest.approx(0.35, rel=0.02)
    for c in cal.fits.collectives:  # every op, bandwidth and latency
        assert c.bus_bw == pytest.approx(100e9, rel=0.03), c.op
        assert c.latency_s == pytest.approx(5e-6, rel=0.03), c.op
    assert {c.op for c in cal.fits.collectives} == {
        "all_reduce",
        "all_gather",
        "reduce_scatter",
        "all_to_all",
    }


def test_measured_peak_is_the_achievable_peak_without_a_nominal_one() -> None:
    cal = calibrate(fake(), QUICK, as_of=TODAY)
    assert cal.efficiency["matmul"] == 1.0
    assert cal.peaks["fp32"] == pytest.approx(10e12, rel=0.02)
    assert cal.link_bw == pytest.approx(100e9, rel=0.03)  # separate devices: recorded as a link
    assert cal.efficiency["network"] == 1.0


def test_nominal_peak_and_bandwidth_make_efficiencies_fractions_of_them() -> None:
    nominal = Nominal(parse_peaks("fp32=20"), mem_bw=4e12)
    cal = calibrate(fake(), QUICK, nominal=nominal, as_of=TODAY)
    assert cal.efficiency["matmul"] == pytest.approx(0.5, rel=0.02)
    assert cal.peaks["fp32"] == 20e12
    assert cal.peaks["bf16"] == pytest.approx(80e12, rel=0.03)  # measured / matmul
    assert cal.mem_bw == 4e12
    assert cal.efficiency["memory"] == pytest.approx(0.35, rel=0.02)


def test_nominal_peak_below_the_measured_rate_caps_matmul_with_a_note() -> None:
    cal = calibrate(fake(), QUICK, nominal=Nominal({"fp32": 5e12}), as_of=TODAY)
    assert cal.efficiency["matmul"] == 1.0
    assert any("exceeds the nominal peak" in n for n in cal.notes)


def test_missing_bf16_and_attention_are_filled_and_said() -> None:
    cal = calibrate(NoAttention(rates={"fp32": 1e12}), QUICK, as_of=TODAY)
    assert cal.peaks["bf16"] == cal.peaks["fp32"]
    assert "not measured" in cal.provenance["peak_tflops.bf16"]
    assert "attention" not in cal.efficiency
    assert any("attention not measured" in n for n in cal.notes)
    assert cal.link_bw is None and not cal.fits.collectives


@pytest.mark.parametrize(
    "text, ok",
    [
        ("fp32=67,bf16=989", True),  # two dtypes, TFLOP/s
        ("bf16 = 1.5", True),  # spaces are fine
        ("fp64=1", False),  # not a catalog dtype
        ("bf16=-3", False),  # not positive
        ("bf16", False),  # no value
    ],
)
def test_parse_peaks(text: str, ok: bool) -> None:
    if ok:
        assert all(v > 1e11 for v in parse_peaks(text).values())
    else:
        with pytest.raises(InputError):
            parse_peaks(text)


def test_bad_chip_id_is_an_input_error() -> None:
    with pytest.raises(InputError):
        calibrate(fake(), QUICK, chip_id="My Chip!")


# ---- the file: catalog schema, re-loaded through the hardware layer ------------------------------


def test_file_round_trips_through_load_calibration(tmp_path: Path) -> None:
    cal = calibrate(fake(), QUICK, as_of=TODAY)
    path = write_calibration(cal, tmp_path / "local.toml")
    raw = tomllib.loads(path.read_text())
    assert raw["source"].startswith("measured by xpuplan calibrate on Fake accelerator")
    assert raw["as_of"] == TODAY and raw["efficiency"]["source"]
    assert raw["calibration"]["matmul"] and raw["calibration"]["fit_collectives"]
    chip = load_calibration(path)
    assert chip == cal.to_chip()
    assert chip.id == "local" and chip.peak("fp32") == pytest.approx(10e12, rel=0.02)
    assert chip.efficiency.matmul_knee == pytest.approx(200.0, rel=0.03)
    assert chip.provenance["peak_tflops.fp32"].source == chip.source


@pytest.mark.parametrize(
    "text",
    [
        "id = 'x'\n[[",  # broken TOML
        'id = "x"\nname = "x"\nvendor = "x"\ncategory = "cpu"\nsource = "s"\nas_of = "2026"\n'
        "[memory]\ncapacity_gib = 1\nbandwidth_tbyte_s = 0.1\n",  # no [peak_tflops]
        'id = "x"\n',  # no source
    ],
)
def test_load_calibration_rejects_broken_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DataError):
        load_calibration(path)
    with pytest.raises(DataError):
        load_calibration(tmp_path / "missing.toml")


def test_catalog_with_local_system_plans_on_the_calibrated_chip() -> None:
    chip = calibrate(fake(), QUICK, as_of=TODAY).to_chip()
    base = default_catalog()
    cat = base.with_local_system(chip)
    assert "local" not in base.chips  # the packaged catalog is untouched
    m = machine("local", 1, catalog=cat)
    assert m.chip is chip and m.system.kind == "device" and m.system.scale_out.max_chips == 1
    replaced = base.with_chip(replace(chip, id="nvidia-h100-sxm"))
    assert replaced.chip("h100").source == chip.source  # aliases still resolve; systems use it
    assert machine("aws-p5.48xlarge", 8, catalog=replaced).chip.source == chip.source


def test_api_estimate_and_serve_take_a_calibration(tmp_path: Path) -> None:
    path = write_calibration(calibrate(fake(), QUICK, as_of=TODAY), tmp_path / "local.toml")
    cat = api.calibrated_catalog(path)
    est = api.estimate_train(
        "llama-3-8b", "local", 1, {"microbatch": 1}, global_batch=8, seq_len=2048, catalog=cat
    )
    assert est.step_time_s > 0 and math.isfinite(est.step_time_s)
    res = api.search_serve("llama-3-8b", "local", 1, input_len=512, output_len=128, batch=4, catalog=cat)
    assert res.best.feasible and res.best.tpot_s is not None and res.best.tpot_s > 0
    assert res.best.chip == "local" and res.best.batch == 4


# ---- the check: prediction beside a (fake) real run ---------------------------------------------


def test_compare_reports_signed_relative_errors() -> None:
    chip = calibrate(fake(), QUICK, as_of=TODAY).to_chip()
    train, decode = TrainSpec(precision="bf16"), DecodeSpec()
    res = compare(chip, RunTimes([1.0, 2.0, 3.0], [0.5]), train, decode, TODAY)
    t, d = res.rows
    assert t.measured_s == 2.0 and t.error == pytest.approx(t.predicted_s / 2.0 - 1.0)
    assert d.measured_s == 0.5 and d.predicted_s > 0
    b, est = res.train_breakdown_s, predict_train(chip, train, TODAY)
    assert b.compute == est.time_s["compute"] > 0 and b.optimizer == est.time_s["optimizer"] > 0
    assert set(b.nonzero()) >= {"compute", "optimizer"} and "tp_comm" not in b.nonzero()  # one device
    assert sum(b.nonzero().values()) == pytest.approx(sum(est.time_s.values()))
    assert res.within_target == all(abs(r.error) <= 0.2 for r in res.rows)


def test_step_breakdown_is_the_models_terms() -> None:
    """A term added to the model (perf/train.py TIME_PARTS) needs its field here."""
    assert tuple(f.name for f in fields(StepBreakdown)) == TIME_PARTS


def test_check_runs_the_whole_harness_on_the_fake() -> None:
    fb = fake()
    res = check(fb, QUICK, TrainSpec(precision="bf16", steps=3), DecodeSpec(new=4), as_of=TODAY)
    assert res.calibration is not None and fb.calls > 10
    assert len(res.runs.train) == 3 and len(res.runs.decode) == 4
    for r in res.rows:  # the fake's "real run" is a plainer roofline of the same GPT
        assert 0.5 < r.predicted_s / r.measured_s < 2.0, r
    d = json.loads(json.dumps(res.to_dict()))
    assert d["rows"][0]["run"] == "train step" and "error" in d["rows"][0]


# ---- backends ----------------------------------------------------------------------------------


def test_registry_and_missing_backends() -> None:
    assert isinstance(get_backend("fake"), Backend)
    assert isinstance(get_backend("auto"), Backend)  # torch where installed, else numpy
    with pytest.raises(UnknownNameError, match="Did you mean 'numpy'"):
        get_backend("nmupy")
    with pytest.raises(BackendMissingError, match="pip install"):
        get_backend("neuron")
    if not HAS_JAX:
        with pytest.raises(BackendMissingError, match="pip install jax"):
            get_backend("jax")


def test_numpy_backend_measures_sane_numbers() -> None:
    b = NumpyBackend()
    assert isinstance(b, Backend) and b.dtypes() == ("fp32",) and b.memory_bytes() > 0
    small, big = b.matmul(32, 32, 32, "fp32", 3), b.matmul(1024, 1024, 1024, "fp32", 3)
    assert 0 < small < big and math.isfinite(big)  # 32,768× the FLOPs takes longer
    for kind in ("copy", "triad"):
        bw = b.stream(kind, 4 * 2**20, 3)
        assert bw > 0 and math.isfinite(bw)
    assert b.weights_stream(4, 256, 256, 4, 3) > 0
    assert b.attention(1, 1, 16, 16, 3) is None and b.collective_ranks() == 1
    with pytest.raises(InputError, match="cannot run a model"):
        b.train_steps(TrainSpec())


TINY_TRAIN = TrainSpec(layers=1, hidden=64, heads=1, seq=16, batch=2, vocab=32, steps=2, warmup=1)
TINY_DECODE = DecodeSpec(layers=1, hidden=64, heads=1, vocab=32, batch=2, prompt=4, new=3)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (pip install 'xpuplan[calibrate]')")
def test_torch_backend_on_cpu() -> None:
    b = get_backend("torch", "cpu")
    assert b.dtypes() == ("fp32", "bf16") and b.category() == "cpu"
    for dt in b.dtypes():
        assert b.matmul(64, 64, 64, dt, 3) > 0
    assert b.stream("triad", 2**20, 3) > 0 and b.weights_stream(2, 128, 128, 2, 3) > 0
    sec = b.attention(1, 2, 64, 32, 3)
    assert sec is not None and sec > 0
    train = b.train_steps(TINY_TRAIN)
    assert len(train) == 2 and all(t > 0 for t in train)
    assert len(b.train_steps(replace(TINY_TRAIN, precision="bf16"))) == 2
    decode = b.decode_steps(TINY_DECODE)
    assert len(decode) == 3 and all(t > 0 for t in decode)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (pip install 'xpuplan[calibrate]')")
def test_torch_gloo_collectives_between_two_processes() -> None:
    b = get_backend("torch", "cpu")
    assert b.collective_ranks() == 2
    out = b.collectives(["all_reduce", "all_to_all"], [4096], 2)
    assert [(c.op, c.ranks) for c in out] == [("all_reduce", 2), ("all_to_all", 2)]
    assert all(c.seconds > 0 and c.nbytes == 4096 for c in out)


# ---- command line --------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_calibrate_fake_writes_a_file_train_can_use(tmp_path: Path) -> None:
    f = tmp_path / "cal.toml"
    r = cli("calibrate", "--backend", "fake", "--quick", "-o", str(f), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["file"] == str(f) and d["peak_tflops"]["fp32"] == pytest.approx(20.0, rel=0.02)
    r = cli("train", "--model", "llama-3-8b", "--chip", "local", "--chips", "1", "--global-batch", "8")
    assert r.returncode == 2 and "unknown chip" in r.stderr  # not without the file
    args = ("--model", "llama-3-8b", "--chip", "local", "--chips", "1", "--calibration", str(f), "--json")
    r = cli("train", *args, "--global-batch", "8", "--seq-len", "2048", "--microbatch", "1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["step_time_s"] > 0
    r = cli("serve", *args, "--batch", "4")
    assert r.returncode == 0, r.stderr


def test_cli_calibrate_check_fake_prints_predicted_and_measured() -> None:
    r = cli("calibrate", "check", "--backend", "fake", "--quick", "--precision", "bf16", "--json")
    res = json.loads(r.stdout)
    assert [x["run"] for x in res["rows"]] == ["train step", "decode step"]
    # outside its target the check says so and exits 1 (the fake's bf16 roofline is not the model's)
    assert not res["within_target"] and r.returncode == 1, r.stderr
    r = cli("calibrate", "check", "--backend", "fake", "--quick")
    assert "predicted vs measured" in r.stdout
    assert r.returncode == (0 if "not within" not in r.stdout else 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (("calibrate", "--backend", "nmupy"), "Did you mean 'numpy'"),  # a typo
        (("calibrate", "check", "--backend", "numpy"), "cannot run a model"),  # no model runs
        (("calibrate", "check", "--backend", "fake", "--precision", "fp8"), "unknown precision"),
        (("calibrate", "--backend", "fake", "--peak-tflops", "fp32=x"), "bad peak"),
        (
            (
                "train",
                "--model",
                "llama-3-8b",
                "--chip",
                "local",
                "--chips",
                "1",
                "--calibration",
                "nope.toml",
            ),
            "not found",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr

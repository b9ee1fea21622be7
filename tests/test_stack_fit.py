"""Parameters of the software stack, fitted per stack and chip category (validation/fit.py,
``fit.toml`` [stacks]), and the one place they are applied (perf/params.py chip_params).

The synthetic cases are decode steps of ``t0 + L·o`` seconds, ``o`` the stack's fixed time per
layer (PerfParams.layer_overhead_s), L = 32 layers; a case measured at ``o = 100 us`` is one whose
throughput is ``1 / (t0 + 32 · 100e-6)``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.hardware.stacks import get_stack, stacks
from xpuplan.perf.params import (
    FITTED_STACK_PARAMS,
    chip_params,
    serve_params,
    stack_fit_key,
    using_stack_fits,
    with_stack_values,
)
from xpuplan.validation import fit as F
from xpuplan.validation.validate import CaseResult, Prediction

LAYERS = 32


def _case(cid: str, t0: float, true_o: float, source: str = "s", stack: str = "vllm") -> Prediction:
    def evaluate(e: Efficiency, values: Mapping[str, float] | None = None) -> float:
        o = (values or {}).get("layer_overhead_s", 0.0)
        return 1.0 / (t0 + LAYERS * o)

    r = _h100_serving(cid, 0.0, 1.0 / (t0 + LAYERS * true_o), source=source, stack=stack)
    return Prediction(r, evaluate)


def _h100_serving(cid: str, predicted: float, measured: float, **kw: str) -> CaseResult:
    """A serving case on an H100 measured in output tokens/s."""
    return CaseResult(
        cid, "infer", "nvidia", "nvidia-h100-sxm", "output_tokens_per_s", predicted, measured, **kw
    )  # type: ignore[arg-type]


def test_the_fit_recovers_a_stacks_time_per_layer(catalog: Catalog) -> None:
    """Two cases of one stack measured at 100 us per layer (10 ms and 2 ms of roofline time): the
    grid value that minimises their mean |log error| is 100 us, and it is keyed by the stack on the
    chip's category."""
    preds = [_case("a", 0.010, 100e-6), _case("b", 0.002, 100e-6)]
    rows = F.build_stack_rows(preds, catalog, {})
    fits = F.fit_stack_params(rows)
    assert set(fits) == {"vllm/gpu"}
    assert fits["vllm/gpu"].value == pytest.approx(100e-6)
    assert fits["vllm/gpu"].cases == ("a", "b")
    # the error at the fitted value is nil; at none the prediction is fast by (t0 + 3.2 ms) / t0
    row = next(r for r in rows if r.result.id == "b")
    grid = list(F.STACK_GRID[F.OVERHEAD])
    assert row.log_err[grid.index(0.0)] == pytest.approx(math.log(0.0052 / 0.002), rel=1e-9)
    assert abs(row.log_err[grid.index(100e-6)]) < 1e-12


def test_a_case_the_term_does_not_move_and_not_fitted_cases_set_nothing(catalog: Catalog) -> None:
    """An encoder-like case (its time does not depend on the term) is left out of the rows; a
    ``not_fitted`` case is priced but sets no value; training cases have no stack class."""

    def flat(e: Efficiency, values: Mapping[str, float] | None = None) -> float:
        return 5.0

    r = CaseResult(
        "enc", "infer", "nvidia", "nvidia-h100-sxm", "output_tokens_per_s", 5.0, 4.0, source="e", stack="vllm"
    )
    nf = _case("nf", 0.001, 800e-6)
    nf = Prediction(replace(nf.result, not_fitted="a term the model does not price"), nf.evaluate)
    rows = F.build_stack_rows([Prediction(r, flat), nf, _case("a", 0.010, 20e-6)], catalog, {})
    assert [x.result.id for x in rows] == ["nf", "a"]
    assert F.fit_stack_params(rows)["vllm/gpu"].value == pytest.approx(20e-6)
    train = CaseResult("t", "train", "nvidia", "nvidia-h100-sxm", "mfu", 0.4, 0.4, source="t", stack="nemo")
    assert F.stack_key(train, catalog) is None
    # a case no chip fraction informs (fit.binding_param's weak mark: its step is the stack's fixed
    # time) still informs the stack's time; a case's own not_fitted reason does not
    weak = Prediction(replace(nf.result, weak=True), nf.evaluate)
    rows = F.build_stack_rows([weak, _case("a", 0.010, 20e-6)], catalog, {})
    fit = F.fit_stack_params(rows)["vllm/gpu"]
    assert fit.cases == ("nf", "a")
    # the mean |log error| of 800 us and 20 us cases is flat between them: the grid's argmin is
    # one of the two measured values, not 0 (the weak case moved it)
    assert fit.value in (pytest.approx(20e-6), pytest.approx(800e-6))


def test_cross_validation_refits_the_stack_without_the_held_out_source(catalog: Catalog) -> None:
    """Source s1 measured at 200 us, s2 at 50 us: held out, each is predicted at the other's value;
    a stack whose only source is held out prices no term (0)."""
    preds = [
        _case("a", 0.010, 200e-6, "s1"),
        _case("b", 0.010, 50e-6, "s2"),
        _case("c", 0.010, 100e-6, "s3", "mlx"),
    ]
    srows = F.build_stack_rows(preds, catalog, {})
    # the cases name no fitted efficiency: chip rows of no parameter, so only the stack term moves
    rows = [F.Row(p.result, p, catalog.chips[p.result.chip].efficiency, np.zeros(len(F.GRID))) for p in preds]
    cv = {c.result.id: c for c in F.cross_validate(rows, catalog, F.Priors.load(), "source", srows)}
    want = {"a": 1.0 / (0.010 + LAYERS * 50e-6), "b": 1.0 / (0.010 + LAYERS * 200e-6), "c": 1.0 / 0.010}
    for cid, y in want.items():
        assert cv[cid].result.predicted == pytest.approx(y, rel=1e-12)


def test_chip_params_apply_the_fit_of_the_stack_on_the_chips_category(catalog: Catalog) -> None:
    """One home: chip_params (the validator's and every serving search's route to the stack's
    constants) takes the fitted value for (stack, category), and only for it."""
    vllm = get_stack("vllm")
    with using_stack_fits({stack_fit_key("vllm", "gpu"): {"layer_overhead_s": 40e-6}}):
        assert chip_params(vllm, "amd-mi300x", category="gpu").layer_overhead_s == pytest.approx(40e-6)
        assert chip_params(vllm, "tpu-v6e", category="tpu").layer_overhead_s == 0.0
        assert serve_params(catalog.chip("amd-mi300x"), "vllm").layer_overhead_s == pytest.approx(40e-6)
    with using_stack_fits({}):
        assert serve_params(catalog.chip("amd-mi300x"), "vllm").layer_overhead_s == 0.0
    with pytest.raises(ValueError, match="not a fitted stack parameter"):
        with_stack_values(chip_params(vllm, "amd-mi300x"), {"tp_overlap": 0.1})


def test_packaged_stack_fits_name_real_stacks_and_categories_on_the_grid(catalog: Catalog) -> None:
    table = read_toml(data_dir() / "fit.toml").get("stacks", {})
    assert table, "fit.toml has no [stacks] section: run xpuplan fit --write"
    cats = {c.category for c in catalog.chips.values()}
    grid = set(float(g) for g in F.STACK_GRID[F.OVERHEAD])
    for key, row in table.items():
        sid, cat = key.rsplit("/", 1)
        sid, _, era = sid.partition("@")
        assert sid in stacks() and stacks()[sid].task == "serve", key
        assert not era or era in {e.label for e in stacks()[sid].eras if e.category == cat}, key
        assert cat in cats, key
        for p in FITTED_STACK_PARAMS:
            if p in row:
                assert any(abs(row[p]["value"] - g) < 1e-9 for g in grid), (key, row[p])
                assert row[p]["basis"] == "fitted" and row[p]["cases"], key


def test_a_predicted_case_pays_its_stacks_fitted_time_per_layer(catalog: Catalog) -> None:
    """End to end: a vLLM batch-1 decode case on an H100 (8 layers, the hand-sized model of
    test_case_forms) predicted under a fitted 50 us per layer for vllm/gpu has a TPOT 8 x 50 us
    longer than under none; the fit is read where the case's stack is resolved."""
    from test_case_forms import L as FORMS_L
    from test_case_forms import _case, _predict

    setup = {"batch": 1, "input_len": 16, "output_len": 128}
    c = _case("infer", "nvidia-h100-sxm", "bf16", inference_setup=setup, measured={"tpot_ms": 10.0})
    with using_stack_fits({}):
        t0 = _predict(c, catalog).predicted
    with using_stack_fits({stack_fit_key("vllm", "gpu"): {"layer_overhead_s": 50e-6}}):
        t1 = _predict(c, catalog).predicted
    assert t0 is not None and t1 is not None
    assert t1 - t0 == pytest.approx(FORMS_L * 50e-6 * 1e3, rel=1e-9)  # ms


# ---- the model-wide roofline exponent (PerfParams.roofline_p), chosen inside each fold ------------------------


def _row(cid: str, source: str, err: float, value: float) -> F.Row:
    """A serving case whose log error is ``err`` at every grid value of its parameter and whose
    prediction, priced again, is ``value`` (one variant of the model)."""

    def evaluate(e: Efficiency, values: Mapping[str, float] | None = None) -> float:
        return value

    r = _h100_serving(cid, value, 1.0, source=source, param="memory")
    return F.Row(r, Prediction(r, evaluate), Efficiency(matmul=0.5), np.full(len(F.GRID), err))


def test_each_fold_chooses_the_roofline_on_its_own_cases_only(catalog: Catalog) -> None:
    """Variant inf misses source s1 by 0.3 and fits s2, s3; variant 2 fits s1 and misses s2, s3
    by 0.2. With all cases, inf fits best (mean 0.10 against 0.13); held out, s1 is judged by the
    variant its neighbours prefer (inf), while s2 and s3, each held out in turn, leave s1 to tip
    the choice to 2. Each held-out case is priced by its fold's variant (inf -> 1.0, 2 -> 2.0)."""
    srcs = {"a": "s1", "b": "s2", "c": "s3"}
    err_a = {"s1": 0.3, "s2": 0.0, "s3": 0.0}
    err_b = {"s1": 0.0, "s2": 0.2, "s3": 0.2}
    va = F.Variant(math.inf, {}, {}, [_row(i, s, err_a[s], 1.0) for i, s in srcs.items()], [])
    vb = F.Variant(2.0, {}, {}, [_row(i, s, err_b[s], 2.0) for i, s in srcs.items()], [])
    priors = F.Priors.load()
    full = {
        v.value: F.fit_loss(v.rows, F.fit_params(v.rows, catalog, priors, None, {"nvidia-h100-sxm"}))
        for v in (va, vb)
    }
    assert full[math.inf] == pytest.approx(0.1) and full[2.0] == pytest.approx(0.4 / 3)
    # a training case misses by far under variant 2 but does not count: no training term uses the
    # roofline exponent (the loss is over the serving cases)
    train = replace(_row("t", "s4", 5.0, 1.0), result=replace(_row("t", "s4", 5.0, 1.0).result, task="train"))
    assert F.fit_loss([*vb.rows, train], F.fit_params(vb.rows, catalog, priors, None, None)) == pytest.approx(
        0.4 / 3
    )
    cv, folds = F.cross_validate_variants([va, vb], catalog, priors, "source")
    assert folds == {math.inf: 1, 2.0: 2}
    assert {c.result.id: c.result.predicted for c in cv} == {"a": 1.0, "b": 2.0, "c": 2.0}


def test_default_params_carry_the_packaged_roofline_and_a_fit_overrides_it() -> None:
    from xpuplan.perf.params import FITTED_MODEL_PARAMS, default_params, using_model_fits

    row = read_toml(data_dir() / "fit.toml")["model"][F.ROOFLINE]
    assert F.ROOFLINE in FITTED_MODEL_PARAMS
    assert any(row["value"] == g or abs(row["value"] - g) < 1e-9 for g in F.ROOFLINE_GRID)
    assert row["basis"] == "fitted" and row["cases"]
    assert default_params().roofline_p == pytest.approx(row["value"])
    with using_model_fits({F.ROOFLINE: 4.0}):
        assert default_params().roofline_p == 4.0
        assert serve_params(default_catalog_chip("nvidia-h100-sxm")).roofline_p == 4.0
    with (
        pytest.raises(ValueError, match="not a fitted model parameter"),
        using_model_fits({"tp_overlap": 0.1}),
    ):
        pass


def default_catalog_chip(chip_id: str):  # type: ignore[no-untyped-def]
    from xpuplan.hardware.catalog import default_catalog

    return default_catalog().chip(chip_id)


# ---- a stack's eras: builds whose fitted constants are not today's ---------------------------------


def test_a_run_before_an_era_ends_is_fitted_and_priced_under_its_own_key(catalog: Catalog) -> None:
    """llama.cpp's CPU back end before the 2024-09 threadpool (data/stacks/llama.cpp.toml
    [[eras]]): a 2024-03 run on a CPU takes llama.cpp@pre-threadpool/cpu, a 2024-10 run and a plan
    for today (no date) llama.cpp/cpu; the Metal back end has no era."""
    cpp = get_stack("llama.cpp")
    assert cpp.era("cpu", "2024-03-09") == "pre-threadpool"
    assert cpp.era("cpu", "2024-10") == "" and cpp.era("cpu", None) == "" and cpp.era("soc", "2023-11") == ""
    # the leading date is read; a month counts from its first day; a year or a version is no date
    assert cpp.era("cpu", "2024-09 (b3800)") == "pre-threadpool" and cpp.era("cpu", "2024-09-23") == ""
    assert cpp.era("cpu", "2024 (NeMo 24.07)") == "" and cpp.era("cpu", "Neuron SDK 2.18.0") == ""
    assert stack_fit_key("llama.cpp", "cpu", "pre-threadpool") == "llama.cpp@pre-threadpool/cpu"
    fits = {
        "llama.cpp@pre-threadpool/cpu": {"layer_overhead_s": 300e-6},
        "llama.cpp/cpu": {"layer_overhead_s": 5e-6},
    }
    g3 = catalog.chip("aws-graviton3")
    with using_stack_fits(fits):
        old = chip_params(cpp, g3.id, 2024, category="cpu", date="2024-03-09")
        new = chip_params(cpp, g3.id, 2024, category="cpu", date="2024-10")
        assert old.layer_overhead_s == pytest.approx(300e-6) and new.layer_overhead_s == pytest.approx(5e-6)
        assert serve_params(g3).layer_overhead_s == pytest.approx(5e-6)  # a plan for today
    # the validator keys a case by the era its date falls in
    r = CaseResult(
        "x",
        "infer",
        "aws",
        g3.id,
        "output_tokens_per_s",
        1.0,
        1.0,
        stack="llama.cpp",
        stack_era="pre-threadpool",
    )
    assert F.stack_key(r, catalog) == "llama.cpp@pre-threadpool/cpu"
    assert F.stack_key(replace(r, stack_era=""), catalog) == "llama.cpp/cpu"


@pytest.mark.parametrize(
    "era, words",
    [
        ({"category": "cpu", "until": "2024-09", "label": "old", "source": "s"}, "ISO date"),
        ({"category": "cpu", "until": "2024-09-23", "label": "Old Era", "source": "s"}, "lower-case"),
        (
            {"category": "cpu", "until": "2024-09-23", "label": "old"},
            "needs category, label, source and until",
        ),
        (
            {"category": "npu", "until": "2024-09-23", "flag": "--x", "label": "old", "source": "s"},
            "both until and flag",
        ),
    ],
)
def test_a_malformed_era_is_a_data_error(tmp_path: Path, era: dict[str, str], words: str) -> None:
    from xpuplan.errors import DataError
    from xpuplan.hardware.stacks import parse_stack

    d = {"id": "x", "name": "x", "task": "serve", "source": "s", "as_of": "2026", "eras": [era]}
    with pytest.raises(DataError, match=words):
        parse_stack(d, tmp_path / "x.toml")


def test_the_suites_llama_cpp_cpu_cases_fall_in_their_builds_era(catalog: Catalog) -> None:
    """The 2024-03 Graviton3 runs (llama.cpp PR #5780's) predate the threadpool; the Arm Learning
    Path runs (late 2024) do not; the 2023 Metal runs have no era."""
    want = {
        "aws-graviton3-infer-llama2-7b-q40-decode-64t-llamacpp-pr5780": "pre-threadpool",
        "aws-graviton3-infer-llama31-8b-q40-decode-64t-armlp-llamacpu": "",
        "apple-m2-max-infer-llama2-7b-f16-pp512-llamacpp4167": "",
    }
    _assert_suite_eras(catalog, "llama.cpp", want)


def _assert_suite_eras(catalog: Catalog, stack: str, want: dict[str, str]) -> None:
    """Each named suite case is predicted under ``stack`` in the era given."""
    from xpuplan.validation.validate import load_suite, predict_case

    cases = {c["id"]: c for c in load_suite()}
    for cid, era in want.items():
        r = predict_case(cases[cid], catalog).result
        assert r.stack == stack and r.stack_era == era, cid


def test_a_mode_the_run_states_is_fitted_and_priced_under_its_own_key(catalog: Catalog) -> None:
    """vLLM on Neuron with --no-async-scheduling (data/stacks/neuronx-inference.toml [[eras]]
    sync-scheduling): the host's step runs while the device idles, so a run stating the flag takes
    its own fitted time; a plan for today, and a run that does not state it, the stack's default."""
    nx = get_stack("neuronx-inference")
    flags = "vLLM Neuron plugin, --tensor-parallel-size 4, --No-Async-Scheduling, --no-enable-chunked-prefill"
    assert nx.era("npu", "2026-04", flags) == "sync-scheduling"
    assert nx.era("npu", "2026-04", "vLLM Neuron plugin, --max-num-seqs 2") == ""
    assert nx.era("npu", None) == "" and nx.era("gpu", None, flags) == ""
    trn2 = catalog.chip("aws-trainium2")
    fits = {
        "neuronx-inference@sync-scheduling/npu": {"layer_overhead_s": 500e-6},
        "neuronx-inference/npu": {"layer_overhead_s": 60e-6},
    }
    with using_stack_fits(fits):
        sync = chip_params(nx, trn2.id, 2026, category="npu", software=flags)
        assert sync.layer_overhead_s == pytest.approx(500e-6)
        assert serve_params(trn2).layer_overhead_s == pytest.approx(60e-6)  # a plan for today
    want = {
        "aws-trn2-infer-llama3.1-8b-tp4-conc1-osl192-vllmneuron-dflash-baseline": "sync-scheduling",
        "aws-trn2-infer-qwen3-4b-tp4-conc4-osl192-vllmneuron-dflash-baseline": "sync-scheduling",
        "aws-trn2-infer-llama3.1-8b-tp8-conc2-isl512-osl128-vllmneuron": "",
    }
    _assert_suite_eras(catalog, "neuronx-inference", want)


def test_a_run_of_a_stated_mode_informs_the_mode_not_the_chip(catalog: Catalog) -> None:
    """A run whose step is priced by a mode its software states (vLLM on Neuron with
    --no-async-scheduling) informs that mode's fitted time and none of the chip's fractions, so
    neither fit moves the other; a run of the stack's default path informs the chip's."""
    r = CaseResult(
        "dflash",
        "infer",
        "aws",
        "aws-trainium2",
        "output_tokens_per_s",
        1.0,
        1.0,
        stack="neuronx-inference",
        stack_era="sync-scheduling",
        param="memory",
    )
    p = Prediction(r, lambda e, values=None: 1.0 / (0.02 / e.memory + 0.02))
    got = F.binding_param(p, catalog, F.Priors.load()).result
    assert got.weak and got.not_fitted is not None and "sync-scheduling" in got.not_fitted
    plain = F.binding_param(Prediction(replace(r, stack_era=""), p.evaluate), catalog, F.Priors.load())
    assert plain.result.not_fitted is None and plain.result.param == "memory"

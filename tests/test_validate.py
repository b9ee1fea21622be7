"""Validation harness: the README's metric rule, stated layouts, and robustness to odd cases."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from xpuplan.hardware import Catalog
from xpuplan.validation.validate import measured_metric, stated_layout, validate

DEV = Path(__file__).resolve().parents[1] / "src" / "xpuplan" / "data" / "validation" / "seed_dev.yaml"


def _case(**measured: object) -> dict[str, object]:
    return {
        "id": "x",
        "task": "train",
        "hardware": {"chip_key": "nvidia-h100-sxm", "count": 8},
        "model": {"seq_len": 2048},
        "parallel": {"global_batch_tokens": 1_048_576},
        "measured": measured,
    }


@pytest.mark.parametrize(
    "measured, want",
    [
        ({"tokens_per_s_per_chip": 1000.0, "mfu": 0.5}, ("tokens_per_s_per_chip", 1000.0)),  # rule 1 first
        ({"tokens_per_s_total": 8000.0}, ("tokens_per_s_per_chip", 1000.0)),  # rule 2: total / chips
        ({"step_time_s": 131.072}, ("tokens_per_s_per_chip", 1000.0)),  # rule 3: batch tokens / step / chips
        ({"seqs_per_s": 3.90625}, ("tokens_per_s_per_chip", 1000.0)),  # rule 4: seqs/s × seq / chips
        ({"mfu": 0.41}, ("mfu", 0.41)),  # no throughput at all: MFU
    ],
)
def test_metric_rule(measured: dict[str, float], want: tuple[str, float]) -> None:
    got = measured_metric(_case(**measured))
    assert got is not None and got[0] == want[0] and got[1] == pytest.approx(want[1])


def test_neuron_degrees_in_cores_become_chips() -> None:
    c = {
        "id": "n",
        "hardware": {"count": 512},
        "notes": "",
        "parallel": {"tp": 32, "pp": 8, "dp": 4, "other": "degrees are in NeuronCores"},
    }
    fixed = stated_layout(c, 512)
    assert fixed["tp"] * fixed["pp"] * fixed["dp"] == 512


def test_one_odd_case_does_not_stop_the_others(tmp_path: Path) -> None:
    cases = yaml.safe_load(DEV.read_text())
    picked = [
        c for c in cases if c["id"].startswith(("nv-a100-train-megatron-22b", "nv-h100-infer-llama3-70b-tp2"))
    ]
    assert len(picked) == 2
    odd = copy.deepcopy(picked[0])
    odd["id"] = "odd"
    odd["parallel"]["microbatch"] = "four"  # free text where a number was expected
    odd["model"]["heads"] = None  # and a missing shape field
    f = tmp_path / "cases.yaml"
    f.write_text(yaml.safe_dump([*picked, odd]))
    results = {r.id: r for r in validate(f, search_best=False)}
    assert results[picked[0]["id"]].predicted is not None
    assert results[picked[1]["id"]].predicted is not None
    assert results["odd"].predicted is None and results["odd"].reason


def test_cases_are_summarised_per_workload_class(catalog: Catalog) -> None:
    """Issue 17 reports Apple, CPU and encoder cases on their own: a case's classes come from its
    model kind and its chip's category/vendor, and ``summarise`` gives each class its medians."""
    from xpuplan.validation.validate import CaseResult, case_classes, summarise

    def case(chip: str, kind: str = "decoder") -> dict:
        return {"hardware": {"chip_key": chip}, "model": {"kind": kind}}

    assert case_classes(case("intel-xeon-8480", "encoder"), catalog) == ("encoder", "cpu")
    assert case_classes(case("aws-graviton3"), catalog) == ("cpu",)
    assert case_classes(case("apple-m2-max"), catalog) == ("apple-silicon",)
    assert case_classes(case("h100", "encoder"), catalog) == ("encoder",)  # an alias resolves
    assert case_classes(case("no-such-chip"), catalog) == ()

    def r(i: str, pred: float, classes: tuple[str, ...]) -> CaseResult:
        return CaseResult(i, "infer", "x", "c", "m", pred, 100.0, classes=classes)

    s = summarise([r("a", 110, ("cpu",)), r("b", 130, ("cpu", "encoder")), r("c", 200, ())])
    assert s["by_class"]["cpu"]["infer"]["n"] == 2
    assert s["by_class"]["cpu"]["infer"]["median_error"] == pytest.approx(0.2)  # (0.1 + 0.3) / 2
    assert s["by_class"]["encoder"]["infer"]["median_error"] == pytest.approx(0.3)
    assert "apple-silicon" not in s["by_class"]


def test_engine_capacity_per_rank_and_micro_batch() -> None:
    """A stated max batch of 128: every sequence in flight by default; TensorRT-LLM admits it per
    pipeline micro-batch (128 x PP 2 = 256); under attention DP per rank (x TP 4), both multiply."""
    from dataclasses import replace

    from xpuplan.perf.params import default_params
    from xpuplan.validation.validate import engine_capacity

    p = default_params()
    trt = replace(p, batch_per_microbatch=1.0)
    assert engine_capacity(128, {"tp": 2, "pp": 2}, p) == 128
    assert engine_capacity(128, {"tp": 2, "pp": 2}, trt) == 256
    assert engine_capacity(128, {"tp": 2}, trt) == 128
    assert engine_capacity(128, {"tp": 4, "pp": 2}, replace(trt, attention_dp=True)) == 1024

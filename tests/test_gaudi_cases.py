"""Intel Gaudi cases as their sources run them (issue 13): the global batch a case reads from its
source's table, said in the result; the software stacks the cases name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from xpuplan.hardware import Catalog
from xpuplan.hardware.stacks import get_stack
from xpuplan.perf.params import params_for
from xpuplan.validation.validate import load_cases, predict_case

SUITE = Path(__file__).resolve().parents[1] / "src" / "xpuplan" / "data" / "validation"
PAGE = SUITE / "intel_gaudi_model_performance.yaml"


def _page_case(case_id: str) -> dict[str, Any]:
    return copy.deepcopy(next(c for c in load_cases(PAGE) if c["id"] == case_id))


def test_a_global_batch_read_from_the_table_is_assumed_and_said(catalog: Catalog) -> None:
    # Intel's training table gives 'Batch Size' 1024 for Llama 2 7B on 8 cards without saying it is
    # the global batch; the case records that reading as a derived, assumed value. The prediction
    # uses it, says so, and equals the prediction of the same case with the batch stated.
    c = _page_case("intel-gaudi2-train-llama2-7b-8hpu-fp8-seq4096-intelperf")
    assert c["parallel"]["global_batch_seqs"] is None
    r = predict_case(c, catalog).result
    assert r.predicted is not None
    assert any("global batch not stated: 1024 sequences assumed" in a for a in r.assumed)
    stated = copy.deepcopy(c)
    stated["parallel"]["global_batch_seqs"] = 1024
    stated["derived"] = [d for d in c["derived"] if not d["field"].startswith("parallel.")]
    s = predict_case(stated, catalog).result
    assert s.predicted == pytest.approx(r.predicted, rel=1e-12)
    assert not any("global batch" in a for a in s.assumed)


def test_no_global_batch_anywhere_is_still_a_skip_with_its_reason(catalog: Catalog) -> None:
    c = _page_case("intel-gaudi2-train-llama2-7b-8hpu-fp8-seq4096-intelperf")
    c["derived"] = [d for d in c["derived"] if not d["field"].startswith("parallel.")]
    r = predict_case(c, catalog).result
    assert r.predicted is None and r.reason == "the case states no global batch"


@pytest.mark.parametrize(
    "case_id, stack",
    [
        # Intel's inference table, rerun with optimum-habana's text-generation example
        ("intel-gaudi2-infer-llama2-70b-2hpu-bs78-isl2048-osl2048-intelperf", "optimum-habana-inference"),
        ("intel-gaudi3-infer-mistral-7b-1hpu-bs44-isl2048-osl2048-intelperf", "optimum-habana-inference"),
        # Intel's training table: the HabanaAI Megatron-LM fork's recipes
        ("intel-gaudi2-train-llama3.1-8b-8hpu-fp8-seq8192-intelperf", "megatron-lm-gaudi"),
        ("intel-gaudi2-train-llama2-70b-64hpu-fp8-seq4096-intelperf", "megatron-lm-gaudi"),
    ],
)
def test_the_gaudi_cases_name_their_stack(catalog: Catalog, case_id: str, stack: str) -> None:
    r = predict_case(_page_case(case_id), catalog).result
    assert r.predicted is not None and r.stack == stack


def test_the_gaudi_megatron_fork_overlaps_no_communication() -> None:
    # pretrain_llama.sh passes neither --overlap-grad-reduce nor --tp-comm-overlap
    p = params_for(get_stack("megatron-lm-gaudi"), 2024)
    assert (p.tp_overlap, p.dp_overlap, p.flash_attention) == (0.0, 0.0, True)

"""Training runs under a software stack, as serving does: the chip's default training stack
(``data/stacks`` ``default_for``) or the one named (``xpuplan train --stack``), resolved in one
place (perf/params.py train_params) by the search, the single estimate, the planner and claims."""

from __future__ import annotations

import pytest

import xpuplan
from xpuplan.errors import InputError
from xpuplan.hardware import Catalog
from xpuplan.hardware.stacks import get_stack
from xpuplan.layout.layout import Layout
from xpuplan.perf import Machine
from xpuplan.perf.estimate import estimate_train
from xpuplan.perf.params import default_params, params_for, train_params, train_stack
from xpuplan.search.train_search import search_train
from xpuplan.workload.job import TrainJob
from xpuplan.workload.library import get_model


@pytest.mark.parametrize(
    "chip, stack",
    [
        ("tpu-v5p", "maxtext"),
        ("nvidia-h100-sxm", "megatron-lm"),
        ("amd-mi300x", "megatron-lm"),
        ("aws-trainium2", "neuronx-distributed"),
        ("intel-gaudi2", "optimum-habana"),
    ],
)
def test_each_chip_trains_under_its_default_stack(catalog: Catalog, chip: str, stack: str) -> None:
    c = catalog.chip(chip)
    s = train_stack(c)
    assert s is not None and s.id == stack
    assert train_params(c) == params_for(get_stack(stack))


def test_maxtext_constants_reach_a_tpu_search(catalog: Catalog) -> None:
    """MaxText's data parallelism over DCN (dcn_data_parallel) and its fp32 weights are in the
    TPU's default parameters, not the bare defaults, and the search and the single estimate use
    them when no parameters are given."""
    c = catalog.chip("tpu-v5p")
    p = train_params(c)
    assert (p.dcn_data_parallel, p.weight_bytes) == (1.0, 4.0)
    assert (default_params().dcn_data_parallel, default_params().weight_bytes) == (0.0, 0.0)
    job = TrainJob(get_model("llama-3-8b"), global_batch=256, seq_len=4096)
    m = Machine(c, catalog.systems["gcp-tpu-v5p-pod"], 64)
    lay = Layout(tp=1, pp=1, dp=64, microbatch=4, zero=3)
    assert estimate_train(job, lay, m).step_time_s == pytest.approx(
        estimate_train(job, lay, m, p).step_time_s, rel=1e-12
    )
    # MaxText reserves 0.75 GiB and no fraction of HBM (the bare defaults: 2 GiB and 6%)
    assert (
        estimate_train(job, lay, m).memory_total_bytes
        < estimate_train(job, lay, m, default_params()).memory_total_bytes
    )
    best = search_train(job, m, top_k=1).best
    assert best is not None
    assert best.step_time_s == pytest.approx(search_train(job, m, params=p, top_k=1).best.step_time_s)  # type: ignore[union-attr]


def test_a_named_training_stack_prices_the_step() -> None:
    """DeepSpeed's ZeRO-3 gathers run as one flat collective over every DP rank, each GPU's share
    through its own NIC (zero3_flat_gather), where Megatron-LM's default is two-level: the same
    ZeRO-3 layout over 8 nodes is slower under it."""
    kw = dict(global_batch=64, seq_len=4096)
    lay = {"tp": 1, "pp": 1, "dp": 64, "microbatch": 1, "zero": 3}
    meg = xpuplan.estimate_train("llama-3-70b", "h100", 64, lay, **kw, stack="megatron-lm")
    dsp = xpuplan.estimate_train("llama-3-70b", "h100", 64, lay, **kw, stack="deepspeed")
    assert dsp.step_time_s > meg.step_time_s
    default = xpuplan.estimate_train("llama-3-70b", "h100", 64, lay, **kw)
    assert default.step_time_s == pytest.approx(meg.step_time_s, rel=1e-12)


def test_a_serving_stack_is_no_training_stack() -> None:
    with pytest.raises(InputError, match="serving stack"):
        xpuplan.estimate_train("llama-3-8b", "h100", 8, "TP8", stack="vllm")
    with pytest.raises(InputError, match="serving stack"):
        xpuplan.search_train("llama-3-8b", "h100", 8, stack="tensorrt-llm")

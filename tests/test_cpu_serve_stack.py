"""The public serve path prices a chip under the stack the validator would give it (issue 17).

* ``xpuplan serve --weights int4`` on Graviton runs llama.cpp's q4_0 x q8_0 int8 kernel
  (data/stacks/llama.cpp.toml ``[cpu_kernels]``), as the validator's case_params does, through
  one function (perf.params.chip_params).
* A CPU's default serving stack is its category's (llama.cpp), not its vendor's accelerator
  stack (AWS Neuron for an AWS Graviton).
* Intel's MLPerf CPU cases run Intel's own PyTorch + oneDNN harness, not llama.cpp; under served
  requests its instances run one sequence a GEMM pass (perf/encoder.py gemm_group).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xpuplan import api
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.hardware.stacks import get_stack, stack_for
from xpuplan.perf import Machine, default_params
from xpuplan.perf import encoder as enc
from xpuplan.perf.estimate import machine
from xpuplan.perf.params import chip_params
from xpuplan.search.serve_search import search_serve
from xpuplan.validation.validate import case_params, load_suite
from xpuplan.workload import get_model
from xpuplan.workload.job import EncoderJob, ServeJob

IDEAL = Efficiency(matmul=1.0, matmul_knee=64.0, memory=1.0, network=1.0, attention=1.0)


def test_cpu_default_stack_is_the_categorys(catalog: Catalog) -> None:
    g3 = catalog.chip("aws-graviton3")
    assert stack_for(None, "serve", g3.vendor, g3.category) == get_stack("llama.cpp")
    # an AWS accelerator keeps AWS's serving stack
    inf2 = catalog.chip("aws-inferentia2")
    assert stack_for(None, "serve", inf2.vendor, inf2.category) == get_stack("neuronx-inference")


def test_serve_params_apply_the_stacks_cpu_kernel(catalog: Catalog) -> None:
    """A plan for today runs llama.cpp's repacked GEMMs (Q4_0 repacked at load on i8mm CPUs since
    2024-11: 64 SMMLA of 162 vector-pipe instructions of the SVE-256 8x8 kernel on Graviton3); a
    case runs them only where it states the layout, else the plain q4_0 x q8_0 dot (4 of 30)."""
    g3 = catalog.chip("aws-graviton3")
    assert api.serve_params(g3).cpu_q4_int8_fraction == pytest.approx(64 / 162, abs=5e-4)
    assert api.serve_params(g3) == chip_params(get_stack("llama.cpp"), g3.id, category=g3.category)
    # the validator resolves a llama.cpp case on the same chip to the same constants, of the
    # stack's era its date falls in (a 2024-03 CPU build: before the 2024-09 threadpool)
    c = {"task": "infer", "software": "llama.cpp", "source": {"date": "2024-03-09"}}
    cpp = get_stack("llama.cpp")
    old = chip_params(cpp, g3.id, 2024, category=g3.category, date="2024-03-09", repacked=False)
    assert case_params(c, g3)[0] == old and old.cpu_q4_int8_fraction == pytest.approx(4 / 30, abs=5e-4)
    assert case_params(c, g3)[0] != chip_params(cpp, g3.id, 2024, category=g3.category, repacked=False)
    # a case that states the interleaved layout takes the repacked kernel
    q4088 = dict(c, precision="Q4_0_8_8 (Q4_0 re-quantised offline into the 8x8 interleaved layout)")
    assert case_params(q4088, g3)[0].cpu_q4_int8_fraction == pytest.approx(64 / 162, abs=5e-4)
    g4 = catalog.chip("aws-graviton4")  # Neon 4x8: 64 SMMLA of 159
    assert api.serve_params(g4).cpu_q4_int8_fraction == pytest.approx(64 / 159, abs=5e-4)
    assert api.serve_params(catalog.chip("intel-xeon-8480")).cpu_q4_int8_fraction == 0.0


def test_api_serve_int4_on_graviton_takes_the_int8_kernel(catalog: Catalog) -> None:
    """A 64-token prompt (compute-bound) of Llama-2-7B in int4 on one Graviton3: search_serve's TTFT
    is the search's under the llama.cpp kernel (int8 peak x 64/162, repacked), not the 16-bit path's."""
    res = api.search_serve(
        "llama-2-7b",
        "aws-graviton3",
        1,
        input_len=64,
        output_len=16,
        weights=("int4",),
        batch=1,
        catalog=catalog,
    )
    m = machine("aws-graviton3", 1, catalog=catalog)
    assert isinstance(m, Machine)
    job = ServeJob(get_model("llama-2-7b"), 64, 16, "int4", "bf16", None)
    kernel = search_serve(job, m, ("int4",), "static", fixed={"batch": 1}, params=api.serve_params(m.chip))
    plain = search_serve(job, m, ("int4",), "static", fixed={"batch": 1}, params=default_params())
    assert res.best.ttft_s is not None and kernel.best is not None and plain.best is not None
    assert res.best.ttft_s == pytest.approx(kernel.best.ttft_s, rel=1e-12)
    assert res.best.ttft_s != pytest.approx(plain.best.ttft_s, rel=1e-3)


def test_intel_mlperf_cases_name_intels_harness(catalog: Catalog) -> None:
    cases = [c for c in load_suite() if c["id"].startswith("intel-xeon8480-infer-")]
    assert len(cases) == 4
    for c in cases:
        assert case_params(c, catalog.chip("intel-xeon-8480"))[1] == get_stack("intel-mlperf")


def _xeon(catalog: Catalog) -> Machine:
    chip = replace(catalog.chip("intel-xeon-8480"), efficiency=IDEAL)
    return Machine(chip, catalog.system("aws-c7i.48xlarge"), 1)


def test_per_request_instances_run_one_sequence_per_gemm_pass(catalog: Catalog) -> None:
    """BERT-large int8, 8 sequences of 177 real tokens, served (dynamic) on an ideal Xeon socket
    (knee 64 tokens) under Intel's SUT (one sequence a pass): the GEMMs' shape efficiency is
    177/(177 + 64) (not min(h, f) = 1024 of the batch's 1416 tokens: 1024/1088), and the layer
    weights are read 8 times. Offline (static) keeps the whole batch."""
    m = _xeon(catalog)
    model = get_model("bert-large")
    job = EncoderJob(model, 384, "int8", mean_len=177.0)
    k1 = replace(default_params(), dynamic_batch_seqs=1.0)
    B = np.array([8.0])
    P = float(model.layer_params(active=True))
    peak = m.chip.peak("int8")
    assert peak is not None
    flops = 2.0 * P * 8 * 177
    served = enc.evaluate_encoder(job, m, B, k1, "dynamic")
    whole = enc.evaluate_encoder(job, m, B, default_params(), "dynamic")
    offline = enc.evaluate_encoder(job, m, B, k1, "static")
    h = 1024.0
    # a pass's activations of one layer (at most 1416 x 20,480 B = 29 MB) stay in the 105 MB L3:
    # only the embedding rows the batch looks up move besides the weights
    act = 8 * 177 * h
    bw = m.chip.mem_bw
    t_c1, t_m1 = flops / (peak * 177 / (177 + 64)), (8 * P + act) / bw
    t_cb, t_mb = flops / (peak * 1024 / 1088), (P + act) / bw
    assert float(served.gemm_s[0]) == pytest.approx(max(t_c1, t_m1), rel=1e-9)
    assert float(whole.gemm_s[0]) == pytest.approx(max(t_cb, t_mb), rel=1e-9)
    assert float(offline.gemm_s[0]) == pytest.approx(float(whole.gemm_s[0]), rel=1e-12)
    # the group never exceeds the batch
    assert enc.gemm_group(np.array([1.0, 8.0]), replace(k1, dynamic_batch_seqs=4.0), "dynamic").tolist() == [
        1,
        4,
    ]


def test_intel_mlperf_stack_runs_one_sequence_per_pass() -> None:
    assert get_stack("intel-mlperf").params["dynamic_batch_seqs"] == 1.0
    assert get_stack("tensorrt-llm").params.get("dynamic_batch_seqs", 0.0) == 0.0


def test_activations_stream_only_where_a_layer_pass_outgrows_the_cache(catalog: Catalog) -> None:
    """One layer of BERT-large moves 12h + 2f = 20,480 int8 values per token. With 8 MB of cache a
    one-sequence pass (177 tokens: 3.6 MB) keeps them on chip; an 8-sequence pass (29 MB) streams
    all 24 layers' worth, 1416 x 24 x 20,480 B = 696 MB."""
    m = _xeon(catalog)
    small = Machine(replace(m.chip, sram_bytes=8e6), m.system, 1)
    per_token = 24 * 20480.0
    one = enc._activation_traffic(small, np.array([1416.0]), np.array([177.0]), per_token, 24.0)
    eight = enc._activation_traffic(small, np.array([1416.0]), np.array([1416.0]), per_token, 24.0)
    assert float(one[0]) == 0.0
    assert float(eight[0]) == pytest.approx(1416 * 24 * 20480.0)
    none = Machine(replace(m.chip, sram_bytes=None), m.system, 1)
    assert float(enc._activation_traffic(none, np.array([177.0]), np.array([177.0]), per_token, 24.0)[0]) == (
        pytest.approx(177 * per_token)
    )


def test_every_serving_search_prices_the_chips_default_stack(catalog: Catalog) -> None:
    """One home for the serving constants (perf.params.serve_params): `xpuplan serve`, the planner's
    replica groups and a bare search all run an H100 under TensorRT-LLM's defaults (each request's
    whole length of KV reserved, GUARANTEED_NO_EVICT), not the bare defaults, so a KV-bound batch
    fits the same number of sequences everywhere."""
    from xpuplan.perf.params import serve_params
    from xpuplan.planner.rank import search_group
    from xpuplan.planner.scenario import ServeSpec

    h100 = catalog.chip("nvidia-h100-sxm")
    assert serve_params(h100).kv_reserve_full == 1.0 and default_params().kv_reserve_full == 0.0
    assert api.serve_params(h100) == serve_params(h100)
    m = Machine(h100, catalog.systems["aws-p5.48xlarge"], 1)
    job = ServeJob(get_model("llama-3-8b"), 2048, 2048, "bf16")
    bare = search_serve(job, m, ("bf16",), "continuous")
    stack = search_serve(job, m, ("bf16",), "continuous", params=serve_params(h100))
    plain = search_serve(job, m, ("bf16",), "continuous", params=default_params())
    assert bare.best == stack.best
    assert stack.best is not None and plain.best is not None
    assert stack.best.max_batch < plain.best.max_batch  # I + O held, not I + O/2
    spec = ServeSpec("chat", "llama-3-8b", 10.0, input_len=2048, output_len=2048, weights=("bf16",))
    assert search_group(spec, job, m, default_params()).best == stack.best

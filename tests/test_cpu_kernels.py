"""CPU integer kernels and served-encoder latency bounds, against hand computations.

* llama.cpp's q4_0 x q8_0 kernel on Arm (data/stacks/llama.cpp.toml ``[cpu_kernels]``): 4 of the
  30 vector-pipe instructions of its loop are SMMLA, so the GEMMs run at the int8 peak x 0.133.
* A served-requests encoder case (MLPerf Server) is priced with dynamic batching under the latency
  bound it states.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency
from xpuplan.hardware.stacks import get_stack
from xpuplan.perf import Machine, default_params
from xpuplan.perf import serve as sv
from xpuplan.validation.validate import _latency_target, case_params, load_suite, predict_case
from xpuplan.workload import get_model
from xpuplan.workload.job import ServeJob

SUITE = Path(__file__).resolve().parents[1] / "src/xpuplan/data/validation"
IDEAL = Efficiency(matmul=1.0, matmul_knee=0.0, memory=1.0, network=1.0, attention=1.0)


def _graviton3(catalog: Catalog) -> Machine:
    chip = replace(catalog.chip("aws-graviton3"), efficiency=IDEAL)
    return Machine(chip, catalog.system("aws-c7g.16xlarge"), 1)


def test_llamacpp_arm_kernel_share_is_its_smmla_issue_share() -> None:
    # 2 AND + 2 USHR + 4 SUB + 8 ZIP + 4 SMMLA + 4 FCVT + 4 FMUL + 1 SCVTF + 1 FMLA = 30
    assert get_stack("llama.cpp").cpu_kernels["aws-graviton3"] == pytest.approx(4 / 30, abs=5e-4)


def test_llamacpp_repacked_kernel_shares_are_their_smmla_issue_shares() -> None:
    """The GEMMs over repacked Q4_0 (ggml repack.cpp main loops, 16 token rows a block): the Neon
    4x8 kernel (Graviton4) issues 64 SMMLA among 18 MOVI + 4 SSHL + 4 AND + 16 UZP + 16 SCVTF +
    5 FCVTL + 16 FMUL + 16 FMLA (159); the SVE-256 8x8 kernel (Graviton3) 64 SMMLA of 64 MACs on
    2 of 4 pipes, the same peak, among 162."""
    rep = get_stack("llama.cpp").cpu_kernels_repacked
    assert 18 + 4 + 4 + 16 + 16 + 5 + 16 + 16 + 64 == 159
    assert rep["aws-graviton4"] == pytest.approx(64 / 159, abs=5e-4)
    assert rep["aws-graviton3"] == pytest.approx(64 / 162, abs=5e-4)


def test_repacked_rows_split_between_the_gemm_and_the_gemv() -> None:
    """llama.cpp repack.cpp gives the GEMM the largest multiple of 4 token rows (64/162 of the
    int8 peak on Graviton3) and the 0-3 left to the GEMV one at a time (SDOT, 256/(27x64)): a
    decode step's one row runs at the GEMV's share, 16 rows at the GEMM's, 14 rows take
    12/0.395 + 2/0.148 row-times; a plain kernel (GEMV share 0) is one share for every count."""
    rep = get_stack("llama.cpp").cpu_kernels_repacked_gemv
    assert rep["aws-graviton3"] == pytest.approx(256 / (27 * 64), abs=5e-4)
    assert rep["aws-graviton4"] == pytest.approx(128 / (24 * 32), abs=5e-4)
    rows = np.array([1.0, 3.0, 4.0, 14.0, 16.0, 17.0, 22.0])
    got = sv.cpu_rows_share(rows, 0.395, 0.148)
    want = [0.148, 0.148, 0.395, 14 / (12 / 0.395 + 2 / 0.148), 0.395, 17 / (16 / 0.395 + 1 / 0.148)]
    assert got[:6] == pytest.approx(want, rel=1e-12)
    # the GEMM's row-tail loop (16 SMMLA of 48) takes the rows past its last block of 16, four at
    # a time: 14 rows = 12 in the tail + 2 in the GEMV; 22 = 16 in a block + 4 in the tail + 2
    tail = sv.cpu_rows_share(rows, 0.395, 0.148, 16 / 48)
    assert tail[3] == pytest.approx(14 / (12 / (16 / 48) + 2 / 0.148), rel=1e-12)
    assert tail[4] == pytest.approx(0.395, rel=1e-12)
    assert tail[6] == pytest.approx(22 / (16 / 0.395 + 4 / (16 / 48) + 2 / 0.148), rel=1e-12)
    assert get_stack("llama.cpp").cpu_kernels_repacked_tail["aws-graviton4"] == pytest.approx(
        16 / 48, abs=5e-4
    )
    assert sv.cpu_rows_share(rows, 0.133, 0.0) == pytest.approx([0.133] * 7, rel=1e-12)


def test_a_decode_step_of_repacked_weights_runs_the_gemv(catalog: Catalog) -> None:
    """The step prices its GEMMs at the share its token rows reach: one decode row of repacked
    Q4_0 on Graviton3 at the GEMV's 0.148 of the int8 peak, a 16-token prompt at the GEMM's
    0.395; a step of one row is slower than it would be at the GEMM's share."""
    m = _graviton3(catalog)
    job = ServeJob(get_model("llama-2-7b"), 16, 1, "int4", "bf16", 4.5)
    k = replace(default_params(), cpu_q4_int8_fraction=0.395, cpu_q4_gemv_fraction=0.148)
    dt, pk = sv.gemm_path(job, m, k, np.array([1.0, 16.0]))
    assert dt == "int8" and pk == pytest.approx([42.6e12 * 0.148, 42.6e12 * 0.395], rel=1e-3)
    cfg = sv.ServeConfig(*(np.array([v]) for v in (1, 1, 1, 1)))
    one, zero = np.array([1.0]), np.array([0.0])
    gemv = sv._step(job.model, job, m, cfg, one, one * 16, zero, 0.0, k)
    gemm = sv._step(job.model, job, m, cfg, one, one * 16, zero, 0.0, replace(k, cpu_q4_gemv_fraction=0.0))
    assert float(gemv[0]) > float(gemm[0])


def test_q4_gemms_run_on_the_int8_path_at_the_kernel_share(catalog: Catalog) -> None:
    m = _graviton3(catalog)
    job = ServeJob(get_model("llama-2-7b"), 16, 1, "int4", "bf16", 4.5)
    k = replace(default_params(), cpu_q4_int8_fraction=0.133)
    assert sv.gemm_path(job, m, k) == ("int8", pytest.approx(42.6e12 * 0.133, rel=1e-3))
    # without the stack's kernel: dequantised to bf16 at the bf16 peak (weight-only W4A16)
    assert sv.gemm_path(job, m, default_params()) == ("bf16", pytest.approx(21.3e12, rel=1e-3))
    # 16-bit weights never take the integer kernel
    assert sv.gemm_path(replace(job, weights="bf16"), m, k)[0] == "bf16"


def test_q4_prefill_gemm_time_by_hand(catalog: Catalog) -> None:
    """Llama-2-7B, 64-token prompt, ideal Graviton3: compute-bound at both rates (830 GFLOP: 39 ms
    at the bf16 peak against 12 ms to read 3.8 GB of weights). Only the GEMM term changes between
    the two paths, so the difference of the step times is FLOPs x (1/(int8 peak x 0.133) - 1/bf16
    peak); FLOPs = 2 x (64 x body + V x h): body = 32 layers x (4h² + 3hf + 2h), the LM head for
    the prompt's last token only."""
    m = _graviton3(catalog)
    job = ServeJob(get_model("llama-2-7b"), 64, 1, "int4", "bf16", 4.5)
    h, f, V = 4096, 11008, 32000
    flops = 2.0 * (64 * 32 * (4 * h * h + 3 * h * f + 2 * h) + V * h)  # 829.3 GFLOP
    int8, bf16 = m.chip.peak("int8"), m.chip.peak("bf16")
    assert int8 is not None and bf16 is not None
    cfg = sv.ServeConfig.one()
    z = np.zeros(1)
    ideal = replace(default_params(), roofline_p=math.inf)  # the GEMM term alone: no memory time added
    k = replace(ideal, cpu_q4_int8_fraction=0.133)
    t_k = sv._step(job.model, job, m, cfg, z, z, z + 64, 64.0, k)
    t_0 = sv._step(job.model, job, m, cfg, z, z, z + 64, 64.0, ideal)
    assert float(t_k[0] - t_0[0]) == pytest.approx(flops * (1 / (int8 * 0.133) - 1 / bf16), rel=1e-9)


def test_the_kernel_share_is_per_chip(catalog: Catalog) -> None:
    """The share belongs to the Arm cores it was counted for; a Xeon under llama.cpp keeps 16-bit."""
    c = {"task": "infer", "software": "llama.cpp", "source": {"date": "2024-03-09"}}
    assert case_params(c, catalog.chip("aws-graviton3"))[0].cpu_q4_int8_fraction == pytest.approx(0.133)
    assert case_params(c, catalog.chip("intel-xeon-8480"))[0].cpu_q4_int8_fraction == 0.0


@pytest.mark.parametrize(
    ("setup", "stat", "want"),
    [
        ({}, "Scheduled samples per second (completed 1089.63); target latency 130 ms", 0.130),
        ({"latency_target_ms": 50}, "target latency 130 ms", 0.050),  # the field wins
        ({}, "Samples per second", None),  # Offline: no bound
    ],
)
def test_latency_target_is_read(setup: dict[str, object], stat: str, want: float | None) -> None:
    got = _latency_target({"inference_setup": setup, "measured": {"latency_stat": stat}})
    assert got == (pytest.approx(want) if want is not None else None)


def test_server_encoder_case_is_priced_under_its_bound(catalog: Catalog) -> None:
    """The Xeon Server case states 130 ms; it is priced with dynamic batching (a request waits at
    most two batch times) under that bound, and a bound no batch meets leaves it unpredicted."""
    cases = {c["id"]: c for c in load_suite([SUITE / "encoder_mlperf_bert.yaml"])}
    c = cases["intel-xeon8480-infer-bert-large-2s-mlperf31-server"]
    r = predict_case(c, catalog).result
    assert r.predicted is not None
    assert "dynamic batching under the stated 130 ms latency bound" in r.assumed
    tight = dict(c, inference_setup={**c["inference_setup"], "latency_target_ms": 0.01})
    assert predict_case(tight, catalog).result.predicted is None


def test_repacked_experts_run_the_gemv_whatever_the_rows(catalog: Catalog) -> None:
    """llama.cpp runs every routed expert's rows of repacked weights through the GEMV (repack.cpp
    forward_mul_mat_id): a 16-token prompt of Mixtral keeps its dense GEMMs at the GEMM's share,
    so a slower GEMV slows only the experts, and the step."""
    m = _graviton3(catalog)
    job = ServeJob(get_model("mixtral-8x7b"), 16, 1, "int4", "bf16", 4.5)
    cfg = sv.ServeConfig(*(np.array([v]) for v in (1, 1, 1, 1)))
    zero, sixteen = np.array([0.0]), np.array([16.0])
    k = replace(default_params(), cpu_q4_int8_fraction=0.395, cpu_q4_gemv_fraction=0.148)
    slow = sv._step(job.model, job, m, cfg, zero, zero, sixteen, 16.0, k)
    same = sv._step(job.model, job, m, cfg, zero, zero, sixteen, 16.0, replace(k, cpu_q4_gemv_fraction=0.395))
    assert float(slow[0]) > float(same[0])

"""Encoders whose engine drops the padding (TensorRT variable-length plugins, Intel's MLPerf SUT):
priced at the mean real tokens per sequence, by hand."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xpuplan.errors import InputError
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Dtype, Efficiency
from xpuplan.perf import Machine, default_params
from xpuplan.perf import encoder as enc
from xpuplan.search.encoder_search import search_encoder
from xpuplan.validation.validate import load_suite, predict_case
from xpuplan.workload import get_model
from xpuplan.workload.job import EncoderJob

# SQuAD v1.1 at max_seq_length 384: padding is 54% of the input tokens
# (https://openreview.net/forum?id=3nzKUh9a4M), so 0.46 x 384 = 176.64 real tokens per sequence.
SQUAD_MEAN = 0.46 * 384


def _ideal_h100(catalog: Catalog) -> Machine:
    chip = catalog.chip("nvidia-h100-sxm")
    ideal = Efficiency(matmul=1.0, matmul_knee=0.0, memory=1.0, network=1.0, attention=1.0)
    return Machine(replace(chip, efficiency=ideal), catalog.system("aws-p5.48xlarge"), 1)


def test_unpadded_time_is_the_roofline_at_the_real_length_by_hand(catalog: Catalog) -> None:
    """A large int8 batch on an ideal H100: GEMMs 2·P_layers·B·s̄ at the int8 peak; attention
    B·s̄·4·L·s̄·h FLOPs at the bf16 peak or its Q/K/V/output bytes B·s̄·L·4h (int8) at the HBM
    bandwidth, whichever is longer; s̄ = 176.64 real tokens, not the padded 384."""
    m, chip = _ideal_h100(catalog), catalog.chip("nvidia-h100-sxm")
    s, B = SQUAD_MEAN, 64
    job = EncoderJob(get_model("bert-large"), 384, "int8", mean_len=s)
    r = enc.evaluate_encoder(job, m, np.array([B]), default_params(), "static")
    gemm = 2 * 302_309_376 * B * s / chip.peak("int8")  # 3.45 ms: above its bytes' 1.7 ms
    attn_c = B * s * (4 * 24 * s * 1024) / chip.peak("bf16")  # 0.20 ms
    attn = max(attn_c, B * s * 24 * 4 * 1024 / chip.mem_bw)  # 0.33 ms: short rows read Q/K/V
    assert float(r.batch_s[0]) == pytest.approx(gemm + attn, rel=1e-9)
    # the padded job runs all 384 tokens of every sequence
    padded = enc.evaluate_encoder(replace(job, mean_len=None), m, np.array([B]), default_params(), "static")
    gemm384 = 2 * 302_309_376 * B * 384 / chip.peak("int8")
    attn384 = max(B * 384 * (4 * 24 * 384 * 1024) / chip.peak("bf16"), B * 384 * 24 * 4 * 1024 / chip.mem_bw)
    assert float(padded.batch_s[0]) == pytest.approx(gemm384 + attn384, rel=1e-9)


def test_unfused_attention_streams_the_scores(catalog: Catalog) -> None:
    """Without a fused kernel the s×s scores of every head go through memory in fp16: written and
    read back, 2 × 2 bytes each, B·L·a·s² of them, on top of the Q/K/V/output bytes B·s·L·4h
    (bf16). BERT-large (L = 24, a = 16, h = 1024), 64 padded sequences of 384 tokens on an ideal
    H100: 14.5 GB of scores and 4.8 GB of Q/K/V/output at the HBM bandwidth outlast the FLOPs."""
    m, chip = _ideal_h100(catalog), catalog.chip("nvidia-h100-sxm")
    s, B = 384, 64
    job = EncoderJob(get_model("bert-large"), 384, "bf16")
    unfused = replace(default_params(), flash_attention=False)
    r = enc.evaluate_encoder(job, m, np.array([B]), unfused, "static")
    flops = B * s * (4 * 24 * s * 1024) / chip.peak("bf16")  # 0.94 ms
    moved = (B * s * 24 * 4 * 1024 * 2 + B * 24 * 16 * s * s * 2 * 2) / chip.mem_bw  # 5.8 ms
    assert moved > flops
    assert float(r.attention_s[0]) == pytest.approx(moved, rel=1e-9)


def test_a_chip_with_only_fp32_runs_a_bf16_job_in_fp32(catalog: Catalog) -> None:
    """A bf16 job on a chip with no 16-bit path (fp32 only) falls back to fp32, the last format
    tried: its weights are 4 bytes per parameter, BERT-large's 335.1 M parameters 1.34 GB."""
    m = _ideal_h100(catalog)
    fp32_only = replace(m, chip=replace(m.chip, peak_flops={Dtype.FP32: 67e12}))
    job = EncoderJob(get_model("bert-large"), 384, "bf16")
    assert enc.compute_format(job, fp32_only) == "fp32"
    r = enc.evaluate_encoder(job, fp32_only, np.array([8]), default_params(), "static")
    assert r.weights_bytes == get_model("bert-large").params() * 4
    assert int(r.reason[0]) == enc.OK


def test_plan_reports_real_tokens(catalog: Catalog) -> None:
    m = _ideal_h100(catalog)
    job = EncoderJob(get_model("bert-large"), 384, "int8", mean_len=SQUAD_MEAN)
    best = search_encoder(job, m, ("int8",), "static").best
    assert best is not None
    assert best.tokens_per_s == pytest.approx(best.sequences_per_s * SQUAD_MEAN)
    assert best.flops_per_sequence == pytest.approx(
        get_model("bert-large").encoder_flops_per_sequence(SQUAD_MEAN)
    )


@pytest.mark.parametrize("bad", [0.5, 385, True, "200"])
def test_mean_length_must_lie_within_the_padded_length(bad: object) -> None:
    with pytest.raises(InputError):
        EncoderJob(get_model("bert-large"), 384, mean_len=bad)  # type: ignore[arg-type]


def test_mlperf_bert_cases_are_priced_unpadded(catalog: Catalog) -> None:
    """The six MLPerf BERT cases state an unpadded harness and the mean length; the validator reads
    both (and says so); read padded, the H100 case is priced more than x2 slower."""
    path = Path(__file__).resolve().parents[1] / "src/xpuplan/data/validation/encoder_mlperf_bert.yaml"
    cases = load_suite([path])
    assert len(cases) == 6
    for c in cases:
        r = predict_case(c, catalog).result
        assert r.predicted is not None
        assert any("padding dropped: 177 real tokens" in a for a in r.assumed), r.id
    c = dict(cases[2], inference_setup={**cases[2]["inference_setup"], "padding": None})
    padded = predict_case(c, catalog).result
    unpadded = predict_case(cases[2], catalog).result
    assert padded.predicted is not None and unpadded.predicted is not None
    assert unpadded.predicted > 2.0 * padded.predicted


def test_encoder_memory_is_weights_plus_one_layers_live_activations(catalog: Catalog) -> None:
    """Memory of one replica: every weight (embeddings too) plus one layer's live activations for
    the batch, B·s·(f + 4h) elements in the compute format; it must fit in HBM less the reserve
    (2 GiB + 6%). On a chip of exactly that size the batch fits; one byte less and it does not."""
    bert = get_model("bert-large")
    job = EncoderJob(bert, 384, "int8")
    B, s, h, f = 256, 384, 1024, 4096
    weights = bert.params() * 1.0  # int8: one byte per weight
    live = B * s * (f + 4 * h) * 1.0
    p = default_params()
    need = weights + live
    cap = (need + p.reserved_gib * 2**30) / (1 - p.reserved_fraction)  # HBM that leaves exactly `need`
    for hbm, fits in ((cap * (1 + 1e-9), True), (cap * (1 - 1e-6), False)):
        m = _ideal_h100(catalog)
        m = replace(m, chip=replace(m.chip, mem_bytes=hbm))
        r = enc.evaluate_encoder(job, m, np.array([B]), p, "static")
        assert r.weights_bytes == pytest.approx(weights) and float(r.activation_bytes[0]) == pytest.approx(
            live
        )
        assert (int(r.reason[0]) == enc.OK) is fits
        assert fits or int(r.reason[0]) == enc.MEMORY
    # GEMM bytes: weights read once per batch, activations 12h + 2f per token per layer (int8)
    # where a layer's pass outgrows on-chip memory (here none); with the 50 MB L2 the 7.9 MB of a
    # 384-token pass stay on chip and only the weights and embedding rows move
    m0 = _ideal_h100(catalog)
    r = enc.evaluate_encoder(
        job, replace(m0, chip=replace(m0.chip, sram_bytes=None)), np.array([1]), p, "static"
    )
    chip = catalog.chip("nvidia-h100-sxm")
    t_bytes = (bert.layer_params(active=True) + 384 * 24 * (12 * h + 2 * f) + 384 * h) / chip.mem_bw
    assert bool(r.memory_bound[0]) and float(r.gemm_s[0]) == pytest.approx(t_bytes, rel=1e-9)
    r = enc.evaluate_encoder(job, m0, np.array([1]), p, "static")
    t_w = (bert.layer_params(active=True) + 384 * h) / chip.mem_bw
    peak = chip.peak("int8")
    assert peak is not None
    t_c = 2.0 * bert.layer_params(active=True) * 384 / peak  # ideal: no knee, the int8 peak
    assert float(r.gemm_s[0]) == pytest.approx(max(t_c, t_w), rel=1e-9) and max(t_c, t_w) < t_bytes


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_int8_gemms_run_at_the_low_precision_fraction(catalog: Catalog, fmt: str) -> None:
    """W8A8 GEMMs are low-precision GEMMs: an int8 encoder prices them at the chip's
    ``matmul_fp8`` fraction of the int8 peak (Efficiency: the large-GEMM fraction of the
    low-precision peak), a bf16 one at ``matmul`` of the bf16 peak. Here matmul = 1.0 and
    matmul_fp8 = 0.5: 64 padded BERT-large sequences of 384 tokens take 2·P_layers·B·s FLOPs,
    compute-bound in both formats (their bytes, ~0.6 GB of weights and activations, take < 0.3 ms)."""
    base = _ideal_h100(catalog)
    eff = Efficiency(matmul=1.0, matmul_knee=0.0, memory=1.0, network=1.0, attention=1.0, matmul_fp8=0.5)
    m = replace(base, chip=replace(base.chip, efficiency=eff))
    chip = catalog.chip("nvidia-h100-sxm")
    B, s = 64, 384
    job = EncoderJob(get_model("bert-large"), s, fmt)
    r = enc.evaluate_encoder(job, m, np.array([B]), default_params(), "static")
    peak = chip.peak(fmt)
    assert peak is not None
    frac = 0.5 if fmt == "int8" else 1.0
    want = 2 * 302_309_376 * B * s / (peak * frac)
    assert not bool(r.memory_bound[0])
    assert float(r.gemm_s[0]) == pytest.approx(want, rel=1e-9)


def test_fp8_encoder_weights_and_activations_are_one_byte(catalog: Catalog) -> None:
    """An fp8 encoder (the H100 has an fp8 path) keeps and moves every value in one byte, as int8
    (W8A8) does: BERT-large's 335,141,888 parameters are 335.1 MB of weights. One padded sequence
    of 384 tokens with no on-chip cache to hold its activations moves the layers' weights once
    (302,309,376 bytes), the activations 384·L·(12h + 2f) bytes and the embedding rows 384·h
    bytes at the HBM bandwidth, memory-bound against its 2·P_layers·384 FLOPs at the fp8 peak."""
    m0 = _ideal_h100(catalog)
    m = replace(m0, chip=replace(m0.chip, sram_bytes=None))
    bert = get_model("bert-large")
    job = EncoderJob(bert, 384, "fp8")
    assert enc.compute_format(job, m) == "fp8"
    r = enc.evaluate_encoder(job, m, np.array([1]), default_params(), "static")
    assert r.weights_bytes == 335_141_888 * 1.0
    h, f = 1024, 4096
    chip = catalog.chip("nvidia-h100-sxm")
    moved = 302_309_376 + 384 * 24 * (12 * h + 2 * f) + 384 * h  # 0.49 GB: 0.15 ms at 3.35 TB/s
    flops_s = 2 * 302_309_376 * 384 / (chip.peak("fp8") or math.nan)  # 0.12 ms
    assert moved / chip.mem_bw > flops_s
    assert bool(r.memory_bound[0])
    assert float(r.gemm_s[0]) == pytest.approx(moved / chip.mem_bw, rel=1e-9)
    # live activations of one layer: 384·(f + 4h) one-byte values
    assert float(r.activation_bytes[0]) == pytest.approx(384 * (f + 4 * h) * 1.0, rel=1e-12)


def test_bf16_encoder_reads_two_bytes_per_weight_once_per_batch(catalog: Catalog) -> None:
    """A bf16 encoder's GEMMs read the layers' weights once per batch at 2 bytes each (Offline,
    one GEMM group), besides the activations 12h + 2f per token per layer and the embedding rows
    (2 bytes each, no on-chip cache here). BERT-large, 1 and 4 padded sequences of 384 tokens on
    an ideal H100 with a 1 TB/s HBM: memory-bound, (2·302,309,376 + B·384·2·(24·(12h + 2f) + h))
    bytes at 1e12 B/s (0.98 ms at B = 1) against 2·P_layers·B·384 FLOPs at the bf16 peak (0.23
    ms); the weights are read once whatever B."""
    m0 = _ideal_h100(catalog)
    m = replace(m0, chip=replace(m0.chip, sram_bytes=None, mem_bw=1e12))
    job = EncoderJob(get_model("bert-large"), 384, "bf16")
    h, f = 1024, 4096
    peak = catalog.chip("nvidia-h100-sxm").peak("bf16") or math.nan
    r = enc.evaluate_encoder(job, m, np.array([1, 4]), default_params(), "static")
    for i, B in enumerate((1, 4)):
        moved = 2 * 302_309_376 + B * 384 * 2 * (24 * (12 * h + 2 * f) + h)
        assert moved / 1e12 > 2 * 302_309_376 * B * 384 / peak
        assert bool(r.memory_bound[i])
        assert float(r.gemm_s[i]) == pytest.approx(moved / 1e12, rel=1e-9)


def test_unfused_attention_keeps_the_score_matrix_live(catalog: Catalog) -> None:
    """Without a fused kernel one layer's live memory holds, besides its B·s·(f + 4h) activations,
    the s×s scores of each of its a heads for every sequence in fp16: B·a·s²·2 bytes. BERT-large
    (a = 16) in bf16, 64 padded sequences of 384 tokens: 3.22 GB of activations and 0.30 GB of
    scores. On a chip whose free HBM (less 2 GiB + 6% reserved) is exactly weights + both the
    batch fits; 1e-6 less and it does not; with a fused kernel the scores need no room."""
    bert = get_model("bert-large")
    job = EncoderJob(bert, 384, "bf16")
    B, s, h, f = 64, 384, 1024, 4096
    live = B * s * (f + 4 * h) * 2 + B * 16 * s * s * 2
    need = bert.params() * 2 + live
    unfused = replace(default_params(), flash_attention=False)
    cap = (need + unfused.reserved_gib * 2**30) / (1 - unfused.reserved_fraction)
    for hbm, fits in ((cap * (1 + 1e-9), True), (cap * (1 - 1e-6), False)):
        m0 = _ideal_h100(catalog)
        m = replace(m0, chip=replace(m0.chip, mem_bytes=hbm))
        r = enc.evaluate_encoder(job, m, np.array([B]), unfused, "static")
        assert float(r.activation_bytes[0]) == pytest.approx(live, rel=1e-12)
        assert int(r.reason[0]) == (enc.OK if fits else enc.MEMORY)
    m0 = _ideal_h100(catalog)
    fused = enc.evaluate_encoder(
        job,
        replace(m0, chip=replace(m0.chip, mem_bytes=cap * (1 - 1e-6))),
        np.array([B]),
        default_params(),
        "static",
    )
    assert float(fused.activation_bytes[0]) == pytest.approx(B * s * (f + 4 * h) * 2, rel=1e-12)
    assert int(fused.reason[0]) == enc.OK

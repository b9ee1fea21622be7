"""Tensor-parallel ranks per chip (Neuron: TP counts NeuronCores), against hand computations.

Each rank keeps a whole number of attention heads, at least one: KV heads fewer than the ranks are
replicated one per rank (NxD Inference REPLICATE_TO_TP_DEGREE), heads that do not divide are padded.
The model is the hand-sized one of ``test_serve_terms``: L = 4, 8 heads of d = 128 (MHA) or 2 KV
heads (GQA), on one H100-like chip streaming at 0.5 of its bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from handsized import PARAMS, L, d, machine, tiny
from xpuplan.errors import DataError
from xpuplan.hardware import Catalog
from xpuplan.hardware.stacks import get_stack, parse_stack
from xpuplan.perf import serve as sv
from xpuplan.validation.validate import case_params
from xpuplan.workload.job import ServeJob

HEAD = 2 * L * d * 2  # K and V of one head in every layer, bf16: bytes per token


@pytest.mark.parametrize(
    "kv_heads, tp, ranks, want_heads",
    [
        (8, 4, 1.0, 2),  # one rank per chip: 8 heads over 4 chips
        (8, 4, 2.0, 2),  # 8 ranks, one head each: the same 2 heads per chip
        (2, 4, 1.0, 1),  # GQA on GPUs: at least one KV head per chip (2 chips share each)
        (2, 4, 2.0, 2),  # 8 ranks, 2 KV heads replicated one per rank: each chip holds 2
        (2, 1, 4.0, 4),  # 4 ranks on one chip (Trainium2 at LNC=2): 4 copies where 2 heads would do
        (8, 3, 2.0, 4),  # 6 ranks: ceil(8/6) = 2 heads each (12 with padding), 4 per chip
    ],
)
def test_kv_bytes_per_token_per_chip(kv_heads: int, tp: int, ranks: float, want_heads: int) -> None:
    job = ServeJob(tiny(kv_heads=kv_heads), 128, 16)
    got = sv.kv_bytes_per_token(job.model, job, np.array([float(tp)]), np.array([1.0]), ranks)
    assert got[0] == pytest.approx(want_heads * HEAD, rel=1e-12)


@pytest.mark.parametrize(
    "kv_heads, tp, ranks, to_mha, want_heads",
    [
        # 8 query heads, 2 KV heads, 6 ranks (3 chips x 2): the query heads pad to 12, 2 a rank
        (2, 3, 2.0, 0.0, 2),  # NxDI REPLICATE_TO_TP_DEGREE: 6 % 2 == 0, one KV head a rank
        (2, 3, 2.0, 1.0, 4),  # Transformers NeuronX 0.10: KV replicated to the 2 query heads a rank
        (2, 1, 3.0, 0.0, 9),  # 3 ranks: 3 % 2 != 0, NxDI falls back to CONVERT_TO_MHA, 3 a rank
        (2, 1, 2.0, 1.0, 2),  # 2 KV heads split over 2 ranks: nothing to replicate
        (4, 2, 2.0, 1.0, 2),  # 4 over 4 ranks: split, one each, the same under both
    ],
)
def test_gqa_kv_heads_replicated_or_converted_to_mha(
    kv_heads: int, tp: int, ranks: float, to_mha: float, want_heads: int
) -> None:
    job = ServeJob(tiny(kv_heads=kv_heads), 128, 16)
    got = sv.kv_bytes_per_token(job.model, job, np.array([float(tp)]), np.array([1.0]), ranks, to_mha=to_mha)
    assert got[0] == pytest.approx(want_heads * HEAD, rel=1e-12)


def test_transformers_neuronx_stack_converts_gqa_to_mha(catalog: Catalog) -> None:
    """The Trn1/Inf2 rows at Neuron SDK 2.18 ran Transformers NeuronX 0.10 (full KV replication);
    NxD Inference keeps the replication to the TP degree."""
    tnx = {"task": "infer", "software": "Transformers NeuronX, Neuron SDK 2.18.1", "source": {"date": "2024"}}
    p, stack = case_params(tnx, catalog.chip("aws-inferentia2"))
    assert stack is not None and stack.id == "transformers-neuronx"
    assert (p.gqa_convert_to_mha, p.tp_ranks_per_chip, p.decode_bucket) == (1.0, 2.0, 128.0)
    nxdi = {"task": "infer", "software": "NxD Inference, Neuron SDK 2.26.1", "source": {"date": "2025"}}
    assert case_params(nxdi, catalog.chip("aws-trainium2"))[0].gqa_convert_to_mha == 0.0


@pytest.mark.parametrize(
    "I, O, bucket, want",
    [
        (4096, 4096, 0.0, 4096 + 2048),  # no buckets: the mean context
        (4096, 4096, 128.0, 8192),  # positions 4097..8192 all run in the 8192 bucket
        # 129..256 in 256, 257..512 in 512, 513..1024 in 1024, 1025..1152 in the last, 1152
        (128, 1024, 128.0, (128 * 256 + 256 * 512 + 512 * 1024 + 128 * 1152) / 1024),
        (1, 16, 128.0, 17),  # shorter than the first bucket: the one bucket is the length
    ],
)
def test_decode_context_in_token_buckets(I: int, O: int, bucket: float, want: float) -> None:
    assert sv.decode_context(I, O, bucket) == pytest.approx(want, rel=1e-12)


def test_bucketed_decode_reads_the_whole_bucket(catalog: Catalog) -> None:
    """Static batch of 8, prompt 4,096, output 4,096, one rank per chip: in buckets every step reads
    8,192 tokens' KV (MHA, 8 heads), 2,048 more than the mean context, at 0.5 of the bandwidth."""
    m = machine(catalog, 1)
    I, O, B = 4096, 4096, 8
    job = ServeJob(tiny(), I, O)
    cfg = sv.ServeConfig.one(batch=B)
    flat = sv.evaluate_serve(job, cfg, m, PARAMS, "static")
    buck = sv.evaluate_serve(job, cfg, m, replace(PARAMS, decode_bucket=128.0), "static")
    extra = B * 2048 * 8 * HEAD / (m.chip.mem_bw * 0.5)
    assert buck.tpot[0] - flat.tpot[0] == pytest.approx(extra, rel=1e-9)


def test_decode_step_reads_the_replicated_kv(catalog: Catalog) -> None:
    """A decode step on one chip of 4 ranks, GQA with 2 KV heads: the chip reads 4 heads' KV per
        token of context, twice the 2 heads of one rank per chip; the weights read is the same; the TP
    all-reduces over the 4 ranks pay their latency steps."""
    m = machine(catalog, 1)
    I, O, B = 4096, 256, 8
    job = ServeJob(tiny(kv_heads=2), I, O)
    cfg = sv.ServeConfig.one(batch=B)
    one = sv.evaluate_serve(job, cfg, m, PARAMS, "static")
    four = sv.evaluate_serve(job, cfg, m, replace(PARAMS, tp_ranks_per_chip=4.0), "static")
    ctx = I + O / 2  # mean context over the output
    extra = B * ctx * (4 - 2) * HEAD / (m.chip.mem_bw * 0.5)
    extra += 2 * L * 2 * 2 * m.up_lat  # 2 all-reduces per layer over 4 ranks: 2·log2(4) steps each
    assert four.tpot[0] - one.tpot[0] == pytest.approx(extra, rel=1e-9)
    assert four.kv_bytes[0] == pytest.approx(2 * one.kv_bytes[0], rel=1e-12)


def test_padded_heads_cost_prefill_flops(catalog: Catalog) -> None:
    """8 heads over 3 ranks: 3 heads each, 9 computed for 8; the attention projections' FLOPs grow
    by 9/8, and so do the attention scores' (both compute-bound at 4,096 prompt tokens)."""
    m = machine(catalog, 1)
    job = ServeJob(tiny(), 1, 1)
    z = np.zeros(1)
    cfg = sv.ServeConfig.one()
    t1 = sv._step(job.model, job, m, cfg, z, z, z + 4096, 4096.0, PARAMS)
    t3 = sv._step(job.model, job, m, cfg, z, z, z + 4096, 4096.0, replace(PARAMS, tp_ranks_per_chip=3.0))
    attn = 4 * 1024 * 1024 * L  # Q, K, V, O parameters of all layers (MHA, h = 1024)
    flops = 2.0 * attn * 4096 * (9 / 8 - 1)
    peak = m.chip.peak("bf16")
    assert peak is not None
    # the attention scores' FLOPs also run on the padded heads (t_attn is compute-bound here)
    scores = 4096 * job.model.attn_flops_per_token(4096.0, causal=True) * (9 / 8 - 1)
    steps = 2 * math.ceil(math.log2(3))  # and each all-reduce over the 3 ranks: 4 latency steps
    want = flops / (peak * 0.5) + scores / (peak * 0.25) + 2 * L * steps * m.up_lat
    assert float(t3[0] - t1[0]) == pytest.approx(want, rel=1e-9)


def test_neuron_stack_ranks_per_chip(catalog: Catalog) -> None:
    s = get_stack("neuronx-inference")
    assert s.tp_ranks == {"aws-trainium1": 2.0, "aws-inferentia2": 2.0, "aws-trainium2": 4.0}
    c = {"task": "infer", "software": "NxD Inference", "source": {"date": "2025-02"}}
    assert case_params(c, catalog.chip("aws-trainium2"))[0].tp_ranks_per_chip == 4.0
    assert case_params(c, catalog.chip("aws-inferentia2"))[0].tp_ranks_per_chip == 2.0
    g = {"task": "infer", "software": "vLLM", "source": {"date": "2025-02"}}
    assert case_params(g, catalog.chip("nvidia-h100-sxm"))[0].tp_ranks_per_chip == 1.0


@pytest.mark.parametrize("bad", [0, 1.5, True, 65])
def test_bad_ranks_are_refused(bad: object) -> None:
    d = {
        "id": "x",
        "name": "x",
        "task": "serve",
        "source": "s",
        "as_of": "2026",
        "tp_ranks_per_chip": {"c": bad},
    }
    with pytest.raises(DataError, match="tp_ranks_per_chip"):
        parse_stack(d, Path("x.toml"))


@pytest.mark.parametrize(
    "tp, ranks, steps",
    [
        (4, 1.0, 0),  # one rank per chip: collectives.all_reduce already counts 2·log2(4)
        (4, 2.0, 2),  # 8 ranks: 2·log2(8) = 6 steps, 2 more than the 4 of 4 chips
        (16, 4.0, 4),  # Trainium2 TP64 on 16 chips: 2·log2(64) = 12 against 8
        (1, 4.0, 4),  # 4 ranks on one chip: 2·log2(4) = 4 where one rank has none
    ],
)
def test_all_reduce_over_ranks_pays_more_latency_steps(
    catalog: Catalog, tp: int, ranks: float, steps: int
) -> None:
    m = machine(catalog, tp)
    got = sv._rank_hops_latency(m, np.array([float(tp)]), ranks)
    assert got[0] == pytest.approx(steps * m.up_lat, rel=1e-12)

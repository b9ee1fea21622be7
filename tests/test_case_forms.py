"""Each input form a validation case can state (issue 13 item 3), predicted through the validator
and checked against a hand computation.

Every test builds a small case in the schema of ``docs/validation-schema.md`` (or takes one from
the built-in suite), predicts it with :func:`xpuplan.validation.validate.predict_case`, and writes
the expected figure from first principles: parameter counts from the shape, bytes per weight from
the format's block layout, peaks and efficiencies from the chip's fitted catalog record. Nothing
here calls the performance model's own formulas.

* Decode at batch 1 is memory-bound (Pope et al. 2022 §3): a step reads the weights once and the
  KV cache of the context, at ``bandwidth × memory efficiency``. A static batch of one prefills
  its prompt (also a weight read at these sizes), then decodes ``O - 1`` more tokens.
* Prefill of a long prompt is compute-bound: ``2·P_layers`` FLOPs per token plus causal attention,
  at ``peak × matmul efficiency × n / (n + knee)`` for the GEMMs' smallest dimension ``n``.
* Training is ``2·N`` forward, ``4·N`` backward (Kaplan et al. 2020), ``2·N`` with LoRA's frozen
  base weights (Hu et al. 2021), FlashAttention's backward 2.5× its forward (Dao 2023), then the
  memory-bound Adam step over the trainable parameters.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xpuplan.hardware import Catalog
from xpuplan.perf.params import using_model_fits, using_stack_fits
from xpuplan.validation.validate import (
    CaseResult,
    load_cases,
    lora_targets,
    parse_formats,
    predict_case,
    stack_params,
)

SUITE = Path(__file__).resolve().parents[1] / "src" / "xpuplan" / "data" / "validation"

# A small GQA decoder no library model has (so the case's own fields are the model): SwiGLU,
# RMSNorm, untied embeddings (the schema's default for ffn_type swiglu).
L, h, nq, nkv, d, f, V = 8, 2048, 16, 4, 128, 5632, 32_000


@pytest.fixture(autouse=True)
def _without_stack_terms() -> Iterator[None]:
    """The hand computations below price the forms a case states (formats, LoRA, decode-only,
    prefill-only), not the serving stacks' fitted fixed time per layer nor the fitted overlap of
    compute and memory, which have hand tests of their own (test_serve_terms, test_stack_fit):
    priced here as zero and as the ideal roofline."""
    with using_stack_fits({}), using_model_fits({"roofline_p": math.inf}):
        yield


ATTN = h * (nq + 2 * nkv) * d + nq * d * h  # Q, K, V, O
MLP = 3 * h * f  # gate, up, down
LAYER = ATTN + MLP + 2 * h  # two RMSNorm weights
PARAMS = L * LAYER + 2 * V * h + h  # layers, embedding, LM head, final norm


def _case(task: str, chip: str, precision: str, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "id": f"forms-{task}",
        "vendor": "test",
        "task": task,
        "source": {"title": "hand-built", "date": "2025-06-01"},
        "model": {
            "name": "hand-sized GQA",
            "layers": L,
            "hidden": h,
            "heads": nq,
            "kv_heads": nkv,
            "head_dim": d,
            "ffn": f,
            "ffn_type": "swiglu",
            "vocab": V,
            "seq_len": 2048,
        },
        "hardware": {"chip_key": chip, "count": 1},
        "precision": precision,
        "software": "vLLM 0.8" if task == "infer" else "NeMo 25.04",
    }
    c.update(copy.deepcopy(extra))
    return c


def _predict(c: dict[str, Any], catalog: Catalog) -> CaseResult:
    r = predict_case(c, catalog).result
    assert r.predicted is not None, r.reason
    return r


def _decode_tokens_per_s(
    w_bytes: float, kv_tok: float, inp: int, out: int, bw: float, compute_s: float = 0.0
) -> float:
    """Output tokens/s of one request decoded alone (static batch of one): the prefill step reads
    the weights and writes ``inp`` tokens' KV; each decode step reads the weights and the KV of
    its context (on average ``inp + out/2`` tokens). ``compute_s``: an upper bound on a step's
    GEMM time, which must stay under the weight read (the step is memory-bound)."""
    assert compute_s < w_bytes / bw
    ttft = (w_bytes + inp * kv_tok) / bw
    tpot = (w_bytes + (inp + out / 2) * kv_tok) / bw
    return out / (ttft + (out - 1) * tpot)


# ---- weight formats as sources write them, and the KV-cache format ---------------------------------

# (precision text as a source writes it, bits per weight with the format's scales, KV bytes per
# value). 8- and 4-bit float weights on an fp8 chip run with an fp8 KV cache (TensorRT-LLM, vLLM).
FORMATS = [
    ("bf16", 16.0, 2),
    ("fp16 (engines built with --dtype float16)", 16.0, 2),
    ("F16 (llama.cpp GGUF, fp16 weights)", 16.0, 2),
    ("fp8 (MLPerf weight_data_types fp8)", 8.0, 1),
    ("FP8-MX (mxfp8, 32-element block scaling)", 8.25, 1),  # 32 × 8 bit + one 8-bit exponent
    ("FP4 weights", 4.0, 1),  # no block layout named: the nominal 4 bits
    ("nvfp4", 4.5, 1),  # 16 × 4 bit + one fp8 scale (NVIDIA NVFP4)
    ("MXFP4 weights (MLPerf weight_data_types mxfp4)", 4.25, 1),  # 32 × 4 bit + 8-bit exponent (OCP MX)
    ("INT8 (system name 'PyTorch-INT8')", 8.0, 2),
    ("INT4 weights (group size 128)", 4.125, 2),  # 128 × 4 bit + one fp16 scale
    ("w4a16", 4.125, 2),
    ("AWQ", 4.125, 2),
    ("GPTQ 4-bit", 4.125, 2),
    ("Q4_0 (llama.cpp GGUF)", 4.5, 2),  # 32 × 4 bit + one fp16 scale (ggml block_q4_0)
    ("Q8_0 (llama.cpp GGUF)", 8.5, 2),  # 32 × 8 bit + one fp16 scale (ggml block_q8_0)
    ("bf16 weights, fp8 KV cache", 16.0, 1),  # the cache's format is not the weights'
    ("int4 AWQ weights, FP8 KV cache", 4.125, 1),
    ("fp8 weights, fp8 KV cache (kv_cache_dtype fp8)", 8.0, 1),
    ("bf16 (MXFP4 expert weights dequantized to BF16 at load)", 16.0, 2),  # served as bf16
]


@pytest.mark.parametrize("precision, bits, kv_bytes", FORMATS, ids=[p for p, _, _ in FORMATS])
def test_weight_format_sets_the_bytes_decode_reads(
    catalog: Catalog, precision: str, bits: float, kv_bytes: int
) -> None:
    """One H100, batch 1, 16-token prompt, 128 output tokens: the weights the decode step reads
    (all but the embedding table, a lookup) at the format's bits per weight, plus the KV cache
    (2·L·n_kv·d values per token) in its own format."""
    chip = catalog.chip("nvidia-h100-sxm")
    inp, out = 16, 128
    setup = {"batch": 1, "input_len": inp, "output_len": out}
    c = _case("infer", chip.id, precision, inference_setup=setup, measured={"output_tokens_per_s": 1000.0})
    r = _predict(c, catalog)
    w_bytes = (PARAMS - V * h) * bits / 8
    kv_tok = 2 * L * nkv * d * kv_bytes
    e = chip.efficiency
    slowest = min(e.matmul, e.matmul_fp8 or 1.0) * h / (h + e.matmul_knee)  # GEMMs of width >= h
    gemm_upper = 2 * PARAMS * inp / ((chip.peak("bf16") or 0.0) * slowest)
    want = _decode_tokens_per_s(w_bytes, kv_tok, inp, out, chip.mem_bw * chip.efficiency.memory, gemm_upper)
    assert r.metric == "output_tokens_per_s"
    assert r.predicted == pytest.approx(want, rel=1e-9)


# ---- llama.cpp's own cases: decode-only (tg128, input_len 0) and prefill-only (pp512) -------------

LLAMA2_7B = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096) + 2 * 32_000 * 4096 + 4096
assert LLAMA2_7B == 6_738_415_616  # Hugging Face meta-llama/Llama-2-7b-hf, as llama-bench prints 6.74 B


def _suite_case(case_id: str) -> dict[str, Any]:
    (c,) = [c for c in load_cases(SUITE / "apple_llamacpp.yaml") if c["id"] == case_id]
    return c


@pytest.mark.parametrize(
    "case_id, bits",
    [
        ("apple-m2-ultra-infer-llama2-7b-q40-tg128-llamacpp4167", 4.5),  # Q4_0: 4-bit + fp16 per 32
        ("apple-m2-ultra-infer-llama2-7b-q80-tg128-llamacpp4167", 8.5),  # Q8_0: 8-bit + fp16 per 32
        ("apple-m2-ultra-infer-llama2-7b-f16-tg128-llamacpp4167", 16.0),
    ],
)
def test_decode_only_from_an_empty_context(catalog: Catalog, case_id: str, bits: float) -> None:
    """llama-bench tg128: 128 tokens from an empty context (``input_len: 0``), priced with a
    1-token prompt and said so. Llama 2 7B (MHA, 32 KV heads) on an M2 Ultra at its fitted memory
    efficiency: bytes = params × bits/8 (the embedding not read) + fp16 KV of the context."""
    c = _suite_case(case_id)
    assert c["inference_setup"]["input_len"] == 0 and c["inference_setup"]["output_len"] == 128
    r = _predict(c, catalog)
    chip = catalog.chip("apple-m2-ultra")
    w_bytes = (LLAMA2_7B - 32_000 * 4096) * bits / 8
    kv_tok = 2 * 32 * 32 * 128 * 2
    e = chip.efficiency
    gemm_upper = 2 * LLAMA2_7B / ((chip.peak("fp16") or 0.0) * e.matmul * 4096 / (4096 + e.matmul_knee))
    want = _decode_tokens_per_s(w_bytes, kv_tok, 1, 128, chip.mem_bw * chip.efficiency.memory, gemm_upper)
    assert r.metric == "output_tokens_per_s"
    assert r.predicted == pytest.approx(want, rel=1e-9)
    assert any("empty context" in a for a in r.assumed)


def test_prefill_only_prompt_tokens_per_s(catalog: Catalog) -> None:
    """llama-bench pp512 (``prefill_tokens_per_s``, ``output_len: 0``): one 512-token prompt in one
    forward pass. GEMMs: 2·P_layers FLOPs per token (the LM head for the last token only) at the
    fp16 peak × matmul_serve (llama.cpp's fraction, fitted on the chip's prefill cases) × n/(n + knee), n = 4096 (h, the smallest GEMM dimension); the causal
    attention core (QKᵀ and A·V, (s+1)/2 keys per query) at the peak × attention efficiency; the
    weights' read (Q4_0, 4.5 bits) and the KV writes are hidden under the compute."""
    c = _suite_case("apple-m2-ultra-infer-llama2-7b-q40-pp512-llamacpp4167")
    r = _predict(c, catalog)
    chip = catalog.chip("apple-m2-ultra")
    e, peak, s = chip.efficiency, chip.peak("fp16") or 0.0, 512
    layers_p = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096)
    gemm_flops = 2 * layers_p * s + 2 * 32_000 * 4096  # every prompt token; the head for the last
    top = e.matmul_serve if e.matmul_serve is not None else e.matmul  # the serving engine's fraction
    t_gemm = gemm_flops / (peak * top * 4096 / (4096 + e.matmul_knee))
    core_flops = s * 2 * 32 * 32 * (s + 1) / 2 * (128 + 128)  # L · heads · keys · (d_qk + d_v) · 2
    t_core = core_flops / (peak * e.attention)
    bw = chip.mem_bw * e.memory
    assert (LLAMA2_7B - 32_000 * 4096) * 4.5 / 8 / bw < t_gemm and s * 2 * 32 * 32 * 128 * 2 / bw < t_core
    assert r.metric == "prefill_tokens_per_s"
    assert r.predicted == pytest.approx(s / (t_gemm + t_core), rel=1e-9)


# ---- training: full, LoRA and QLoRA, in 16-bit and fp8 -------------------------------------------


def _train_tokens_per_s(catalog: Catalog, c: dict[str, Any], fp8: bool, rank: int | None) -> float:
    """Tokens/s of one H100 training the hand-sized model: micro-batch 1 of s = 2048 tokens, 4
    micro-batches a step, no recomputation, no parallelism (so no communication)."""
    chip = catalog.chip("nvidia-h100-sxm")
    e = chip.efficiency
    s, mb = 2048, 4
    tok = s
    bw = chip.mem_bw * e.memory
    p16 = chip.peak("bf16") or 0.0
    peak, top = (chip.peak("fp8") or 0.0, e.matmul_fp8 or e.matmul) if fp8 else (p16, e.matmul)

    def gemm(flops: float, n: float, pk: float = peak, frac: float = top) -> float:
        return flops / (pk * frac * n / (n + e.matmul_knee))

    # one layer forward: attention and MLP GEMMs (smallest dimension h), element-wise traffic
    # (norms and residuals 10·h, the SwiGLU's 3·f, RoPE on Q and K 2·(n_q + n_kv)·d, 2 bytes each)
    t_attn = gemm(2 * tok * ATTN, min(tok, h, nq * d))
    t_mlp = gemm(2 * tok * MLP, min(tok, h, f))
    t_ew = tok * (10 * h + 3 * f + 2 * (nq + nkv) * d) * 2 / bw
    # the causal attention core in 16-bit at the fused kernel's efficiency, 128-query tiles
    t_core = tok * 2 * nq * (s + 1) / 2 * 2 * d / (p16 * e.attention * s / (s + 128))
    # the LM head (16-bit) and its logits: bf16 write + fp32 softmax read/write, 4 bytes, 3 passes
    t_head = gemm(2 * tok * V * h, min(tok, h, V), p16, e.matmul) + 3 * tok * V * 4 / bw
    fwd = L * (t_attn + t_mlp + t_ew + t_core) + t_head
    grads = 1 if rank else 2  # input gradients; weight gradients only for weights that train
    bwd = grads * (L * (t_attn + t_mlp + t_ew) + t_head) + 2.5 * L * t_core
    # Adam over the trainable parameters held on the device: the layers, embedding and LM head,
    # and the final RMSNorm's h weights (LoRA: the r·(d_in + d_out) of every attention and MLP matrix)
    held = L * LAYER + 2 * V * h + h
    trainable = (
        1.0
        if not rank
        else L * rank * ((h + nq * d) + (h + 2 * nkv * d) + (nq * d + h) + 3 * (h + f)) / PARAMS
    )
    t_opt = stack_params(c).optimizer_bytes_per_param * trainable * held / bw
    return mb * tok / (mb * (fwd + bwd) + t_opt)


@pytest.mark.parametrize(
    "precision, fp8",
    [("bf16 mixed precision", False), ("FP8-CS (FP8 current scaling, Transformer Engine)", True)],
)
@pytest.mark.parametrize(
    "training, rank, said",
    [
        (None, None, ""),  # no block: a full training run
        ({"method": "full"}, None, ""),
        ({"method": "lora", "lora_rank": 8}, 8, ""),
        ({"method": "qlora", "lora_rank": 64}, 64, "QLoRA"),
        ({"method": "lora", "lora_rank": None}, 16, "LoRA rank not stated"),  # the assumed rank, said
    ],
)
def test_training_method_and_format(
    catalog: Catalog, precision: str, fp8: bool, training: dict[str, Any] | None, rank: int | None, said: str
) -> None:
    par = {"tp": 1, "pp": 1, "dp": 1, "microbatch": 1, "global_batch_seqs": 4, "recompute": "none"}
    extra: dict[str, Any] = {"parallel": par, "measured": {"tokens_per_s_per_chip": 10_000.0}}
    if training is not None:
        extra["training"] = training
    c = _case("train", "nvidia-h100-sxm", precision, **extra)
    assert stack_params(c).flash_attention
    r = _predict(c, catalog)
    assert r.metric == "tokens_per_s_per_chip"
    assert r.predicted == pytest.approx(_train_tokens_per_s(catalog, c, fp8, rank), rel=1e-9)
    if said:
        assert any(said in a for a in r.assumed), r.assumed


# ---- what a case leaves out ------------------------------------------------------------------------


def test_missing_vocabulary_is_assumed_and_said(catalog: Catalog) -> None:
    """No vocabulary and no library model of that shape: 32,000 tokens assumed, in the result; the
    decode reads the LM head of that size."""
    chip = catalog.chip("nvidia-h100-sxm")
    setup = {"batch": 1, "input_len": 16, "output_len": 128}
    c = _case("infer", chip.id, "bf16", inference_setup=setup, measured={"output_tokens_per_s": 1000.0})
    c["model"]["vocab"] = None
    r = _predict(c, catalog)
    assert any("vocabulary not stated: 32,000" in a for a in r.assumed), r.assumed
    want = _decode_tokens_per_s(
        (PARAMS - V * h) * 2, 2 * L * nkv * d * 2, 16, 128, chip.mem_bw * chip.efficiency.memory
    )
    assert r.predicted == pytest.approx(want, rel=1e-9)


def test_missing_vocabulary_of_a_library_shape_names_the_model(catalog: Catalog) -> None:
    """A Llama 2 7B case without its vocabulary takes the library model's, and says whose."""
    c = _suite_case("apple-m2-ultra-infer-llama2-7b-q40-tg128-llamacpp4167")
    c["model"]["vocab"] = None
    r = _predict(c, catalog)
    assert any("vocabulary not stated: 32,000 tokens of the library's" in a for a in r.assumed), r.assumed


def test_missing_global_batch_is_unpredicted_with_the_field_named(catalog: Catalog) -> None:
    c = _case("train", "nvidia-h100-sxm", "bf16", parallel={"tp": 1}, measured={"tokens_per_s_per_chip": 1e4})
    r = predict_case(c, catalog).result
    assert r.predicted is None and r.reason is not None and "global batch" in r.reason


def test_the_kv_admission_policy_comes_from_the_stack_unless_the_harness_states_it(catalog) -> None:
    """TensorRT-LLM's default capacity scheduler reserves each request's whole length
    (GUARANTEED_NO_EVICT, data/stacks/tensorrt-llm.toml); NVIDIA's MLPerf harness sets max_util
    (inference_setup.capacity_scheduler); vLLM takes blocks as sequences grow."""
    from xpuplan.validation.validate import case_params, load_suite

    by_id = {c["id"]: c for c in load_suite()}
    chip = catalog.chip("nvidia-b200")
    bench = by_id["nvidia-b200-infer-llama33-70b-tp1-fp4-isl1000-osl1000-trtllm10"]
    mlperf = by_id["nvidia-b200-infer-llama2-70b-8gpu-mlperf51-offline"]
    assert case_params(bench, chip)[0].kv_reserve_full == 1.0
    assert case_params(mlperf, chip)[0].kv_reserve_full == 0.0
    amd = by_id["amd-mi300x-infer-llama2-70b-8gpu-mlperf51-offline"]
    assert case_params(amd, catalog.chip("amd-mi300x"))[0].kv_reserve_full == 0.0
    forced = {
        **bench,
        "inference_setup": {**bench["inference_setup"], "capacity_scheduler": "MAX_UTILIZATION"},
    }
    assert case_params(forced, chip)[0].kv_reserve_full == 0.0


def test_a_capacity_scheduler_the_model_cannot_read_is_a_problem_of_the_case(tmp_path, catalog) -> None:
    """A policy text that names neither max_util nor no_evict is not silently the stack default:
    the case is reported unpredicted with the field, the accepted words and where it is."""
    import yaml

    from xpuplan.validation.validate import load_cases, load_suite

    c = next(
        c for c in load_suite() if c["id"] == "nvidia-b200-infer-llama33-70b-tp1-fp4-isl1000-osl1000-trtllm10"
    )
    c = {k: v for k, v in c.items() if not k.startswith("_")}
    c["inference_setup"] = {**c["inference_setup"], "capacity_scheduler": "MaxUtilisation"}
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump([c]))
    (case,) = load_cases(path)
    r = predict_case(case, catalog).result
    assert r.predicted is None
    assert "inference_setup.capacity_scheduler must name max_util" in (r.reason or "")
    assert str(path) in (r.reason or "")


@pytest.mark.parametrize(
    "names, want, said",
    [
        (["linear_qkv", "linear_proj"], ("qkv", "proj"), ""),  # NeMo, NVIDIA's MLPerf LoRA
        (["q_proj", "k_proj", "v_proj", "o_proj"], ("qkv", "proj"), ""),  # Hugging Face PEFT
        (["gate_proj", "up_proj", "down_proj"], ("fc1", "fc2"), ""),
        ("all-linear", None, ""),
        (None, None, "LoRA targets not stated"),
        (["lm_head"], None, "not recognised"),
    ],
)
def test_lora_targets_as_sources_name_them(names: Any, want: tuple[str, ...] | None, said: str) -> None:
    assumed: list[str] = []
    assert lora_targets(names, assumed) == want
    assert (any(said in a for a in assumed)) if said else not assumed


def test_training_storage_formats_read_from_the_recipe_words() -> None:
    fm = parse_formats("fp8 (fp8_model_init: weights in fp8; FP8 activations FP8_ACT=1)")
    assert fm.fp8_weight_store and fm.fp8_act_fn_store
    fm = parse_formats("FP8-CS (FP8 current scaling: FP8_PARAM_GATHER=True)")
    assert fm.fp8_weight_store and not fm.fp8_act_fn_store
    fm = parse_formats("fp8 (FP8_PARAM_GATHER=0, FP8_ACT=0)")
    assert not fm.fp8_weight_store and not fm.fp8_act_fn_store


def test_a_share_of_a_processor_scales_its_compute_not_its_bandwidth(catalog: Catalog) -> None:
    """48 of Graviton4's 96 cores (an instance that is half a socket): every compute peak is half
    the chip's, the socket's memory bandwidth stays, and the result says so; a whole chip or no
    statement leaves the chip as it is."""
    import importlib

    V = importlib.import_module("xpuplan.validation.validate")
    chip = catalog.chip("aws-graviton4")
    c = _case("infer", "aws-graviton4", "Q4_0")
    c["hardware"].update(cores_used=48, cores_per_chip=96)
    assumed: list[str] = []
    m, got, _ = V._case_machine(c, catalog, assumed)
    for dt, v in chip.peak_flops.items():
        assert m.chip.peak(dt) == pytest.approx(0.5 * v, rel=1e-12)
        assert got.peak(dt) == pytest.approx(0.5 * v, rel=1e-12)
    assert m.chip.mem_bw == chip.mem_bw
    assert any("48 of the chip's 96 cores" in a for a in assumed)
    c["hardware"].update(cores_used=96)
    m, _, _ = V._case_machine(c, catalog, [])
    assert m.chip.peak_flops == chip.peak_flops

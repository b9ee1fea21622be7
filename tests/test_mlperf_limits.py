"""MLPerf Server / Interactive cases are priced under their benchmark's TTFT/TPOT limits."""

import copy
import re

import pytest

from xpuplan.hardware.catalog import default_catalog
from xpuplan.validation.mlperf_limits import latency_limit, mlperf_scenario
from xpuplan.validation.validate import load_cases, predict_infer_case, suite_paths


def _case(case_id: str) -> dict:
    for p in suite_paths():
        for c in load_cases(p):
            if c["id"] == case_id:
                return c
    raise AssertionError(case_id)


def _batch_replicas(layout: str) -> tuple[int, int]:
    hit = re.search(r"x(\d+) batch (\d+)", layout)
    assert hit, layout
    return int(hit.group(2)), int(hit.group(1))


def test_limits_read_from_mlperf_conf() -> None:
    # mlcommons/inference loadgen/mlperf.conf: llama2-70b.Server.tpot_latency = 200, ttft 2000;
    # llama2-70b-interactive.Server.tpot_latency = 40, ttft 450
    server = latency_limit(_case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-server"))
    inter = latency_limit(_case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-interactive"))
    assert server is not None and inter is not None
    assert (server.ttft_s, server.tpot_s, server.percentile) == (2.0, 0.2, 99)
    assert (inter.ttft_s, inter.tpot_s) == (0.45, 0.04)
    offline = _case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-offline")
    assert mlperf_scenario(offline) == "Offline" and latency_limit(offline) is None
    not_mlperf = copy.deepcopy(offline)
    not_mlperf["source"]["title"] = "a vendor blog"
    assert mlperf_scenario(not_mlperf) is None


def test_interactive_batch_is_the_largest_within_the_tpot_limit() -> None:
    # scheduling every step (no multi-step window on TTFT): the TPOT limit binds
    cat = default_catalog()
    c = copy.deepcopy(_case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-interactive"))
    c["inference_setup"]["scheduler_steps"] = 1
    r = predict_infer_case(c, cat).result
    assert r.predicted is not None and r.layout is not None
    assert any("TPOT <= 40 ms" in a for a in r.assumed)
    batch, replicas = _batch_replicas(r.layout)
    # continuous batching: per replica, output tokens/s = batch / TPOT, so TPOT = batch·replicas / tok/s
    tpot = batch * replicas / r.predicted
    assert tpot <= 0.040
    # the next batch the search tries (twice as many) breaks the limit: price it without the limit
    nxt = copy.deepcopy(c)
    nxt["inference_setup"]["scenario"] = "Offline"
    nxt["inference_setup"]["concurrency"] = 2 * batch
    r2 = predict_infer_case(nxt, cat).result
    assert r2.predicted is not None and r2.layout is not None
    b2, rep2 = _batch_replicas(r2.layout)
    assert (b2, rep2) == (2 * batch, replicas)
    assert b2 * rep2 / r2.predicted > 0.040


def test_multi_step_scheduling_makes_the_ttft_limit_bind() -> None:
    # MI300X's Interactive harness runs vLLM with num_scheduler_steps 8: prompts wait out an 8-step
    # window, so the 450 ms TTFT limit admits a smaller batch than one scheduling call per step
    cat = default_catalog()
    c = _case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-interactive")
    assert c["inference_setup"]["scheduler_steps"] == 8
    r = predict_infer_case(c, cat).result
    one = copy.deepcopy(c)
    one["inference_setup"]["scheduler_steps"] = 1
    r1 = predict_infer_case(one, cat).result
    assert r.predicted is not None and r1.predicted is not None and r.layout and r1.layout
    assert _batch_replicas(r.layout)[0] < _batch_replicas(r1.layout)[0]
    assert r.predicted < r1.predicted


@pytest.mark.parametrize("scenario", ["Server", "Interactive"])
def test_server_scenarios_meet_their_limits(scenario: str) -> None:
    cat = default_catalog()
    c = _case(f"nvidia-b200-infer-llama2-70b-8gpu-mlperf51-{scenario.lower()}")
    lim = latency_limit(c)
    assert lim is not None and lim.scenario == scenario
    r = predict_infer_case(c, cat).result
    assert r.predicted is not None and r.layout is not None
    batch, replicas = _batch_replicas(r.layout)
    assert batch * replicas / r.predicted <= lim.tpot_s


def test_dataset_lengths_come_from_the_reference_readmes() -> None:
    from xpuplan.validation.mlperf_limits import dataset_lengths

    # mlcommons/inference language/<benchmark>/README.md at b66003e: tokens_per_sample 144.84
    # (mixtral-8x7b), 684.68 (llama3.1-405b); mean-output-tok-len 3886.2274 (deepseek-r1). Input:
    # the mean of each dataset file's per-sample token counts (openshift-psap/performance-dashboard
    # @7100702 mlperf-data/summaries/*.csv): 427.39, 9,428.64, 803.79, 870.73 and llama2-70b's 222.33
    # (its tok_input_length column: the whole chat prompt, processorca.py)
    mixtral = dataset_lengths(_case("nvidia-h200-infer-mixtral-8x7b-8gpu-mlperf41-offline"))
    assert mixtral is not None and (mixtral.output_mean, mixtral.input_mean) == (144.84, 427.39)
    big = dataset_lengths(_case("nvidia-b200-infer-llama31-405b-8gpu-mlperf51-offline"))
    assert big is not None and (big.output_mean, big.input_mean) == (684.68, 9428.64)
    r1 = dataset_lengths(_case("nvidia-b200-infer-deepseek-r1-8gpu-mlperf51-offline"))
    assert r1 is not None and r1.output_mean == pytest.approx(3886.2274) and r1.input_mean == 803.79
    small = dataset_lengths(_case("nvidia-b200-infer-llama31-8b-8gpu-mlperf51-offline"))
    assert small is not None and small.input_mean == 870.73 and small.output_mean is None
    orca = dataset_lengths(_case("amd-mi300x-infer-llama2-70b-8gpu-mlperf51-offline"))
    assert orca is not None and (orca.input_mean, orca.output_mean) == (222.33, 293)
    assert orca.input_basis and "tok_input_length" in orca.input_basis


def test_a_benchmark_without_a_published_input_mean_stays_unpriced(tmp_path, monkeypatch) -> None:
    import xpuplan.validation.mlperf_limits as ml

    table = tmp_path / "mlperf_datasets.toml"
    table.write_text(
        '[meta]\nsource = "test"\nurl = "test"\nas_of = "2026-01"\n\n[[dataset]]\n'
        'benchmark = "mixtral-8x7b"\ndataset = "test"\nmodels = ["Mixtral-8x7B-Instruct-v0.1"]\n'
        'output_mean = 144.84\noutput_source = "test"\n'
    )
    monkeypatch.setattr(ml, "datasets_path", lambda: table)
    cat = default_catalog()
    r = predict_infer_case(_case("nvidia-h200-infer-mixtral-8x7b-8gpu-mlperf41-offline"), cat).result
    assert r.predicted is None and r.reason is not None
    assert "mixtral-8x7b sources give no mean input length" in r.reason
    # a stated input length prices it (output: the case derives 145.9 tokens; the dataset says 144.84)
    c = copy.deepcopy(_case("nvidia-h200-infer-mixtral-8x7b-8gpu-mlperf41-offline"))
    c["inference_setup"]["input_len"] = 500
    r2 = predict_infer_case(c, cat).result
    assert r2.predicted is not None
    assert any("146 tokens" in a or "145 tokens" in a for a in r2.assumed)


def test_attention_dp_engines_cap_the_batch_per_rank() -> None:
    """NVIDIA's DeepSeek-R1 harness (TP 8, attention DP, EP 8; gpu_batch_size 512): TensorRT-LLM's
    max_batch_size is per rank under attention DP, so an instance holds up to 8 x 512 sequences."""
    from xpuplan.validation.validate import case_params

    c = _case("nvidia-b200-infer-deepseek-r1-8gpu-mlperf51-offline")
    cat = default_catalog()
    assert case_params(c, cat.chip("nvidia-b200"))[0].attention_dp
    r = predict_infer_case(c, cat).result
    assert r.predicted is not None and r.layout is not None
    batch, replicas = _batch_replicas(r.layout)
    assert replicas == 1 and 512 < batch <= 8 * 512
    plain = _case("nvidia-b200-infer-llama31-405b-8gpu-mlperf51-offline")
    assert not case_params(plain, cat.chip("nvidia-b200"))[0].attention_dp


def test_interactive_concurrency_is_capped_by_the_token_budget() -> None:
    # B200 MLPerf v5.1 Interactive: TensorRT-LLM max_num_tokens 768 (the harness config). With
    # the dataset's 222-token mean prompts (222.33, truncated to whole tokens) and 272-token outputs
    # a step must take B decodes and B·222/272 prompt tokens: B <= 768 / (1 + 222/272) = 422.9
    # (measured: 7,443 tok/s x 34.2 ms = 255 per GPU)
    cat = default_catalog()
    c = _case("nvidia-b200-infer-llama2-70b-8gpu-mlperf51-interactive")
    assert c["inference_setup"]["max_num_batched_tokens"] == 768
    r = predict_infer_case(c, cat).result
    assert r.layout is not None
    batch, _ = _batch_replicas(r.layout)
    assert batch <= 422
    # a smaller budget binds below the batch the search chooses (128 per GPU at the fitted
    # efficiencies: the throughput plateau): 192 tokens a step hold B <= 192 / (1 + 222/272) =
    # 105.7 sequences
    tight = copy.deepcopy(c)
    tight["inference_setup"]["max_num_batched_tokens"] = 192
    r2 = predict_infer_case(tight, cat).result
    assert r2.layout is not None
    assert _batch_replicas(r2.layout)[0] <= 105 < batch

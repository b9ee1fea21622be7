"""The AWS Neuron inference cases compare a throughput only where the row's own latencies agree.

A static-batch row of one request per sequence gives its output rate three ways: the throughput,
and batch x output / (TTFT + (output - 1) x TPOT) from its latencies. Where the two disagree by
more than a few percent the throughput counts something the latencies do not (llmperf's overall
throughput divides by the whole test's wall time, stalls included; the Trn1 SDK 2.18.0 Llama-2-13b
8192/8192 row's throughput is 2.3x below its own latencies), and the case is compared on TPOT.
"""

from __future__ import annotations

import pytest

from xpuplan.validation.validate import infer_metric, load_suite


def _neuron_rows() -> list[dict[str, object]]:
    out = []
    for c in load_suite():
        chip = str((c.get("hardware") or {}).get("chip_key", ""))
        if c.get("task") == "infer" and chip.startswith(("aws-trainium", "aws-inferentia")):
            out.append(c)
    return out


def _implied_tps(c: dict[str, object]) -> float | None:
    m, s = c["measured"], c["inference_setup"]
    assert isinstance(m, dict) and isinstance(s, dict)
    ttft, tpot = m.get("ttft_ms"), m.get("tpot_ms")
    batch, out = s.get("batch") or s.get("concurrency"), s.get("output_len")
    if not all(isinstance(v, int | float) for v in (ttft, tpot, batch, out)):
        return None
    return float(batch) * float(out) / ((float(ttft) + (float(out) - 1) * float(tpot)) / 1e3)  # type: ignore[arg-type]


def test_hand_computed_rate_of_the_inconsistent_row() -> None:
    # Trn1 Llama-2-13b bs1 8192/8192: 8192 / (2.368 s + 8191 x 13.408 ms) = 73.0 tok/s (the row
    # says 31.4 tok/s), so the case is compared on its TPOT P50, 13.408 ms.
    (c,) = [c for c in _neuron_rows() if c["id"] == "aws-trn1-infer-llama2-13b-bs1-isl8192-osl8192"]
    assert _implied_tps(c) == pytest.approx(8192 / (2.367928505 + 8191 * 0.01340842247), rel=1e-9)
    assert _implied_tps(c) == pytest.approx(73.0, abs=0.1)
    assert infer_metric(c) == ("tpot_ms", pytest.approx(13.40842247))


def test_llmperf_overall_throughput_case_compares_tpot() -> None:
    (c,) = [c for c in _neuron_rows() if c["id"] == "aws-trn2-infer-llama3.3-70b-tp64-bs1-isl10000-osl1500"]
    assert infer_metric(c) == ("tpot_ms", pytest.approx(19.6))


def test_every_compared_neuron_throughput_agrees_with_its_latencies() -> None:
    rows = [c for c in _neuron_rows() if (infer_metric(c) or ("", 0.0))[0] == "output_tokens_per_s"]
    checked = 0
    for c in rows:
        implied = _implied_tps(c)
        if implied is None:
            continue
        checked += 1
        tps = infer_metric(c)[1]  # type: ignore[index]
        # within 15%: the Inf2 bs8 128-token-prompt rows run ~10% above (TPOT grows with context)
        assert abs(tps / implied - 1) < 0.15, (c["id"], tps, implied)
    assert checked >= 10

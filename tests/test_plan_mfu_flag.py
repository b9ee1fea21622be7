"""The plan flags a training option whose MFU is above every comparable published run on its chip
(issue 14: "a search result above the best published MFU for its chip and stack is flagged in
the output"), with the same check ``xpuplan train --search`` makes (perf/published.py
mfu_above: the best run of at least a quarter the model's size on at least an eighth its chips,
``MFU_MARGIN`` above it). The published runs are set here (monkeypatched ``published_mfu``)
around the option's own MFU, so the tests do not depend on the fitted efficiencies."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from xpuplan.hardware import Catalog
from xpuplan.perf import published
from xpuplan.perf.published import MFU_MARGIN, PublishedMFU
from xpuplan.planner import plan
from xpuplan.planner.plan import PlanResult, load_scenario
from xpuplan.report.plan_view import print_plan

JOB = (
    '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-70b"\ntokens = 1e12\nseq_len = 8192\nglobal_batch = 2048\n'
    'precision = "{precision}"\n[candidates]\nsystems = ["gcp-tpu-v5p-pod"]\n[constraints]\ndeadline_days = 90\n'
)


def _plan(tmp_path: Path, catalog: Catalog, precision: str = "bf16") -> PlanResult:
    f = tmp_path / "s.toml"
    f.write_text(JOB.format(precision=precision))
    return plan(load_scenario(f, catalog), catalog)


def _with_runs(monkeypatch: pytest.MonkeyPatch, *runs: PublishedMFU) -> None:
    monkeypatch.setattr(published, "published_mfu", lambda: {"tpu-v5p": list(runs)})


def _mfu(tmp_path: Path, catalog: Catalog) -> tuple[float, int]:
    o = _plan(tmp_path, catalog).jobs[0].best
    assert o is not None and o.utilisation is not None
    return o.utilisation, o.chips


def test_an_option_above_the_best_comparable_run_is_flagged(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of a 405B model on as many chips at the option's MFU / 1.2 (flagged: 1.2x) and / 1.05
    (within the 10% margin: reported, not flagged); a run on too few chips (under an eighth) or of
    too small a model (under a quarter) is not comparable and is ignored."""
    mfu, chips = _mfu(tmp_path, catalog)
    far = [PublishedMFU(0.99, chips // 16, 405e9, "few chips"), PublishedMFU(0.99, chips, 10e9, "small")]
    _with_runs(monkeypatch, PublishedMFU(mfu / 1.2, chips, 405e9, "below"), *far)
    o = _plan(tmp_path, catalog).jobs[0].best
    assert o is not None and o.published_case == "below"
    assert o.published_mfu == pytest.approx(mfu / 1.2) and o.mfu_above_published == pytest.approx(1.2)
    _with_runs(monkeypatch, PublishedMFU(mfu / 1.05, chips, 405e9, "near"), *far)
    o = _plan(tmp_path, catalog).jobs[0].best
    assert o is not None and o.published_case == "near" and o.mfu_above_published is None
    assert MFU_MARGIN > 1.05
    _with_runs(monkeypatch, *far)
    o = _plan(tmp_path, catalog).jobs[0].best
    assert o is not None and o.published_mfu is None and o.mfu_above_published is None


def test_the_plan_table_says_so(tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    mfu, chips = _mfu(tmp_path, catalog)
    for ratio, shown in ((1.25, True), (1.02, False)):
        _with_runs(monkeypatch, PublishedMFU(mfu / ratio, chips, 405e9, "the-run"))
        buf = io.StringIO()
        print_plan(Console(file=buf, width=400), _plan(tmp_path, catalog))
        text = buf.getvalue()
        note = "1.25× the best comparable published run on tpu-v5p"
        assert (note in text and "the-run" in text and "not a forecast" in text) is shown
        assert ("best comparable published run" in text) is shown


def test_no_check_for_formats_the_published_runs_are_not(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The published MFUs are of 16-bit full training: an fp8 option is not compared with them."""
    _, chips = _mfu(tmp_path, catalog)
    _with_runs(monkeypatch, PublishedMFU(0.01, chips, 405e9, "tiny"))
    o = _plan(tmp_path, catalog, "fp8").jobs[0].best
    assert o is not None and o.published_mfu is None and o.mfu_above_published is None


def test_the_html_report_says_so_too() -> None:
    from xpuplan.report.html import _plan_table

    o = {
        "system": "gcp-tpu-v5p-pod",
        "chip": "tpu-v5p",
        "layout": "TP1 PP1 DP512",
        "chips": 512,
        "utilisation": 0.80,
        "time_s": 86400.0,
        "cost_usd": 1e6,
        "energy_j": 1e12,
        "facility_mw": 1.0,
        "pricing": None,
        "price_as_of": None,
        "feasible": True,
        "savings_vs_baseline": None,
        "price_perf_vs_baseline": None,
        "published_mfu": 0.64,
        "published_case": "the-run",
        "mfu_above_published": 1.25,
    }
    html = _plan_table({"kind": "pretrain", "options": [o]})
    assert (
        "80.0% !" in html
        and "1.25× the best comparable published run on tpu-v5p" in html
        and "the-run" in html
    )
    plain = _plan_table({"kind": "pretrain", "options": [{**o, "mfu_above_published": None}]})
    assert "80.0% !" not in plain and "best comparable published run" not in plain

"""The plan flags a training option whose MFU is above every comparable published run on its chip
(issue 14: "a search result above the best published MFU for its chip and stack is flagged in
the output"), with the same check ``xpuplan train --search`` makes (perf/published.py
mfu_above: the best run of at least a quarter the model's size on at least an eighth its chips,
``MFU_MARGIN`` above it)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from xpuplan.hardware import Catalog
from xpuplan.perf.published import MFU_MARGIN, comparable_mfu, published_mfu
from xpuplan.planner import plan
from xpuplan.planner.plan import load_scenario
from xpuplan.report.plan_view import print_plan

JOB = (
    '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-70b"\ntokens = {tokens}\nseq_len = 8192\nglobal_batch = 2048\n'
    'precision = "{precision}"\n[candidates]\nsystems = ["gcp-tpu-v5p-pod"]\n[constraints]\ndeadline_days = 90\n'
)


def _plan(tmp_path: Path, catalog: Catalog, precision: str = "bf16", tokens: float = 15e12):  # type: ignore[no-untyped-def]
    """Llama 3 70B on TPU v5p in 90 days: 15T tokens take 4,096 chips (the default scenario's
    pre-training, priced at 78.5% MFU), 1T tokens 512."""
    f = tmp_path / "s.toml"
    f.write_text(JOB.format(precision=precision, tokens=tokens))
    return plan(load_scenario(f, catalog), catalog)


def test_a_training_option_carries_the_published_check(tmp_path: Path, catalog: Catalog) -> None:
    """4,096 chips: the comparable runs are those of >= 17.6B parameters on >= 512 chips, the best
    Llama 3.1 405B on 512 v5p (71.3%); the option's MFU is above 1.1x it, so it is flagged with the
    ratio. 512 chips: the 32B run on 64 chips (72.6%) is comparable too and the option is within
    1.1x of it, so it carries the reference and no flag."""
    for tokens, chips, flagged in ((15e12, 4096, True), (1e12, 512, False)):
        o = _plan(tmp_path, catalog, tokens=tokens).jobs[0].best
        assert o is not None and o.utilisation is not None and o.chips == chips
        ref = comparable_mfu(published_mfu()["tpu-v5p"], 70.55e9, chips)
        assert ref is not None
        assert o.published_mfu == ref.mfu and o.published_case == ref.case
        assert (o.utilisation > MFU_MARGIN * ref.mfu) is flagged
        if flagged:
            assert o.mfu_above_published == o.utilisation / ref.mfu
        else:
            assert o.mfu_above_published is None


def test_the_plan_table_says_so(tmp_path: Path, catalog: Catalog) -> None:
    for tokens in (15e12, 1e12):
        r = _plan(tmp_path, catalog, tokens=tokens)
        o = r.jobs[0].best
        assert o is not None
        buf = io.StringIO()
        print_plan(Console(file=buf, width=400), r)
        text = buf.getvalue()
        note = "the best comparable published run on tpu-v5p"
        if o.mfu_above_published is None:
            assert note not in text
        else:
            assert f"{o.mfu_above_published:.2f}× {note}" in text and "not a forecast" in text


def test_no_check_for_formats_the_published_runs_are_not(tmp_path: Path, catalog: Catalog) -> None:
    """The published MFUs are of 16-bit full training: an fp8 option is not compared with them."""
    o = _plan(tmp_path, catalog, "fp8").jobs[0].best
    assert o is None or (o.published_mfu is None and o.mfu_above_published is None)

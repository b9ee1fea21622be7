"""80% intervals on claim figures (issue 13 item 7): a ratio of two predictions carries both runs'
cross-validated intervals, taken at their worst against each other, and a verdict whose interval
straddles the claimed figure says it is not decidable within the model's accuracy."""

from __future__ import annotations

import pytest

from xpuplan.claims.checks import Case
from xpuplan.claims.compare import ratio_interval
from xpuplan.claims.engine import CheckResult, ClaimResult, Verdict, evaluate_claim, find_claim
from xpuplan.claims.spec import Claimed, Kind, Over
from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Interval

AT_LEAST_13 = Claimed(1.3, 1.3, "x", Kind.AT_LEAST, "30% better")  # met at >= 1.3 × 0.95 = 1.235


@pytest.fixture(scope="module")
def claims() -> dict[str, ClaimResult]:
    return {i: evaluate_claim(find_claim(i)) for i in ("1", "4")}


def test_ratio_interval_takes_each_side_at_its_worst() -> None:
    """Subject 100 tokens/s in [0.8, 1.25]×, baseline 50 in [0.9, 1.1]×: the ratio 2 lies in
    [80/55, 125/45]."""
    s, b = Interval(0.8, 1.25, "nvidia/train", 10), Interval(0.9, 1.1, "aws/train", 5)
    lo, hi = ratio_interval(2.0, s, b) or (0.0, 0.0)
    assert lo == pytest.approx(80 / 55) and hi == pytest.approx(125 / 45)
    assert ratio_interval(2.0, s, None) is None  # a run without an interval: none for the ratio


def _check(
    cases: tuple[Case, ...], verdict: Verdict, over: Over, claimed: Claimed = AT_LEAST_13
) -> CheckResult:
    return CheckResult("x: test", "throughput", "train", claimed, "x", cases, verdict, (), (), over=over)


def test_decidable_when_the_interval_clears_the_threshold() -> None:
    clear = Case("a", 1.6, True, interval=(1.4, 1.9))  # above 1.235 throughout
    straddles = Case("b", 1.5, True, interval=(1.1, 2.0))
    below = Case("c", 1.0, False, interval=(0.8, 1.2))  # below 1.235 throughout
    # ALL, supported: every case must clear; one that straddles makes it undecidable
    assert _check((clear,), Verdict.SUPPORTED, Over.ALL).decidable is True
    assert _check((clear, straddles), Verdict.SUPPORTED, Over.ALL).decidable is False
    # ALL, refuted: one case below throughout decides it
    assert _check((straddles, below), Verdict.NOT_SUPPORTED, Over.ALL).decidable is True
    # ANY, supported: one case that clears decides it; ANY, refuted: every miss must be sure
    assert _check((straddles, clear), Verdict.SUPPORTED, Over.ANY).decidable is True
    unsure_miss = Case("d", 1.1, False, interval=(0.9, 1.4))
    assert _check((below, unsure_miss), Verdict.NOT_SUPPORTED, Over.ANY).decidable is False
    # the check's interval spans its cases'
    assert _check((clear, below), Verdict.NOT_SUPPORTED, Over.ALL).interval == (0.8, 1.9)
    # no interval behind the figures (catalog values): nothing to decide
    assert _check((Case("e", 1.6, True),), Verdict.SUPPORTED, Over.ALL).decidable is None
    # "about 1.3" (±5%): an interval that covers the whole band is not decidable
    about = Claimed(1.3, 1.3, "x", Kind.ABOUT, "about 1.3x")
    wide = Case("f", 1.0, False, interval=(1.0, 1.6))
    assert _check((wide,), Verdict.NOT_SUPPORTED, Over.ALL, about).decidable is False
    assert _check((below,), Verdict.NOT_SUPPORTED, Over.ALL, about).decidable is True


def test_claim_4_perf_per_price_interval_from_both_chips(
    claims: dict[str, ClaimResult], catalog: Catalog
) -> None:
    """4e (Trn2 vs Trn1 tokens per dollar, at least 1.3×): the ratio's interval is the Trn2
    training interval's low over Trn1's high, and high over low; it straddles 1.3×, so the
    refutation is not decidable within the model's accuracy, and the verdict and JSON say so."""
    trn2 = catalog.chips["aws-trainium2"].intervals["train"]
    trn1 = catalog.chips["aws-trainium1"].intervals["train"]
    e = next(c for c in claims["4"].checks if c.label.startswith("4e"))
    for c in e.cases:
        assert c.value is not None and c.interval is not None
        assert c.interval[0] == pytest.approx(c.value * trn2.low / trn1.high, rel=1e-12)
        assert c.interval[1] == pytest.approx(c.value * trn2.high / trn1.low, rel=1e-12)
        assert c.inputs["subject"]["interval"]["low_factor"] == trn2.low  # the JSON keeps each side's
    assert e.verdict is Verdict.NOT_SUPPORTED and e.decidable is False
    assert any(line.startswith("not decidable within the model's accuracy") for line in e.conditions)
    d = e.to_dict()
    assert d["decidable_within_accuracy"] is False and d["interval"]["low"] == pytest.approx(e.interval[0])
    r = claims["4"]
    assert r.now.figure_of.startswith("4e")  # the headline's figure is 4e's: the judgement says it too
    assert r.now.decidable is False and r.to_dict()["interval"]["high"] == pytest.approx(e.interval[1])


def test_claim_1_cost_interval_maps_through_one_minus_inverse(
    claims: dict[str, ClaimResult], catalog: Catalog
) -> None:
    """1a (lower cost per scored pair): value = 1 - 1/R for the per-dollar ratio R, so the bounds
    are 1 - 1/R_low and 1 - 1/R_high with R's interval from the two chips' serving intervals."""
    a = next(c for c in claims["1"].checks if c.label.startswith("1a"))
    case = next(c for c in a.cases if c.label == "inf2.48xlarge vs c7i.48xlarge")
    s = catalog.chips["aws-inferentia2"].intervals["infer"]
    b = catalog.chips[catalog.systems["aws-c7i.48xlarge"].chip].intervals["infer"]
    assert case.value is not None and case.interval is not None
    R = 1 / (1 - case.value)
    assert case.interval[0] == pytest.approx(1 - 1 / (R * s.low / b.high), rel=1e-9)
    assert case.interval[1] == pytest.approx(1 - 1 / (R * s.high / b.low), rel=1e-9)


def test_claim_8_on_device_intervals_from_the_phone_chip(catalog: Catalog) -> None:
    """8a (ms per prompt token, a time) takes the A17 Pro's inference interval as [v/high, v/low];
    8b (decode tokens/s, a rate) as [v·low, v·high]; the claim says when they straddle Apple's
    figure."""
    r = evaluate_claim(find_claim("8"))
    iv = catalog.chips[catalog.systems["apple-iphone-15-pro"].chip].intervals["infer"]
    a = next(c for c in r.checks if c.label.startswith("8a"))
    b = next(c for c in r.checks if c.label.startswith("8b"))
    for c in a.cases:
        assert c.value is not None and c.interval is not None
        assert c.interval == pytest.approx((c.value / iv.high, c.value / iv.low), rel=1e-12)
    for c in b.cases:
        assert c.value is not None and c.interval is not None
        assert c.interval == pytest.approx((c.value * iv.low, c.value * iv.high), rel=1e-12)
    # 0.6 ms lies inside 8a's interval: the model's accuracy cannot decide it
    assert a.decidable is False and a.interval is not None and a.interval[0] < 0.6 < a.interval[1]


def test_claim_8_hybrid_share_interval_moves_the_phone_times_to_its_bounds(catalog: Catalog) -> None:
    """8c (share of requests the phone finishes within 5 s): the bounds are the shares of the
    request mix whose device end-to-end time, taken at the slow (e2e/low) and fast (e2e/high) end
    of the phone chip's interval, is within the target — recomputed here from the buckets."""
    r = evaluate_claim(find_claim("8"))
    iv = catalog.chips[catalog.systems["apple-iphone-15-pro"].chip].intervals["infer"]
    c = next(c for c in r.checks if c.label.startswith("8c")).cases[0]
    buckets = c.inputs["buckets"]
    on = [b for b in buckets if b["device_e2e_s"] is not None]
    slow = sum(b["share"] for b in on if b["device_e2e_s"] / iv.low <= 5.0)
    fast = sum(b["share"] for b in on if b["device_e2e_s"] / iv.high <= 5.0)
    assert c.value is not None and c.interval == pytest.approx((slow, fast), rel=1e-12)
    assert slow <= c.value <= fast and slow < fast

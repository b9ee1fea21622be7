"""Encoder (BERT-class) inference results in the terminal: sequences/s, latency, $/M sequences, J."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from xpuplan.api.results import EncoderResult, EncoderSearchResult
from xpuplan.report import fmt
from xpuplan.report.tables import Column, search_header, table


def print_encoder(console: Console, r: EncoderSearchResult) -> None:
    """The best encoder configuration, its economics, and the latency–throughput curve."""
    if not search_header(console, r, "encoder"):
        return
    b = r.best
    how = "dynamic batching, latency ≤ 2 batch times" if b.mode == "dynamic" else "offline batch"
    console.print(
        f"best: {b.model}, {b.seq_len}-token sequences, {b.compute} GEMMs ({b.weights} asked), batch {b.batch}"
        f" × {b.replicas} replica(s), one per chip ({how}); {b.bound}-bound"
    )
    columns: list[Column] = [
        ("sequences/s", lambda b: f"{b.sequences_per_s:,.0f}"),
        ("latency", lambda b: fmt.duration(b.latency_s)),
        ("batch time", lambda b: fmt.duration(b.batch_s)),
        ("tokens/s", lambda b: f"{b.tokens_per_s:,.0f}"),
        ("TFLOP/s per chip", lambda b: f"{b.achieved_tflops_per_chip:,.1f}"),
        ("GFLOP/seq", lambda b: f"{(b.flops_per_sequence or 0.0) / 1e9:,.1f}"),
        ("weights GiB", lambda b: f"{b.weights_gib:.2f}"),
    ]
    console.print(table(None, columns, [b], left=()))
    _interval(console, b)
    _money(console, b)
    c = Table(title="latency–throughput curve (same format, batch varied)", header_style="bold")
    for col in ("batch", "latency", "sequences/s"):
        c.add_column(col, justify="right")
    for p in r.curve:
        c.add_row(str(p.batch), fmt.duration(p.latency_s), f"{p.sequences_per_s:,.0f}")
    console.print(c)


def _interval(console: Console, b: EncoderResult) -> None:
    """The 80% intervals of sequences/s and of the latency (nothing where the chip has no fit)."""
    iv = b.interval
    for what, lo, hi, unit in (
        ("sequences/s", b.sequences_per_s_low, b.sequences_per_s_high, lambda v: f"{v:,.0f}"),
        ("the latency", b.latency_s_low, b.latency_s_high, fmt.duration),
    ):
        if iv is not None and lo is not None and hi is not None:
            console.print(fmt.interval_line(iv, what, lo, hi, unit))


def _money(console: Console, b: EncoderResult) -> None:
    """Dollars per million sequences and joules per sequence, where the catalog has them."""
    usd, j = b.usd_per_million_sequences, b.joules_per_sequence
    for line in fmt.money_lines(
        b.economics,
        None
        if usd is None
        else f"{fmt.money(usd)} per million sequences ({b.sequences_per_usd:,.0f} per dollar)",
        None if j is None else f"{j:.3f} J per sequence ({b.sequences_per_joule:,.1f} per joule)",
    ):
        console.print(line)
    if j is None:
        console.print("no TDP, published or estimated, for this chip: no joules per sequence")

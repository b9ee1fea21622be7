"""Encoder (BERT-class) inference results in the terminal: sequences/s, latency, $/M sequences, J."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from xpuplan.report import fmt
from xpuplan.report.tables import Column, table
from xpuplan.search.encoder_search import EncoderSearchResult


def print_encoder(console: Console, r: EncoderSearchResult) -> None:
    """The best encoder configuration, its economics, and the latency–throughput curve."""
    console.print(
        f"evaluated {r.configs_evaluated:,} encoder configurations, {r.configs_feasible:,} feasible"
    )
    if r.best is None:
        reasons = "; ".join(f"{k} ({v:,})" for k, v in sorted(r.reasons.items(), key=lambda kv: -kv[1]))
        console.print(f"[bold red]no configuration meets the request:[/] {reasons}")
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
        ("GFLOP/seq", lambda b: f"{b.flops_per_sequence / 1e9:,.1f}"),
        ("weights GiB", lambda b: f"{b.weights_gib:.2f}"),
    ]
    console.print(table(None, columns, [b], left=()))
    x = r.extra
    if "usd_per_million_sequences" in x:
        console.print(
            f"on {x['system']} ({x['pricing']}, price as of {x['price_as_of']}): "
            f"{fmt.money(x['usd_per_million_sequences'])} per million sequences "
            f"({x['sequences_per_usd']:,.0f} sequences per dollar)"
        )
    if "joules_per_sequence" in x:
        est = " (estimated TDP)" if x.get("power_estimated") else ""
        console.print(
            f"{x['joules_per_sequence']:.3f} J per sequence at PUE {x['pue']:.2f}{est} "
            f"({x['sequences_per_joule']:,.1f} sequences per joule)"
        )
    else:
        console.print("no TDP, published or estimated, for this chip: no joules per sequence")
    c = Table(title="latency–throughput curve (same format, batch varied)", header_style="bold")
    for col in ("batch", "latency", "sequences/s"):
        c.add_column(col, justify="right")
    for p in r.curve:
        c.add_row(str(p.batch), fmt.duration(p.latency_s), f"{p.sequences_per_s:,.0f}")
    console.print(c)

"""Rich tables and plain dicts for every result; progress bars."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from xpuplan.api.results import (
    EncoderSearchResult,
    ServeResult,
    ServeSearchResult,
    TrainResult,
    TrainSearchResult,
)
from xpuplan.datafiles import as_dict
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Chip, Dtype, Price, System
from xpuplan.report import fmt
from xpuplan.report.encoder_view import print_encoder
from xpuplan.report.fmt import interval_line
from xpuplan.report.legend import TRAIN_LEGEND
from xpuplan.report.tables import Column, dash, search_header, table
from xpuplan.units import GIB, GIGA, TERA
from xpuplan.workload.model import Model


@contextmanager
def progress_ticks(
    console: Console, quiet: bool, columns: tuple[ProgressColumn, ...], name: str, show_after: float | None
) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``tick(done, total)`` drawing ``columns`` on a terminal (nothing when
    ``quiet``); with ``show_after`` the bar appears only once the work has run that many seconds."""
    if quiet or not console.is_terminal:
        yield lambda done, total: None
        return
    with Progress(*columns, console=console, transient=True) as prog:
        task = prog.add_task(name, total=None, visible=show_after is None)

        def tick(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)
            elapsed = prog.tasks[0].elapsed
            if show_after is not None and elapsed and elapsed > show_after:
                prog.update(task, visible=True)

        yield tick


def progress_bar(console: Console, quiet: bool = False) -> AbstractContextManager[Callable[[int, int], None]]:
    """A progress callback ``tick(done, total)``; the bar appears only for work over a second."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
    )
    return progress_ticks(console, quiet, columns, "working", 1.0)


# ---- dicts (JSON) -------------------------------------------------------------------------------


def _sourced(r: Chip | System) -> dict[str, Any]:
    """A record's source, date, notes and per-field provenance."""
    return {
        **as_dict(r, "source", "as_of", "notes"),
        "provenance": {k: as_dict(p) for k, p in r.provenance.items()},
    }


def chip_dict(c: Chip) -> dict[str, Any]:
    return {
        **as_dict(c, "id", "name", "vendor", "category", "training"),
        "aliases": list(c.aliases),
        "peak_tflops_dense": {d.value: v / TERA for d, v in c.peak_flops.items()},
        "memory_gib": c.mem_bytes / GIB,
        "memory_tbyte_s": c.mem_bw / TERA,
        "sram_mib": None if c.sram_bytes is None else c.sram_bytes / 2**20,
        "scale_up_gbyte_s_per_direction": None if c.link_bw is None else c.link_bw / GIGA,
        "tdp_w": c.tdp_w,
        "efficiency": as_dict(c.efficiency, "matmul", "matmul_knee", "memory", "network", "attention"),
        **_sourced(c),
    }


def system_dict(s: System) -> dict[str, Any]:
    return {
        **as_dict(s, "id", "name", "provider", "kind", "chip", "chips_per_node"),
        "aliases": list(s.aliases),
        "scale_up": {
            "topology": s.scale_up.topology.value,
            "domain_chips": s.scale_up.domain_chips,
            "torus_dims": list(s.scale_up.torus_dims),
            "link_gbyte_s_per_direction": None if s.scale_up.link_bw is None else s.scale_up.link_bw / GIGA,
        },
        "scale_out": {
            "kind": s.scale_out.kind.value,
            "gbit_s_per_node": s.scale_out.bw_per_node * 8 / GIGA,
            "max_chips": s.scale_out.max_chips,
        },
        "host_w_per_node": s.host_w_per_node,
        **_sourced(s),
    }


def price_dict(p: Price, cat: Catalog) -> dict[str, Any]:
    n = cat.systems[p.system].chips_per_node
    return {
        "system": p.system,
        "pricing": p.pricing.value,
        "usd_per_node_hour": p.usd_per_node_hour,
        "usd_per_chip_hour": p.usd_per_chip_hour(n),
        "region": p.region,
        "source": p.source,
        "as_of": p.as_of,
        "note": p.note,
    }


def model_dict(m: Model, seq_len: int = 4096) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "layers": m.layers,
        "hidden": m.hidden,
        "heads": m.heads,
        "kv_heads": m.kv_heads,
        "head_dim": m.head_dim,
        "ffn": m.ffn,
        "vocab": m.vocab,
        "moe": None
        if not m.moe
        else {
            "experts": m.moe.experts,
            "top_k": m.moe.top_k,
            "expert_ffn": m.moe.expert_ffn,
            "shared_experts": m.moe.shared_experts,
        },
        "mla": m.mla is not None,
        "params": m.params(),
        "active_params": m.active_params(),
        "published_params": m.published_params,
        "seq_len": seq_len,
        "train_flops_per_token": m.train_flops_per_token(seq_len, causal=False),
        "train_flops_per_token_no_attention": m.train_flops_per_token(seq_len, attention=False),
        "forward_flops_per_token_causal": m.forward_flops_per_token(seq_len, causal=True),
        "kv_cache_bytes_per_token_bf16": m.kv_bytes_per_token(2.0),
        "source": m.source,
        "as_of": m.as_of,
    }


# ---- tables -------------------------------------------------------------------------------------


def chips_table(chips: list[Chip]) -> Table:
    columns: list[Column] = [
        ("id", lambda c: c.id),
        ("vendor", lambda c: c.vendor),
        ("bf16 TF/s", lambda c: fmt.flops(c.peak(Dtype.BF16) or c.peak(Dtype.FP16))),
        ("fp8 TF/s", lambda c: fmt.flops(c.peak(Dtype.FP8))),
        ("memory", lambda c: fmt.gib(c.mem_bytes)),
        ("TB/s", lambda c: f"{c.mem_bw / TERA:.2f}"),
        ("scale-up GB/s/dir", lambda c: dash(None if c.link_bw is None else c.link_bw / GIGA, ".0f")),
        ("TDP W", lambda c: dash(c.tdp_w, ".0f")),
        ("train", lambda c: "yes" if c.training else ""),
    ]
    rows = sorted(chips, key=lambda c: (c.vendor, c.id))
    return table("Chips (dense peak, per chip)", columns, rows, left=("id", "vendor"))


def systems_table(systems: list[System]) -> Table:
    columns: list[Column] = [
        ("id", lambda s: s.id),
        ("chip", lambda s: s.chip),
        ("chips/node", lambda s: str(s.chips_per_node)),
        ("scale-up", lambda s: s.scale_up.topology.value),
        ("domain", lambda s: str(s.scale_up.domain_chips)),
        ("scale-out", lambda s: s.scale_out.kind.value),
        ("Gbit/s/node", lambda s: f"{s.scale_out.bw_per_node * 8 / GIGA:,.0f}"),
        ("max chips", lambda s: dash(s.scale_out.max_chips, ",")),
    ]
    return table("Systems", columns, sorted(systems, key=lambda s: s.id))


def prices_table(cat: Catalog) -> Table:
    columns: list[Column] = [
        ("system", lambda p: p.system),
        ("pricing", lambda p: p.pricing.value),
        ("$/node-h", lambda p: f"{p.usd_per_node_hour:,.2f}"),
        ("$/chip-h", lambda p: f"{p.usd_per_chip_hour(cat.systems[p.system].chips_per_node):,.3f}"),
        ("region", lambda p: p.region),
        ("as of", lambda p: p.as_of),
    ]
    return table("Prices (USD)", columns, sorted(cat.prices, key=lambda p: (p.system, p.pricing.value)))


def models_table(models: list[Model]) -> Table:
    columns: list[Column] = [
        ("id", lambda m: m.id),
        ("params", lambda m: f"{m.params() / 1e9:,.2f}B"),
        ("active", lambda m: f"{m.active_params() / 1e9:,.2f}B"),
        ("layers", lambda m: str(m.layers)),
        ("hidden", lambda m: str(m.hidden)),
        ("heads/kv", lambda m: f"{m.heads}/{m.kv_heads}"),
        ("vocab", lambda m: f"{m.vocab:,}"),
        ("KV bytes/token", lambda m: f"{m.kv_bytes_per_token():,.0f}"),
    ]
    return table("Model library", columns, sorted(models, key=lambda m: m.id), left=("id",))


def record_table(d: dict[str, Any], title: str | None = None) -> Table:
    t = Table(title=fmt.safe(title or str(d.get("name", d.get("id", "")))), show_header=False)
    t.add_column("key", style="bold")
    t.add_column("value", overflow="fold")
    for k, v in d.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b:.4g}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items()) or "—"
        elif isinstance(v, float):
            v = f"{v:,.6g}"
        t.add_row(fmt.safe(k), fmt.safe(v, 4000))
    return t


def _serve_interval(console: Console, b: ServeResult) -> None:
    """The 80% intervals of the output rate and of TPOT (nothing where the chip has no fit)."""
    iv = b.interval
    if iv is None:
        return
    for what, lo, hi, unit in (
        ("output tokens/s", b.output_tokens_per_s_low, b.output_tokens_per_s_high, lambda v: f"{v:,.0f}"),
        ("TPOT", b.tpot_s_low, b.tpot_s_high, fmt.duration),
    ):
        if lo is not None and hi is not None:
            console.print(interval_line(iv, what, lo, hi, unit))


def _serve_money(console: Console, b: ServeResult) -> None:
    """The price per million output tokens and the energy per output token, where known."""
    usd, j = b.usd_per_million_output_tokens, b.joules_per_output_token
    for line in fmt.money_lines(
        b.economics,
        None if usd is None else f"{fmt.money(usd)} per million output tokens",
        None if j is None else f"{j:.2f} J per output token",
    ):
        console.print(line)


def _estimate_interval(console: Console, e: TrainResult) -> None:
    if e.interval is None or e.step_time_s_low is None or e.step_time_s_high is None:
        console.print("[dim]no prediction interval: this chip has no fitted efficiencies (xpuplan fit)[/]")
        return
    lo, hi = e.step_time_s_low, e.step_time_s_high
    console.print(interval_line(e.interval, "the step time", lo, hi, fmt.duration))
    if e.time_to_train_s and e.time_to_train_s_low is not None and e.time_to_train_s_high is not None:
        lo, hi = e.time_to_train_s_low, e.time_to_train_s_high
        console.print(interval_line(e.interval, "the time to train", lo, hi, fmt.duration))


def _estimate_rows(e: TrainResult) -> Table:
    t = Table(title=f"{e.layout.describe()} on {e.chips:,} chips", header_style="bold")
    t.add_column("step time part")
    t.add_column("time", justify="right")
    t.add_column("share", justify="right")
    for p in e.time_parts:
        if p.value > 0:
            t.add_row(p.name, fmt.duration(p.value), fmt.pct(p.value / e.step_time_s))
    t.add_row("[bold]step[/]", f"[bold]{fmt.duration(e.step_time_s)}[/]", "")
    return t


TRAIN_FIXES = (
    "to make it fit: add --search (every layout: TP, PP, CP, ZeRO/FSDP, recompute), more chips "
    "(--chips), a smaller --global-batch or --seq-len, or another format (--precision fp8)"
)


def print_estimate(console: Console, e: TrainResult, assumed: bool = False) -> None:
    """One training step. ``assumed``: no layout was given, so the default one (TP1 PP1, DP over
    every chip) was estimated: say so, and point at --search."""
    if assumed:
        console.print(
            f"[yellow]no layout given: assumed {e.layout.describe()} (TP1 PP1, data parallel over every "
            "chip); add --search to find the best layout[/]"
        )
    if not e.feasible:
        console.print(f"[bold red]infeasible:[/] {e.reason}")
        console.print(f"  {TRAIN_FIXES}")
    console.print(_estimate_rows(e))
    mem = Table(title="memory per device", header_style="bold")
    mem.add_column("kind")
    mem.add_column("GiB", justify="right")
    for p in e.memory_parts:
        mem.add_row(p.name, f"{p.value / GIB:.1f}")
    mem.add_row(
        "[bold]total / capacity[/]",
        f"{e.memory_total_bytes / GIB:.1f} / {e.memory_capacity_bytes / GIB:.1f}",
    )
    console.print(mem)
    console.print(
        f"tokens/s {e.tokens_per_s:,.0f}  per chip {e.tokens_per_s_per_chip:,.1f}  "
        f"MFU {fmt.pct(e.mfu)}  HFU {fmt.pct(e.hfu)}"
        + (f"  time to train {fmt.duration(e.time_to_train_s)}" if e.time_to_train_s else "")
    )
    _estimate_interval(console, e)
    console.print(f"[dim]{TRAIN_LEGEND}[/]")


def _mfu_flag(console: Console, r: TrainSearchResult) -> None:
    """Flag a best MFU above the best comparable published run on the chip, and say why."""
    ref, above = r.published_mfu, r.mfu_above_published
    if ref is None or above is None or r.best is None:
        return
    console.print(
        f"[yellow]check: MFU {fmt.pct(r.best.mfu)} is {above:.2f}× the best comparable published run on this "
        f"chip ({fmt.pct(ref.mfu)}, {fmt.safe(ref.case)}: {ref.params / 1e9:,.0f}B on "
        f"{ref.chips:,} chips). No comparable published run reached it; the model may miss what "
        f"limits it at this scale (stragglers, exposed collectives, kernel efficiency). Treat it as a "
        f"bound, not a forecast.[/]"
    )
    gaps = ref.gaps(r.best.time_parts, r.best.step_time_s)
    if gaps:
        terms = ", ".join(f"{g.term} {fmt.pct(g.published)} there, {fmt.pct(g.here)} here" for g in gaps)
        console.print(
            f"[yellow]  where the time goes: by the model, the published run's layout spends more of its "
            f"step on {terms} (shares of the step; xpuplan.perf.train TIME_PARTS).[/]"
        )


def _search_money(console: Console, b: TrainResult) -> None:
    """The best layout's cost and energy per step, where the catalog has a price and a TDP."""
    usd, per_m, j = b.usd_per_step, b.usd_per_million_tokens, b.joules_per_step
    for line in fmt.money_lines(
        b.economics,
        None
        if usd is None or per_m is None
        else f"{fmt.money(usd)} per step, {fmt.money(per_m)} per million tokens",
        None if j is None else f"energy {fmt.energy(j)} per step",
    ):
        console.print(line)


def print_search(console: Console, r: TrainSearchResult) -> None:
    console.print(f"evaluated {r.layouts_evaluated:,} layouts, {r.layouts_feasible:,} feasible")
    if r.chips_idle:
        console.print(
            f"[yellow]no layout uses all {r.chips_asked:,} chips ({fmt.safe(r.why_none)}): the best "
            f"layout runs on {r.chips_used:,} of them and {r.chips_idle:,} sit idle[/]"
        )
    if r.reasons:
        rt = Table(title="why layouts were rejected", header_style="bold")
        rt.add_column("reason")
        rt.add_column("layouts", justify="right")
        for rc in r.reasons:
            rt.add_row(rc.reason, f"{rc.count:,}")
        console.print(rt)
    if r.best is None:
        console.print(f"[bold red]no layout fits:[/] {r.why_none}")
        console.print(
            "  to make one fit: more chips (--chips), a smaller --global-batch or --seq-len, or another "
            "format (--precision fp8); degrees you fixed (--tp, --pp, ...) narrow the search"
        )
        return
    t = Table(title="best layouts", header_style="bold")
    for col in ("#", "layout", "step", "tokens/s/chip", "MFU", "memory GiB"):
        t.add_column(col, justify="left" if col == "layout" else "right")
    for i, (e, label) in enumerate(zip(r.top, layout_labels([e.layout for e in r.top]), strict=True), 1):
        t.add_row(
            str(i),
            label,
            fmt.duration(e.step_time_s),
            f"{e.tokens_per_s_per_chip:,.1f}",
            fmt.pct(e.mfu),
            f"{e.memory_total_bytes / GIB:.1f}",
        )
    console.print(t)
    _mfu_flag(console, r)
    console.print(f"[dim]{TRAIN_LEGEND}[/]")
    console.print(_estimate_rows(r.best))
    _estimate_interval(console, r.best)
    _search_money(console, r.best)


def layout_labels(layouts: list[Any]) -> list[str]:
    """Each layout in the tables' notation; where two rows would read the same, the overlap
    switches the notation leaves out (TP collectives overlapped with GEMMs, DP gradient reduction
    overlapped with the backward pass) are said beside them, so no two rows look alike."""
    labels = [lay.describe() for lay in layouts]
    seen = Counter(labels)
    out = []
    for lay, lab in zip(layouts, labels, strict=True):
        if seen[lab] > 1:
            tp = "TP overlap on" if lay.tp_overlap else "TP overlap off"
            dp = "DP overlap on" if lay.dp_overlap else "DP overlap off"
            lab = f"{lab} ({tp}, {dp})"
        out.append(lab)
    return out


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = [(k, summary[k]) for k in ("train", "infer") if k in summary]
    for group in ("by_vendor", "by_class", "by_chip"):
        rows += [(f"{v}/{task}", st) for v, d in summary.get(group, {}).items() for task, st in d.items()]
    return rows


def print_validation(console: Console, results: list[Any], summary: dict[str, Any]) -> None:
    t = Table(title="validation: predicted vs measured", header_style="bold")
    for col in ("case", "metric", "predicted", "measured", "error"):
        t.add_column(col, justify="left" if col in ("case", "metric") else "right", overflow="fold")
    for r in results:
        if r.predicted is None:
            t.add_row(
                fmt.safe(r.id),
                fmt.safe(r.metric or "—"),
                "—",
                "—" if r.measured is None else f"{r.measured:,.4g}",
                f"[dim]{fmt.safe(r.reason, 1000)}[/]",
            )
        else:
            err = r.error or 0.0
            colour = "green" if err <= 0.1 else ("yellow" if err <= 0.25 else "red")
            t.add_row(
                fmt.safe(r.id),
                fmt.safe(r.metric),
                f"{r.predicted:,.4g}",
                f"{r.measured:,.4g}",
                f"[{colour}]{err:.1%}[/]",
            )
    console.print(t)
    s = Table(
        title="summary (in-sample: parameters fitted on these cases; see --cv source)", header_style="bold"
    )
    for col in ("set", "n", "predicted", "median error", "p90 error"):
        s.add_column(col)
    for name, st in _summary_rows(summary):
        s.add_row(*_error_cells(name, st))
    console.print(s)
    console.print(f"{summary.get('chips_with_cases', 0)} chips with predicted cases")


def _error_cells(name: str, st: dict[str, Any]) -> tuple[str, ...]:
    """A summary row's set, cases, cases predicted, median and p90 error."""
    return (
        fmt.safe(name),
        str(st["n"]),
        str(st["predicted"]),
        fmt.pct(st["median_error"]),
        fmt.pct(st["p90_error"]),
    )


def print_cross_validation(
    console: Console, by: str, in_sample: list[Any], cv: list[Any], coverage: float
) -> None:
    """Cross-validated errors (each case predicted by a fit that did not see its source) beside
    the in-sample ones; the headline rows last, where a short tail of the output shows them."""
    from xpuplan.validation import summarise

    cvs, ins = summarise(cv), summarise(in_sample)
    t = Table(title=f"cross-validation (leave one {by} out) vs in-sample", header_style="bold")
    for col in ("set", "n", "predicted", "CV median", "CV p90", "in-sample median", "in-sample p90"):
        t.add_column(col, justify="left" if col == "set" else "right")
    rows = _summary_rows(cvs)
    ins_rows = dict(_summary_rows(ins))
    for name, st in [*rows[2:], *rows[:2]]:
        i = ins_rows.get(name, {})
        t.add_row(*_error_cells(name, st), fmt.pct(i.get("median_error")), fmt.pct(i.get("p90_error")))
    console.print(t)
    console.print(
        f"80% prediction intervals cover {coverage:.0%} of the cases under cross-validation "
        f"({cvs.get('chips_with_cases', 0)} chips, {sum(1 for r in cv if r.predicted is not None)} cases predicted)"
    )


def print_fit(console: Console, res: Any) -> None:
    t = Table(title="fitted efficiencies (xpuplan fit)", header_style="bold")
    for col in ("chip", "parameter", "value", "basis", "cases"):
        t.add_column(col, justify="right" if col in ("value", "cases") else "left")
    for (chip, p), f in sorted(res.fits.items()):
        t.add_row(chip, p, f"{f.value:.2f}", f.basis, str(len(f.cases)))
    for key, f in sorted(getattr(res, "stack_fits", {}).items()):
        t.add_row(key, f.param, f"{f.value * 1e6:.0f} µs", f.basis, str(len(f.cases)))
    o = getattr(res, "roofline", None)
    if o is not None:
        t.add_row("(all chips)", o.param, f"{o.value:g}", o.basis, str(len(o.cases)))
    console.print(t)
    i = Table(title="80% prediction intervals (measured / predicted, from cross-validated errors)")
    for col in ("class", "low", "high", "n"):
        i.add_column(col)
    for k, v in res.intervals.items():
        i.add_row(
            k, f"{v['low']:.2f}", f"{v['high']:.2f}", str(v["n"]) + (" (pooled)" if v["pooled"] else "")
        )
    console.print(i)
    console.print(f"coverage under cross-validation: {res.coverage:.0%}")


def print_serve(console: Console, r: ServeSearchResult | EncoderSearchResult) -> None:
    """A serving search result: the best configuration, its economics, and the latency curve."""
    if isinstance(r, EncoderSearchResult):
        print_encoder(console, r)
        return
    b = r.best
    if not search_header(console, r, "serving"):
        console.print(
            "  to make one fit: more chips (--chips), smaller weights (--weights fp8 or int4), "
            "an fp8 KV cache (--kv fp8), or looser targets (--ttft-ms, --tpot-ms)"
        )
        return
    console.print(
        f"best: TP{b.tp} PP{b.pp}"
        + (f" EP{b.ep}" if (b.ep or 1) > 1 else "")
        + f" × {b.replicas} replica(s), {b.batch} sequences in flight, {b.weights} weights ({b.mode})"
    )
    if r.software:
        console.print(
            f"[dim]priced under the {r.software} stack's constants (data/stacks; --software to change)[/]"
        )
    if r.kv_requested and b.kv != r.kv_requested:
        console.print(
            f"[yellow]KV cache in {b.kv}, not the {r.kv_requested} asked for: {b.weights} weights come "
            "with an fp8 KV cache on a chip with fp8 (as in TensorRT-LLM and vLLM)[/]"
        )
    ttft_t, tpot_t = r.ttft_target_s, r.tpot_target_s
    t = Table(header_style="bold")
    for col in (
        "TTFT" + (f" (≤ {fmt.duration(ttft_t)})" if ttft_t else ""),
        "TPOT" + (f" (≤ {fmt.duration(tpot_t)})" if tpot_t else ""),
        "end-to-end",
        "output tok/s",
        "total tok/s",
        "requests/s",
        "weights GiB",
        "KV GiB",
    ):
        t.add_column(col, justify="right")
    t.add_row(
        fmt.duration(b.ttft_s),
        fmt.duration(b.tpot_s),
        fmt.duration(b.e2e_s),
        f"{b.output_tokens_per_s:,.0f}",
        f"{b.total_tokens_per_s:,.0f}",
        f"{b.requests_per_s:,.2f}",
        f"{b.weights_gib:.1f}",
        f"{b.kv_gib:.1f}",
    )
    console.print(t)
    _serve_interval(console, b)
    _serve_money(console, b)
    c = Table(title="latency–throughput curve (same layout, batch varied)", header_style="bold")
    for col in ("batch", "TTFT", "TPOT", "output tok/s"):
        c.add_column(col, justify="right")
    for p in r.curve:
        c.add_row(
            str(p.batch), fmt.duration(p.ttft_s), fmt.duration(p.tpot_s), f"{p.output_tokens_per_s:,.0f}"
        )
    console.print(c)

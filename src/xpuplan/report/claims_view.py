"""Claims: the verdict table, one claim's working, a Markdown table for docs, and the JSON form."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from xpuplan.claims.engine import CheckResult, ClaimResult, Judgement, Verdict, fmt_threshold, fmt_value
from xpuplan.claims.spec import Claimed
from xpuplan.report import fmt

VERDICT_STYLE = {
    Verdict.SUPPORTED: "green",
    Verdict.NOT_SUPPORTED: "red",
    Verdict.UNVERIFIABLE: "yellow",
    Verdict.OUTSIDE: "dim",
}


def claims_dicts(results: list[ClaimResult]) -> list[dict[str, Any]]:
    """The JSON form: every claim with its verdict, figures, conditions and checks."""
    return [r.to_dict() for r in results]


def claimed_text(c: Claimed | None) -> str:
    if c is None:
        return "—"
    figure = (
        fmt_value(c.low, c.unit)
        if c.low == c.high
        else f"{fmt_value(c.low, c.unit)}–{fmt_value(c.high, c.unit)}"
    )
    return f"{c.kind.value.replace('_', ' ')} {figure}"


def computed_text(span: tuple[float, float] | None, unit: str) -> str:
    if span is None:
        return "—"
    lo, hi = span
    if abs(hi - lo) <= 1e-9 * max(abs(hi), 1.0):
        return fmt_value(lo, unit)
    return f"{fmt_value(lo, unit)} to {fmt_value(hi, unit)}"


def interval_text(j: Judgement | CheckResult) -> str:
    """', 80% interval 1.05× to 1.62×' (empty when the figure has none)."""
    iv = j.interval
    return "" if iv is None else f", 80% interval {fmt_value(iv[0], j.unit)} to {fmt_value(iv[1], j.unit)}"


def _verdict(v: Verdict | None) -> str:
    if v is None:
        return "[dim]figure only[/]"
    return f"[{VERDICT_STYLE[v]}]{v.value}[/]"


def when(j: Judgement) -> str:
    """'latest prices' or 'prices on record by 2024-12-03'."""
    return "latest prices" if j.on is None else f"prices on record by {j.on}"


def verdict_notes(j: Judgement) -> list[str]:
    """What qualifies a verdict: the facts it lacks, or that an agreement is not independent."""
    notes = []
    if j.decidable is False:
        notes.append(
            "not decidable within the model's accuracy: the 80% interval straddles the claimed figure"
        )
    if j.verdict is Verdict.UNVERIFIABLE and j.missing:
        notes.append("not on record: " + "; ".join(j.missing))
    if j.verdict is Verdict.SUPPORTED and not j.independent:
        notes.append("not independent evidence: rests on " + "; ".join(j.assumed))
    return notes


def dated_text(r: ClaimResult) -> tuple[str, list[str]]:
    """The verdict as of the claim's date (its words, its notes), or why it is the same."""
    if r.then is None:
        return f"{r.judged_on}: no check uses prices, as with the latest", []
    j = r.then
    computed = (
        "" if j.computed is None else f", computed {computed_text(j.computed, j.unit)}{interval_text(j)}"
    )
    return f"{r.judged_on} (prices on record by then): {j.verdict.value}{computed}", verdict_notes(j)


def prices_text(r: ClaimResult) -> list[str]:
    """The prices the verdicts used, with their dates: the latest, then those of the claim's date."""
    lines = ["latest: " + "; ".join(r.now.prices)] if r.now.prices else []
    if r.then is not None:
        lines.append(f"by {r.judged_on}: " + ("; ".join(r.then.prices) or "none on record"))
    return lines or ["no prices used"]


def _figures(r: ClaimResult) -> str:
    """The claimed and the computed figure (with its interval) of a claim's headline."""
    return f"claimed {claimed_text(r.claimed)}, computed {computed_text(r.computed, r.unit)}{interval_text(r.now)}"


def _verdict_lines(r: ClaimResult, note: str, dated: str) -> list[str]:
    """The notes on the headline verdict, its verdict as of the claim's date, and that verdict's
    notes; ``note`` and ``dated`` are the lines' templates (``{}``: the text)."""
    on_date, notes = dated_text(r)
    return [
        *(note.format(n) for n in verdict_notes(r.now)),
        dated.format(on_date),
        *(note.format(n) for n in notes),
    ]


def print_claims(console: Console, results: list[ClaimResult]) -> None:
    """Each claim: the verdict on its headline statement with the latest prices and as of the
    claim's date, the computed figure, the conditions and the prices' dates."""
    console.print("[bold]Claims checked against the model: the verdict on each headline statement[/]")
    for r in results:
        console.print()
        console.print(f"[bold]{r.id}. {r.statement}[/]", soft_wrap=True)
        figure = f" [dim]({r.now.figure_of})[/]" if r.now.figure_of else ""
        console.print(
            f"   {_verdict(r.verdict)}{f' ({when(r.now)})' if r.now.prices else ''}: {_figures(r)}{figure}",
            soft_wrap=True,
        )
        for line in _verdict_lines(r, "   [dim]{}[/]", "   as of the claim's date, {}"):
            console.print(line, soft_wrap=True)
        for c in r.conditions:
            console.print(f"   • {c}", soft_wrap=True)
        for line in prices_text(r):
            console.print(f"   [dim]prices {line}[/]", soft_wrap=True)
    console.print()
    console.print("[dim]Working for one claim: xpuplan claims show ID. Method: docs/claims.md.[/]")


def _cases_table(c: CheckResult) -> Table:
    t = Table(show_header=True, box=None, pad_edge=False)
    for col in ("case", "computed", "80% interval", "meets claim", "break-even", "inputs / note"):
        t.add_column(col, overflow="fold")
    for case in c.cases:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[case.met]
        if case.met is not None and not case.decided(c.claimed):
            met += " [yellow](not decidable)[/]"
        value = "—" if case.value is None else fmt_value(case.value, c.unit)
        iv = "—" if case.interval is None else "–".join(fmt_value(x, c.unit) for x in case.interval)
        th = "—" if case.threshold is None else fmt_threshold(case.threshold)
        t.add_row(
            fmt.safe(case.label), value, iv, met, th, fmt.safe(_inputs_text(case.inputs, case.note), 4000)
        )
    return t


def _inputs_text(inputs: Any, note: str) -> str:
    parts = []
    for side in ("subject", "baseline"):
        run = inputs.get(side) if hasattr(inputs, "get") else None
        if isinstance(run, dict) and run.get("system"):
            price = run.get("usd_per_chip_hour")
            money = (
                "no price"
                if price is None
                else f"${price:,.3f}/chip-h {run.get('pricing')} {run.get('price_as_of')}"
            )
            layout = run.get("layout") or run.get("why") or ""
            parts.append(f"{run['system']} × {run['chips']:,}: {layout}; {money}")
    if note:
        parts.append(note)
    return "\n".join(parts)


def print_claim(console: Console, r: ClaimResult) -> None:
    """One claim's working: provenance, the headline verdict (latest prices and as of the claim's
    date), then each check with its assumptions and cases."""
    console.print(f"[bold]Claim {r.id}: {r.title}[/]  {_verdict(r.verdict)}")
    for key in ("wording", "statement", "who", "source", "as_of", "source_says", "compares"):
        value = getattr(r, key)
        if value:
            console.print(f"[bold]{key.replace('_', ' ')}:[/] {value}", soft_wrap=True)
    console.print(
        f"[bold]verdict ({when(r.now)}):[/] {_verdict(r.verdict)}, {_figures(r)}"
        + (f" ({r.now.figure_of})" if r.now.figure_of else ""),
        soft_wrap=True,
    )
    for line in _verdict_lines(r, "  {}", "[bold]as of the claim's date:[/] {}"):
        console.print(line, soft_wrap=True)
    for line in prices_text(r):
        console.print(f"  price: {line}", soft_wrap=True)
    dated_checks = {c.label: c for c in r.then.checks} if r.then is not None else {}
    for c in r.checks:
        _print_check(console, c)
        then = dated_checks.get(c.label)
        if then is not None and then is not c:
            console.print(f"  [bold]as of {then.on}:[/] {_verdict(then.verdict)}")
            if then.cases:
                console.print(_cases_table(then))
            for line in then.conditions:
                console.print(f"  → {line}", soft_wrap=True)


def _print_check(console: Console, c: CheckResult) -> None:
    console.print()
    console.print(
        f"[bold]{c.label}[/]  ({c.method}, {c.metric}, over {c.over.value} cases)  claimed "
        f"{claimed_text(c.claimed)}, computed {computed_text(c.computed, c.unit)}{interval_text(c)}  "
        f"{_verdict(c.verdict)}"
        + (" [yellow](not decidable within the model's accuracy)[/]" if c.decidable is False else "")
    )
    if c.note:
        console.print(f"  [dim]{c.note}[/]", soft_wrap=True)
    for a in c.assumptions if c.method != "outside" else ():
        console.print(f"  assumption: {a}", soft_wrap=True)
    for a in c.assumed:
        console.print(f"  assumed input: {a}", soft_wrap=True)
    for m in c.missing:
        console.print(f"  not on record: {m}", soft_wrap=True)
    if c.cases:
        console.print(_cases_table(c))
    for line in c.conditions:
        console.print(f"  → {line}", soft_wrap=True)


def _md(lines: list[str]) -> str:
    return "<br>".join(x.replace("|", "\\|") for x in lines)


def claims_markdown(results: list[ClaimResult]) -> str:
    """The verdict table as Markdown (docs/claims.md is generated with it)."""
    rows = [
        "| # | Headline statement | Claimed | Computed | Verdict (latest prices) | As of the claim's date "
        "| Conditions | Prices |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        dated, dated_notes = dated_text(r)
        cells = (
            r.id,
            _md([r.statement]),
            claimed_text(r.claimed),
            computed_text(r.computed, r.unit)
            + (f" ({r.now.figure_of.split(':')[0]})" if r.now.figure_of else "")
            + (interval_text(r.now).replace(", 80% interval", "; 80%:")),
            _md([f"**{r.verdict.value}**", *verdict_notes(r.now)]),
            _md([dated, *dated_notes]),
            _md(list(r.conditions)),
            _md(prices_text(r)),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"

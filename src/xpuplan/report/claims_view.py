"""Claims: the verdict table, one claim's working, a Markdown table for docs, and the JSON form."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from xpuplan.claims.engine import CheckResult, ClaimResult, Verdict, fmt_threshold, fmt_value
from xpuplan.claims.spec import Claimed
from xpuplan.report import fmt

VERDICT_STYLE = {
    Verdict.SUPPORTED: "green",
    Verdict.CONDITIONAL: "yellow",
    Verdict.NOT_SUPPORTED: "red",
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


def _verdict(v: Verdict | None) -> str:
    if v is None:
        return "[dim]figure only[/]"
    return f"[{VERDICT_STYLE[v]}]{v.value}[/]"


def claims_table(results: list[ClaimResult]) -> Table:
    t = Table(title="Claims checked against the model", show_lines=True)
    for col in ("#", "Claim", "Claimed", "Computed", "Verdict", "Conditions"):
        t.add_column(col, overflow="fold")
    for r in results:
        t.add_row(
            fmt.safe(r.id),
            fmt.safe(r.title, 1000),
            fmt.safe(claimed_text(r.claimed), 1000),
            computed_text(r.computed, r.unit),
            _verdict(r.verdict),
            "\n".join(f"• {fmt.safe(c, 2000)}" for c in r.conditions),
        )
    return t


def print_claims(console: Console, results: list[ClaimResult]) -> None:
    console.print(claims_table(results))
    console.print("[dim]Working for one claim: xpuplan claims show ID. Method: docs/claims.md.[/]")


def _cases_table(c: CheckResult) -> Table:
    t = Table(show_header=True, box=None, pad_edge=False)
    for col in ("case", "computed", "meets claim", "break-even", "inputs / note"):
        t.add_column(col, overflow="fold")
    for case in c.cases:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[case.met]
        value = "—" if case.value is None else fmt_value(case.value, c.unit)
        th = "—" if case.threshold is None else fmt_threshold(case.threshold)
        t.add_row(fmt.safe(case.label), value, met, th, fmt.safe(_inputs_text(case.inputs, case.note), 4000))
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
    """One claim's working: provenance, then each check with its assumptions and cases."""
    d = r.details
    console.print(f"[bold]Claim {fmt.safe(r.id)}: {fmt.safe(r.title, 1000)}[/]  {_verdict(r.verdict)}")
    for key in ("wording", "who", "source", "as_of", "source_says", "compares"):
        value = r.wording if key == "wording" else d.get(key)
        if value:
            console.print(f"[bold]{key.replace('_', ' ')}:[/] {fmt.safe(value, 4000)}", soft_wrap=True)
    for c in r.checks:
        console.print()
        console.print(
            f"[bold]{fmt.safe(c.label)}[/]  ({c.method}, {c.metric})  claimed {fmt.safe(claimed_text(c.claimed))}, "
            f"computed {computed_text(c.computed, c.unit)}  {_verdict(c.verdict)}"
        )
        if c.note:
            console.print(f"  [dim]{fmt.safe(c.note, 4000)}[/]", soft_wrap=True)
        for a in c.assumptions if c.method != "outside" else ():
            console.print(f"  assumption: {fmt.safe(a, 2000)}", soft_wrap=True)
        if c.cases:
            console.print(_cases_table(c))
        for line in c.conditions:
            console.print(f"  → {fmt.safe(line, 2000)}", soft_wrap=True)


def claims_markdown(results: list[ClaimResult]) -> str:
    """The verdict table as Markdown (docs/claims.md is generated with it)."""
    rows = [
        "| # | Claim | Claimed | Computed | Verdict | Conditions |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        conds = "<br>".join(c.replace("|", "\\|") for c in r.conditions)
        cells = (
            fmt.safe(r.id),
            fmt.safe(r.title, 1000),
            fmt.safe(claimed_text(r.claimed), 1000),
            computed_text(r.computed, r.unit),
            f"**{r.verdict.value}**",
            conds,
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"

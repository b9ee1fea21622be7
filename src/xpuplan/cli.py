"""Command line: parse → call the public API → render. The only module that prints or exits.

Every command has ``--json``. User errors (``XpuplanError``) become one line on stderr and exit
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from xpuplan import __version__
from xpuplan.errors import InputError, XpuplanError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    help="Plan AI compute across every kind of accelerator.",
)
catalog_app = typer.Typer(no_args_is_help=True, help="The hardware catalog: chips, systems, prices.")
model_app = typer.Typer(no_args_is_help=True, help="The model library and Hugging Face config import.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(model_app, name="model")

out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)
_STATE = {"debug": False}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _emit_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str, allow_nan=False))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xpuplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _STATE["debug"] = debug


def _positive(name: str, value: float | None, integer: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value}", f"Give {name} > 0")


# ---- catalog ---------------------------------------------------------------------------------


@catalog_app.command("chips")
def catalog_chips(json_: JsonOpt = False) -> None:
    """List every chip with its peak FLOP/s, memory and power."""
    from xpuplan import report
    from xpuplan.hardware import default_catalog

    cat = default_catalog()
    if json_:
        _emit_json([report.chip_dict(c) for c in cat.chips.values()])
    else:
        out.print(report.chips_table(list(cat.chips.values())))


@catalog_app.command("systems")
def catalog_systems(json_: JsonOpt = False) -> None:
    """List every system: chips per node, scale-up domain, scale-out network."""
    from xpuplan import report
    from xpuplan.hardware import default_catalog

    cat = default_catalog()
    if json_:
        _emit_json([report.system_dict(s) for s in cat.systems.values()])
    else:
        out.print(report.systems_table(list(cat.systems.values())))


@catalog_app.command("prices")
def catalog_prices(json_: JsonOpt = False) -> None:
    """List every published price, per node-hour and per chip-hour."""
    from xpuplan import report
    from xpuplan.hardware import default_catalog

    cat = default_catalog()
    if json_:
        _emit_json([report.price_dict(p, cat) for p in cat.prices])
    else:
        out.print(report.prices_table(cat))


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="Chip or system id or alias.")], json_: JsonOpt = False
) -> None:
    """Show one chip or system record with its sources."""
    from xpuplan import report
    from xpuplan.hardware import Chip, default_catalog

    cat = default_catalog()
    rec = cat.find(name)
    d = report.chip_dict(rec) if isinstance(rec, Chip) else report.system_dict(rec)
    if json_:
        _emit_json(d)
    else:
        out.print(report.record_table(d))


# ---- models ----------------------------------------------------------------------------------


@model_app.command("list")
def model_list(json_: JsonOpt = False) -> None:
    """List the model library."""
    from xpuplan import report
    from xpuplan.workload import model_library

    models = list(model_library().values())
    if json_:
        _emit_json([report.model_dict(m) for m in models])
    else:
        out.print(report.models_table(models))


@model_app.command("show")
def model_show(
    name: Annotated[str | None, typer.Argument(help="Model id or alias.")] = None,
    hf_config: Annotated[Path | None, typer.Option("--hf-config", help="A Hugging Face config.json.")] = None,
    seq_len: Annotated[int, typer.Option(help="Context for attention FLOPs.")] = 4096,
    json_: JsonOpt = False,
) -> None:
    """Parameters, FLOPs per token and KV-cache bytes per token of one model."""
    from xpuplan import report
    from xpuplan.workload import get_model, load_hf_config

    _positive("--seq-len", seq_len)
    if hf_config is not None:
        model = load_hf_config(hf_config)
    elif name:
        model = get_model(name)
    else:
        raise InputError("give a model name or --hf-config FILE", "Run 'xpuplan model list' for names")
    d = report.model_dict(model, seq_len)
    if json_:
        _emit_json(d)
    else:
        out.print(report.record_table(d, title=model.name))


# ---- training ----------------------------------------------------------------------------------


@app.command("train")
def train(
    model: Annotated[str, typer.Option("--model", help="Model id or alias (xpuplan model list).")],
    chip: Annotated[str, typer.Option("--chip", help="Chip or system id or alias.")],
    chips: Annotated[int, typer.Option("--chips", help="Number of chips.")],
    global_batch: Annotated[int, typer.Option("--global-batch", help="Sequences per step.")] = 1024,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Tokens per sequence.")] = 4096,
    precision: Annotated[str, typer.Option(help="bf16 | fp16 | fp8 | fp32 | int8")] = "bf16",
    system: Annotated[str | None, typer.Option(help="System id (default: chosen per chip).")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel degree.")] = None,
    pp: Annotated[int | None, typer.Option(help="Pipeline-parallel degree.")] = None,
    dp: Annotated[int | None, typer.Option(help="Data-parallel degree (default: implied).")] = None,
    cp: Annotated[int | None, typer.Option(help="Context-parallel degree.")] = None,
    ep: Annotated[int | None, typer.Option(help="Expert-parallel degree.")] = None,
    vpp: Annotated[int | None, typer.Option(help="Virtual pipeline stages per rank.")] = None,
    microbatch: Annotated[int | None, typer.Option(help="Sequences per micro-batch.")] = None,
    zero: Annotated[int | None, typer.Option(help="ZeRO stage 0-3 (3 = FSDP).")] = None,
    sp: Annotated[bool | None, typer.Option("--sp/--no-sp", help="Sequence parallelism.")] = None,
    recompute: Annotated[str | None, typer.Option(help="none | selective | full")] = None,
    search: Annotated[
        bool, typer.Option("--search", help="Search every layout; stated degrees are fixed.")
    ] = False,
    top: Annotated[int, typer.Option("--top", help="With --search: how many layouts to show.")] = 5,
    tokens: Annotated[float | None, typer.Option(help="Tokens to train on, for time-to-train.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Predict a training step (time breakdown, memory, MFU) or search for the best layout."""
    from xpuplan import api, report

    for n, v in (
        ("--chips", chips),
        ("--global-batch", global_batch),
        ("--seq-len", seq_len),
        ("--top", top),
        ("--tokens", tokens),
    ):
        _positive(n, v)
    fixed = {
        k: v
        for k, v in dict(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, microbatch=microbatch, zero=zero).items()
        if v is not None
    }
    for k, v in fixed.items():
        if v < (0 if k == "zero" else 1):
            raise InputError(f"--{k} must be ≥ {0 if k == 'zero' else 1}, got {v}", "Give a valid degree")
    if sp is not None:
        fixed["sp"] = int(sp)
    if recompute is not None:
        fixed["recompute"] = api.parse_recompute(recompute)
    if search:
        with report.progress_bar(out, quiet=json_) as tick:
            res = api.search(
                model,
                chip,
                chips,
                global_batch,
                seq_len,
                precision,
                system=system,
                fixed=fixed,
                top_k=top,
                tokens=tokens,
                progress=tick,
            )
        if json_:
            _emit_json(res.to_dict())
        else:
            report.print_search(out, res)
        return
    est = api.estimate(
        model,
        chip,
        chips,
        global_batch,
        seq_len,
        precision,
        system=system,
        fixed=fixed,
        tokens=tokens,
    )
    if json_:
        _emit_json(est.to_dict())
    else:
        report.print_estimate(out, est)


# ---- serving -------------------------------------------------------------------------------------


@app.command("serve")
def serve_cmd(
    model: Annotated[str, typer.Option("--model", help="Model id or alias (xpuplan model list).")],
    chip: Annotated[str, typer.Option("--chip", help="Chip or system id or alias.")],
    chips: Annotated[int, typer.Option("--chips", help="Number of chips.")] = 1,
    input_len: Annotated[int, typer.Option("--input-len", help="Prompt tokens per request.")] = 1000,
    output_len: Annotated[int, typer.Option("--output-len", help="Generated tokens per request.")] = 250,
    batch: Annotated[int | None, typer.Option(help="Static batch: requests that start together.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Continuous batching: requests in flight.")] = None,
    rate: Annotated[float | None, typer.Option(help="Requests per second to sustain.")] = None,
    ttft_ms: Annotated[float | None, typer.Option("--ttft-ms", help="Time-to-first-token target.")] = None,
    tpot_ms: Annotated[float | None, typer.Option("--tpot-ms", help="Time-per-output-token target.")] = None,
    weights: Annotated[
        str, typer.Option(help="Weight format(s), comma-separated: bf16,fp8,int8,int4,fp4.")
    ] = "bf16",
    kv: Annotated[str, typer.Option(help="KV-cache format: bf16 | fp8.")] = "bf16",
    weight_bits: Annotated[
        float | None, typer.Option("--weight-bits", help="Average bits per weight.")
    ] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel degree (default: searched).")] = None,
    pp: Annotated[int | None, typer.Option(help="Pipeline-parallel degree (default: searched).")] = None,
    system: Annotated[str | None, typer.Option(help="System id (default: chosen per chip).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Predict serving latency and throughput, choosing TP/PP, replicas and batch under targets."""
    from xpuplan import api, report

    for n, v in (
        ("--chips", chips),
        ("--input-len", input_len),
        ("--output-len", output_len),
        ("--batch", batch),
        ("--concurrency", concurrency),
        ("--rate", rate),
        ("--ttft-ms", ttft_ms),
        ("--tpot-ms", tpot_ms),
        ("--tp", tp),
        ("--pp", pp),
        ("--weight-bits", weight_bits),
    ):
        _positive(n, v)
    formats = tuple(w.strip() for w in weights.split(",") if w.strip())
    fixed = {k: v for k, v in (("tp", tp), ("pp", pp)) if v is not None}
    res = api.serve(
        model,
        chip,
        chips,
        input_len,
        output_len,
        formats,
        kv,
        weight_bits,
        batch,
        concurrency,
        rate,
        ttft_ms,
        tpot_ms,
        system,
        fixed,
    )
    if json_:
        _emit_json(res.to_dict())
    else:
        report.print_serve(out, res)


# ---- validation --------------------------------------------------------------------------------


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="Case file (schema: shared/validation/README.md).")],
    json_: JsonOpt = False,
) -> None:
    """Predict every published case in FILE and report the errors."""
    from xpuplan import report
    from xpuplan.planner.validate import summarise, validate

    results = validate(file)
    summary = summarise(results)
    if json_:
        _emit_json({"cases": [r.to_dict() for r in results], "summary": summary})
    else:
        report.print_validation(out, results, summary)


# ---- plan ---------------------------------------------------------------------------------------


@app.command("plan")
def plan_cmd(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML (default: the built-in one).")
    ] = None,
    objective: Annotated[str | None, typer.Option(help="cost | time | energy (overrides the file).")] = None,
    pue: Annotated[
        float | None, typer.Option(help="Power usage effectiveness (overrides the default).")
    ] = None,
    csv_: Annotated[Path | None, typer.Option("--csv", help="Also write the ranked options as CSV.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Rank every system per job, plan the fleet, and show what would change the answer."""
    from dataclasses import replace

    from xpuplan import report
    from xpuplan.hardware import default_catalog
    from xpuplan.planner.plan import default_scenario, load_scenario, plan
    from xpuplan.planner.scenario import OBJECTIVES

    sc = load_scenario(scenario, default_catalog()) if scenario else default_scenario()
    if objective is not None:
        if objective not in OBJECTIVES:
            raise InputError(f"unknown objective '{objective}'", "Use cost, time or energy")
        sc = replace(sc, objective=objective)
    if pue is not None:
        if not (math.isfinite(pue) and 1.0 <= pue < 3.0):
            raise InputError(f"--pue must be in [1, 3), got {pue}", "Typical values are 1.1 to 1.6")
        sc = replace(sc, pue=pue)
    with report.progress_bar(out, quiet=json_) as tick:
        result = plan(sc, progress=tick)
    if csv_ is not None:
        _write_atomic(csv_, report.plan_csv(result))
    if json_:
        _emit_json(result.to_dict())
    else:
        report.print_plan(out, result)


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a failure never leaves half a file."""
    import os
    import tempfile

    parent = path.resolve().parent
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", "Create it or write elsewhere")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> None:
    """Entry point: run the app; user errors → one line, exit 2."""
    try:
        app(standalone_mode=False)
    except XpuplanError as e:
        if _STATE["debug"]:
            raise
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(e.one_line())}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
        raise


if __name__ == "__main__":
    main()

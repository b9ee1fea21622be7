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
from xpuplan.api import MAX_CHIPS
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
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV to FILE.")]
CalibrationOpt = Annotated[
    Path | None,
    typer.Option("--calibration", help="A file from 'xpuplan calibrate': adds its chip (e.g. --chip local)."),
]


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


def _positive(name: str, value: float | None, integer: bool = False, hi: float = math.inf) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value}", f"Give {name} > 0")
    if value > hi:
        raise InputError(f"{name} = {value:,} is beyond any sensible value", f"Give {name} ≤ {hi:,.0f}")


MAX_BATCH = 1_000_000_000  # sequences per step or in flight
MAX_TOKENS_PER_SEQ = 10_000_000


# ---- catalog ---------------------------------------------------------------------------------


@catalog_app.command("chips")
def catalog_chips(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every chip with its peak FLOP/s, memory and power."""
    from xpuplan import report
    from xpuplan.api import default_catalog

    cat = default_catalog()
    if csv_ is not None:
        _write_atomic(csv_, report.chips_csv(cat.chips.values()))
    if json_:
        _emit_json([report.chip_dict(c) for c in cat.chips.values()])
    else:
        out.print(report.chips_table(list(cat.chips.values())))


@catalog_app.command("systems")
def catalog_systems(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every system: chips per node, scale-up domain, scale-out network."""
    from xpuplan import report
    from xpuplan.api import default_catalog

    cat = default_catalog()
    if csv_ is not None:
        _write_atomic(csv_, report.systems_csv(cat.systems.values()))
    if json_:
        _emit_json([report.system_dict(s) for s in cat.systems.values()])
    else:
        out.print(report.systems_table(list(cat.systems.values())))


@catalog_app.command("prices")
def catalog_prices(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every published price, per node-hour and per chip-hour."""
    from xpuplan import report
    from xpuplan.api import default_catalog

    cat = default_catalog()
    if csv_ is not None:
        _write_atomic(csv_, report.prices_csv(cat))
    if json_:
        _emit_json([report.price_dict(p, cat) for p in cat.prices])
    else:
        out.print(report.prices_table(cat))


@catalog_app.command("refresh")
def catalog_refresh(
    from_: Annotated[
        Path,
        typer.Option(
            "--from",
            help="A cloud's price export: AWS EC2 price-list JSON, GCP SKU JSON or Azure retail prices JSON.",
        ),
    ],
    out_: Annotated[
        Path | None,
        typer.Option("--out", help="Write the rows here (prices.csv columns; default: print them)."),
    ] = None,
) -> None:
    """Turn a cloud's public price export into price rows with source and date."""
    from xpuplan.api import refresh_prices

    _writable(out_)
    text, n = refresh_prices(from_)
    if out_ is None:
        typer.echo(text, nl=False)
    else:
        _write_atomic(out_, text)
        out.print(f"{n} price rows written to {out_}; plan with them: xpuplan plan --prices {out_}")


@catalog_app.command("check")
def catalog_check(json_: JsonOpt = False) -> None:
    """Records whose source has no URL, whose date is only a year, or whose value disagrees with a note."""
    from xpuplan.api import check_catalog

    found = check_catalog()
    if json_:
        _emit_json([f.to_dict() for f in found])
        return
    for f in found:
        out.print(f"{f.problem:20} {f.record} {f.field}: {f.detail}", markup=False, highlight=False)
    out.print(f"{len(found)} findings")


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="Chip or system id or alias.")], json_: JsonOpt = False
) -> None:
    """Show one chip or system record with its sources."""
    from xpuplan import report
    from xpuplan.api import Chip, default_catalog

    cat = default_catalog()
    rec = cat.find(name)
    d = report.chip_dict(rec) if isinstance(rec, Chip) else report.system_dict(rec)
    if json_:
        _emit_json(d)
    else:
        out.print(report.record_table(d))


# ---- models ----------------------------------------------------------------------------------


@model_app.command("list")
def model_list(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List the model library."""
    from xpuplan import report
    from xpuplan.api import model_library

    models = list(model_library().values())
    if csv_ is not None:
        _write_atomic(csv_, report.models_csv(models))
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
    from xpuplan.api import get_model, load_hf_config

    _positive("--seq-len", seq_len, hi=MAX_TOKENS_PER_SEQ)
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
    calibration: CalibrationOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = None,
) -> None:
    """Predict a training step (time breakdown, memory, MFU) or search for the best layout."""
    from xpuplan import api, report

    cat = api.calibrated_catalog(calibration) if calibration is not None else None

    for n, v, hi in (
        ("--chips", chips, MAX_CHIPS),
        ("--global-batch", global_batch, MAX_BATCH),
        ("--seq-len", seq_len, MAX_TOKENS_PER_SEQ),
        ("--top", top, 1000),
        ("--tokens", tokens, 1e18),
    ):
        _positive(n, v, hi=hi)
    fixed = {
        k: v
        for k, v in dict(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, microbatch=microbatch, zero=zero).items()
        if v is not None
    }
    for k, v in fixed.items():
        if v < (0 if k == "zero" else 1):
            raise InputError(f"--{k} must be ≥ {0 if k == 'zero' else 1}, got {v}", "Give a valid degree")
        hi = {"zero": 3, "microbatch": global_batch, "vpp": MAX_CHIPS}.get(k, chips)
        if v > hi:
            raise InputError(f"--{k} = {v:,} is more than {hi:,}", "Give a degree that fits the job")
    _writable(csv_)
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
                catalog=cat,
            )
        if csv_ is not None:
            _write_atomic(csv_, report.search_csv(res))
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
        catalog=cat,
    )
    if csv_ is not None:
        _write_atomic(csv_, report.search_csv(est))
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
    input_len: Annotated[
        int | None, typer.Option("--input-len", help="Prompt tokens per request (1000; encoders: 384).")
    ] = None,
    output_len: Annotated[int, typer.Option("--output-len", help="Generated tokens per request.")] = 250,
    batch: Annotated[int | None, typer.Option(help="Static batch: requests that start together.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Continuous batching: requests in flight.")] = None,
    rate: Annotated[float | None, typer.Option(help="Requests per second to sustain.")] = None,
    ttft_ms: Annotated[float | None, typer.Option("--ttft-ms", help="Time-to-first-token target.")] = None,
    tpot_ms: Annotated[float | None, typer.Option("--tpot-ms", help="Time-per-output-token target.")] = None,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="Encoders: a request's latency target.")
    ] = None,
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
    calibration: CalibrationOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = None,
) -> None:
    """Predict serving latency and throughput, choosing TP/PP, replicas and batch under targets."""
    from xpuplan import api, report

    for n, v, hi in (
        ("--chips", chips, MAX_CHIPS),
        ("--input-len", input_len, MAX_TOKENS_PER_SEQ),
        ("--output-len", output_len, MAX_TOKENS_PER_SEQ),
        ("--batch", batch, MAX_BATCH),
        ("--concurrency", concurrency, MAX_BATCH),
        ("--rate", rate, 1e9),
        ("--ttft-ms", ttft_ms, 1e9),
        ("--tpot-ms", tpot_ms, 1e9),
        ("--latency-ms", latency_ms, 1e9),
        ("--tp", tp, chips),
        ("--pp", pp, chips),
        ("--weight-bits", weight_bits, 32),
    ):
        _positive(n, v, hi=hi)
    formats = tuple(w.strip() for w in weights.split(",") if w.strip())
    if not formats:
        raise InputError("--weights names no format", "e.g. --weights bf16,fp8")
    fixed = {k: v for k, v in (("tp", tp), ("pp", pp)) if v is not None}
    _writable(csv_)
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
        catalog=api.calibrated_catalog(calibration) if calibration is not None else None,
        latency_ms=latency_ms,
    )
    if csv_ is not None:
        _write_atomic(csv_, report.serve_csv(res))
    if json_:
        _emit_json(res.to_dict())
    else:
        report.print_serve(out, res)


# ---- claims --------------------------------------------------------------------------------------

claims_app = typer.Typer(help="Vendors' and the press's claims, checked against the model (docs/claims.md).")
app.add_typer(claims_app, name="claims")


@claims_app.callback(invoke_without_command=True)
def claims_list(
    ctx: typer.Context,
    json_: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown.")] = False,
) -> None:
    """Every built-in claim with its verdict, computed and claimed figures, and conditions."""
    if ctx.invoked_subcommand is not None:
        return
    from xpuplan.api import evaluate_builtin
    from xpuplan.report import claims_view

    results = evaluate_builtin()
    if json_:
        _emit_json(claims_view.claims_dicts(results))
    elif markdown:
        typer.echo(claims_view.claims_markdown(results), nl=False)
    else:
        claims_view.print_claims(out, results)


@claims_app.command("show")
def claims_show(
    claim_id: Annotated[str, typer.Argument(help="Claim id (xpuplan claims).")], json_: JsonOpt = False
) -> None:
    """The working for one built-in claim: inputs, assumptions, every case and break-even."""
    from xpuplan.api import evaluate_claim, find_claim
    from xpuplan.report import claims_view

    result = evaluate_claim(find_claim(claim_id))
    if json_:
        _emit_json(result.to_dict())
    else:
        claims_view.print_claim(out, result)


@claims_app.command("check")
def claims_check(
    file: Annotated[Path, typer.Argument(help="Your claim file (TOML, schema: docs/claims.md).")],
    json_: JsonOpt = False,
) -> None:
    """Evaluate your own claim file the same way as the built-in ones."""
    from xpuplan.api import evaluate_file
    from xpuplan.report import claims_view

    result = evaluate_file(file)
    if json_:
        _emit_json(result.to_dict())
    else:
        claims_view.print_claim(out, result)


# ---- calibration ---------------------------------------------------------------------------------

calibrate_app = typer.Typer(
    help="Measure this machine; check the model against real runs (docs/calibration.md)."
)
app.add_typer(calibrate_app, name="calibrate")

BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="auto | numpy | torch | jax | neuron | fake (auto: torch, else numpy)."),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cpu | cuda | rocm | mps | tpu (default: best).")
]
QuickOpt = Annotated[bool, typer.Option("--quick", help="A short run (under ~20 s on a 2-core CPU).")]


@calibrate_app.callback(invoke_without_command=True)
def calibrate_cmd(
    ctx: typer.Context,
    backend: BackendOpt = "auto",
    device: DeviceOpt = None,
    quick: QuickOpt = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: ID.toml).")
    ] = None,
    chip_id: Annotated[str, typer.Option("--id", help="Chip id to record the device as.")] = "local",
    peak_tflops: Annotated[
        str | None, typer.Option("--peak-tflops", help="Nominal dense peaks, e.g. fp32=67,bf16=989.")
    ] = None,
    mem_bw_gbyte_s: Annotated[
        float | None, typer.Option("--mem-bw-gbyte-s", help="Nominal memory bandwidth, GB/s.")
    ] = None,
    collectives: Annotated[
        bool, typer.Option("--collectives/--no-collectives", help="Time collectives where >1 rank.")
    ] = True,
    json_: JsonOpt = False,
) -> None:
    """Measure the device (matmul, bandwidth, attention, collectives) and write a chip record."""
    if ctx.invoked_subcommand is not None:
        return
    from xpuplan import report
    from xpuplan.api import FULL, QUICK, Nominal, calibrate, get_backend, parse_peaks, write_calibration
    from xpuplan.report.calibration_view import print_calibration

    _positive("--mem-bw-gbyte-s", mem_bw_gbyte_s)
    nominal = Nominal(
        parse_peaks(peak_tflops or ""), None if mem_bw_gbyte_s is None else mem_bw_gbyte_s * 1e9
    )
    b = get_backend(backend, device)
    with report.progress_bar(out, quiet=json_) as tick:
        cal = calibrate(b, QUICK if quick else FULL, chip_id, nominal, collectives, tick)
    path = write_calibration(cal, output or Path(f"{chip_id}.toml"))
    if json_:
        _emit_json({**cal.to_dict(), "file": str(path)})
    else:
        print_calibration(out, cal, path)


@calibrate_app.command("check")
def calibrate_check(
    backend: BackendOpt = "auto",
    device: DeviceOpt = None,
    quick: QuickOpt = False,
    precision: Annotated[str, typer.Option(help="Training run: fp32 | bf16 (autocast).")] = "fp32",
    json_: JsonOpt = False,
) -> None:
    """Calibrate, train and decode a small GPT on the device, and compare with the prediction."""
    from dataclasses import replace

    from xpuplan import report
    from xpuplan.api import FULL, FULL_DECODE, FULL_TRAIN, QUICK, QUICK_DECODE, QUICK_TRAIN, get_backend
    from xpuplan.api import calibration_check as check
    from xpuplan.report.calibration_view import print_check

    if precision not in ("fp32", "bf16"):
        raise InputError(f"unknown precision '{precision}' for the check", "Use fp32 or bf16")
    b = get_backend(backend, device)
    train = replace(QUICK_TRAIN if quick else FULL_TRAIN, precision=precision)
    with report.progress_bar(out, quiet=json_) as tick:
        res = check(b, QUICK if quick else FULL, train, QUICK_DECODE if quick else FULL_DECODE, tick)
    if json_:
        _emit_json(res.to_dict())
    else:
        print_check(out, res)


# ---- validation --------------------------------------------------------------------------------


@app.command("validate")
def validate_cmd(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files (schema: docs/validation-schema.md); default: the built-in suite."),
    ] = None,
    cv: Annotated[
        str | None,
        typer.Option(
            "--cv",
            help="Cross-validate: 'source' refits with each publication left out in turn, 'case' each case.",
        ),
    ] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = None,
) -> None:
    """Predict every published case (the built-in suite, or FILES) and report the errors;
    with --cv, the cross-validated errors beside the in-sample ones."""
    from xpuplan import report
    from xpuplan.api import cross_validate, summarise, validate

    _writable(csv_)
    if cv is not None and cv not in ("source", "case"):
        raise InputError(f"--cv must be 'source' or 'case', got {cv!r}", "e.g. --cv source")
    if cv is None:
        results = validate(files or None)
        summary = summarise(results)
        if csv_ is not None:
            _write_atomic(csv_, report.validation_csv(results))
        if json_:
            _emit_json({"cases": [r.to_dict() for r in results], "summary": summary})
        else:
            report.print_validation(out, results, summary)
        return
    res = cross_validate(files or None, by=cv)
    cv_res = res.cv_results
    if csv_ is not None:
        _write_atomic(csv_, report.validation_csv(cv_res))
    if json_:
        _emit_json(
            {
                "cv": cv,
                "cases": [r.to_dict() for r in cv_res],
                "summary": summarise(cv_res),
                "in_sample": summarise(res.in_sample),
                "interval_coverage": res.coverage,
                "intervals": res.intervals,
            }
        )
    else:
        report.print_cross_validation(out, cv, res.in_sample, cv_res, res.coverage)


@app.command("fit")
def fit_cmd(
    write: Annotated[
        bool, typer.Option("--write", help="Write the fit to the package's data/fit.toml.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Reproduce every fitted efficiency from the built-in suite, with its basis and cases, and the
    prediction intervals from the cross-validated errors."""
    from xpuplan import report
    from xpuplan.api import fit_suite, fit_toml, write_fit

    res = fit_suite()
    if write:
        write_fit(fit_toml(res))
    if json_:
        _emit_json(
            {
                "parameters": [f.__dict__ for f in res.fits.values()],
                "intervals": res.intervals,
                "interval_coverage": res.coverage,
            }
        )
    else:
        report.print_fit(out, res)


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
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="Extra price rows (prices.csv columns, e.g. from 'catalog refresh')."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Rank every system per job, plan the fleet, and show what would change the answer."""
    from dataclasses import replace

    from xpuplan import report
    from xpuplan.api import (
        OBJECTIVES,
        default_catalog,
        default_scenario,
        load_scenario,
        plan,
        with_price_file,
    )

    _writable(csv_)
    cat = with_price_file(prices) if prices is not None else default_catalog()
    sc = load_scenario(scenario, cat) if scenario else default_scenario()
    if objective is not None:
        if objective not in OBJECTIVES:
            raise InputError(f"unknown objective '{objective}'", "Use cost, time or energy")
        sc = replace(sc, objective=objective)
    if pue is not None:
        if not (math.isfinite(pue) and 1.0 <= pue < 3.0):
            raise InputError(f"--pue must be in [1, 3), got {pue}", "Typical values are 1.1 to 1.6")
        sc = replace(sc, pue=pue)
    with report.progress_bar(out, quiet=json_) as tick:
        result = plan(sc, cat, progress=tick)
    if csv_ is not None:
        _write_atomic(csv_, report.plan_csv(result))
    if json_:
        _emit_json(result.to_dict())
    else:
        report.print_plan(out, result)


# ---- HTML report ----------------------------------------------------------------------------------


@app.command("report")
def report_cmd(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML (default: the built-in one).")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    validation: Annotated[
        Path | None,
        typer.Option(help="Validation case file for the accuracy chart (default: the built-in suite)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report (plots work offline) for a scenario."""
    from xpuplan import report
    from xpuplan.api import default_catalog, default_scenario, load_scenario
    from xpuplan.api.report_data import report_data

    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"-o {output} is not an .html file", "Give a file name ending in .html")
    _writable(output)
    sc = load_scenario(scenario, default_catalog()) if scenario else default_scenario()
    with report.progress_bar(out, quiet=json_) as tick:
        data = report_data(sc, validation=validation, progress=tick)
    _write_atomic(output, report.render_html(data, __version__))
    if json_:
        _emit_json({"output": str(output), "validation": str(validation) if validation else "built-in suite"})
    else:
        out.print(f"wrote {output}")


def _writable(path: Path | None) -> Path:
    """Check up front that ``path`` can be written (its folder exists, it is not a folder)."""
    if path is None:
        return Path.cwd()
    parent = path.resolve().parent
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", "Create it or write elsewhere")
    if path.is_dir():
        raise InputError(f"{path} is a folder", "Give a file name")
    return parent


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a failure never leaves half a file."""
    import os
    import tempfile

    parent = _writable(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write in {parent} ({e.strerror})", "Write elsewhere") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise InputError(f"cannot write {path} ({e.strerror})", "Check the path and free space") from None
        raise


def _one_line(message: str) -> None:
    from rich.markup import escape

    text = " ".join(message.split())
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _usage_error(e: Exception) -> bool:
    """Render a command-line usage error (click's, or the click Typer carries) as one line."""
    if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
        return False
    if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
        e.show()  # type: ignore[attr-defined]
        sys.exit(e.exit_code)  # type: ignore[attr-defined]
    ctx = getattr(e, "ctx", None)
    where = getattr(ctx, "command_path", None) or "xpuplan"
    _one_line(f"{e.format_message().rstrip('.')}. See '{where} --help'")
    sys.exit(2)


def main() -> None:
    """Entry point: run the app; user errors → one line, exit 2 (``--debug``: the traceback)."""
    try:
        app(standalone_mode=False, prog_name="xpuplan")
    except XpuplanError as e:
        if _STATE["debug"]:
            raise
        _one_line(e.one_line())
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as e:  # usage errors from click; anything else is a bug: traceback
        if not _usage_error(e):
            raise


if __name__ == "__main__":
    main()

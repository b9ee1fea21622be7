"""Command line: parse → call the public API → render. The only module that prints or exits.

Every command has ``--json``. User errors (``XpuplanError``) become one line on stderr and exit
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from xpuplan import __version__
from xpuplan.api import MAX_TOKENS_PER_SEQ, check_positive
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


def _flags_take_no_value() -> None:
    """--help shows no '<bool>' beside a flag: it takes no value (typer's rich help shows the type)."""
    import typer.core

    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None:
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    option.display_type_rich = display_type_rich


_flags_take_no_value()
out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)
_STATE = {"debug": False}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV to FILE.")]
EmitOpt = Annotated[
    Path | None,
    typer.Option(
        "--emit",
        help="Write launch files to DIR: a SkyPilot task and the framework configuration of each chosen option.",
    ),
]
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


MODEL_HELP = (
    "Model id or alias (xpuplan model list), a Hugging Face config.json path, or ORG/NAME from the local "
    "Hugging Face cache."
)
CHIP_HELP = "Chip or system id or alias."
# the options and arguments more than one command takes, defined once
ModelOpt = Annotated[str, typer.Option("--model", help=MODEL_HELP)]
ChipOpt = Annotated[str, typer.Option("--chip", help=CHIP_HELP)]
ChipsOpt = Annotated[int, typer.Option("--chips", help="Number of chips.")]
SystemOpt = Annotated[str | None, typer.Option(help="System id (default: chosen per chip).")]
ScenarioArg = Annotated[Path | None, typer.Argument(help="Scenario TOML (default: the built-in one).")]


# ---- catalog ---------------------------------------------------------------------------------


@catalog_app.command("chips")
def catalog_chips(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every chip with its peak FLOP/s, memory and power."""
    _catalog_listing("chips", json_, csv_)


@catalog_app.command("systems")
def catalog_systems(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every system: chips per node, scale-up domain, scale-out network."""
    _catalog_listing("systems", json_, csv_)


@catalog_app.command("prices")
def catalog_prices(json_: JsonOpt = False, csv_: CsvOpt = None) -> None:
    """List every published price, per node-hour and per chip-hour."""
    _catalog_listing("prices", json_, csv_)


def _catalog_listing(kind: str, json_: bool, csv_: Path | None) -> None:
    """One catalog listing (chips, systems or prices) as CSV, JSON or a terminal table."""
    from xpuplan import report
    from xpuplan.api import default_catalog

    cat = default_catalog()
    chips, systems = list(cat.chips.values()), list(cat.systems.values())
    views: dict[str, tuple[Callable[[], str], Callable[[], Any], Callable[[], Any]]] = {
        "chips": (
            lambda: report.chips_csv(chips),
            lambda: [report.chip_dict(c) for c in chips],
            lambda: report.chips_table(chips),
        ),
        "systems": (
            lambda: report.systems_csv(systems),
            lambda: [report.system_dict(s) for s in systems],
            lambda: report.systems_table(systems),
        ),
        "prices": (
            lambda: report.prices_csv(cat),
            lambda: [report.price_dict(p, cat) for p in cat.prices],
            lambda: report.prices_table(cat),
        ),
    }
    to_csv, to_json, table = views[kind]
    _finish([(csv_, to_csv)], json_ and to_json, lambda: out.print(table()))


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
        from xpuplan.api import write_text

        write_text(out_, text)
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
def catalog_show(name: Annotated[str, typer.Argument(help=CHIP_HELP)], json_: JsonOpt = False) -> None:
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
    _finish(
        [(csv_, lambda: report.models_csv(models))],
        json_ and (lambda: [report.model_dict(m) for m in models]),
        lambda: out.print(report.models_table(models)),
    )


@model_app.command("show")
def model_show(
    name: Annotated[str | None, typer.Argument(help=MODEL_HELP)] = None,
    hf_config: Annotated[Path | None, typer.Option("--hf-config", help="A Hugging Face config.json.")] = None,
    seq_len: Annotated[int, typer.Option(help="Context for attention FLOPs.")] = 4096,
    json_: JsonOpt = False,
) -> None:
    """Parameters, FLOPs per token and KV-cache bytes per token of one model."""
    from xpuplan import report
    from xpuplan.api import get_model, load_hf_config

    check_positive("--seq-len", seq_len, hi=MAX_TOKENS_PER_SEQ)
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
    model: ModelOpt,
    chip: ChipOpt,
    chips: ChipsOpt,
    global_batch: Annotated[int, typer.Option("--global-batch", help="Sequences per step.")] = 1024,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Tokens per sequence.")] = 4096,
    precision: Annotated[str, typer.Option(help="bf16 | fp16 | fp8 | fp32 | int8")] = "bf16",
    system: SystemOpt = None,
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
    stack: Annotated[
        str | None,
        typer.Option(
            help="Training stack: megatron-lm | nemo | maxtext | deepspeed | ... (default: the chip's)."
        ),
    ] = None,
    calibration: CalibrationOpt = None,
    emit: EmitOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = None,
) -> None:
    """Predict a training step (time breakdown, memory, MFU) or search for the best layout."""
    from xpuplan import api, report

    cat = api.calibrated_catalog(calibration) if calibration is not None else None

    # the numbers are checked where the API receives them (the same errors in a notebook)
    fixed = {
        k: v
        for k, v in dict(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, microbatch=microbatch, zero=zero).items()
        if v is not None
    }
    _writable(csv_)
    if sp is not None:
        fixed["sp"] = int(sp)
    if recompute is not None:
        fixed["recompute"] = api.parse_recompute(recompute)
    job: dict[str, Any] = dict(global_batch=global_batch, seq_len=seq_len, precision=precision,
                               tokens=tokens, catalog=cat, system=system, stack=stack)  # fmt: skip
    if search:
        with report.progress_bar(out, quiet=json_) as tick:
            res = api.search_train(model, chip, chips, fixed, top_k=top, progress=tick, **job)
        _finish(
            [(csv_, lambda: report.search_csv(res))],
            json_ and res.to_dict,
            lambda: report.print_search(out, res),
        )
        if emit is not None and res.best is not None:
            _emit_launch_train(emit, model, res.system, res.best.layout.to_dict(), chips,
                               seq_len, global_batch, precision, cat)  # fmt: skip
        return
    est = api.estimate_train(model, chip, chips, fixed, **job)
    _finish(
        [(csv_, lambda: report.search_csv(est))],
        json_ and est.to_dict,
        lambda: report.print_estimate(out, est, assumed=not fixed),
    )
    if emit is not None and est.feasible:
        _emit_launch_train(emit, model, est.system, est.layout.to_dict(), chips, seq_len, global_batch,
                           precision, cat)  # fmt: skip


# ---- serving -------------------------------------------------------------------------------------


@app.command("serve")
def serve_cmd(
    model: ModelOpt,
    chip: ChipOpt,
    chips: ChipsOpt = 1,
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
    software: Annotated[
        str | None,
        typer.Option(
            help="Serving stack whose constants price it: vllm, tensorrt-llm, sglang, ... (default: the chip's)."
        ),
    ] = None,
    system: SystemOpt = None,
    calibration: CalibrationOpt = None,
    emit: EmitOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = None,
) -> None:
    """Predict serving latency and throughput, choosing TP/PP, replicas and batch under targets."""
    from xpuplan import api, report

    # the numbers are checked where the API receives them (the same errors in a notebook)
    formats = tuple(w.strip() for w in weights.split(",") if w.strip())
    if not formats:
        raise InputError("--weights names no format", "e.g. --weights bf16,fp8")
    fixed = {k: v for k, v in (("tp", tp), ("pp", pp)) if v is not None}
    _writable(csv_)
    cat = api.calibrated_catalog(calibration) if calibration is not None else None
    res = api.search_serve(
        model, chip, chips, fixed, input_len=input_len, output_len=output_len, weights=formats, kv=kv,
        weight_bits=weight_bits, batch=batch, concurrency=concurrency, rate=rate, ttft_ms=ttft_ms,
        tpot_ms=tpot_ms, catalog=cat, system=system, latency_ms=latency_ms, software=software,
    )  # fmt: skip
    if emit is not None and isinstance(res.best, api.EncoderResult):
        raise InputError(
            f"--emit writes decoder serving launches; {res.best.model} is an encoder", "Leave out --emit"
        )
    _finish(
        [(csv_, lambda: report.serve_csv(res))], json_ and res.to_dict, lambda: report.print_serve(out, res)
    )
    if emit is not None and res.best.feasible:
        from xpuplan.api import default_catalog
        from xpuplan.report import launch

        cat = cat or default_catalog()
        origin = f"xpuplan serve --model {model} --chip {chip} --chips {chips}"
        ln = launch.serve_launch(
            cat, model, res.best.system, res.best.to_dict(), (input_len or 0) + output_len, origin
        )
        _write_launches(emit, [ln], cat)


# ---- explain --------------------------------------------------------------------------------------

explain_app = typer.Typer(no_args_is_help=True, help="What the notation in the tables means.")
app.add_typer(explain_app, name="explain")


@explain_app.command("layout")
def explain_layout_cmd(
    layout: Annotated[
        str, typer.Argument(help='A layout as the tables show it: "TP4 PP1 DP256 CP2 FSDP SP mb1".')
    ],
    json_: JsonOpt = False,
) -> None:
    """Explain each part of a training or serving layout."""
    from xpuplan.report.legend import explain_layout

    rows = explain_layout(layout)
    if json_:
        _emit_json([{"token": t, "meaning": m} for t, m in rows])
        return
    for tok, meaning in rows:
        out.print(f"[bold]{tok:>8}[/]  {meaning}", highlight=False)


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
    from xpuplan.api import FULL, QUICK, Nominal, calibrate, check_calibration_id, get_backend, parse_peaks
    from xpuplan.report.calibration_view import print_calibration

    check_positive("--mem-bw-gbyte-s", mem_bw_gbyte_s, hi=1e9)  # GB/s: 1 EB/s is beyond any device
    nominal = Nominal(
        parse_peaks(peak_tflops or ""), None if mem_bw_gbyte_s is None else mem_bw_gbyte_s * 1e9
    )
    check_calibration_id(chip_id)
    path = output or Path(f"{chip_id}.toml")
    _writable(path)
    b = get_backend(backend, device)
    with report.progress_bar(out, quiet=json_) as tick:
        cal = calibrate(b, QUICK if quick else FULL, chip_id, nominal, collectives, tick)
    _finish(
        [(path, cal.to_toml)],
        json_ and (lambda: {**cal.to_dict(), "file": str(path)}),
        lambda: print_calibration(out, cal, path),
    )


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
    if not res.within_target:  # the model missed the device by more than the stated target
        sys.exit(1)


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
    from xpuplan.api import cross_validate, rank_groups, summarise, validate_cases

    _writable(csv_)
    if cv is None:
        results = validate_cases(files or None)
        summary, ranks = summarise(results), rank_groups(results)

        def show() -> None:
            report.print_validation(out, results, summary)
            report.print_rankings(out, ranks)

        _finish(
            [(csv_, lambda: report.validation_csv(results))],
            json_
            and (
                lambda: {
                    "cases": [r.to_dict() for r in results],
                    "summary": summary,
                    "rankings": [g.to_dict() for g in ranks],
                }
            ),
            show,
        )
        return
    res = cross_validate(files or None, by=cv)
    cv_res = res.cv_results
    ranks_in, ranks_cv = rank_groups(res.in_sample), rank_groups(cv_res)

    def show_cv() -> None:
        report.print_rankings(out, ranks_in, ranks_cv)
        report.print_cross_validation(out, cv, res.in_sample, cv_res, res.coverage)

    _finish(
        [(csv_, lambda: report.validation_csv(cv_res))],
        json_
        and (
            lambda: {
                "cv": cv,
                "cases": [r.to_dict() for r in cv_res],
                "summary": summarise(cv_res),
                "in_sample": summarise(res.in_sample),
                "interval_coverage": res.coverage,
                "intervals": res.intervals,
                "rankings": [g.to_dict() for g in ranks_cv],
                "in_sample_rankings": [g.to_dict() for g in ranks_in],
            }
        ),
        show_cv,
    )


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
    _finish(
        [],
        json_
        and (
            lambda: {
                "parameters": [f.__dict__ for f in res.fits.values()],
                "stack_parameters": [f.__dict__ for f in res.stack_fits.values()],
                "model_parameters": [
                    {
                        **res.roofline.__dict__,
                        "value": res.roofline.value if math.isfinite(res.roofline.value) else "inf",
                    }
                ]
                if res.roofline
                else [],
                "intervals": res.intervals,
                "interval_coverage": res.coverage,
            }
        ),
        lambda: report.print_fit(out, res),
    )


# ---- plan ---------------------------------------------------------------------------------------


@app.command("plan")
def plan_cmd(
    scenario: ScenarioArg = None,
    objective: Annotated[str | None, typer.Option(help="cost | time | energy (overrides the file).")] = None,
    pue: Annotated[
        float | None, typer.Option(help="Power usage effectiveness (overrides the default).")
    ] = None,
    csv_: Annotated[Path | None, typer.Option("--csv", help="Also write the ranked options as CSV.")] = None,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="Extra price rows (prices.csv columns, e.g. from 'catalog refresh')."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only these providers, comma-separated: aws,gcp.")
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Leave out these systems, comma-separated.")
    ] = None,
    price_kind: Annotated[
        str | None,
        typer.Option("--price-kind", help="Only these price kinds: on_demand,capacity_block,commit_1y,..."),
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Only prices quoted for these regions: us-east-1,...")
    ] = None,
    emit: EmitOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Rank every system per job, plan the fleet, and show what would change the answer."""
    from xpuplan import report
    from xpuplan.api import (
        default_catalog,
        default_scenario,
        load_scenario,
        plan,
        with_filters,
        with_price_file,
    )

    _writable(csv_)
    cat = with_price_file(prices) if prices is not None else default_catalog()
    sc = load_scenario(scenario, cat) if scenario else default_scenario()
    sc = with_filters(
        sc,
        cat,
        _csv_list(provider),
        _csv_list(exclude),
        _csv_list(price_kind),
        _csv_list(region),
    )
    with report.progress_bar(out, quiet=json_) as tick:
        result = plan(sc, cat, objective=objective, pue=pue, progress=tick)
    _finish(
        [(csv_, lambda: report.plan_csv(result))],
        json_ and (lambda: report.plan_dict(result)),
        lambda: report.print_plan(out, result),
    )

    if emit is not None:
        from xpuplan.report import launch

        _write_launches(emit, launch.plan_launches(result, cat), cat)


# ---- sweeps --------------------------------------------------------------------------------------


class _SweepGroup(TyperGroup):
    """``xpuplan sweep STUDY.toml`` runs the study (the ``run`` command); ``sweep show`` reads it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_SweepGroup,
    no_args_is_help=True,
    help="Design-space sweeps: run a study file's points, show its results (docs/sweeps.md).",
)
app.add_typer(sweep_app, name="sweep")
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="The study's Parquet dataset folder (default: STUDY.parquet here)."),
]


@sweep_app.command("run")
def sweep_run(
    study: Annotated[Path, typer.Argument(help="Study TOML (docs/sweeps.md).")],
    out_dir: OutOpt = None,
    engine: Annotated[str, typer.Option("--engine", help="local (a process pool) | ray.")] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray: an existing cluster's address (default: start a local one)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Local: processes (default: every core).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", help="Points per task (default: sized to the study).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the finished points; compute the rest.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete earlier results in --out and start over.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Run every point of a study (one API call each) and write them as a Parquet dataset."""
    from xpuplan.api import sweep
    from xpuplan.report import wording
    from xpuplan.report.sweep_view import print_run, sweep_progress

    if resume and fresh:
        raise InputError("--resume and --fresh contradict each other", "Give one of them")
    s = sweep.load_study(study)
    root = sweep.dataset_path(study, out_dir)
    try:
        with sweep_progress(out, quiet=json_) as tick:
            run = sweep.run_sweep(
                s, root, engine, workers, address, resume, fresh, batch, tick, word=wording.reason
            )
    except KeyboardInterrupt:
        err.print(f"interrupted: the finished points are in {root}; run again with --resume to finish")
        raise typer.Exit(130) from None
    if json_:
        _emit_json(run.to_dict())
    else:
        print_run(out, run.to_dict())


@sweep_app.command("show")
def sweep_show(
    study: Annotated[Path, typer.Argument(help="Study TOML, or its dataset folder.")],
    out_dir: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Summaries of a study's results: per case, each offer's best points, Pareto fronts, break-even."""
    from xpuplan.api import sweep
    from xpuplan.report.sweep_view import print_summary

    summary = sweep.show(study, out_dir)
    if json_:
        _emit_json(summary)
    else:
        print_summary(out, summary)


# ---- HTML report ----------------------------------------------------------------------------------


@app.command("report")
def report_cmd(
    scenario: ScenarioArg = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    validation: Annotated[
        Path | None,
        typer.Option(help="Validation case file for the accuracy chart (default: the built-in suite)."),
    ] = None,
    study: Annotated[
        Path | None,
        typer.Option(
            "--study", help="Draw a sweep instead: a study TOML or its dataset folder (xpuplan sweep)."
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report (plots work offline) for a scenario, or for a study."""
    from xpuplan import report
    from xpuplan.api import default_catalog, default_scenario, load_scenario
    from xpuplan.api.report_data import report_data

    if output.suffix.lower() not in (".html", ".htm") and not _is_stdout(output):
        raise InputError(f"-o {output} is not an .html file", "Give a file name ending in .html (or -)")
    _writable(output)
    if study is not None:
        if scenario is not None:
            raise InputError("give a scenario or --study, not both", "One report draws one of them")
        _study_report(study, output, json_)
        return
    sc = load_scenario(scenario, default_catalog()) if scenario else default_scenario()
    with report.progress_bar(out, quiet=json_) as tick:
        data = report_data(sc, validation=validation, progress=tick)
    html = report.render_html(data, __version__)
    _finish(
        [(output, lambda: html)],
        json_
        and (
            lambda: {"output": str(output), "validation": str(validation) if validation else "built-in suite"}
        ),
        lambda: out.print(f"wrote {report.safe_text(str(output))}"),
    )


def _is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == "-"


def _writable(path: Path | None) -> None:
    """Check up front that ``path`` can be written (a regular file or a new path in an existing
    folder; ``-`` is standard output), so no work is done for an output that would be refused."""
    if path is not None and not _is_stdout(path):
        from xpuplan.api import check_output

        check_output(path)


def _finish(
    files: list[tuple[Path | None, Callable[[], str]]],
    json_obj: Callable[[], Any] | bool,
    render: Callable[[], None],
) -> None:
    """Build every output in full — each file's text and the JSON or the rendered tables — then
    write the files (atomically, :func:`xpuplan.api.write_text`) and print. Nothing is written
    before the whole result exists. A file named ``-`` goes to standard output instead of the
    usual output."""
    from xpuplan.api import write_text

    texts = [(p, make()) for p, make in files if p is not None]
    piped = [t for p, t in texts if _is_stdout(p)]
    if piped:
        body = "".join(piped)
    elif callable(json_obj):
        body = json.dumps(json_obj(), indent=2, default=str, allow_nan=False) + "\n"
    else:
        with out.capture() as cap:
            render()
        body = cap.get()
    for p, t in texts:
        if p is not None and not _is_stdout(p):
            write_text(p, t)
    sys.stdout.write(body)
    sys.stdout.flush()


def _emit_launch_train(
    emit: Path, model: str, system: str, layout: dict[str, Any], chips: int, seq_len: int,
    global_batch: int, precision: str, cat: Any,
) -> None:  # fmt: skip
    from xpuplan.api import default_catalog
    from xpuplan.report import launch

    cat = cat or default_catalog()
    origin = f"xpuplan train --model {model} --system {system} --chips {chips}"
    ln = launch.train_launch(cat, model, system, layout, chips, seq_len, global_batch, precision, origin)
    _write_launches(emit, [ln], cat)


def _write_launches(root: Path, launches: list[Any], cat: Any) -> None:
    """Each option's launch files in its own folder under ``root`` (created when missing)."""
    from xpuplan.api import write_text
    from xpuplan.report import launch

    if root.exists() and not root.is_dir():
        raise InputError(f"--emit {root} is a file", "Give a folder")
    written = 0
    for ln in launches:
        folder = root / launch.folder_name(ln)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create {folder} ({e.strerror})", "Write elsewhere") from None
        for name, text in launch.launch_files(cat, ln, __version__).items():
            write_text(folder / name, text)
            written += 1
    err.print(f"wrote {written} launch files for {len(launches)} option(s) under {root}")


def _csv_list(value: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise InputError(f"'{value}' names nothing", "Give comma-separated names, e.g. aws,gcp")
    return items


def _study_report(study: Path, output: Path, json_: bool) -> None:
    from xpuplan import report
    from xpuplan.api import sweep
    from xpuplan.report.sweep_view import render_study_html

    data = sweep.study_report_data(study)
    html = render_study_html(data, __version__)
    _finish(
        [(output, lambda: html)],
        json_ and (lambda: {"output": str(output), "study": data["dataset"]}),
        lambda: out.print(f"wrote {report.safe_text(str(output))}"),
    )


def _one_line(message: str) -> None:
    from rich.markup import escape

    from xpuplan.api import strip_controls

    text = " ".join(strip_controls(message).split())
    if len(text) > 2000:  # a 100,000-character name is not repeated in full
        text = text[:1000] + " … " + text[-200:]
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


@functools.cache
def _command() -> Any:
    """The click command behind ``app``, built once (typer rebuilds it on every call)."""
    return typer.main.get_command(app)


def main() -> None:
    """Entry point: run the app; user errors → one line, exit 2 (``--debug``: the traceback)."""
    try:
        _command()(standalone_mode=False, prog_name="xpuplan")
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

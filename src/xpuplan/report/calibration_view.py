"""Terminal views of a calibration (``xpuplan calibrate``) and of the check against real runs."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xpuplan.calibrate import Calibration
from xpuplan.report import fmt
from xpuplan.validation.calibration_check import CheckResult


def _gflops(x: float) -> str:
    return f"{x / 1e9:,.1f}"


def calibration_table(cal: Calibration) -> Table:
    t = Table(title=f"calibrated chip '{cal.chip_id}'", header_style="bold", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("device", escape(cal.info.device_name))
    t.add_row("software", escape(f"{cal.info.backend}: {cal.info.versions_text}"))
    for dt, peak in cal.peaks.items():
        t.add_row(f"peak {dt}", f"{_gflops(peak)} GFLOP/s")
    for c in cal.fits.curves.values():
        t.add_row(f"GEMM curve {c.dtype}", f"{_gflops(c.rate)} GFLOP/s · n/(n+{c.knee:.0f}), rms {c.rms:.0%}")
    t.add_row("memory bandwidth", f"{cal.mem_bw / 1e9:,.1f} GB/s (best STREAM)")
    if cal.fits.decode_bw is not None:
        t.add_row("decode-GEMM stream", f"{cal.fits.decode_bw / 1e9:,.1f} GB/s")
    for cf in cal.fits.collectives:
        t.add_row(
            f"{cf.op} ×{cf.ranks}", f"{cf.bus_bw / 1e9:,.2f} GB/s bus, {cf.latency_s * 1e6:,.0f} µs per step"
        )
    eff = ", ".join(f"{k} {v:.3g}" for k, v in cal.efficiency.items())
    t.add_row("efficiency", eff)
    t.add_row("measured in", fmt.duration(cal.measurements.wall_s))
    return t


def print_calibration(console: Console, cal: Calibration, path: Path | None) -> None:
    console.print(calibration_table(cal))
    for note in cal.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if path is not None:
        console.print(f"wrote {path}  (use it with --calibration {path} --chip {cal.chip_id})")


def print_check(console: Console, res: CheckResult) -> None:
    if res.calibration is not None:
        console.print(calibration_table(res.calibration))
    t = Table(title="predicted vs measured (median step)", header_style="bold")
    for col in ("run", "shape", "predicted", "measured", "error"):
        t.add_column(col, justify="left" if col in ("run", "shape") else "right")
    for r in res.rows:
        colour = "green" if abs(r.error) <= res.target else "red"
        t.add_row(
            r.run,
            r.shape,
            fmt.duration(r.predicted_s),
            fmt.duration(r.measured_s),
            f"[{colour}]{r.error:+.1%}[/]",
        )
    console.print(t)
    parts = ", ".join(f"{k} {fmt.duration(v)}" for k, v in res.train_breakdown_s.nonzero().items())
    console.print(f"predicted train step: {parts}")
    notes = [*(res.calibration.notes if res.calibration else ()), *res.runs.notes]
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    verdict = "within" if res.within_target else "[red]not within[/]"
    console.print(f"{verdict} ±{res.target:.0%} of the measured step times")

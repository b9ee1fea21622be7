"""Sweep benchmark: a 10,000-point training study (5 models × 20 systems × 100 sizes) on the local
process pool and on a local Ray cluster, and one 1,000,000-chip point.

    .venv/bin/python benchmarks/sweep_bench.py                 # everything (2 workers, as CI's 2 cores)
    .venv/bin/python benchmarks/sweep_bench.py --sizes 10      # a 1,000-point study
    .venv/bin/python benchmarks/sweep_bench.py --no-ray --profile 200

Prints the wall time and points/s of each engine side by side, the share of the wall time spent
searching, and (``--profile N``) where one point's time goes, from cProfile over N points in-process.
Target (DESIGN.md): the 10,000 points in under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xpuplan.api import default_catalog, sweep
from xpuplan.report.sweep_view import sweep_progress

MODELS = ("llama-3-8b", "mistral-7b", "llama-3-70b", "qwen2.5-72b", "gpt-3-175b")


def systems(n: int) -> list[str]:
    """The first ``n`` training systems by id, priced ones first (deterministic)."""
    cat = default_catalog()
    train = [s for s in cat.systems.values() if cat.chips[s.chip].training]
    priced = {p.system for p in cat.prices}
    return [s.id for s in sorted(train, key=lambda s: (s.id not in priced, s.id))][:n]


def study_text(sizes: int, n_systems: int) -> str:
    chips = [64 * k for k in range(1, sizes + 1)]  # 64 … 6,400 chips: every size a whole number of nodes
    return f"""
name = "bench: {len(MODELS)} models × {n_systems} systems × {sizes} sizes"
compute = "train"
[axes]
models = {list(MODELS)!r}
systems = {systems(n_systems)!r}
chips = {chips!r}
pricing = ["on_demand"]
[train]
tokens = 1e12
seq_len = 4096
global_batch = 1024
"""


def run(study: sweep.Study, out: Path, console: Console, **kw: object) -> sweep.SweepRun:
    shutil.rmtree(out, ignore_errors=True)
    with sweep_progress(console) as tick:
        return sweep.run_sweep(study, out, progress=tick, **kw)  # type: ignore[arg-type]


def profile(study: sweep.Study, n: int) -> None:
    """Where one point's time goes: cProfile over every (len/n)-th point, in this process."""
    from xpuplan.api.sweep.point import run_point

    pts = study.points[:: max(1, len(study.points) // n)][:n]
    run_point(pts[0])  # warm the catalog and model library
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    for p in pts:
        run_point(p)
    prof.disable()
    dt = time.perf_counter() - t
    print(f"\nprofile: {len(pts)} points in-process, {dt / len(pts) * 1e3:.1f} ms per point")
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(18)
    print("\n".join(s.getvalue().splitlines()[:45]))


def cpu_per_point(study: sweep.Study, n: int) -> float:
    """CPU seconds per point (process time, so other load on the machine barely moves it)."""
    from xpuplan.api.sweep.point import run_point

    pts = study.points[:: max(1, len(study.points) // n)][:n]
    run_point(pts[0])
    t = time.process_time()
    for p in pts:
        run_point(p)
    return (time.process_time() - t) / len(pts)


def million_chip_point(tmp: Path) -> None:
    text = """
name = "one 1,000,000-chip point"
[axes]
models = ["llama-3.1-405b"]
systems = ["gcp-tpu-v7-pod"]
chips = [1000000]
[train]
tokens = 1e14
seq_len = 8192
global_batch = 62500
"""
    path = tmp / "million.toml"
    path.write_text(text)
    study = sweep.load_study(path)
    t = time.perf_counter()
    sweep.run_sweep(study, tmp / "million.parquet", workers=1)
    dt = time.perf_counter() - t
    (row,) = sweep.read_rows(tmp / "million.parquet")
    print(
        f"1,000,000 TPU v7, Llama 3.1 405B: {dt:.2f} s for the point (status {row['status']}, "
        f"{row['evaluated']:,} layouts, best {row['layout']}, step {row['step_time_s']:.2f} s, MFU {row['mfu']:.1%})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, default=100, help="cluster sizes per system (100: 10,000 points)")
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="local processes (and Ray CPUs)")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--profile", type=int, default=0, help="profile N points in-process")
    args = ap.parse_args()
    console = Console(stderr=True, force_terminal=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "bench.toml"
        path.write_text(study_text(args.sizes, args.systems))
        study = sweep.load_study(path)
        n = len(study.points)
        print(f"{study.name}: {n:,} points")
        if args.profile:
            profile(study, args.profile)
        cpu = cpu_per_point(study, 200)
        print(
            f"CPU per point, in-process over 200 points spread through the study: {cpu * 1e3:.1f} ms "
            f"(so {n:,} points on {args.workers} idle cores: about {cpu * n / args.workers:.0f} s)"
        )
        results = {"local": run(study, tmp / "local.parquet", console, workers=args.workers)}
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                print("ray is not installed: pip install 'xpuplan[ray]' for the Ray figure", file=sys.stderr)
            else:
                t = time.perf_counter()
                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
                start = time.perf_counter() - t
                try:
                    results["ray"] = run(study, tmp / "ray.parquet", console, engine="ray")
                finally:
                    ray.shutdown()
                print(f"(ray.init of a local {args.workers}-CPU cluster: {start:.1f} s, not counted below)")
        print(
            f"\n{'engine':8} {'workers':>7} {'points/task':>11} {'wall':>9} {'points/s':>9} {'ms/point/worker':>16}"
        )
        for name, r in results.items():
            print(
                f"{name:8} {r.workers:>7} {r.batch:>11} {r.wall_s:>8.1f}s {n / r.wall_s:>9.0f} "
                f"{r.wall_s * r.workers / n * 1e3:>16.1f}"
            )
        statuses = results["local"].statuses
        print("statuses:", ", ".join(f"{v:,} {k}" for k, v in sorted(statuses.items())))
        if "ray" in results:
            same = sweep.read_rows(tmp / "local.parquet") == sweep.read_rows(tmp / "ray.parquet")
            print(f"local and Ray rows identical: {same}")
        million_chip_point(tmp)


if __name__ == "__main__":
    main()

"""Speed benchmarks (not timed tests): one estimate, and the layout-search scenarios of issue 4.

Run: ``make bench`` or ``.venv/bin/python benchmarks/run_all.py [--json]``. Each search is timed
end to end in-process (catalog already loaded); ``bench_cli.sh`` times the CLI with start-up.
"""

from __future__ import annotations

import json
import sys
import time

from xpuplan.hardware import default_catalog
from xpuplan.layout import Layout, Recompute
from xpuplan.perf import Machine, estimate_train
from xpuplan.search import search_train
from xpuplan.workload import get_model
from xpuplan.workload.job import TrainJob

SEARCHES = [
    # (name, model, chip, system, chips, global batch, seq)
    ("GPT-3 175B on 1,024 A100-80GB", "gpt-3-175b", "nvidia-a100-80gb", "nvidia-dgx-a100", 1024, 1536, 2048),
    (
        "Llama 3.1 405B on 16,384 H100",
        "llama-3.1-405b",
        "nvidia-h100-sxm",
        "nvidia-dgx-h100",
        16384,
        2048,
        8192,
    ),
    ("DeepSeek-V3 on 2,048 H800", "deepseek-v3", "nvidia-h800", "deepseek-hgx-h800", 2048, 15360 // 4, 4096),
    (
        "Llama 3 70B on 100,000 Trainium2",
        "llama-3-70b",
        "aws-trainium2",
        "aws-trn2-ultraserver",
        100_000,
        4000,
        8192,
    ),
    # 1,000,000 = 2^6 · 5^6 chips: DP ≤ batch, so the batch must be a multiple of a large power of 5
    ("Llama 3 70B on 1,000,000 TPU v7", "llama-3-70b", "tpu-v7", "gcp-tpu-v7-pod", 1_000_000, 31250, 8192),
]


def bench_estimate(n: int = 2000) -> float:
    cat = default_catalog()
    m = Machine(cat.chip("nvidia-a100-80gb"), cat.system("nvidia-dgx-a100"), 1024)
    job = TrainJob(get_model("gpt-3-175b"), 1536, 2048)
    lay = Layout(tp=8, pp=16, dp=8, vpp=3, sp=True, recompute=Recompute.SELECTIVE)
    estimate_train(job, lay, m)
    t = time.perf_counter()
    for _ in range(n):
        estimate_train(job, lay, m)
    return (time.perf_counter() - t) / n


def bench_search(model: str, chip: str, system: str, chips: int, gb: int, seq: int) -> dict[str, object]:
    cat = default_catalog()
    sys_rec = cat.system(system)
    m = Machine(cat.chip(chip), sys_rec, chips)
    # a cluster larger than the provider's published maximum is still searched for the benchmark
    from dataclasses import replace

    m = replace(m, system=replace(sys_rec, scale_out=replace(sys_rec.scale_out, max_chips=None)))
    job = TrainJob(get_model(model), gb, seq)
    t = time.perf_counter()
    r = search_train(job, m)
    dt = time.perf_counter() - t
    return {
        "seconds": dt,
        "layouts_evaluated": r.layouts_evaluated,
        "layouts_feasible": r.layouts_feasible,
        "layouts_per_s": r.layouts_evaluated / dt,
        "best": r.best.layout.describe() if r.best else None,
        "best_step_s": r.best.step_time_s if r.best else None,
    }


def main() -> None:
    out: dict[str, object] = {"estimate_ms": bench_estimate() * 1e3}
    for name, *args in SEARCHES:
        out[name] = bench_search(*args)  # type: ignore[arg-type]
    if "--json" in sys.argv:
        print(json.dumps(out, indent=2))
        return
    print(f"one estimate: {out['estimate_ms']:.3f} ms")
    for name, *_ in SEARCHES:
        r = out[name]
        assert isinstance(r, dict)
        print(
            f"{name}: {r['seconds']:.2f} s, {r['layouts_evaluated']:,} layouts "
            f"({r['layouts_per_s']:,.0f}/s), {r['layouts_feasible']:,} feasible, best {r['best']}"
        )


if __name__ == "__main__":
    main()

"""Regenerate the tables of docs/validation.md from `xpuplan validate`.

Run: ``.venv/bin/python benchmarks/validation_doc.py ../shared/validation/dev.yaml`` and paste the
output between the markers of docs/validation.md (or compare it with what is there).
"""

from __future__ import annotations

import sys
from pathlib import Path

from xpuplan.validation.validate import summarise, validate


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def main(path: str) -> None:
    results = validate(Path(path))
    s = summarise(results)
    print("| set | cases | predicted | median error | p90 error |")
    print("|---|---:|---:|---:|---:|")
    for task in ("train", "infer"):
        t = s[task]
        print(
            f"| all / {task} | {t['n']} | {t['predicted']} | {pct(t['median_error'])} | {pct(t['p90_error'])} |"
        )
    for vendor, d in s["by_vendor"].items():
        for task, t in d.items():
            print(
                f"| {vendor} / {task} | {t['n']} | {t['predicted']} | {pct(t['median_error'])} | "
                f"{pct(t['p90_error'])} |"
            )
    for task in ("train", "infer"):
        print(f"\n#### {task}\n")
        print("| case | metric | predicted | measured | error | layout (and the best the search found) |")
        print("|---|---|---:|---:|---:|---|")
        for r in results:
            if r.task != task:
                continue
            pred = "—" if r.predicted is None else f"{r.predicted:,.4g}"
            meas = "—" if r.measured is None else f"{r.measured:,.4g}"
            extra = r.layout or r.reason or ""
            if r.best_layout and r.step_time_s and r.best_step_time_s:
                extra += f"; search: {r.best_layout} ({r.best_step_time_s:.3g} s vs {r.step_time_s:.3g} s)"
            print(f"| {r.id} | {r.metric or '—'} | {pred} | {meas} | {pct(r.error)} | {extra} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/validation/dev.yaml")

"""Mutation score of the last ``make mutate`` run: reads mutmut's per-file results under mutants/.

Killed: a test failed (or the mutant hung past mutmut's timeout). Survived: every test passed.
No tests: no selected test reaches the mutated function; counted against the score.
Usage: python benchmarks/mutation_score.py [--survivors]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37, -11, -9}  # test failure, pytest error, timeout, crash
SURVIVED = {0}
NO_TESTS = {5, 33}


def main() -> int:
    root = Path("mutants")
    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        print("no mutation results: run `make mutate` first")
        return 1
    total: Counter[str] = Counter()
    survivors: list[str] = []
    print(f"{'file':<44} {'mutants':>7} {'killed':>7} {'survived':>8} {'no test':>7} {'score':>6}")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        c: Counter[str] = Counter()
        for name, code in codes.items():
            kind = (
                "killed"
                if code in KILLED
                else "survived"
                if code in SURVIVED
                else "no tests"
                if code in NO_TESTS
                else "unchecked"
            )
            c[kind] += 1
            if kind in ("survived", "no tests"):
                survivors.append(f"{kind:<9} {name}")
        counted = c["killed"] + c["survived"] + c["no tests"]
        score = c["killed"] / counted if counted else float("nan")
        rel = str(meta.relative_to(root / "src")).removesuffix(".meta")
        print(
            f"{rel:<44} {len(codes):>7} {c['killed']:>7} {c['survived']:>8} {c['no tests']:>7} {score:>6.1%}"
        )
        total.update(c)
    counted = total["killed"] + total["survived"] + total["no tests"]
    print(
        f"{'total':<44} {counted + total['unchecked']:>7} {total['killed']:>7} {total['survived']:>8} "
        f"{total['no tests']:>7} {total['killed'] / max(counted, 1):>6.1%}"
    )
    if total["unchecked"]:
        print(f"({total['unchecked']} mutants not checked yet)")
    if "--survivors" in sys.argv:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

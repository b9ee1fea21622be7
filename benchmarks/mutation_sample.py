"""Mutation score on a seeded random sample of the mutants (the full run takes hours on 2 cores).

1. ``mutmut run`` on one small function: mutmut generates every mutant of ``only_mutate``
   (pyproject.toml [tool.mutmut]) under mutants/ before it runs the ones asked for.
2. A seeded random sample of all mutant names (from ``mutants/**/*.py.meta``).
3. ``mutmut run`` on the sample; then the score of the sample with its 95% interval (normal
   approximation), per file and in all. Killed includes timeouts; "no tests" counts against it.

    python benchmarks/mutation_sample.py [--n 500] [--seed 20261202] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutation_score import KILLED, NO_TESTS, SURVIVED

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
FIRST = "xpuplan.planner.constraints.x_misses_deadline*"  # a few mutants: generates all of them


def codes() -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in Path("mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def kind(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "unchecked"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    log = open("mutants.log", "a")  # noqa: SIM115 - both runs append to it
    subprocess.run([MUTMUT, "run", "--max-children", str(a.jobs), FIRST], stdout=log, stderr=log, check=False)
    names = sorted(codes())
    sample = sorted(random.Random(a.seed).sample(names, min(a.n, len(names))))
    Path("mutants/sample.txt").write_text("\n".join(sample) + "\n")
    subprocess.run(
        [MUTMUT, "run", "--max-children", str(a.jobs), *sample], stdout=log, stderr=log, check=False
    )
    got = codes()
    per: dict[str, Counter[str]] = {}
    for n in sample:
        per.setdefault(n.split(".x_")[0], Counter())[kind(got.get(n))] += 1
    total: Counter[str] = sum(per.values(), Counter())
    print(f"{len(sample)} of {len(names)} mutants (seed {a.seed})")
    for mod, c in sorted(per.items()):
        counted = c["killed"] + c["survived"] + c["no tests"]
        print(f"  {mod:<34} {dict(c)}  {c['killed'] / max(counted, 1):.0%}")
    counted = total["killed"] + total["survived"] + total["no tests"]
    p = total["killed"] / max(counted, 1)
    half = 1.96 * math.sqrt(p * (1 - p) / max(counted, 1))
    print(f"score {p:.1%} ± {half:.1%} (95%) over {counted} checked; {total['unchecked']} not checked")
    print("survivors: mutmut show NAME for each of")
    print("\n".join(f"  {n}" for n in sample if kind(got.get(n)) == "survived"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

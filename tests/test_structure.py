"""The model stays readable as terms (issue 12): no function in perf/ over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PERF = Path(__file__).resolve().parents[1] / "src" / "xpuplan" / "perf"


def test_no_perf_function_over_60_lines() -> None:
    long = []
    for path in sorted(PERF.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > 60:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split these into terms: " + ", ".join(long)

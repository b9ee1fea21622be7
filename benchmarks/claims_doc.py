"""Regenerate the verdict table of docs/claims.md from `xpuplan claims --markdown`.

Run: ``.venv/bin/python benchmarks/claims_doc.py`` (rewrites the table between the
``<!-- claims:begin -->`` / ``<!-- claims:end -->`` markers; ``--check`` only reports whether the
file is stale). The table is never edited by hand: ``tests/test_prices.py`` fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xpuplan.api import default_catalog, evaluate_builtin
from xpuplan.report.claims_view import claims_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "claims.md"
BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"


def regenerated(text: str, table: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(check: bool) -> int:
    text = DOC.read_text()
    new = regenerated(text, claims_markdown(evaluate_builtin(default_catalog())))
    if check:
        print("docs/claims.md is " + ("up to date" if new == text else "stale: run benchmarks/claims_doc.py"))
        return 0 if new == text else 1
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))

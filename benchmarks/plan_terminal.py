"""Render ``xpuplan plan`` (the default scenario) as the README's terminal screenshot.

Runs the CLI with colour forced at 170 columns, replays its ANSI output into a recording Rich
console, exports the SVG (Rich's terminal frame, title "xpuplan plan") and has headless Chromium
screenshot it to ``docs/plan_terminal.png``.

    python benchmarks/plan_terminal.py        # needs chromium (Debian: apt-get install chromium)
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 170


def plan_ansi() -> str:
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": str(WIDTH), "TTY_COMPATIBLE": "1"}
    exe = Path(sys.executable).with_name("xpuplan")
    raw = subprocess.run([str(exe), "plan"], env=env, capture_output=True, text=True, check=True).stdout
    end = raw.rfind("\x1b[?25h")  # the progress bar ends by showing the cursor again
    body = raw[end + len("\x1b[?25h") :] if end >= 0 else raw
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-ln-z]", "", body).replace("\r", "").lstrip("\n")


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found: install it (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    rec = Console(record=True, width=WIDTH, force_terminal=True, color_system="truecolor", file=io.StringIO())
    for line in plan_ansi().splitlines():
        rec.print(Text.from_ansi(line), soft_wrap=True)
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "plan.svg"
        rec.save_svg(str(svg), title="xpuplan plan")
        box = re.search(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"', svg.read_text())
        if box is None:
            print("the SVG has no viewBox", file=sys.stderr)
            return 2
        w, h = float(box.group(1)), float(box.group(2))
        w_px, h_px = round(w), round(h)
        page = Path(tmp) / "plan.html"
        page.write_text(
            f'<html><body style="margin:0"><img src="plan.svg" style="width:{w_px}px;height:{h_px}px"></body></html>'
        )
        out = ROOT / "docs" / "plan_terminal.png"
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={w_px},{h_px}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {out.relative_to(ROOT)} ({w_px} x {h_px})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

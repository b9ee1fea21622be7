"""The HTML report in a real browser: headless Chromium (Debian's), driven by Selenium and Debian's
chromium-driver. Every Plotly figure must render (an SVG inside each plot div), the console must
stay free of errors, and a screenshot goes to docs/report.png (shown in docs/report.md).

Skipped only where Chromium or its driver is not installed; `.ci/run` installs both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,900",
)

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="Chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`xpuplan report -o report.html` on the default scenario, from the repository root (so the
    validation chart uses the built-in suite)."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "report", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    profile = tempfile.mkdtemp(prefix="xpuplan-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "<script src=" not in text  # Plotly is inlined: the file opens offline
    assert 'src="http' not in text and "<link " not in text
    assert text.count('class="plotly-graph-div"') >= 6


def test_every_plot_renders_without_console_errors(report: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(report.as_uri())
    n = browser.execute_script("return document.querySelectorAll('.plotly-graph-div').length")
    assert n >= 6  # cost vs time ×2, step time, memory, scaling, serving (+ validation)
    drawn = "return Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => d.querySelector('.main-svg')).length"
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(drawn) == n)
    missing = browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".filter(d => !d.querySelector('.main-svg')).map(d => d.id)"
    )
    assert missing == []
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert "Ranked plan" in browser.page_source
    # the screenshot for docs/report.md: the top of the report at a laptop's width
    browser.set_window_size(1280, 2200)
    browser.execute_script("window.scrollTo(0, 0)")
    shot = ROOT / "docs" / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000


def test_study_report_draws_every_plot(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    study = tmp_path / "s.toml"
    study.write_text(
        '[axes]\nmodels = ["llama-3-8b"]\nsystems = ["aws-p5.48xlarge", "gcp-tpu-v6e-pod"]\n'
        'chips = [64, 128, 256]\npricing = ["on_demand", "spot"]\n[train]\ntokens = 1e12\n'
    )
    out, page = tmp_path / "s.parquet", tmp_path / "s.html"
    for args in (
        ("sweep", str(study), "--out", str(out), "--workers", "1"),
        ("report", "--study", str(out), "-o", str(page)),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "xpuplan.cli", *args], capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, r.stderr
    browser.get(page.as_uri())
    n = browser.execute_script("return document.querySelectorAll('.plotly-graph-div').length")
    assert n == 3  # cost vs time per offer, per-vendor fronts, break-even prices
    drawn = "return Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => d.querySelector('.main-svg')).length"
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(drawn) == n)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors

"""The HTML report page rendered by a real headless Chromium to a screenshot.

Skipped, with the reason, only when ``/usr/bin/chromium`` is absent (CI installs it).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from dlbs.reports.build import build_report
from dlbs.reports.html import to_html
from dlbs.reports.plots import charts

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,1800"]


def screenshot(page: Path, out: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    """Render ``page`` with headless Chromium into the PNG ``out``."""
    profile.mkdir()
    argv = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
            page.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium)")
def test_html_report_renders_in_chromium(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    report = build_report(records, "weak")
    page = tmp_path / "report.html"
    page.write_text(to_html(report, charts(report)), encoding="utf-8")
    shot = tmp_path / "screenshot.png"
    done = screenshot(page, shot, tmp_path / "profile")
    assert shot.exists(), f"chromium made no screenshot (exit {done.returncode}): {done.stderr}"
    assert shot.stat().st_size > 30_000
    image = matplotlib.image.imread(shot)
    assert image.shape[0] >= 1000 and image.shape[1] >= 1000
    assert image[..., :3].std() > 0.05, "the screenshot is blank"
    # the page is not all white: the tables' header band (#e8eef8) and text are drawn
    dark = (image[..., :3].mean(axis=2) < 0.3).mean()
    assert dark > 0.002

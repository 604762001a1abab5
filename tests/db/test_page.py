"""``dlbs db page``: one self-contained page of histories and changes, rendered by a real
headless Chromium (CI installs it)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
from forked_cli import run_dlbs

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,1600"]


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _history(logs: Any, folder: Path) -> None:
    rng = np.random.default_rng(7)
    for model, step in (("resnet18", -0.12), ("alexnet_owt", 0.0)):
        for v in range(24):
            level = 100.0 * (1 + (step if v >= 12 else 0.0))
            for r in range(3):
                value = float(level * (1 + 0.01 * rng.standard_normal()))
                logs.write(folder / f"{model}_{v}_{r}.log",
                           logs.facts(model=model, code=f"v{v:02d}", throughput=value,
                                      repeat=r, day=1 + v))


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium)")
def test_the_page_lists_the_regression_and_renders_in_chromium(logs: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _history(logs, tmp_path / "logs")
    assert _dlbs("db", "ingest", "--db", url, str(tmp_path / "logs")).returncode == 0
    done = _dlbs("db", "page", "--db", url, "--output", str(tmp_path / "page"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "page" / "index.html").read_text()
    assert "<tr class='regression'>" in text and "v11" in text and "v12" in text
    assert text.count("data:image/png;base64,") == 2 and "http" not in text.split("<body>")[1]
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    (tmp_path / "page" / "index.html").as_uri()], capture_output=True,
                   text=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 30_000
    image = matplotlib.image.imread(shot)
    assert image[..., :3].std() > 0.05, "the screenshot is blank"
    # the regression row's red band (#fbe3e3) is drawn
    red = ((np.abs(image[..., 0] - 0xfb / 255) < 0.02) & (np.abs(image[..., 1] - 0xe3 / 255) < 0.02)
           & (np.abs(image[..., 2] - 0xe3 / 255) < 0.02)).mean()
    assert red > 0.001

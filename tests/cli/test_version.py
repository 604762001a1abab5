"""Every entry point answers --version; the files the README's tour writes are ignored by git."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dlbs

ROOT = Path(dlbs.PROJECT_ROOT)
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("argv", [["experimenter", "--version"], ["dlbs", "--version"],
                                  ["logparser", "--version"], ["experimenter", "-V"]])
def test_entry_points_answer_version(argv: list[str]) -> None:
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"dlbs {re.escape(dlbs.__version__)} \((commit [0-9a-f]{{12}}, )?"
                        r"python \d+\.\d+\.\d+\)\n", result.stdout), result.stdout


def test_files_the_readme_tour_writes_are_ignored() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## A short tour", 1)[1].split("```", 2)[1]
    written = set(re.findall(r"--(?:plan|output_file|progress-file) (\S+)", tour))
    written |= set(re.findall(r"> (\S+)", tour)) | set(re.findall(r"--plot (\S+)", tour))
    assert {"plan.json", "results.json", "report.html", "charts/"} <= written
    paths = [p.rstrip("/") + ("/chart.png" if p.endswith("/") else "") for p in written]
    paths += ["logs/cpu_sweep/x.log"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert sorted(result.stdout.split()) == sorted(paths), result.stdout

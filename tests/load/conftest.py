"""A null server per test that needs one (``serving.nullserver``, a process of its own, on a
free port), with the misbehaviour asked for."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


@pytest.fixture
def null_server() -> Iterator[Callable[..., str]]:
    started: list[subprocess.Popen] = []

    def start(*flags: str) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "serving.nullserver", "--port", "0",
                                 *flags], cwd=PYTHON_DIR, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://\S+", line)
        assert found, f"the null server said {line!r}"
        return found.group(0)

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)

"""Fixtures of the CLI tests: run ``dlbs.cli.main.main`` in-process and capture its output."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main

#: A fixed time stamp, so that two runs of the same plan give identical experiments.
TIMESTAMP = "20260101-120000"


@dataclass
class Result:
    """What one CLI invocation did: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Parse stdout as JSON."""
        return json.loads(self.out)

    def jsonl(self) -> list[Any]:
        """Parse stdout as JSON lines."""
        return [json.loads(line) for line in self.out.splitlines()]

    def error_line(self) -> str:
        """Return stderr, checking that it is exactly one ``error:`` line with no traceback."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Return ``cli(*argv) -> Result``, running in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Return ``write(name, content) -> path``: a JSON object is dumped, text written as is."""

    def _write(name: str, content: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content)
        path.write_text(text, encoding="utf-8")
        return path

    return _write

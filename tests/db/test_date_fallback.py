"""Issue 58, item 3: history, regressions and db page on runs made without
``-Pexp.code_version`` (ingested folders, DLBS's own logs) follow the runs' dates with a
one-line note instead of stopping with exit 2; ``--by exp.code_version`` given still refuses."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main


def _ingested(logs: Any, tmp_path: Path) -> str:
    folder = tmp_path / "old"
    for day in (1, 2, 3):
        for repeat in range(2):
            facts = logs.facts(throughput=100.0 + day + repeat, repeat=repeat, day=day)
            del facts["exp.code_version"]
            logs.write(folder / f"d{day}r{repeat}.log", facts)
    return str(logs.ingest(folder, tmp_path / "r.db"))


def test_without_code_versions_the_axis_is_the_date(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _ingested(logs, tmp_path)
    capsys.readouterr()
    assert main(["history", "--db", url, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    points = json.loads(out)
    assert [p["at"] for p in points] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert {p["axis"] for p in points} == {"date"}
    assert "note: no exp.code_version in these runs: the axis is their date" in err
    assert main(["regressions", "--db", url, "--latest"]) == 3  # three days: nothing judged
    assert "the axis is their date" in capsys.readouterr().err
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    assert "the axis is their date" in capsys.readouterr().err


def test_an_axis_given_is_kept(logs: Any, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    url = _ingested(logs, tmp_path)
    capsys.readouterr()  # the ingest's lines
    assert main(["history", "--db", url, "--by", "exp.code_version"]) == 2
    err = capsys.readouterr().err
    assert "--by exp.code_version:" in err
    # what to do with these runs, in the refusal (issue 58: it did not say --by date)
    assert err.count("\n") == 1 and "give --by date (or leave --by out" in err

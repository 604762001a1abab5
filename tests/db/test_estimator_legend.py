"""Issue 56, item 1: every database output names the one estimator of a point's value and
interval (history's table, CSV and JSON; regressions' JSON and summary; db page's HTML; the
charts' axis), and db page shows the value and interval that history and report give."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from benchstats.estimate import ESTIMATOR, ESTIMATOR_LEGEND

from dlbs.cli.main import main

#: The issue's three runs of AlexNet OWT batch 8 (samples/s): 5.27 [1.88, 14.77].
RUNS = (3.72, 4.71, 8.34)


def _database(logs: Any, tmp_path: Path) -> str:
    folder = tmp_path / "logs"
    for i, throughput in enumerate(RUNS):
        logs.write(folder / f"run{i}.log", logs.facts(model="alexnet_owt", throughput=throughput,
                                                     repeat=i, **{"exp.replica_batch": 8}))
    return str(logs.ingest(folder, tmp_path / "r.db"))


def test_history_names_the_estimator_in_every_format(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path)
    capsys.readouterr()
    assert main(["history", "--db", url]) == 0
    assert f"value, ci_low, ci_high: {ESTIMATOR_LEGEND}" in capsys.readouterr().out
    assert main(["history", "--db", url, "--format", "json"]) == 0
    assert {row["estimator"] for row in json.loads(capsys.readouterr().out)} == {ESTIMATOR}
    assert main(["history", "--db", url, "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert ESTIMATOR_LEGEND in err and ESTIMATOR_LEGEND not in out  # CSV stays data


def test_regressions_and_page_name_it_and_page_shows_historys_numbers(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path)
    capsys.readouterr()
    assert main(["regressions", "--db", url, "--latest"]) == 3  # too short: nothing judged
    assert f"note: a point is the {ESTIMATOR_LEGEND}" in capsys.readouterr().err
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    page = next((tmp_path / "page").glob("*.html")).read_text()
    assert html.escape(ESTIMATOR_LEGEND) in page
    # the golden figures of report and history (tests/db/test_one_estimator.py), 4 digits
    assert "<td>5.267</td><td>1.878</td><td>14.77</td>" in page

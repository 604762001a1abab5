"""Issue 56, item 1: the same runs give the same value and interval in ``dlbs report`` (a
folder of logs, and ``--db``) and ``dlbs history`` (the database), to the last digit."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main

#: The issue's three runs of AlexNet OWT batch 8 (samples/s).
RUNS = (3.72, 4.71, 8.34)


def test_report_and_history_agree_to_the_digit(logs: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "logs"
    for i, throughput in enumerate(RUNS):
        logs.write(folder / f"run{i}.log", logs.facts(model="alexnet_owt", throughput=throughput,
                                                     repeat=i, **{"exp.replica_batch": 8}))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "ingest", "--db", url, str(folder)]) == 0
    capsys.readouterr()
    assert main(["history", "--db", url, "--format", "json"]) == 0
    point = json.loads(capsys.readouterr().out)[0]
    assert (round(point["value"], 2), round(point["ci_low"], 2), round(point["ci_high"], 2)) \
        == (5.27, 1.88, 14.77)
    for source in ([str(folder)], ["--db", url]):
        assert main(["report", *source, "--type", "summary", "--format", "json"]) == 0
        row = json.loads(capsys.readouterr().out)["tables"][0]["rows"][0]["cells"]
        # JSON keeps six decimals: the same digits as history's
        assert all(round(point[k], 6) in row for k in ("value", "ci_low", "ci_high"))

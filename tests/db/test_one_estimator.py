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
    url = logs.ingest(folder, tmp_path / "r.db")
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


def test_a_serving_runs_requests_per_second_agree_in_report_and_history(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A serving run's history figure is its requests/s: the serving report's Requests/s cell
    is the same estimator (it was the arithmetic mean with Student's t: 5.59 [-0.90, 12.08])."""
    folder = tmp_path / "serve"
    for i, rate in enumerate(RUNS):
        logs.write(folder / f"serve{i}.log", logs.facts(
            model="tiny", throughput=rate, repeat=i,
            **{"exp.phase": "serve", "serve.request_rate": 8.0, "serve.model": "tiny",
               "results.request_throughput": rate, "results.ttft_p50": 0.05 + i / 100}))
    url = logs.ingest(folder, tmp_path / "r.db")
    capsys.readouterr()
    assert main(["history", "--db", url, "--format", "json"]) == 0
    point = json.loads(capsys.readouterr().out)[0]
    assert main(["report", str(folder), "--format", "json"]) == 0
    tables = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tables"]}
    assert tables["request_throughput"]["rows"][0]["cells"] == [round(point["value"], 6)]
    assert tables["request_throughput_ci"]["rows"][0]["cells"] == [
        f"{point['ci_low']:.2f} - {point['ci_high']:.2f}"]  # 1.88 - 14.77, as history

"""``dlbs history`` shows a column for each parameter that differs between the series shown
and says the ones they share once above the table (issue 58: a row was the comparability key
as one string, ~400 characters, ``parallelism=None`` beside ``parallelism=fsdp``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main

#: Four series of one model: threads unset, 1 and 2; one of them sharded over 4 ranks.
VARIANTS: list[dict[str, Any]] = [
    {}, {"exp.num_threads": 2},
    {"exp.num_threads": 2, "exp.parallelism": "fsdp", "exp.num_replicas": 4},
    {"exp.num_threads": 1, "exp.seq_len": 256}]


def _database(logs: Any, tmp_path: Path, model: str = "resnet18") -> str:
    folder = tmp_path / "logs"
    for n, extra in enumerate(VARIANTS):
        for v in range(3):
            for r in range(3):
                logs.write(folder / f"s{n}_v{v}_r{r}.log",
                           logs.facts(model=model, code=f"v{v}", repeat=r, day=1 + v,
                                      throughput=100.0 * (1 + 0.01 * r),
                                      **{"exp.input_shape": [3, 224, 224], **extra}))
    return str(logs.ingest(folder, tmp_path / "r.db"))


def _history(capsys: pytest.CaptureFixture[str], url: str, *options: str) -> str:
    capsys.readouterr()
    assert main(["history", "--db", url, *options]) == 0
    return capsys.readouterr().out


def _shared_and_table(out: str) -> tuple[str, list[str]]:
    """The text table's ``All series:`` block joined into one line, and the lines from the
    header on; every line of that block at most 100 characters."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("series "))
    assert all(len(line) <= 100 for line in lines[:header]), lines[:header]
    return " ".join(line.strip() for line in lines[:header]), lines[header:]


def test_each_varying_parameter_is_a_column_and_the_shared_ones_are_said_once(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path)
    out = _history(capsys, url)
    shared, lines = _shared_and_table(out)
    assert shared.startswith("All series: model=resnet18, phase=inference, dtype=float32, "
                             "replica_batch=8, device_type=cpu, device_model=AMD EPYC, "), shared
    assert any("input_shape=[3, 224, 224]" in line for line in out.splitlines())  # kept whole
    assert lines[0].split() == ["series", "num_replicas", "num_threads", "seq_len",
                                "parallelism", "at", "value", "ci_low", "ci_high", "runs"]
    rows = [line.split() for line in lines[1:13]]
    assert {tuple(row[1:6]) for row in rows if row[5] == "v0"} == {
        ("1", "-", "-", "-", "v0"), ("1", "2", "-", "-", "v0"), ("4", "2", "-", "fsdp", "v0"),
        ("1", "1", "256", "-", "v0")}
    assert "None" not in out and "resnet18 inference" not in out
    assert out.count("-: not set in that series' runs") == 1
    assert max(len(line) for line in lines[:13]) < 100  # was ~130 here, ~400 on a real sweep
    # JSON and CSV keep their keys (contracts): the configuration's name and its parameters
    rows = json.loads(_history(capsys, url, "--format", "json"))
    assert set(rows[0]) == {"series", "configuration", "axis", "at", "metric", "value",
                            "ci_low", "ci_high", "runs", "ci_withheld", "estimator",
                            "parameters", "busy_runs", "mark"}  # the last two: issue 58
    header = _history(capsys, url, "--format", "csv").splitlines()[0]
    assert header == "series,configuration,at,value,ci_low,ci_high,runs"


def test_one_series_has_no_parameter_columns_and_no_legend_for_unset(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path)
    out = _history(capsys, url, "-Pexp.num_threads=1")
    shared, lines = _shared_and_table(out)
    assert "num_threads=1" in shared and "seq_len=256" in shared
    assert lines[0].split() == ["series", "at", "value", "ci_low", "ci_high", "runs"]
    assert "not set" not in out


def test_markdown_gives_the_same_columns_as_a_markdown_table(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _history(capsys, _database(logs, tmp_path), "--format", "markdown")
    lines = out.splitlines()
    assert lines[0].startswith("All series: model=resnet18, ")
    assert lines[2] == ("| series | num_replicas | num_threads | seq_len | parallelism | at | "
                        "value | ci_low | ci_high | runs |")
    assert lines[3] == "|" + "|".join(["---"] * 10) + "|"
    assert "| 4 | 4 | 2 | - | fsdp | v0 |" in out
    assert "\\-: not set in that series' runs" in out  # escaped: no list item


def test_text_read_from_logs_is_escaped_in_the_shared_line_and_the_cells(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, model="evil\x1b[31m\u202emodel")
    for fmt, shown in (("table", "evil\\x1b[31m\\u202emodel"),
                       ("markdown", "evil\\\\x1b\\[31m\\\\u202emodel")):
        out = _history(capsys, url, "--format", fmt)
        assert "\x1b" not in out and "\u202e" not in out, fmt
        assert shown in out.splitlines()[0], fmt
    # the model a column when it differs between the series: each cell escaped
    for r in range(3):
        logs.write(tmp_path / "more" / f"r{r}.log", logs.facts(model="plain", repeat=r))
    assert main(["db", "ingest", "--db", url, str(tmp_path / "more")]) == 0
    out = _history(capsys, url)
    assert "\x1b" not in out and _shared_and_table(out)[1][0].split()[:2] == ["series", "model"]
    assert "evil\\x1b[31m\\u202emodel" in out and " plain " in out


def test_split_parameters_a_field_some_series_lack_varies() -> None:
    from dlbs.db.history import split_parameters

    shared, varying = split_parameters([{"exp.model": "a", "exp.num_threads": 2},
                                        {"exp.model": "a", "exp.num_threads": 2,
                                         "exp.parallelism": "fsdp"},
                                        {"exp.model": "a"}])
    assert shared == {"exp.model": "a"} and varying == ["exp.num_threads", "exp.parallelism"]

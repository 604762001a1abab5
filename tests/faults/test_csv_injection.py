"""CSV formula injection: no cell of a CSV that dlbs writes starts a spreadsheet formula.

A fact such as ``exp.model="=cmd|'/C calc'!A0"`` reaches ``logparser --output_file x.csv``, its
``_failed.csv`` and ``report --format csv``; every cell goes through ``dlbs.logs.csvcells``
(OWASP's rule: a ``'`` in front of a cell starting with ``= + - @``, tab, CR or LF that is not a
number). JSON and JSONL keep values exactly, and dlbs's own CSV reader reads an escaped cell
back as the value it was.
"""
from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_benchmarks.facts import format_fact

from dlbs.cli.main import main
from dlbs.logs.csvcells import FORMULA_STARTS, cell_text, value_text
from dlbs.logs.store import read_csv, read_records, write_csv

ROOT = Path(__file__).resolve().parents[2]

#: Values a spreadsheet would run, each as it must be written.
HOSTILE = [
    pytest.param("=cmd|'/C calc'!A0", "'=cmd|'/C calc'!A0", id="dde"),
    pytest.param("+1+cmd|'/C calc'!A0", "'+1+cmd|'/C calc'!A0", id="plus"),
    pytest.param("-2+3+cmd|'/C calc'!A0", "'-2+3+cmd|'/C calc'!A0", id="minus"),
    pytest.param("@SUM(1+1)*cmd|'/C calc'!A0", "'@SUM(1+1)*cmd|'/C calc'!A0", id="at"),
    pytest.param("\t=1+1", "'\t=1+1", id="tab"),
    pytest.param("\r=1+1", "'\r=1+1", id="carriage-return"),
    pytest.param("\n=1+1", "'\n=1+1", id="line-feed"),
    pytest.param("\uff1dcmd|'/C calc'!A0", "'\uff1dcmd|'/C calc'!A0", id="full-width-equals"),
    pytest.param("'=1+1", "''=1+1", id="already-quoted"),
    pytest.param("-", "'-", id="minus-alone"),
    pytest.param("-5 apples", "'-5 apples", id="minus-words"),
    pytest.param("x\r=cmd|'/C calc'!A0", "x\r=cmd|'/C calc'!A0", id="carriage-return-inside"),
    pytest.param("x\r\n@SUM(1)", "x\r\n@SUM(1)", id="crlf-inside"),
]
#: Values left as they are: numbers (a spreadsheet reads them as numbers) and harmless text.
PLAIN = [
    pytest.param("-5", id="negative-int-text"), pytest.param("-1.5e3", id="negative-exp-text"),
    pytest.param("+3", id="plus-number"), pytest.param("resnet50", id="text"),
    pytest.param(" =1", id="blank-first"), pytest.param("a=b", id="equals-inside"),
    pytest.param("'quoted'", id="quote-then-text"),
]


def _record(model: str, **extra: Any) -> dict[str, Any]:
    return {"exp.framework": "pytorch", "exp.model": model, "exp.model_title": model,
            "exp.phase": "training", "exp.dtype": "float32", "exp.device_type": "gpu",
            "exp.gpus": "0", "exp.num_gpus": 1, "exp.num_replicas": 1, "exp.replica_batch": 16,
            "exp.effective_batch": 16, "exp.num_nodes": 1, "exp.id": "x1",
            "exp.log_file": "/logs/x.log", "results.time": 10.0, "results.throughput": 1600.0,
            "results.status": "ok", "results.exit_code": 0, **extra}


def _write_log(folder: Path, name: str, record: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(format_fact(k, v) for k, v in record.items()) + "\n",
                    encoding="utf-8")
    return path


def _read(path: Path) -> str:
    """A CSV file's text as written (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _assert_no_formula(text: str) -> None:
    """Every cell of a CSV text is a number or does not start a formula, also for a reader
    that ends a row at a bare CR (read with universal newlines): no row is added."""
    rows = _cells(text)
    for cells in (rows, list(csv.reader(io.StringIO(text, newline=None)))):
        assert len(cells) == len(rows), "a CR outside quotes starts a new row"
        for row in cells:
            for cell in row:
                assert cell[:1] not in FORMULA_STARTS or cell_text(cell) == cell, \
                    f"cell {cell!r} would run as a formula"


@pytest.mark.parametrize("value, written", HOSTILE)
def test_logparser_csv_escapes_a_formula_fact(tmp_path: Path, value: str, written: str) -> None:
    log = _write_log(tmp_path / "logs", "x.log", _record(value, **{"exp.note": value}))
    out = tmp_path / "x.csv"
    assert main(["parse", str(log), "--output_file", str(out)]) == 0
    text = _read(out)
    _assert_no_formula(text)
    header, row = _cells(text)
    assert row[header.index("exp.model")] == written
    assert row[header.index("exp.note")] == written


@pytest.mark.parametrize("value", PLAIN)
def test_numbers_and_harmless_text_are_written_as_they_are(tmp_path: Path, value: str) -> None:
    out = tmp_path / "x.csv"
    with out.open("w", encoding="utf-8", newline="") as stream:
        write_csv([{"exp.note": value, "results.time": -1500.0, "results.delta": -5}], stream)
    header, row = _cells(_read(out))
    assert dict(zip(header, row)) == {"exp.note": value, "results.time": "-1500.0",
                                      "results.delta": "-5"}


@pytest.mark.parametrize("fmt", [".json", ".jsonl", ".json.gz"])
@pytest.mark.parametrize("value, written", HOSTILE)
def test_json_outputs_keep_the_value_exactly(tmp_path: Path, fmt: str, value: str,
                                             written: str) -> None:
    log = _write_log(tmp_path / "logs", "x.log", _record(value))
    out = tmp_path / f"x{fmt}"
    assert main(["parse", str(log), "--output_file", str(out)]) == 0
    assert read_records(out)[0]["exp.model"] == value


@pytest.mark.parametrize("value, written", [*HOSTILE, *[pytest.param(p.values[0], None,
                                                                      id=p.id) for p in PLAIN
                                                         if not p.values[0].lstrip("+-")[:1]
                                                         .isdigit()]])
def test_our_csv_reads_back_as_the_value_it_was(tmp_path: Path, value: str,
                                               written: str | None) -> None:
    """``parse x.csv`` (dlbs reading its own CSV) gives the value of the log, not the cell."""
    log = _write_log(tmp_path / "logs", "x.log", _record(value, **{"exp.note": value}))
    csv_out, again = tmp_path / "x.csv", tmp_path / "again.jsonl"
    assert main(["parse", str(log), "--output_file", str(csv_out)]) == 0
    assert main(["parse", str(csv_out), "--output_file", str(again)]) == 0
    record = read_records(again)[0]
    assert record["exp.model"] == value and record["exp.note"] == value


def test_failed_benchmarks_csv_is_escaped_too(tmp_path: Path) -> None:
    record = _record("=cmd|'/C calc'!A0", **{"results.status": "failure",
                                             "results.error": "@SUM(1)"})
    log = _write_log(tmp_path / "logs", "x.log", record)
    out = tmp_path / "x.csv"
    assert main(["parse", str(log), "--output_file", str(out),
                 "--failed_benchmarks", "keep_separately"]) == 0
    text = _read(tmp_path / "x_failed.csv")
    _assert_no_formula(text)
    header, row = _cells(text)
    assert row[header.index("exp.model")] == "'=cmd|'/C calc'!A0"
    assert row[header.index("results.error")] == "'@SUM(1)"


@pytest.mark.parametrize("kind", ["weak", "strong", "summary"])
def test_report_csv_escapes_keys_and_names(tmp_path: Path, kind: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    for number, model in enumerate(["=cmd|'/C calc'!A0", "-2+3", "@x", "resnet50"]):
        _write_log(logs, f"r{number}.log", _record(model, **{"exp.id": f"id{number}",
                                                             "exp.log_file": f"/l/{number}.log"}))
    out = tmp_path / "report.csv"
    assert main(["report", str(logs), "--type", kind, "--format", "csv",
                 "--output_file", str(out)]) == 0
    text = _read(out)
    _assert_no_formula(text)
    assert "'=cmd|'/C calc'!A0" in {cell for row in _cells(text) for cell in row}
    assert main(["report", str(logs), "--type", kind, "--format", "csv"]) == 0
    assert capsys.readouterr().out == text


def test_a_value_with_no_utf8_form_is_one_line_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A parsed JSON file may hold ``"\\udcff"``; CSV cannot write it as UTF-8: one line,
    exit 1, nothing left (JSON escapes it and keeps it)."""
    parsed = tmp_path / "in.json"
    parsed.write_text('{"data": [{"exp.model": "a\\udcffb", "results.status": "ok"}]}',
                      encoding="utf-8")
    assert main(["parse", str(parsed), "--output_file", str(tmp_path / "x.csv")]) == 1
    assert "a lone surrogate" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json"]
    assert main(["parse", str(parsed), "--output_file", str(tmp_path / "x.jsonl")]) == 0
    assert read_records(tmp_path / "x.jsonl")[0]["exp.model"] == "a\udcffb"


# -- the rule itself, over arbitrary strings ---------------------------------------------------

#: Text made mostly of what matters here: quotes, signs, digits, blanks, then anything.
_TEXT = st.text(alphabet=st.sampled_from("'=+-@\t\r\n\uff1d\uff0d.e5 a\"," ) | st.characters(
    blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=500, deadline=None)
@given(_TEXT)
def test_escaping_round_trips_any_string(text: str) -> None:
    assert value_text(cell_text(text)) == text


@settings(max_examples=500, deadline=None)
@given(_TEXT)
def test_no_escaped_cell_starts_a_formula(text: str) -> None:
    cell = cell_text(text)
    assert cell[:1] not in FORMULA_STARTS or cell == text  # only numbers are left as they are
    if cell[:1] in FORMULA_STARTS:
        float(cell.replace("\uff0d", "-").replace("\uff0b", "+"))  # a number


def _as_read(text: str) -> Any:
    """What the CSV reader gave for a plain cell before escaping existed: its JSON, or the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT.filter(bool), _TEXT.filter(bool), min_size=1, max_size=4))
def test_csv_file_round_trips_names_and_values(record: dict[str, str]) -> None:
    """Through a real CSV text: an escaped value or name reads back exactly; any other value
    reads as it always did (the JSON it holds, else the text)."""
    buffer = io.StringIO()
    write_csv([record], buffer)
    [read] = read_csv(io.StringIO(buffer.getvalue()))
    assert set(read) == set(record)
    for key, value in record.items():
        escaped = cell_text(value) != value
        expected = value if escaped else _as_read(value)
        assert json.dumps(read[key]) == json.dumps(expected)  # NaN as JSON reads it, too


def _modules_using(attribute: str) -> set[str]:
    """The modules of dlbs that use ``csv.<attribute>``."""
    found = set()
    for path in sorted((ROOT / "dlbs").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Attribute) and node.attr == attribute
               and isinstance(node.value, ast.Name) and node.value.id == "csv"
               for node in ast.walk(tree)):
            found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_csv_file_is_written_through_the_one_writer() -> None:
    """Only ``csvcells`` makes a ``csv.writer``; the CSV writers use its ``CsvWriter``."""
    assert _modules_using("writer") == {"dlbs/logs/csvcells.py"}
    assert not _modules_using("DictWriter")
    for module in ("dlbs/logs/store.py", "dlbs/reports/render.py"):
        assert "CsvWriter(" in (ROOT / module).read_text(encoding="utf-8"), module

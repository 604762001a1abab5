"""Parsed-record files: every format writes and reads back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlbs.errors import LogFormatError
from dlbs.logs.store import read_records, write_records

RECORDS: list[dict[str, Any]] = [
    {"exp.model": "resnet50", "exp.replica_batch": 16, "exp.docker": False,
     "results.time_data": [1.0, 2.0], "results.status": "ok"},
    {"exp.model": "alexnet", "results.status": "oom", "results.error": "out of memory, again"},
]


@pytest.mark.parametrize("name", ["r.json", "r.json.gz", "r.jsonl", "r.csv"])
def test_records_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_records(RECORDS, path)
    assert read_records(path) == RECORDS


def test_json_file_is_a_data_object(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_records(RECORDS, path)
    assert path.read_text().startswith('{\n "data": [')


@pytest.mark.parametrize("content, message", [
    pytest.param("{", "r.json:1: not valid JSON (Expecting property name", id="bad-json"),
    pytest.param('{"x": 1}', "is not a parsed-results file", id="not-records"),
])
def test_bad_parsed_file_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(LogFormatError) as err:
        read_records(path)
    assert message in str(err.value)


def test_failed_write_keeps_the_previous_file_and_leaves_no_partial_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.logs import store

    path = tmp_path / "r.jsonl"
    write_records([{"a": 1}], path)

    def half_then_full_disk(records: Any, fmt: str, stream: Any) -> None:
        stream.write('{"a": ')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "dump_records", half_then_full_disk)
    with pytest.raises(LogFormatError, match="cannot write .*: No space left on device"):
        write_records([{"a": 2}], path)
    assert path.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]

"""Database faults are one line and a non-zero exit, never a traceback or SQL text, and the
database stays consistent (issue 30): a server gone mid-ingest, a disk that fills, a
read-only file (which can still be queried), a schema of a newer dlbs, integers no column
holds, output targets that cannot be written."""
from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs
from sqlalchemy.exc import OperationalError

from dlbs.db import DatabaseError, open_store
from dlbs.db.writes import Writes


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The error line of a command that must fail with ``code`` in one clean line."""
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.splitlines()
             if line.strip() and not line.startswith("ingest: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "INSERT" not in done.stderr
    assert "SELECT" not in done.stderr and "[SQL" not in done.stderr
    return lines[0]


def _sweep(logs: Any, folder: Path, count: int) -> Path:
    for i in range(count):
        logs.write(folder / f"r{i}.log", logs.facts(model=f"m{i}", throughput=100.0 + i))
    return folder


def _lost_server(calls: list[int], original: Any) -> Any:
    """``Writes.store_rows`` (every write of runs: ``store_many`` and ingest) whose second
    transaction finds the server gone."""
    def store_rows(self: Writes, items: Any) -> int:
        calls.append(len(items))
        if len(calls) == 2:
            raise OperationalError("INSERT INTO runs (identity, facts) VALUES (%s, %s)",
                                   {"identity": "x"}, Exception(
                                       "consuming input failed: server closed the connection "
                                       "unexpectedly\n\tThis probably means the server "
                                       "terminated abnormally"))
        return int(original(self, items))
    return store_rows


def test_a_server_gone_mid_ingest_is_one_line_and_the_earlier_runs_stay(
        db_url: str, logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _sweep(logs, tmp_path / "logs", 3)
    calls: list[int] = []
    monkeypatch.setattr(Writes, "store_rows", _lost_server(calls, Writes.store_rows))
    store = open_store(db_url)
    try:
        with pytest.raises(DatabaseError) as raised:
            store.ingest_paths([str(folder)], batch=1)
        message = str(raised.value)
        assert "\n" not in message and "INSERT" not in message and "identity" not in message
        assert "ingest failed (consuming input failed: server closed the connection" in message
        assert "check that the server runs" in message
        assert store.count() == 1  # the first transaction stays; the second left nothing
    finally:
        store.close()
    monkeypatch.undo()
    again = _dlbs("db", "ingest", "--db", db_url, str(folder))
    assert again.returncode == 0 and "2 new run(s), 1 already stored" in again.stderr


def test_a_database_error_in_the_cli_is_one_line(db_url: str, logs: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from dlbs.cli.main import main

    folder = _sweep(logs, tmp_path / "logs", 2)
    monkeypatch.setattr(Writes, "store_rows", _lost_server([1], Writes.store_rows))
    assert main(["db", "ingest", "--db", db_url, str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "INSERT" not in err and "ingest failed" in err


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 300 KiB file system (tmpfs, as root)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a small file system needs root (mount -t tmpfs)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("mount is not permitted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_disk_that_fills_mid_ingest_is_one_line_and_leaves_a_sound_database(
        tiny_disk: Path, logs: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tiny_disk / 'results.db'}"
    folder = _sweep(logs, tmp_path / "logs", 1500)
    line = _one_line(_dlbs("db", "ingest", "--db", url, str(folder)), 2)
    assert "database or disk is full" in line and "free space" in line
    query = _dlbs("db", "query", "--db", url, "--format", "jsonl")
    assert query.returncode == 0, query.stderr
    with sqlite3.connect(tiny_disk / "results.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(
            query.stdout.splitlines())


@pytest.fixture
def read_only_db(tmp_path: Path, logs: Any) -> Iterator[str]:
    """A database of two runs in a folder no one may write (a read-only bind mount as root,
    else a file and folder without write permission)."""
    source = tmp_path / "source"
    source.mkdir()
    url = f"sqlite:///{source / 'results.db'}"
    assert _dlbs("db", "ingest", "--db", url, str(_sweep(logs, tmp_path / "logs", 2))
                 ).returncode == 0
    if os.geteuid() != 0:
        (source / "results.db").chmod(0o444)
        source.chmod(0o555)
        yield url
        source.chmod(0o755)
        return
    view = tmp_path / "view"
    view.mkdir()
    bound = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(view)],
                           capture_output=True, check=False)
    if bound.returncode != 0:
        pytest.skip("as root without mount, no file is read-only")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        yield f"sqlite:///{view / 'results.db'}"
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_read_only_database_file_can_be_queried(read_only_db: str, tmp_path: Path) -> None:
    query = _dlbs("db", "query", "--db", read_only_db, "--format", "jsonl")
    assert query.returncode == 0 and len(query.stdout.splitlines()) == 2, query.stderr
    for command in (["history", "--plot", str(tmp_path / "h.png")], ["regressions"],
                    ["db", "page", "--output", str(tmp_path / "page")], ["report"]):
        done = _dlbs(*command, "--db", read_only_db)
        # two runs judge nothing: regressions says so with its own code (3), not a pass
        assert done.returncode == (3 if command == ["regressions"] else 0), (command,
                                                                             done.stderr)
    line = _one_line(_dlbs("db", "exclude", "--db", read_only_db, "1", "--reason", "x"), 2)
    assert "readonly" in line or "read-only" in line


def test_a_reading_store_never_writes(tmp_path: Path, logs: Any) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    open_store(url).close()
    store = open_store(url, readonly=True)
    try:
        with pytest.raises(DatabaseError, match=r"storing the run failed \(attempt to write a "
                                                r"readonly database\)"):
            store.store_facts(logs.facts())
    finally:
        store.close()


def test_a_database_of_a_newer_dlbs_is_refused_in_one_line(db_url: str, logs: Any,
                                                          tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    open_store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    for command in (["db", "query"], ["db", "ingest", str(_sweep(logs, tmp_path / "l", 1))],
                    ["history"], ["db", "upgrade"]):
        line = _one_line(_dlbs(*command, "--db", db_url), 2)
        assert "'9999_future', written by a newer dlbs" in line, line


BIG = "12345678901234567890"


def test_an_integer_no_column_holds_matches_nothing_and_is_no_crash(db_url: str, logs: Any,
                                                                    tmp_path: Path) -> None:
    assert _dlbs("db", "ingest", "--db", db_url, str(_sweep(logs, tmp_path / "l", 2))
                 ).returncode == 0
    for filters in (["-Pexp.replica_batch=" + BIG], ["-Pexp.num_threads=" + BIG],
                    ["--filter", f'{{"exp.replica_batch": {BIG}}}'],
                    ["-Pexp.replica_batch=3000000000"], ["--filter", f'{{"exp.x": -{BIG}}}']):
        done = _dlbs("db", "query", "--db", db_url, "--format", "jsonl", *filters)
        assert done.returncode == 0 and done.stdout == "", (filters, done.stderr)
        history = _dlbs("history", "--db", db_url, "--format", "jsonl", *filters)
        assert history.stdout == "" and "no stored run matches" in _one_line(history, 2)
    line = _one_line(_dlbs("db", "exclude", "--db", db_url, BIG, "--reason", "x"), 2)
    assert f"no run with id {BIG}" in line


def test_an_output_that_cannot_be_written_is_one_line(tmp_path: Path, logs: Any) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    assert _dlbs("db", "ingest", "--db", url, str(_sweep(logs, tmp_path / "l", 1))
                 ).returncode == 0
    (tmp_path / "a_file").write_text("keep")
    (tmp_path / "a_dir.png").mkdir()
    for command, words in (
            (["db", "page", "--output", str(tmp_path / "a_file")], "not a folder"),
            (["db", "page", "--output", str(tmp_path / "a_file" / "sub")], "not a folder"),
            (["history", "--plot", str(tmp_path / "a_dir.png")], "is a directory"),
            (["history", "--plot", str(tmp_path / "a_file" / "h.png")], "not a folder")):
        line = _one_line(_dlbs(*command, "--db", url), 1)
        assert words in line and ("--output" in line or "--plot" in line), line
    assert (tmp_path / "a_file").read_text() == "keep"
    # an empty name is no file: once exit 0 with no chart, or a page in the current folder
    for command, words in ((["history", "--plot", ""], "--plot '': give a .png"),
                           (["db", "page", "--output", ""], "--output '': give the folder")):
        assert words in _one_line(_dlbs(*command, "--db", url), 2)


def test_a_filter_that_is_not_utf8_text_is_one_line(tmp_path: Path, logs: Any) -> None:
    """A byte that is not UTF-8 on the command line (Python hands it on as a lone surrogate)
    or a ``\\ud800`` escape in ``--filter`` reached the driver: a traceback (issue 30 review)."""
    url = f"sqlite:///{tmp_path / 'results.db'}"
    assert _dlbs("db", "ingest", "--db", url, str(_sweep(logs, tmp_path / "l", 1))
                 ).returncode == 0
    bad_arg = os.fsdecode(b"-Pexp.model=\xff")
    for command in (["history", bad_arg], ["regressions", bad_arg], ["db", "query", bad_arg],
                    ["db", "query", "--filter", '{"exp.model": "\\ud800"}']):
        line = _one_line(_dlbs(*command, "--db", url), 2)
        assert "not UTF-8 text" in line, line

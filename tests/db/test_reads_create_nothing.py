"""Issue 58: a command that only reads never creates the database it is pointed at. On an
SQLite path that names no file it says so in one line (the --db value and what to do), exits
2 and leaves no file behind (SQLite made an empty database, its -wal and -shm, and ``db
query`` printed no rows and exit 0 as if the database were empty). Nor does a command that
changes a database it expects to exist (``db upgrade``, ``db rekey``, ``db exclude``: on a
misspelt path each reported success on a new empty file). ``db ingest`` and ``run --db`` keep
creating it."""
from __future__ import annotations

from pathlib import Path

import pytest

from dlbs.cli.main import main

READS = [
    pytest.param(["history"], id="history"),
    pytest.param(["regressions"], id="regressions"),
    pytest.param(["regressions", "--latest"], id="regressions-latest"),
    pytest.param(["db", "query"], id="db-query"),
    pytest.param(["db", "page", "--output", "PAGE"], id="db-page"),
    pytest.param(["report"], id="report"),
]


@pytest.mark.parametrize("command", READS)
def test_a_read_of_a_missing_sqlite_file_is_one_line_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    url = f"sqlite:///{folder / 'missing.db'}"
    argv = [str(tmp_path / "page") if a == "PAGE" else a for a in command]
    assert main([*argv, "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --db {url}: no such database file ({folder / 'missing.db'}); this "
                   f"command only reads: check the path, or create the database with "
                   f"'dlbs db ingest --db {url} FOLDER'")
    assert list(folder.iterdir()) == []  # no database, no -wal, no -shm
    assert not (tmp_path / "page").exists()
    # what stores runs (ingest, run --db: open_store) still creates it
    from dlbs.db import open_store
    open_store(url).close()
    assert (folder / "missing.db").is_file()


CHANGES = [
    pytest.param(["db", "upgrade"], "upgrades an existing database", id="db-upgrade"),
    pytest.param(["db", "rekey"], "rekeys an existing database", id="db-rekey"),
    pytest.param(["db", "rekey", "--dry-run"], "rekeys an existing database", id="db-rekey-dry"),
    pytest.param(["db", "exclude", "--reason", "bad node", "7"],
                 "marks runs of an existing database", id="db-exclude"),
    pytest.param(["db", "exclude", "--include", "7"], "marks runs of an existing database",
                 id="db-include"),
]


@pytest.mark.parametrize(("command", "doing"), CHANGES)
def test_a_change_to_a_missing_sqlite_file_is_one_line_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        doing: str) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    assert main([*command, "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --db {url}: no such database file ({tmp_path / 'typo.db'}); this "
                   f"command {doing}: check the path, or create the database with "
                   f"'dlbs db ingest --db {url} FOLDER'")
    assert list(tmp_path.iterdir()) == []


def test_a_read_through_a_missing_folder_names_the_file_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'r.db'}"
    assert main(["history", "--db", url]) == 2
    assert (f"--db {url}: no such database file ({tmp_path / 'no' / 'such' / 'r.db'}; folder "
            f"{tmp_path / 'no' / 'such'} does not exist); this command only reads"
            in capsys.readouterr().err)
    assert not (tmp_path / "no").exists()


def test_a_read_of_an_sqlite_uri_names_the_file_it_reads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``file:PATH?uri=true``: the file is the URI's path, not the text ``file:PATH``."""
    url = f"sqlite:///file:{tmp_path / 'gone.db'}?uri=true"
    assert main(["db", "query", "--db", url]) == 2
    assert f"no such database file ({tmp_path / 'gone.db'})" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

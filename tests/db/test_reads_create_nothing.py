"""Issue 58: a command that only reads never creates the database it is pointed at. On an
SQLite path that names no file it says so in one line (the --db value and what to do), exits
2 and leaves no file behind (SQLite made an empty database, its -wal and -shm, and ``db
query`` printed no rows and exit 0 as if the database were empty). A command that writes
(``db upgrade``, ``db ingest``) keeps creating it."""
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
    # a command that writes still creates it, and the read then finds it
    assert main(["db", "upgrade", "--db", url]) == 0 and (folder / "missing.db").is_file()


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

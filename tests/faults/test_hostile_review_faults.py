"""Issue 54's fixes attacked again (a hostile review): variants the first fixes missed.

Each case is a user's command as typed; each failed on the code before its fix.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dlbs.cli.main import main


def _write_log(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('__exp.model__="a"\n__results.time__=1.0\n', encoding="utf-8")


# -- SQLite URLs that keep nothing, beyond :memory: and mode=memory -----------------------
@pytest.mark.parametrize("url", [
    pytest.param("sqlite:///file:x?vfs=memdb&uri=true", id="memdb-vfs"),
    pytest.param("sqlite:///file:?uri=true", id="uri-no-path-temporary"),
    pytest.param("sqlite:///file:?mode=rwc&uri=true", id="uri-no-path-rwc"),
    pytest.param("sqlite:///file://localhost?uri=true", id="uri-authority-no-path"),
])
def test_an_sqlite_database_gone_on_close_is_refused_by_ingest(
        tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_log(tmp_path / "logs" / "a.log")
    code = main(["db", "ingest", str(tmp_path / "logs"), "--db", url])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "keeps nothing" in err, err


def test_an_sqlite_uri_naming_a_file_is_still_accepted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_log(tmp_path / "logs" / "a.log")
    code = main(["db", "ingest", str(tmp_path / "logs"), "--db",
                 "sqlite:///file:kept.db?mode=rwc&uri=true"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "kept.db").is_file()

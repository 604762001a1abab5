"""Issue 54's fixes attacked again (a hostile review): variants the first fixes missed.

Each case is a user's command as typed; each failed on the code before its fix.
"""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from dlbs.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "python" / "serving" / "loadgen.py"
#: A child's address space: the old code's MemoryError came within it, not the machine's.
MEMORY_BYTES = 2 << 30


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _loadgen(*flags: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """loadgen against a port nothing listens on (9: discard), time- and memory-limited."""
    return subprocess.run([sys.executable, str(LOADGEN), "--endpoint", "http://127.0.0.1:9",
                           "--model", "m", *flags], cwd=cwd, capture_output=True, text=True,
                          timeout=180, check=False, preexec_fn=_limited)


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


# -- loadgen: lengths are bounded and checked before the schedule is built ----------------
@pytest.mark.parametrize("flags, said", [
    pytest.param(["--request_rate", "1", "--output_len", "4", "--prompt_len", "10000000000"],
                 "error: serve.prompt_len: '10000000000' is past the longest length, 1048576 "
                 "tokens; give a length of at most that", id="prompt-10e10"),
    pytest.param(["--request_rate", "1", "--output_len", "1-2000000"],
                 "error: serve.output_len: '1-2000000' is past the longest length", id="output"),
    pytest.param(["--request_rate", "1000000", "--num_requests", "100000000", "--duration",
                  "2592000"], "error: serve.output_len: needed without serve.dataset",
                 id="no-output-len-after-10e8-times"),
])
def test_loadgen_refuses_lengths_in_one_line_before_building(
        tmp_path: Path, flags: list[str], said: str) -> None:
    done = _loadgen(*flags, cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr[-500:]
    assert len(errors) == 1 and errors[0].startswith(said), errors


# -- a password whose host was left out reads as a port; it is hidden too -----------------
@pytest.mark.parametrize("url", [
    pytest.param("postgresql://u:Secret-Pw", id="no-host"),
    pytest.param("postgresql+psycopg://u:Secret-Pw/db", id="no-host-database"),
])
def test_a_password_read_as_a_port_is_not_printed(
        url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "query", "--db", url])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: --db: not a database URL (") and "***" in err, err
    assert "Secret" not in err and "Pw" not in err, err


# -- report tables show a log's control characters as escapes ------------------------------
@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("layout", [[], ["--cols", "exp.model", "--rows", "exp.replica_batch"]],
                         ids=["model-row", "model-column"])
def test_a_report_table_never_prints_a_logs_control_characters(
        tmp_path: Path, fmt: str, layout: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_text('__exp.model__="a\\u001b[31mEVIL\\u202e"\n__results.time__=1.0\n'
                   '__results.throughput__=5.0\n__exp.replica_batch__=4\n', encoding="utf-8")
    code = main(["report", str(log.parent), "--format", fmt, *layout])
    out = capsys.readouterr().out
    assert code == 0
    assert "EVIL" in out and "x1b" in out, out
    assert "\x1b" not in out and "\u202e" not in out, out

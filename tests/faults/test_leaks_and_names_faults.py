"""Cheap reproductions of issue 54's leaks and names: a password with an unencoded ``@``
shown in part by a database command's error line; a lock file's command line with a
``--db=URL`` whose password holds white space; a log copied to another folder named by the
path written inside it; a negative replica batch shown as a column without a word."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

CLOSED = "127.0.0.1:1"  # a closed port: a driver fails at once
MARKERS = "QZJéж€"


def _pieces(password: str) -> set[str]:
    """Substrings of 4 or more characters holding a marker, as typed and percent-encoded."""
    found = set()
    for form in {password, quote(password, safe="")}:
        found |= {form[i:j] for i in range(len(form)) for j in range(i + 4, len(form) + 1)
                  if any(m in form[i:j] for m in MARKERS + "QZJ")}
    return found


def _dlbs_db(*args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "dlbs", "db", *args], capture_output=True,
                          text=True, check=False, timeout=120,
                          env={**os.environ, "DLBS_DB": ""})
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("url", [
    pytest.param(f"postgresql+psycopg://dlbs:p@ss@SECRET@{CLOSED}/x", id="issue-54-reproduction"),
    pytest.param(f"postgresql+psycopg://dlbs:Q@ZJé/€ZZ@{CLOSED}/x", id="at-then-slash"),
    pytest.param(f"postgresql+psycopg://dlbs:Q%40ZJé €ZZ:#?@{CLOSED}/x", id="space-hash-question"),
    pytest.param(f"postgresql+psycopg://dlbs@{CLOSED}/x?password=QZ@J:é/€", id="query-raw"),
    pytest.param(f"postgresql+psycopg://dlbs@{CLOSED}/x?password=QZ%40J%3A%C3%A9", id="query-enc"),
])
def test_a_db_commands_error_line_holds_no_piece_of_the_password(url: str) -> None:
    code, out = _dlbs_db("query", "--db", url)
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --db"), out
    password = url.split("password=")[1] if "password=" in url else \
        url.split("dlbs:", 1)[1].rsplit("@", 1)[0]
    assert "SECRET" not in out and "ss@" not in out
    leaked = [p for p in _pieces(password) if p in out]
    assert not leaked, f"{leaked} shown in {out!r}"


@settings(max_examples=4, deadline=None)
@given(st.text(alphabet=MARKERS + "@:/%#? ", min_size=4, max_size=10)
       .filter(lambda pw: sum(c in MARKERS for c in pw) >= 2))
def test_a_db_commands_error_line_for_any_planted_password(password: str) -> None:
    """The same through the real command, for generated passwords (a few: each is a
    process), raw in the user information."""
    code, out = _dlbs_db("query", "--db", f"postgresql+psycopg://dlbs:{password}@{CLOSED}/x")
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    leaked = [p for p in _pieces(password) if p in out]
    assert not leaked, f"{leaked} shown in {out!r}"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=MARKERS + "@:/%#? ", min_size=2, max_size=12)
       .map(lambda pw: "Q" + pw + "Z"))
def test_a_lock_file_holds_no_piece_of_a_db_password(password: str) -> None:
    """The runner's lock file records its command line: ``--db URL`` and ``--db=URL``."""
    from dlbs.runner.lock import holder_line

    for argv in (["experimenter", "run", "--db", f"postgresql://u:{password}@h/x"],
                 ["experimenter", "run", f"--db=postgresql://u:{password}@h/x"],
                 ["experimenter", "run", f"--db=postgresql://u@h/x?password={quote(password)}"]):
        line = holder_line(argv)
        leaked = [p for p in _pieces(password) if p in line]
        assert not leaked and "experimenter run --db" in line, line


def test_the_lock_file_written_holds_no_piece_of_a_db_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.runner.lock import LOCK_NAME, FolderLocks

    monkeypatch.setattr(sys, "argv", ["experimenter", "run",
                                      "--db=postgresql://u:Q ZJé@SECRET@h/x", "-Pexp.x=1"])
    locks = FolderLocks([tmp_path])
    locks.acquire()
    try:
        text = (tmp_path / LOCK_NAME).read_text()
    finally:
        locks.release()
    assert "ZJé" not in text and "SECRET" not in text and "-Pexp.x=1" in text


def _dlbs_log(folder: Path, name: str, **extra: object) -> Path:
    """A DLBS log (tests/reports/test_dlbs_logs.py's) written into ``folder``."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
    try:
        from test_dlbs_logs import dlbs_log
    finally:
        sys.path.pop(0)
    folder.mkdir(parents=True, exist_ok=True)
    return dlbs_log(folder, name, "0", 100.0, **extra)


def test_a_copied_log_is_named_by_its_copy_in_reports_and_the_database(tmp_path: Path) -> None:
    """The log says ``exp.log_file=/dlbs/logs/ok.log``; it was copied to ``copy/``: the
    report's log folders and the stored run name the copy."""
    import json

    log = _dlbs_log(tmp_path / "copy", "ok.log")
    assert '"/dlbs/logs/ok.log"' in log.read_text()
    done = subprocess.run([sys.executable, "-m", "dlbs", "report", str(tmp_path / "copy")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "/dlbs/logs" not in done.stdout  # was 'log folders: /dlbs/logs'
    assert "log folders:" not in done.stdout or f"log folders: {log.parent}" in done.stdout
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert _dlbs_db("ingest", "--db", db, str(tmp_path / "copy"))[0] == 0
    done = subprocess.run([sys.executable, "-m", "dlbs", "db", "query", "--db", db, "--format",
                           "json", "--all-facts"], capture_output=True, text=True, check=False,
                          timeout=120)
    facts = json.loads(done.stdout)[0]["facts"]
    assert facts["exp.log_file"] == str(log)
    assert facts["exp.log_file_written"] == "/dlbs/logs/ok.log"


@pytest.mark.parametrize("batch", [-5, 0, 2.5])
def test_a_batch_that_is_no_count_is_left_out_with_a_warning_not_shown_as_a_column(
        tmp_path: Path, batch: float) -> None:
    """A DLBS log with ``exp.replica_batch=-5`` was a report column ``-5`` without a word."""
    _dlbs_log(tmp_path / "logs", "ok.log")
    _dlbs_log(tmp_path / "logs", "bad.log", **{"exp.replica_batch": batch,
                                                "exp.effective_batch": batch, "exp.id": "x"})
    done = subprocess.run([sys.executable, "-m", "dlbs", "report", str(tmp_path / "logs")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    said = f"""is a number ({batch}), not int >= 1 or "max\""""
    assert f"bad.log:12: malformed fact line skipped: value of 'exp.replica_batch' {said}" \
        in done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith("Model"))
    assert str(batch) not in header.split()  # columns: '-' and 32
    assert "1 record lacks facts that tell experiments apart: exp.replica_batch (1)" in \
        done.stdout and "a value left out as invalid" in done.stdout


def test_a_parsed_files_batch_that_is_no_count_is_left_out_with_a_warning(
        tmp_path: Path) -> None:
    import json

    parsed = tmp_path / "runs.json"
    parsed.write_text(json.dumps({"data": [
        {"exp.model": "resnet50", "exp.replica_batch": -5, "exp.effective_batch": -5,
         "exp.device_type": "gpu", "exp.num_replicas": 1, "results.time": 10.0,
         "results.throughput": 100.0, "results.status": "ok"}]}))
    done = subprocess.run([sys.executable, "-m", "dlbs", "report", str(parsed)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (f"{parsed}: record 1: fact left out: value of 'exp.replica_batch' is a number (-5), "
            'not int >= 1 or "max"') in done.stderr
    assert "-5" not in done.stdout.split("Throughput")[0]  # no column -5 (a note names it)


def test_validate_accepts_a_scoped_ipv6_rendezvous(tmp_path: Path) -> None:
    """``experimenter validate`` refused ``[fe80::1%eth0]:1`` (issue 54)."""
    done = subprocess.run([sys.executable, "-m", "dlbs", "validate",
                           '-Pexp.gpus=""', "-Pexp.model=deep_mnist", "-Pexp.num_nodes=2",
                           "-Ppytorch.distributed_rendezvous=[fe80::1%eth0]:1",
                           f"-Pexp.log_dir={tmp_path}"],
                          capture_output=True, text=True, check=False, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0 and "distributed_rendezvous" not in done.stderr, done.stderr

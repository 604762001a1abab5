"""No password reaches any output, file, page or lock (issue 30): a password is planted in
the database URL in every form a driver accepts (``user:pw@``, ``?password=``, also through
``DLBS_DB``), every command that shows or stores a URL or a command line is run, and every
byte it printed or wrote is searched for it."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs

from dlbs.errors import RunError
from dlbs.runner.lock import LOCK_NAME, FolderLocks

from .conftest import _reset_postgres

SECRET = "Pl4nted-s3cret"


def _dlbs(*args: str, env_db: str = "") -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": env_db})


def _files_holding(folder: Path, secret: str) -> list[str]:
    """Every file under ``folder`` whose bytes hold ``secret``."""
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()]



def _planted_urls(tmp_path: Path) -> list[tuple[str, str]]:
    """(URL, the password in it): SQLite with a ``?password=`` (ignored by the driver), and
    when there is one, the PostgreSQL server of .ci/postgres.sh with its real password, in
    the user information and in the query."""
    urls = [(f"sqlite:///{tmp_path / 'results.db'}?password={SECRET}", SECRET)]
    server = os.environ.get("DLBS_TEST_DB", "")
    if server:
        from sqlalchemy.engine import make_url
        real = make_url(server)
        password = str(real.password)
        urls.append((server, password))
        query = real.set(password=None).update_query_dict({"password": password})
        urls.append((query.render_as_string(hide_password=False), password))
    return urls


def _every_command(url: str, tmp_path: Path, logs: Any, **env: str) -> list[str]:
    """Run every database command on ``url`` (or ``$DLBS_DB``); what they printed."""
    logs.write(tmp_path / "logs" / "a.log", logs.facts())
    logs.write(tmp_path / "logs" / "b.log", logs.facts(code="v2", throughput=50.0))
    db = [] if env else ["--db", url]
    commands = [
        ["db", "ingest", *db, str(tmp_path / "logs")],
        ["db", "query", *db, "--format", "json"],
        ["db", "query", *db, "--format", "csv"],
        ["db", "exclude", *db, "1", "--reason", "planted"],
        ["db", "exclude", *db, "99", "--reason", "no such run"],
        ["db", "exclude", *db, "1", "--include"],
        ["db", "page", *db, "--output", str(tmp_path / "page")],
        ["db", "upgrade", *db],
        ["history", *db, "--plot", str(tmp_path / "history.svg")],
        ["regressions", *db, "--format", "json"],
        ["report", *([] if env else ["--db", url])],
        ["db", "--debug", "query", *db, "-Pexp.batch=99999999999999999999"],
    ]
    if env:  # the URL from the environment: the commands that show it
        commands = [commands[0], commands[6], commands[8]]
    out = []
    for command in commands:
        done = _dlbs(*command, env_db=env.get("DLBS_DB", ""))
        out.append(f"{' '.join(command[:2])}: rc {done.returncode}\n{done.stdout}{done.stderr}")
    return out


@pytest.mark.parametrize("via", ["--db", "DLBS_DB"])
def test_a_planted_password_is_in_no_output_file_or_page(tmp_path: Path, logs: Any,
                                                        via: str) -> None:
    for number, (url, secret) in enumerate(_planted_urls(tmp_path)):
        if "postgresql" in url:
            _reset_postgres(url)
        work = tmp_path / f"w{number}"
        work.mkdir()
        env = {"DLBS_DB": url} if via == "DLBS_DB" else {}
        printed = "\n".join(_every_command(url, work, logs, **env))
        assert secret not in printed, printed
        assert "***" in printed and "2 new run(s)" in printed  # the URL is shown, hidden
        assert (work / "page" / "index.html").is_file() and (work / "history.svg").is_file()
        assert _files_holding(work, secret) == []


def test_a_database_error_hides_a_password_given_in_any_form(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/no/such/dir/x.db?password={SECRET}",
                f"mysql://u:{SECRET}@h/db", f"mysql://h/db?password={SECRET}",
                f"postgresql+psycopg://u@127.0.0.1:1/db?password={SECRET}&connect_timeout=2",
                f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db?sslpassword={SECRET}",
                f"postgresql//me:{SECRET}@db/bench"):
        for debug in ([], ["--debug"]):
            done = _dlbs("db", *debug, "query", "--db", url)
            assert done.returncode == 2, done.stderr
            assert SECRET not in done.stdout + done.stderr, done.stderr
            assert "Traceback" in done.stderr or len(done.stderr.strip().splitlines()) == 1


def test_the_lock_file_keeps_no_secret_and_only_its_owner_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [
        "experimenter", "run", "-Pexp.model=resnet50", "--db",
        f"postgresql+psycopg://me:{SECRET}@db/bench?password={SECRET}",
        f"--db=postgresql://me:{SECRET}@db/bench"])
    lock_file = tmp_path / LOCK_NAME
    lock_file.write_text("pid 1: an older dlbs left this behind\n")
    lock_file.chmod(0o644)
    locks = FolderLocks([tmp_path])
    locks.acquire()
    try:
        held = lock_file.read_text()
        assert SECRET not in held and "-Pexp.model=resnet50" in held and "me:***@db" in held
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        with pytest.raises(RunError) as refused:
            FolderLocks([tmp_path]).acquire()
        assert SECRET not in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
    finally:
        locks.release()
    assert lock_file.read_text() == ""  # nothing of the command line stays behind


def test_a_lock_line_an_older_dlbs_wrote_is_quoted_without_its_secret(tmp_path: Path) -> None:
    import fcntl

    lock_file = tmp_path / LOCK_NAME
    lock_file.write_text(f"pid 7: experimenter run --db postgresql://me:{SECRET}@db/b\n")
    with open(lock_file, "rb+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunError) as refused:
            FolderLocks([tmp_path]).acquire()
    assert SECRET not in str(refused.value) and "pid 7" in str(refused.value)


@pytest.mark.slow
def test_experimenter_run_with_a_planted_password_writes_it_nowhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}?password={SECRET}"
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", '-Pexp.gpus=""', "-Pexp.model=deep_mnist",
         "-Pexp.num_batches=3", "-Pexp.num_warmup_batches=1", "-Pexp.replica_batch=2",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "--progress-bar", "off",
         "--progress-file", str(tmp_path / "progress.json"), "--db", url],
        capture_output=True, text=True, check=False, timeout=600, cwd=tmp_path,
        env={**os.environ, "DLBS_DB": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert SECRET not in done.stdout + done.stderr
    assert list((tmp_path / "logs").glob("*.log")) and (tmp_path / "progress.json").is_file()
    assert _files_holding(tmp_path, SECRET) == []
    status = _dlbs("status", str(tmp_path / "progress.json"))
    assert SECRET not in status.stdout + status.stderr


def test_a_usage_error_quoting_a_misspelt_option_hides_its_password() -> None:
    for args in (["db", "query", "--dbb", f"postgresql://me:{SECRET}@db/b?password={SECRET}"],
                 ["db", f"postgresql://me:{SECRET}@db/b", "query"],
                 ["run", "--db", "postgresql://me@db/b", f"--token={SECRET}"]):
        done = _dlbs(*args)
        assert done.returncode == 2 and "error:" in done.stderr
        assert SECRET not in done.stdout + done.stderr, done.stderr

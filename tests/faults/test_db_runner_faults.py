"""Faults between the runner's logs and the results database (issue 54): ``experimenter run
--db`` killed outright at any moment (between a log's end and its store included), the SQLite
file renamed under a sweep, a database that keeps nothing (``:memory:``), and control
characters in an exclusion's reason.

The sweeps run the stand-in benchmark (tests/runner/standin_benchmark.py: a process that
prints a result at once), so a sweep of tens of experiments takes a second or two.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts

from dlbs.cli.main import main
from dlbs.db import DatabaseError, open_store

STANDIN = Path(__file__).resolve().parents[1] / "runner" / "standin_benchmark.py"

#: Runs ``dlbs`` with ``Store.store_log`` wrapped: the store of the AT-th log this process
#: finished (not one an earlier run left) kills the process with SIGKILL, ``before`` the store
#: (the log is finished, the run not stored: the moment a kill -9 lost runs) or ``after`` it;
#: ``rename``: it renames the database file first (then stores as usual).
HOOKED = """
import glob, os, signal, sys
from dlbs.db.store import Store
from dlbs.cli.main import main
at, when, db, logs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
earlier = set(glob.glob(os.path.join(logs, "*.log")))
calls = []
original = Store.store_log
def store_log(self, path):
    if path not in earlier:
        calls.append(path)
    now = len(calls) == at and path not in earlier
    if now and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    if now and when == "rename":
        os.rename(db, db + ".moved")
    stored = original(self, path)
    if now and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return stored
Store.store_log = store_log
sys.exit(main(sys.argv[5:]))
"""


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """A folder holding ``pytorch_benchmarks/benchmarks.py`` = the stand-in benchmark."""
    folder = tmp_path / "bench" / "pytorch_benchmarks"
    folder.mkdir(parents=True)
    shutil.copy(STANDIN, folder / "benchmarks.py")
    return folder.parent


def run_facts(repeat: int = 0) -> dict[str, Any]:
    """The facts of one finished run (as the benchmark and the runner write them)."""
    return {"exp.framework": "pytorch", "exp.model": "resnet18", "exp.phase": "inference",
            "exp.replica_batch": 8, "exp.dtype": "float32", "exp.device_type": "cpu",
            "exp.num_replicas": 1, "hw.hostname": "vm", "exp.code_version": "v1",
            "exp.repeat_index": repeat, "exp.start_time": f"2026-11-01T10:{repeat:02d}:00+00:00",
            "results.throughput": 100.0, "results.time": 80.0, "results.status": "ok"}


def write_log(path: Path, facts: dict[str, Any]) -> None:
    """A log file in the benchmark's format (``__key__=json`` lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"__{k}__={json.dumps(v)}\n" for k, v in facts.items()))


def sweep(tmp_path: Path, bench: Path, size: int) -> list[str]:
    """``run`` options of a sweep of ``size`` stand-in experiments storing into r.db."""
    return ["run", "--no-validation", '-Pexp.gpus=""', "-Pexp.model=ok",
            f"-Ppytorch.bench_path={bench}", f"-Pexp.log_dir={tmp_path / 'logs'}",
            f"-Vexp.replica_batch={json.dumps(list(range(1, size + 1)))}",
            "-Pexp.code_version=abc", "-Pruntime.kill_grace=1", "--progress-bar", "off",
            "--db", f"sqlite:///{tmp_path / 'r.db'}"]


def dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True,
                          text=True, check=False, timeout=300)


def hooked(at: int, when: str, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    logs = db.parent / "logs"
    return subprocess.run([sys.executable, "-c", HOOKED, str(at), when, str(db), str(logs),
                           *args],
                          capture_output=True, text=True, check=False, timeout=300)


def statuses(logs: Path) -> dict[str, Any]:
    """Each finished log's ``results.status`` by its path."""
    return {str(log): dict(iter_facts(log.read_text().splitlines())).get("results.status")
            for log in logs.glob("*.log")}


def stored_sources(db: Path) -> list[str]:
    """The log path of every run in the database (one entry a row: duplicates show)."""
    if not db.exists():
        return []
    store = open_store(f"sqlite:///{db}", readonly=True)
    try:
        return sorted(str(run.source) for run in store.runs())
    finally:
        store.close()


# -- run --db killed outright -------------------------------------------------------------
@pytest.mark.parametrize("when, recovered", [("before", 1), ("after", 0)])
def test_a_run_killed_around_a_store_is_stored_by_the_resume(tmp_path: Path, bench: Path,
                                                              when: str, recovered: int) -> None:
    """Killed between the third log's end and its store, the resume stores that log (it
    skips it as already done) and says so; killed just after the store, nothing is stored
    twice and nothing is said."""
    db, options = tmp_path / "r.db", sweep(tmp_path, bench, 5)
    killed = hooked(3, when, db, *options)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(statuses(tmp_path / "logs")) == 3
    assert len(stored_sources(db)) == 3 - recovered
    resumed = dlbs(*options)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 ok, 0 failed, 3 skipped" in resumed.stderr
    note = ("stored 1 finished run(s) skipped as already done that were not in the database")
    assert (note in resumed.stderr) == bool(recovered), resumed.stderr[-2000:]
    logs = statuses(tmp_path / "logs")
    assert set(logs.values()) == {"ok"} and len(logs) == 5
    assert stored_sources(db) == sorted(logs)
    again = dlbs(*options)  # nothing new: the logs are stored once
    assert "not in the database" not in again.stderr and stored_sources(db) == sorted(logs)


def test_random_kill_9_of_run_db_loses_no_run(tmp_path: Path, bench: Path) -> None:
    """``kill -9`` of ``experimenter run --db`` at random moments of a sweep, alternating with
    kills at given stores (before one, after one: a random moment seldom falls between a log's
    end and its store), then a resume: every log is finished and in the database once, and
    the resume says how many runs it stored for the runners killed before they stored them."""
    size = 30
    db, options, logs = tmp_path / "r.db", sweep(tmp_path, bench, size), tmp_path / "logs"
    rng = random.Random(54)
    for at, when in ((0, "random"), (2, "before"), (0, "random"), (3, "after"), (0, "random"),
                     (1, "before")):
        if when != "random":
            killed = hooked(at, when, db, *options)
            assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
            continue
        before = len(list(logs.glob("*.log")))
        runner = subprocess.Popen([sys.executable, "-m", "dlbs", *options],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # a few more logs (so that the sweep is never done before the last kill), then a
        # random moment of the experiment under way or the store of the one just ended
        target, deadline = before + rng.randint(1, 3), time.monotonic() + 300  # a hang guard
        while len(list(logs.glob("*.log"))) < target and runner.poll() is None:
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        runner.kill()
        runner.wait(timeout=300)
    finished = {log for log, status in statuses(logs).items() if status == "ok"}
    missing = finished - set(stored_sources(db))
    assert missing  # the last kill came between a log's end and its store
    resumed = dlbs(*options)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ended = statuses(logs)
    assert len(ended) == size and set(ended.values()) == {"ok"}, resumed.stderr[-2000:]
    assert stored_sources(db) == sorted(ended)  # each log once: none lost, none twice
    assert (f"stored {len(missing)} finished run(s) skipped as already done"
            in resumed.stderr), resumed.stderr[-2000:]


# -- the SQLite file renamed under a sweep ------------------------------------------------
def test_a_database_file_renamed_during_run_db_is_said_and_not_counted(tmp_path: Path,
                                                                        bench: Path) -> None:
    """The file renamed before the second store: the second and third runs are each a
    warning (not stored), the end of the sweep counts them and gives the command that
    stores them, and that command stores every log."""
    db, options = tmp_path / "r.db", sweep(tmp_path, bench, 3)
    done = hooked(2, "rename", db, *options)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "was removed or moved" in line]
    assert len(lines) == 2, done.stderr[-2000:]
    assert lines[0].startswith("warning: ") and f"the database file {db} was removed or moved " \
        "after this command opened it; not stored" in lines[0]
    command = f"dlbs db ingest {tmp_path / 'logs'} --db sqlite:///{db}"
    assert f"2 run(s) not stored (their logs are kept); store them with: {command}" \
        in done.stderr
    ingested = dlbs(*command.split()[1:])
    assert ingested.returncode == 0 and "3 new run(s)" in ingested.stderr, ingested.stderr
    assert stored_sources(db) == sorted(statuses(tmp_path / "logs"))


@pytest.mark.parametrize("replace", [False, True], ids=["moved", "replaced"])
def test_a_store_into_a_moved_or_replaced_file_is_refused(tmp_path: Path, replace: bool
                                                         ) -> None:
    db = tmp_path / "r.db"
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.store_facts(run_facts(0), "a.log")
        os.rename(db, tmp_path / "moved.db")
        if replace:
            db.write_bytes((tmp_path / "moved.db").read_bytes())
        with pytest.raises(DatabaseError, match="was (removed or moved|replaced by another "
                                                "file) after this command opened it"):
            store.store_facts(run_facts(1), "b.log")
    finally:
        store.close()


# -- a database that keeps nothing --------------------------------------------------------
@pytest.mark.parametrize("url, said", [
    pytest.param("sqlite:///:memory:", "--db sqlite:///:memory:: an in-memory database keeps "
                 "nothing (it is gone when this command ends); give a file", id="memory"),
    pytest.param("sqlite://", "--db sqlite://: no database file named; give one", id="empty"),
    pytest.param("sqlite:///file:x?mode=memory&uri=true", "an in-memory database keeps nothing",
                 id="uri-memory"),
])
@pytest.mark.parametrize("command", [
    pytest.param(["db", "ingest", "{logs}"], id="ingest"),
    pytest.param(["db", "query"], id="query"),
    pytest.param(["history"], id="history"),
    pytest.param(["regressions"], id="regressions"),
    pytest.param(["run", "--no-validation", "-Pexp.model=deep_mnist", '-Pexp.gpus=""',
                  "-Pexp.log_dir={logs}"], id="run"),
])
def test_a_database_that_keeps_nothing_is_refused(tmp_path: Path, url: str, said: str,
                                                  command: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "logs"
    if command[:2] == ["db", "ingest"]:
        write_log(folder / "a.log", run_facts())
    code = main([part.format(logs=folder) for part in command] + ["--db", url])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert said in err
    assert command[0] != "run" or not folder.exists()  # nothing ran


# -- control characters in an exclusion's reason ------------------------------------------
@pytest.mark.parametrize("reason, shown", [
    pytest.param("bad \x1b[31mred", "\\x1b", id="ansi"),
    pytest.param("two\nlines", "\\n", id="newline"),
    pytest.param("right\u202eleft", "\\u202e", id="bidi"),
])
def test_an_exclusion_reason_with_control_characters_is_refused(
        tmp_path: Path, reason: str, shown: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url)
    store.store_facts(run_facts(), "a.log")
    store.close()
    code = main(["db", "exclude", "--db", url, "1", "--reason", reason])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f"error: dlbs db exclude --reason: holds the control "
                                 f"character {shown}; give one line of plain text")
    assert main(["db", "query", "--db", url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["excluded"] is False


def test_a_stored_reason_with_escapes_is_printed_escaped(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """A database written before the refusal may hold one: the table shows the escapes."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url)
    store.store_facts(run_facts(), "a.log")
    store.exclude([1], "bad \x1b[2J\x1b[31mred\r\nline\x07")
    store.close()
    assert main(["db", "query", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "bad \\x1b[2J\\x1b[31mred\\r\\nline\\x07" in out
    assert len(out.splitlines()) == 2  # the header and the run's one row


def test_a_name_read_from_logs_is_printed_escaped(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A model name with an ANSI sequence (a log is anyone's): ``history``'s table and
    ``regressions``' stderr line name the series with the escape shown, never run."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url)
    for repeat in range(3):
        store.store_facts({**run_facts(repeat), "exp.model": "evil\x1b[31mred"}, f"{repeat}.log")
    store.store_facts({**run_facts(5), "exp.model": "evil\x1b[31mred", "exp.code_version": "v2",
                       "results.loss_finite": False}, "5.log")
    store.close()
    assert main(["history", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "All series: model=evil\\x1b[31mred, phase=inference" in out
    main(["regressions", "--latest", "--db", url])
    err = capsys.readouterr().err
    assert "\x1b" not in err and "numerics: evil\\x1b[31mred inference" in err, err

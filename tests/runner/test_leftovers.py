"""Daemons a benchmark leaves (its own session, double-forked, ignoring SIGTERM and SIGHUP) do
not outlive their experiment: not its normal end, its timeout, the sweep's Ctrl-C, nor a
runner killed with SIGKILL (the watchdog).

The benchmark is a real program (``daemon_benchmark.py`` as ``benchmarks.py``) started by the
real runner; the daemons are real processes, found by the pids they write. ``alive`` waits
(a hang guard, not a timing) until each is gone or a zombie.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from dlbs.runner import Runner, leftovers

from .test_runner import alive, facts_of

HERE = Path(__file__).resolve().parent
DAEMONS = ("setsid.pid", "double.pid", "bare_group.pid", "bare_session.pid")
#: What a watchdog finds once the runner is dead: all but a daemon that cleared its environment
#: and left the session (only the runner, as its subreaper, knows it; see ``leftovers``).
AFTER_THE_RUNNER = DAEMONS[:3]
MakeExp = Callable[..., dict[str, Any]]


@pytest.fixture
def daemon_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the daemons write their pids; whatever still runs at the end is killed."""
    folder = tmp_path / "daemons"
    folder.mkdir()
    yield folder
    for pid in daemon_pids(folder, wait=0).values():
        try:  # only a daemon of this test (its pid may have been reused since)
            proc = psutil.Process(pid)
            if proc.cmdline() == ["sleep", "1000"]:
                proc.kill()
        except psutil.Error:
            pass


@pytest.fixture
def daemon_exp(tmp_path: Path, make_exp: MakeExp, daemon_dir: Path) -> MakeExp:
    """``make_exp`` with the daemon benchmark and ``DAEMON_DIR`` set."""
    bench = tmp_path / "daemon_bench" / "pytorch_benchmarks"
    bench.mkdir(parents=True)
    shutil.copy(HERE / "daemon_benchmark.py", bench / "benchmarks.py")

    def make(model: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return make_exp(model, {"pytorch.bench_path": str(bench.parent),
                                "runtime.env.DAEMON_DIR": str(daemon_dir), **(params or {})})
    return make


def daemon_pids(folder: Path, wait: float = 60,
                names: tuple[str, ...] = DAEMONS) -> dict[str, int]:
    """The pids the daemons wrote (waiting for them, a hang guard)."""
    deadline = time.monotonic() + wait
    while not all((folder / name).exists() for name in names) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {name: int((folder / name).read_text()) for name in names if (folder / name).exists()}


def assert_gone(folder: Path, names: tuple[str, ...] = DAEMONS) -> None:
    pids = daemon_pids(folder, names=names)
    assert len(pids) == len(names), f"the daemons did not start: {pids}"
    assert [name for name, pid in pids.items() if alive(pid, wait=30)] == []


def run_all(experiments: list[dict[str, Any]]) -> Any:
    return Runner(out=io.StringIO(), err=io.StringIO(), bar=False).run(experiments)


def is_subreaper() -> bool:
    """Whether this process is a child subreaper (prctl PR_GET_CHILD_SUBREAPER)."""
    import ctypes

    value = ctypes.c_int(0)
    assert ctypes.CDLL(None).prctl(leftovers.PR_GET_CHILD_SUBREAPER, ctypes.byref(value),
                                   0, 0, 0) == 0
    return bool(value.value)


@pytest.mark.parametrize("model, params, status", [
    pytest.param("daemon", {}, "ok", id="normal-end"),
    pytest.param("daemon_block", {"exp.timeout": 3, "runtime.kill_grace": 0.5}, "timeout",
                 id="timeout"),
])
def test_daemons_end_with_their_experiment(daemon_exp: MakeExp, daemon_dir: Path, model: str,
                                           params: dict[str, Any], status: str) -> None:
    exp = daemon_exp(model, params)
    before = is_subreaper()
    run_all([exp])
    assert facts_of(exp["exp.log_file"])["results.status"] == status
    assert_gone(daemon_dir)
    assert is_subreaper() is before  # the runner was one while the sweep ran, not after


def test_daemons_end_when_the_sweep_is_interrupted(daemon_exp: MakeExp,
                                                   daemon_dir: Path) -> None:
    exp = daemon_exp("daemon_block", {"runtime.kill_grace": 0.5})
    runner = Runner(out=io.StringIO(), err=io.StringIO(), bar=False)

    def interrupt() -> None:
        daemon_pids(daemon_dir)
        runner._on_signal(signal.SIGINT, None)
    threading.Thread(target=interrupt, daemon=True).start()
    summary = runner.run([exp])
    assert summary.interrupted == "SIGINT"
    assert facts_of(exp["exp.log_file"])["results.status"] == "interrupted"
    assert_gone(daemon_dir)


def test_daemons_end_when_the_runner_is_killed(tmp_path: Path, daemon_dir: Path) -> None:
    """The watchdog stops what a runner killed with SIGKILL left, daemons included."""
    bench = tmp_path / "bench" / "pytorch_benchmarks"
    bench.mkdir(parents=True)
    shutil.copy(HERE / "daemon_benchmark.py", bench / "benchmarks.py")
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", "--no-validation", '-Pexp.gpus=""',
         "-Pexp.model=daemon_block", f"-Ppytorch.bench_path={bench.parent}",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "-Pruntime.kill_grace=0.5",
         f"-Pruntime.env.DAEMON_DIR={daemon_dir}", "--progress-bar", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert len(daemon_pids(daemon_dir)) == len(DAEMONS), "the daemons did not start"
    finally:
        runner.kill()
        runner.communicate(timeout=60)
    assert_gone(daemon_dir, AFTER_THE_RUNNER)


def test_marked_finds_the_processes_of_one_token_only(tmp_path: Path) -> None:
    token, other = leftovers.new_token(), leftovers.new_token()
    procs = [subprocess.Popen(["sleep", "60"], env={**os.environ, leftovers.TOKEN_VAR: mark})
             for mark in (token, other, token + "x")]
    try:
        assert sorted(leftovers.marked(token)) == [procs[0].pid]
        assert leftovers.end_marked(token) == [procs[0].pid]
        assert not alive(procs[0].pid, wait=30)  # killed, and reaped: a child of ours
        assert not Path(f"/proc/{procs[0].pid}").exists() or procs[0].pid in (
            leftovers.marked(other) + leftovers.marked(token + "x"))  # (its pid reused)
        assert procs[1].poll() is None and procs[2].poll() is None
        assert leftovers.marked(leftovers.new_token()) == []
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

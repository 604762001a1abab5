"""Faults of the runner, done for real: kill -9, a closed terminal, nohup, two runners in one
folder, Ctrl-C during a re-run, a log folder removed mid-run, a full disk.

Each test runs ``python -m dlbs run`` as a user would, with the real benchmark (deep_mnist on
the CPU; ``exp.max_time`` keeps the runs that must finish short).
"""
from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from pytorch_benchmarks.facts import iter_facts

#: The runner's view of a benchmark (its process tree, resource use, signals) is what these
#: tests read: never a child of the tests' fork server.
pytestmark = pytest.mark.real_processes

PLAN = ['-Pexp.gpus=""', "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
        "-Pexp.num_warmup_batches=1", "-Pexp.num_batches=1000000", "-Pexp.max_time=2"]


def facts_of(path: Path) -> dict[str, Any]:
    return dict(iter_facts(path.read_text().splitlines()))


def terminal_signals() -> None:
    """SIGHUP as in a terminal's shell (the default action), even when the tests themselves run
    under ``nohup`` (whose ignored SIGHUP every child would inherit)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start(log_dir: Path, *extra: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen([*prefix, sys.executable, "-m", "dlbs", "run", *PLAN,
                             f"-Pexp.log_dir={log_dir}", "--progress-bar", "off", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=terminal_signals)  # noqa: PLW1509


def run(log_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", "run", *PLAN, f"-Pexp.log_dir={log_dir}",
                           "--progress-bar", "off", *extra], capture_output=True, text=True,
                          timeout=240, check=False)


def benchmark_of(runner: subprocess.Popen[str] | int, timeout: float = 300) -> psutil.Process:
    """The benchmark process the runner (a Popen or a pid) started (waits until it exists;
    ``timeout`` is a hang guard for a loaded machine)."""
    pid = runner if isinstance(runner, int) else runner.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                if any("benchmarks.py" in part for part in child.cmdline()):
                    return child
            except psutil.Error:
                pass
        time.sleep(0.1)
    raise AssertionError("the benchmark did not start")


def gone(proc: psutil.Process, timeout: float = 120) -> bool:
    """Whether ``proc`` ends within ``timeout`` (a hang guard: returns as soon as it ends)."""
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        return False
    return True


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def test_kill_9_of_the_runner_ends_the_benchmark_and_the_next_run_redoes_it(logs: Path) -> None:
    runner = start(logs)
    bench = benchmark_of(runner)
    runner.kill()
    runner.wait()
    assert gone(bench), "the benchmark outlived a runner killed with SIGKILL"
    (part,) = logs.glob("*.log.part")
    again = run(logs)
    assert again.returncode == 0, again.stderr
    assert "was left by a runner killed outright; marked interrupted" in again.stderr
    assert not part.exists()
    (log,) = logs.glob("*.log")
    assert facts_of(log)["results.status"] == "ok"


def test_closed_terminal_stops_the_sweep_cleanly(logs: Path) -> None:
    runner = start(logs)
    bench = benchmark_of(runner)
    runner.send_signal(signal.SIGHUP)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 130, err
    assert gone(bench)
    (log,) = logs.glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "interrupted"
    assert facts["results.error"] == "interrupted by SIGHUP"


def test_a_terminal_that_really_hangs_up_stops_the_sweep_cleanly(logs: Path) -> None:
    """The runner on a real (pseudo) terminal that goes away: SIGHUP, then every write to the
    terminal fails (EIO); the sweep still ends as interrupted, exit code 130."""
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.execv(sys.executable, [sys.executable, "-m", "dlbs", "run", *PLAN,
                                  f"-Pexp.log_dir={logs}", "-Vexp.replica_batch=[2, 4]"])
    try:
        bench = benchmark_of(pid)
    finally:
        os.close(master)  # the terminal closes: the kernel sends SIGHUP
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130
    assert gone(bench)
    (log,) = logs.glob("*.log")
    assert facts_of(log)["results.error"] == "interrupted by SIGHUP"
    assert not list(logs.glob("*.part"))


def test_nohup_run_survives_the_terminal(logs: Path) -> None:
    runner = start(logs, prefix=("nohup",))
    benchmark_of(runner)
    runner.send_signal(signal.SIGHUP)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 0, err
    (log,) = logs.glob("*.log")
    assert facts_of(log)["results.status"] == "ok"


def test_second_runner_on_a_folder_in_use_names_the_first(logs: Path) -> None:
    first = start(logs, "-Pexp.max_time=0")  # runs until stopped: stopped in any case
    try:
        bench = benchmark_of(first)
        second = run(logs)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid}" in lines[0] and str(logs) in lines[0]
        assert bench.is_running()  # the first one's experiment was not disturbed
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=300)
        assert first.returncode == 130
    finally:
        if first.poll() is None:
            first.kill()  # the watchdog ends its benchmark
            first.communicate()


def test_ctrl_c_during_rerun_always_keeps_the_good_log(logs: Path) -> None:
    assert run(logs).returncode == 0
    (log,) = logs.glob("*.log")
    good = log.read_bytes()
    runner = start(logs, "-Pexp.rerun=always")
    benchmark_of(runner)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 130, err
    assert log.read_bytes() == good
    aside = Path(f"{log}.interrupted")
    assert facts_of(aside)["results.status"] == "interrupted"
    assert sorted(p.name for p in logs.glob("*.log*")) == [log.name, aside.name]


def test_log_folder_removed_mid_run_fails_that_experiment_only(logs: Path) -> None:
    runner = start(logs, "-Vexp.replica_batch=[2, 4]")
    benchmark_of(runner)
    shutil.rmtree(logs)
    _, err = runner.communicate(timeout=300)
    assert runner.returncode == 1, err
    assert "Traceback" not in err
    assert "1 ok, 1 failed" in err
    assert "cannot write the log" in err and "No such file or directory" in err
    assert len(list(logs.glob("*.log"))) == 1  # the second experiment ran and logged
    assert not list(logs.glob("*.part")) and not list(logs.glob("*.tmp"))


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, filled up (needs root, as in CI)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up: {done.stderr.strip()}")
    try:
        os.makedirs(mount / "logs")
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_fails_typed_then_stops_the_sweep(full_disk: Path) -> None:
    logs = full_disk / "logs"
    result = run(logs, "-Vexp.replica_batch=[1, 2, 3, 4, 5]")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("No space left on device") >= 3
    assert "stopped: the logs of 3 experiments in a row could not be written" in result.stderr
    assert "2 not started" in result.stderr
    left = sorted(p.name for p in logs.iterdir())
    assert left == [".dlbs-run.lock"], left  # no .part, .sh or .tmp left behind


STANDIN = Path(__file__).resolve().parents[1] / "runner" / "standin_benchmark.py"


def test_kill_9_of_the_runner_ends_what_ignores_sigterm_and_its_children(tmp_path: Path,
                                                                         logs: Path) -> None:
    """The parent-death signal is a SIGTERM to one process; the watchdog ends the rest: a
    benchmark that ignores SIGTERM and a child it started, after runtime.kill_grace."""
    bench_dir = tmp_path / "bench" / "pytorch_benchmarks"
    bench_dir.mkdir(parents=True)
    shutil.copy(STANDIN, bench_dir / "benchmarks.py")
    block, child_file = tmp_path / "block", tmp_path / "child.pid"
    block.touch()
    env = {**os.environ, "BLOCK_FILE": str(block), "CHILD_PID_FILE": str(child_file)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "dlbs", "run", "--no-validation", '-Pexp.gpus=""',
         "-Pexp.model=stubborn", f"-Ppytorch.bench_path={bench_dir.parent}",
         f"-Pexp.log_dir={logs}", "-Pruntime.kill_grace=1", "--progress-bar", "off"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=terminal_signals)  # noqa: PLW1509
    try:
        bench = benchmark_of(runner)
        deadline = time.monotonic() + 300
        while not child_file.exists() or not child_file.read_text():
            assert time.monotonic() < deadline, "the stand-in did not start its child"
            time.sleep(0.05)
        child = psutil.Process(int(child_file.read_text()))
        runner.kill()
        runner.communicate(timeout=300)
        assert gone(bench), "a benchmark ignoring SIGTERM outlived a runner killed with SIGKILL"
        assert gone(child), "the benchmark's child outlived a runner killed with SIGKILL"
    finally:
        block.unlink(missing_ok=True)


def test_a_removed_and_recreated_folder_is_locked_again(tmp_path: Path) -> None:
    from dlbs.errors import RunError
    from dlbs.runner.lock import LOCK_NAME, FolderLocks

    folder = tmp_path / "logs"
    first = FolderLocks([folder])
    first.acquire()
    try:
        shutil.rmtree(folder)  # the lock file goes with the folder
        folder.mkdir()
        first.renew(folder)
        assert (folder / LOCK_NAME).exists()
        with pytest.raises(RunError, match="another 'experimenter run'"):
            FolderLocks([folder]).acquire()
    finally:
        first.release()

"""Preemption and Slurm's time-limit warning (issue 22): SIGUSR1 and SIGTERM stop the benchmark
at its next boundary, with the partial facts of the iterations timed so far.

Real processes and real signals. A run is made long by its iteration count (a million: it
cannot finish before the signal), never by sleeping; the signal is sent once the run's own
output shows where it is (the progress line of a terminal counts the iterations), and every
wait polls with a generous deadline, so no test depends on the machine's speed.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from pytorch_benchmarks.facts import iter_facts, parse_fact
from pytorch_benchmarks.run.timing import timed_loop
from pytorch_benchmarks.runtime.stopsignals import StopSignals

from .conftest import read_facts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
WARMUP = 2
#: Untimed steps the progress line counts besides the warm-up: FLOP counting runs one step
#: before warm-up (measure.session's ``before_warmup``).
EXTRA_STEPS = 1
#: A run that cannot finish before the signal: a million timed iterations.
LONG = ["--model", "deep_mnist", "--batch_size", "4", "--device", "cpu",
        "--num_batches", "1000000", "--num_warmup_batches", str(WARMUP)]
DEADLINE_S = 240.0


def _progress(shown: bytes) -> int:
    """The last iteration count the progress lines showed (warm-up included), 0 before."""
    counts = re.findall(rb"running: iteration (\d+)", shown)
    return int(counts[-1]) if counts else 0


def _on_a_terminal(cmd: list[str], signum: int, ready: Callable[[bytes], bool],
                   group: bool = False) -> tuple[int, str, int]:
    """Run ``cmd`` with stdout on a pseudo-terminal (so it draws its progress line), send
    ``signum`` (to its process group with ``group``) once ``ready(shown)``; return the exit
    code, stderr and the iteration count shown when the signal was sent."""
    leader, follower = os.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
           "GLOO_SOCKET_IFNAME": "lo"}
    proc = subprocess.Popen(cmd, stdout=follower, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=group)
    os.close(follower)
    shown, sent_at, deadline = b"", -1, time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the process and its children closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
            if sent_at < 0 and ready(shown):
                sent_at = _progress(shown)
                os.killpg(proc.pid, signum) if group else proc.send_signal(signum)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
            proc.wait()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert sent_at >= 0, f"the run never showed it was ready:\n{shown.decode()}\n{err}"
    return code, err, sent_at


def _timing(shown: bytes) -> bool:
    """At least one timed iteration ended (the progress count is past the untimed steps)."""
    return _progress(shown) > WARMUP + EXTRA_STEPS


def _assert_partial(facts: dict[str, Any], name: str) -> None:
    assert facts["results.status"] == "interrupted", facts.get("results.error")
    assert facts["results.partial"] is True and facts["results.stop_signal"] == name
    done = facts["results.num_batches_done"]
    assert 1 <= done < 1_000_000 and len(facts["results.time_data"]) == done
    assert facts["results.error"] == (f"stopped by {name} after {done} of 1000000 timed "
                                      "iterations (partial results)")
    assert facts["results.throughput"] > 0 and facts["results.time"] > 0
    assert any(f"stopped after {done} of 1000000 timed batches: {name} received" in w
               for w in facts["exp.warnings"])
    assert "exp.end_time" in facts


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGTERM"])
def test_a_stop_signal_during_timing_writes_the_partial_results(tmp_path: Path,
                                                                name: str) -> None:
    log = tmp_path / "run.log"
    code, err, sent_at = _on_a_terminal(
        [sys.executable, str(SCRIPT), *LONG, "--log_file", str(log)],
        getattr(signal, name), _timing)
    assert code == 130, err
    facts = read_facts(log)
    _assert_partial(facts, name)
    # every iteration shown as done before the signal is in the partial results
    assert facts["results.num_batches_done"] >= sent_at - WARMUP - EXTRA_STEPS
    assert f"error: {facts['results.error']}" in err


def _wait_for_fact(proc: subprocess.Popen[str], key: str) -> dict[str, Any]:
    """Read ``proc``'s stdout facts until ``key`` is written; return those read."""
    facts: dict[str, Any] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + DEADLINE_S
    while key not in facts and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        fact = parse_fact(line)
        if fact is not None:
            facts[fact[0]] = fact[1]
    assert key in facts, f"{key} was never written"
    return facts


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGTERM"])
def test_a_stop_signal_before_timing_stops_without_timing_facts(name: str) -> None:
    """Sent as soon as the run's first fact is out (the handlers are in place): it lands in
    the build or in a warm-up of a million iterations, never in timing."""
    cmd = [sys.executable, str(SCRIPT), *LONG, "--num_warmup_batches", "1000000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        facts = _wait_for_fact(proc, "exp.start_time")
        proc.send_signal(getattr(signal, name))
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    facts.update(iter_facts(out.splitlines()))
    assert proc.returncode == 130, err
    assert facts["results.status"] == "interrupted" and facts["results.stop_signal"] == name
    assert facts["results.partial"] is False
    assert facts["results.error"] == f"stopped by {name} before timing"
    assert not any(key in facts for key in ("results.time", "results.throughput",
                                            "results.time_data", "results.num_batches_done"))
    assert "Traceback" not in err and f"error: stopped by {name} before timing" in err


def test_the_handlers_only_record_and_are_put_back() -> None:
    """The first stop signal is kept; SIGINT is left alone; the previous handlers return."""
    def before(signum: int, frame: object) -> None:
        raise AssertionError("the previous handler ran while StopSignals was in place")
    previous = signal.signal(signal.SIGUSR1, before)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with StopSignals() as stops:
            assert stops.name is None and signal.getsignal(signal.SIGINT) is sigint
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 10
            while stops.name is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the Python handler runs at the next bytecode
            assert stops.name == "SIGUSR1"
        assert signal.getsignal(signal.SIGUSR1) is before
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.parametrize("stop_after, warmup, expected", [
    pytest.param(3, 0, 3, id="timed"),
    pytest.param(1, 2, 0, id="warm-up"),
    pytest.param(99, 1, 5, id="never"),
])
def test_the_timed_loop_stops_at_an_iteration_boundary(stop_after: int, warmup: int,
                                                       expected: int) -> None:
    steps: list[int] = []
    times = timed_loop(lambda: steps.append(1), warmup, 5, None,
                       lambda: len(steps) >= stop_after)
    assert len(times) == expected and len(steps) == min(stop_after, warmup + 5)


def _torchrun(log: Path, *extra: str) -> list[str]:
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            *extra, str(SCRIPT), *LONG, "--batch_size", "8", "--log_file", str(log)]


@pytest.mark.torchrun
@pytest.mark.parametrize("name, extra", [
    # torchrun forwards SIGTERM (and SIGINT, SIGHUP, SIGQUIT) to its workers by default...
    pytest.param("SIGTERM", [], id="sigterm"),
    # ... SIGUSR1 only when asked: by default it kills torchrun and leaves the workers running
    pytest.param("SIGUSR1", ["--signals_to_handle", "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"],
                 id="sigusr1-forwarded"),
])
def test_torchrun_ranks_stop_together_with_partial_results(tmp_path: Path, name: str,
                                                           extra: list[str]) -> None:
    """Signalled as a whole process group. torchrun starts each worker in a session of its
    own, so the signal reaches the workers only through torchrun's forwarding; both ranks
    then stop after the same iteration (the stop flag is all-reduced at every boundary): no
    rank is left in a collective, and rank 0 writes the partial facts once."""
    log = tmp_path / "ddp.log"
    code, err, _ = _on_a_terminal(_torchrun(log, *extra), getattr(signal, name), _timing,
                                  group=True)
    assert code != 0, err  # torchrun re-raises the signal it forwarded
    facts = read_facts(log)
    _assert_partial(facts, name)
    assert facts["exp.world_size"] == 2
    text = log.read_text()
    assert text.count("__results.status__") == 1 and "failure" not in text, err[-3000:]
    # each rank says why it stopped: the same iteration on both (torchrun, which shut them
    # down itself, reports no exit codes)
    assert err.count(f"error: {facts['results.error']}\n") == 2, err[-3000:]

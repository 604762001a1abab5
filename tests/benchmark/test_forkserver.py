"""The tests' fork server (``tests/_support/bench_forkserver.py``) runs a benchmark process the
way a fresh interpreter would: the same facts, exit codes and signal handling; a caller killed
takes its child with it; what a forked child could not take over runs from scratch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FEW, TINY_MLP, read_facts

BENCHMARK = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / \
    "benchmarks.py"


def _socket() -> str:
    """The server's socket (set by tests/conftest.py's session fixture, after collection)."""
    path = os.environ.get("DLBS_TEST_FORKSERVER", "")
    if not path or path == "0":
        pytest.skip("the fork server is off (DLBS_TEST_FORKSERVER=0)")
    return path


def _server_says(pid: int, deadline: float = 120, server: str = "server") -> str:
    """What a server's log says of caller ``pid`` (``forked: CHILD`` or ``refused: WHY``);
    ``server``: ``server``, or ``server-omp1`` (callers with ``OMP_NUM_THREADS=1``)."""
    log = Path(_socket()).parent / f"{server}.log"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for line in log.read_text().splitlines() if log.exists() else []:
            caller, _, said = line.partition(" ")
            if caller == str(pid):
                return said
        time.sleep(0.05)
    raise AssertionError(f"the fork server never answered caller {pid}")


def _ready() -> None:
    """The server binds its socket once torch is imported (until then callers run alone)."""
    end = time.monotonic() + 180
    while not os.path.exists(_socket()):
        assert time.monotonic() < end, "the fork server did not start"
        time.sleep(0.1)


def _run(tmp_path: Path, name: str, extra_env: dict[str, str] | None = None,
         args: list[str] | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A benchmark process; forked by the server unless ``extra_env`` turns it off (checked
    in the server's log)."""
    log = tmp_path / f"{name}.log"
    env = {**os.environ, **(extra_env or {})}
    argv = [sys.executable, str(BENCHMARK), *(args or [*TINY_MLP, *FEW]), "--log_file", str(log)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate(timeout=300)
    if extra_env is None or extra_env.get("DLBS_TEST_FORKSERVER") != "0":
        assert _server_says(proc.pid).startswith("forked:")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), log


def test_a_forked_benchmark_writes_the_facts_a_fresh_one_writes(tmp_path: Path) -> None:
    _ready()
    forked, forked_log = _run(tmp_path, "forked")
    fresh, fresh_log = _run(tmp_path, "fresh", {"DLBS_TEST_FORKSERVER": "0"})
    assert forked.returncode == fresh.returncode == 0, (forked.stderr, fresh.stderr)
    mine, theirs = read_facts(forked_log), read_facts(fresh_log)
    # a note is logged when there is something to say (results.machine_state_note: the machine
    # was busy during that run's window, as CI once was for one of the two): not the fork's
    assert sorted(k for k in mine if not k.endswith("_note")) == \
        sorted(k for k in theirs if not k.endswith("_note"))
    for key in ("exp.num_threads", "exp.model_title", "results.status", "exp.device",
                "exp.dtype_used", "results.num_batches_done", "results.peak_memory_scope"):
        assert mine[key] == theirs[key], key
    assert forked.stderr.splitlines()[-1].split(":")[0] == fresh.stderr.splitlines()[-1].split(":")[0]


def test_what_torchs_own_import_sets_in_the_environment_is_no_difference(
        tmp_path: Path) -> None:
    """A test process that built a torch optimizer has ``TORCHINDUCTOR_CACHE_DIR`` in its
    environment (torch sets it then), and so do the processes it starts: the server's imports
    set it alike, so they are still forked (CI once refused every later request for it)."""
    import torch

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    value = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    assert value, "torch no longer sets TORCHINDUCTOR_CACHE_DIR: this test has no subject"
    _ready()
    done, _ = _run(tmp_path, "inductor", {"TORCHINDUCTOR_CACHE_DIR": value})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args", [
    [*TINY_MLP, *FEW, "--num_batches", "-3"],                                  # usage error
    ["--model", "deep_mnist", "--device", "cpu", "--data", "real", "--data_dir", "/nonexistent",
     *FEW[2:]],                                                                # a failed run
], ids=["usage-error", "failure"])
def test_the_caller_ends_as_the_benchmark_ends(tmp_path: Path, args: list[str]) -> None:
    _ready()
    forked, _ = _run(tmp_path, "forked", args=args)
    fresh, _ = _run(tmp_path, "fresh", {"DLBS_TEST_FORKSERVER": "0"}, args=args)
    assert forked.returncode == fresh.returncode != 0
    said = ("__results.status__", "__results.error__")
    assert [line for line in forked.stdout.splitlines() if line.startswith(said)] == \
        [line for line in fresh.stdout.splitlines() if line.startswith(said)]
    assert forked.stderr.strip().splitlines()[-1] == fresh.stderr.strip().splitlines()[-1]


def test_a_signal_to_the_caller_stops_the_benchmark_at_its_boundary(tmp_path: Path) -> None:
    _ready()
    log = tmp_path / "long.log"
    caller = subprocess.Popen([sys.executable, str(BENCHMARK), *TINY_MLP, "--device", "cpu",
                               "--num_batches", "100000", "--num_warmup_batches", "1",
                               "--log_file", str(log)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert _server_says(caller.pid).startswith("forked:")
        end = time.monotonic() + 120
        while "__exp.num_threads__" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < end and caller.poll() is None
            time.sleep(0.1)
        time.sleep(1.0)
        caller.send_signal(signal.SIGUSR1)
        _, err = caller.communicate(timeout=120)
    finally:
        caller.kill()
    assert caller.returncode == 130, err
    facts = read_facts(log)
    assert facts["results.status"] == "interrupted"
    assert facts["results.stop_signal"] == "SIGUSR1"


def test_a_killed_caller_takes_its_child_with_it(tmp_path: Path) -> None:
    _ready()
    caller = subprocess.Popen([sys.executable, str(BENCHMARK), *TINY_MLP, "--device", "cpu",
                               "--num_batches", "100000", "--log_file", str(tmp_path / "k.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        said = _server_says(caller.pid)
        assert said.startswith("forked:"), said
        child = int(said.split()[1])
    finally:   # never left running: a refused caller is the benchmark itself
        caller.kill()
        caller.wait()
    end = time.monotonic() + 30
    while os.path.exists(f"/proc/{child}") and _state(child) != "Z":
        assert time.monotonic() < end, "the child outlived its caller"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _omp1_server() -> None:
    if not os.environ.get("DLBS_TEST_FORKSERVER_OMP1"):
        pytest.skip("OMP_NUM_THREADS is set for the whole suite: one server serves it")
    end = time.monotonic() + 180
    while not os.path.exists(os.environ["DLBS_TEST_FORKSERVER_OMP1"]):
        assert time.monotonic() < end, "the OMP_NUM_THREADS=1 fork server did not start"
        time.sleep(0.1)


def test_an_environment_read_at_import_runs_the_benchmark_from_scratch(tmp_path: Path) -> None:
    _ready()
    log = tmp_path / "omp.log"
    caller = subprocess.Popen([sys.executable, str(BENCHMARK), *TINY_MLP, *FEW,
                               "--log_file", str(log)],
                              env={**os.environ, "OMP_NUM_THREADS": "2"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = caller.communicate(timeout=300)
    assert caller.returncode == 0, err
    assert _server_says(caller.pid) == "refused: another import environment (OMP_NUM_THREADS)"
    assert read_facts(log)["exp.num_threads"] == 2


def test_one_openmp_thread_and_unbuffered_streams_go_to_the_omp1_server(tmp_path: Path) -> None:
    """``python -u benchmarks.py`` with ``OMP_NUM_THREADS=1`` (how torchrun starts a worker)
    is forked by the server that imported torch under that value: one thread, and its
    output reaches a pipe line by line while it runs (unbuffered)."""
    _ready()
    _omp1_server()
    caller = subprocess.Popen([sys.executable, "-u", str(BENCHMARK), *TINY_MLP, "--device", "cpu",
                               "--num_warmup_batches", "0", "--num_batches", "100000"],
                              env={**os.environ, "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert caller.stdout is not None
        # the facts go to stdout (a pipe) as they are known: while the run goes on, the first
        # arrives (block-buffered, it would wait for 8 KiB or the end)
        threads = ""
        while not threads.startswith("__exp.num_threads__"):
            threads = caller.stdout.readline()
            assert threads.startswith("__"), threads
        assert caller.poll() is None and threads == "__exp.num_threads__=1\n"
        assert _server_says(caller.pid, server="server-omp1").startswith("forked:")
    finally:
        caller.send_signal(signal.SIGUSR1)
        caller.communicate(timeout=120)


@pytest.mark.torchrun
def test_torchruns_workers_are_forked_and_give_what_fresh_ones_give(tmp_path: Path) -> None:
    _ready()
    _omp1_server()
    omp1_log = Path(os.environ["DLBS_TEST_FORKSERVER_OMP1"] + ".log")
    before = omp1_log.read_text().count(" forked: ")
    facts = {}
    for name, extra in (("forked", {}), ("fresh", {"DLBS_TEST_FORKSERVER": "0"})):
        log = tmp_path / f"{name}.log"
        env = {**os.environ, **extra, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo"}
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node=2", str(BENCHMARK), *TINY_MLP, *FEW,
                               "--log_file", str(log)], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        facts[name] = read_facts(log)
        if name == "forked":
            assert omp1_log.read_text().count(" forked: ") == before + 2   # both ranks
    same = ("results.status", "exp.world_size", "exp.num_threads", "results.loss_last")
    assert {k: facts["forked"].get(k) for k in same} == {k: facts["fresh"].get(k) for k in same}
    # a note on the machine's state is written only when the load around the timed window
    # was high, which the two runs need not share
    load_dependent = {"results.machine_state_note"}
    assert set(facts["forked"]) - load_dependent == set(facts["fresh"]) - load_dependent

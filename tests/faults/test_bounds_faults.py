"""Bounded inputs (issue 54): nothing a user names makes a serving run or ``validate`` wait
forever or read without a limit.

Each case is the adversary's, run as a user runs it (``python -m dlbs validate`` and
``python python/serving/loadgen.py`` as processes, under a generous subprocess timeout and an
address-space limit, so the old behaviour fails the test instead of hanging or swapping the
machine): a request rate of ``1e-300`` (the first request due in 10^300 s), a NaN SLO, a
FIFO without a writer or ``/dev/zero`` as the dataset, ``10^8`` requests with a 2-second
duration, a FIFO among the default configs. Nothing here asserts on time.
"""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serving import requests as serving_requests

from dlbs import config as dlbs_config
from dlbs.cli import param_ranges, validate
from dlbs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "python" / "serving" / "loadgen.py"
#: Generous: every case answers in a second or two; the old code never answered.
HANG_S = 120
#: Address space a child may take: reading /dev/zero whole, or building 10^8 requests, fails
#: with a MemoryError within it instead of taking the shared machine's memory.
MEMORY_BYTES = 2 << 30


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=HANG_S,
                          check=False, preexec_fn=_limited)


def loadgen(*flags: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(LOADGEN), "--endpoint", f"http://127.0.0.1:{closed_port()}",
                "--model", "m", "--output_len", "4", *flags], cwd)


def dlbs_validate(*params: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    plan = ['-Pexp.phase="serve"', '-Pexp.model="m"',
            f'-Pserve.endpoint="http://127.0.0.1:{closed_port()}"']
    return run([sys.executable, "-m", "dlbs", "validate", *plan, *params], cwd)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.json"
    os.mkfifo(path)
    return path


RATE_WORDS = ("serve.request_rate is 1e-300: its first request is due after 1e+300 s at the "
              "mean gap, past the longest wait for a first request (3600 s); give at least "
              "0.000278 requests/s, or 0 (all at once, with serve.concurrency)")
SLO_WORDS = "serve.slo_ttft_ms is nan; it must be a number >= 0 (at most 86400000)"


@pytest.mark.parametrize("flags,params,words", [
    pytest.param(["--request_rate", "1e-300"], ["-Pserve.request_rate=1e-300"], RATE_WORDS,
                 id="rate-1e-300"),
    pytest.param(["--request_rate", "1", "--slo_ttft_ms", "nan"],
                 ["-Pserve.request_rate=1", "-Pserve.slo_ttft_ms=nan"], SLO_WORDS,
                 id="nan-slo"),
])
def test_loadgen_and_validate_refuse_the_same_way_in_one_line(
        flags: list[str], params: list[str], words: str, tmp_path: Path) -> None:
    done = loadgen(*flags, cwd=tmp_path)
    assert done.returncode == 2 and errors(done) == [f"error: {words}"]
    assert "Traceback" not in done.stderr
    done = dlbs_validate(*params, cwd=tmp_path)
    assert done.returncode == 1 and len(errors(done)) == 1 and words in errors(done)[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("make,kind", [
    pytest.param(lambda folder: _fifo(folder), "a FIFO", id="fifo-without-a-writer"),
    pytest.param(lambda folder: Path("/dev/zero"), "a character device", id="dev-zero"),
    pytest.param(lambda folder: folder, "a directory", id="a-directory"),
])
def test_a_dataset_that_is_not_a_regular_file_is_refused_before_it_is_opened(
        make: Callable[[Path], Path], kind: str, tmp_path: Path) -> None:
    dataset = make(tmp_path)
    words = (f"serve.dataset: '{dataset}' is {kind}, not a regular file: refusing to read "
             "it")
    done = loadgen("--request_rate", "1", "--dataset", str(dataset), cwd=tmp_path)
    assert done.returncode == 2 and len(errors(done)) == 1
    assert errors(done)[0].startswith(f"error: {words}")
    done = dlbs_validate("-Pserve.request_rate=1", f"-Pserve.dataset={dataset}", cwd=tmp_path)
    assert done.returncode == 1 and len(errors(done)) == 1 and words in errors(done)[0]


def _fifo(folder: Path) -> Path:
    path = folder / "fifo.json"
    os.mkfifo(path)
    return path


def test_a_dataset_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    dataset = tmp_path / "huge.json"
    with dataset.open("wb") as out:  # sparse: takes no disk
        out.truncate(serving_requests.MAX_DATASET_BYTES + 1)
    with pytest.raises(ValueError, match=r"serve.dataset: '.*huge.json' holds more than "
                                         r"1,073,741,824 bytes"):
        serving_requests.load_dataset(str(dataset))


def test_ten_to_the_eight_requests_with_a_2_second_duration_run_what_it_holds(
        tmp_path: Path) -> None:
    done = loadgen("--request_rate", "4", "--arrivals", "constant", "--num_requests",
                   "100000000", "--duration", "2", cwd=tmp_path)
    # nothing listens: every request fails, but only the 8 the duration holds were made
    assert done.returncode == 1, done.stderr
    assert "__results.requests__=8\n" in done.stdout


def guarded(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in a thread; what it raised (None if it returned); a hang fails."""
    raised: list[BaseException | None] = [None]

    def target() -> None:
        try:
            call()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            raised[0] = err
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"{call} waited on a FIFO"
    return raised[0]


@pytest.mark.parametrize("reader", [
    pytest.param(lambda: param_ranges.declared_ranges.__wrapped__(), id="parameter-ranges"),
    pytest.param(lambda: validate._default_image.__wrapped__(), id="default-docker-image"),
])
def test_a_fifo_among_the_default_configs_is_refused_not_waited_on(
        reader: Callable[[], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(tmp_path / "base.json")
    monkeypatch.setattr(dlbs_config, "default_config_dir", lambda: tmp_path)
    raised = guarded(reader)
    assert isinstance(raised, ConfigError)
    assert str(raised).startswith(f"config file '{tmp_path / 'base.json'}' is a FIFO")


def test_requests_that_would_not_fit_in_memory_are_refused_before_any_is_built(
        tmp_path: Path) -> None:
    # A review's case: 10^8 requests, none past the duration, under a 2 GiB address space:
    # every one was built, then a MemoryError's traceback after many seconds.
    done = loadgen("--request_rate", "1000000", "--num_requests", "100000000", "--duration",
                   "2592000", "--prompt_len", "16", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: serve.num_requests: 100,000,000 "), \
        done.stderr
    assert "more than the" in lines[0] and "give fewer requests" in lines[0]


def test_the_memory_guard_counts_what_the_duration_holds() -> None:
    from serving import loadgen as loadgen_module
    assert loadgen_module.scheduled_at_most(10**8, 4.0, 2.0) < 30
    assert loadgen_module.scheduled_at_most(10**8, 0.0, 2.0) == 10**8  # all at once
    assert loadgen_module.scheduled_at_most(500, 1000.0, 60.0) == 500

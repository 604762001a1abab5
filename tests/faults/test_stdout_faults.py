"""Standard output that cannot be written, done for real: each command runs as a user runs it,
in its own process, with its stdout opened on ``/dev/full``, closed (``>&-``), or a pipe whose
reader has gone (``| head -c1`` after the first byte).

A full device is one line on stderr and exit code 1, never a traceback, also for what is only
flushed when the interpreter exits (``--version``: Python would print ``Exception ignored ...``
and exit 120). A closed stdout or a reader that went away is not an error of ours: quiet, and
the command's own exit code.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "logs" / "fixtures"
LOG = str(FIXTURES / "ok_resnet50_b16.log")
DLBS = [sys.executable, "-m", "dlbs"]
LOGPARSER = [sys.executable, "-c", ("import sys; from dlbs.cli.main import logparser_main; "
                                    "sys.exit(logparser_main())")]
BENCHMARK = [sys.executable, str(Path(__file__).parents[2] / "python" / "pytorch_benchmarks"
                                 / "benchmarks.py")]
PLAN = ["-Pexp.model=resnet50", '-Pexp.gpus=""']
#: A sweep whose printed plan is larger than a pipe's buffer (64 KiB).
SWEEP = [*PLAN, "-Vexp.replica_batch=[" + ", ".join(str(b) for b in range(1, 121)) + "]"]
FULL = "error: cannot write to standard output: No space left on device"

#: Every command that writes to stdout (each subcommand, usage, --help, --version).
WRITERS = [
    pytest.param([*DLBS, "print", *PLAN], id="print"),
    pytest.param([*DLBS, "print", "--format", "table", *PLAN], id="print-table"),
    pytest.param([*DLBS, "print", "--count", *PLAN], id="print-count"),
    pytest.param([*DLBS, "build", *PLAN], id="build"),
    pytest.param([*DLBS, "print-config"], id="print-config"),
    pytest.param([*DLBS, "help"], id="help"),
    pytest.param([*DLBS, "help", "--params", "exp.replica_batch"], id="help-params"),
    pytest.param([*DLBS, "sysinfo", "--no-torch"], id="sysinfo"),
    pytest.param([*DLBS, "status", *PLAN], id="status"),
    pytest.param([*DLBS, "parse", LOG], id="parse"),
    pytest.param([*LOGPARSER, LOG], id="logparser"),
    pytest.param([*DLBS, "report", LOG], id="report"),
    pytest.param([*DLBS, "report", "--format", "csv", LOG], id="report-csv"),
    pytest.param([*DLBS, "run", *PLAN, "-Pexp.status=simulate"], id="run-simulate"),
    pytest.param([*DLBS, "--version"], id="version"),
    pytest.param([*LOGPARSER, "--version"], id="logparser-version"),
    pytest.param([*DLBS, "--help"], id="usage"),
    pytest.param([*DLBS, "print", "--help"], id="print-help"),
    pytest.param([*DLBS, "report", "--help"], id="report-help"),
    pytest.param([*BENCHMARK, "--list_models"], id="benchmark-list-models"),
]


def run(argv: list[str], cwd: Path, **streams: object) -> subprocess.CompletedProcess[str]:
    """Run one command with the given streams (stderr captured); a hang guard only."""
    return subprocess.run(argv, cwd=cwd, stderr=subprocess.PIPE, text=True, check=False,
                          timeout=120, **streams)  # type: ignore[call-overload]


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("argv", WRITERS)
def test_stdout_on_a_full_device_is_one_line_and_exit_1(tmp_path: Path, argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = run(argv, tmp_path, stdout=full)
    assert_no_traceback(result.stderr)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == FULL
    assert result.stderr.count("error:") == 1


def test_run_simulate_on_a_full_device_leaves_nothing(tmp_path: Path) -> None:
    """Nothing is half-written: the simulated sweep writes no log, script or lock."""
    logs = tmp_path / "logs"
    with open("/dev/full", "w") as full:
        result = run([*DLBS, "run", *PLAN, "-Pexp.status=simulate", f"-Pexp.log_dir={logs}"],
                     tmp_path, stdout=full)
    assert result.returncode == 1 and result.stderr.strip() == FULL
    assert not logs.exists() or not [p for p in logs.iterdir() if p.suffix in (".log", ".sh")]


def test_a_command_that_writes_no_stdout_ignores_a_full_device(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        result = run([*DLBS, "validate", *PLAN], tmp_path, stdout=full)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("validate: OK")


#: What is said with a closed or broken stdout: what the command says on stderr anyway.
QUIET = [
    pytest.param([*DLBS, "print", *SWEEP], id="print"),
    pytest.param([*DLBS, "build", *SWEEP], id="build"),
    pytest.param([*DLBS, "help"], id="help"),
    pytest.param([*DLBS, "print-config"], id="print-config"),
    pytest.param([*DLBS, "parse", LOG], id="parse"),
    pytest.param([*LOGPARSER, LOG], id="logparser"),
    pytest.param([*DLBS, "report", LOG], id="report"),
    pytest.param([*DLBS, "--version"], id="version"),
    pytest.param([*DLBS, "print", "--help"], id="print-help"),
    pytest.param([*BENCHMARK, "--list_models"], id="benchmark-list-models"),
]


@pytest.mark.parametrize("argv", QUIET)
def test_closed_stdout_is_quiet(tmp_path: Path, argv: list[str]) -> None:
    """``>&-``: the output goes nowhere, as to /dev/null (a child could otherwise write into
    the next file opened on descriptor 1)."""
    result = run(["bash", "-c", 'exec "$@" >&-', "bash", *argv], tmp_path,
                 stdout=subprocess.DEVNULL)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("argv", QUIET)
def test_a_reader_that_went_away_is_quiet(tmp_path: Path, argv: list[str]) -> None:
    """A pipe whose reader closed before the first write (``| head -c1`` that already has
    its byte): EPIPE on the first flush, then nothing, exit 0."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = run(argv, tmp_path, stdout=write)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (0, "")


def test_head_c1_reads_one_byte_and_the_rest_is_dropped_quietly(tmp_path: Path) -> None:
    argv = " ".join(f"'{word}'" for word in [*DLBS, "print", *SWEEP])
    result = subprocess.run(["bash", "-c", f"{argv} | head -c1; exit ${{PIPESTATUS[0]}}"],
                            cwd=tmp_path, capture_output=True, text=True, check=False,
                            timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[", "")


@pytest.mark.parametrize("argv", [
    pytest.param([*DLBS, "print", "--bogus"], id="usage-error"),
    pytest.param([*DLBS, "validate", "-Pexp.model="], id="user-error"),
])
def test_errors_keep_their_exit_code_with_a_full_stdout(tmp_path: Path, argv: list[str]) -> None:
    """A command that fails on its own says so, as without the full device."""
    with open("/dev/full", "w") as full:
        failed = run(argv, tmp_path, stdout=full)
    plain = run(argv, tmp_path, stdout=subprocess.DEVNULL)
    assert_no_traceback(failed.stderr)
    assert (failed.returncode, failed.stderr) == (plain.returncode, plain.stderr)


PYTHON_DIR = Path(__file__).parents[2] / "python"
PREPARE = [sys.executable, "-m", "pytorch_benchmarks.prepare"]
BENCH_RUN = [*BENCHMARK, "--model", "deep_mnist", "--batch_size", "2", "--num_batches", "2",
             "--num_warmup_batches", "1", "--device", "cpu"]


@pytest.mark.parametrize("argv", [
    pytest.param(BENCH_RUN, id="benchmark-run"),
    pytest.param([*BENCHMARK, "--help"], id="benchmark-help"),
    pytest.param([*BENCHMARK, "--version"], id="benchmark-version"),
    pytest.param([*PREPARE, "imagefolder", "--out", "ds", "--num_images", "2", "--size", "8"],
                 id="prepare"),
    pytest.param([*PREPARE, "--help"], id="prepare-help"),
    pytest.param([*PREPARE, "--version"], id="prepare-version"),
])
def test_the_benchmark_programs_on_a_full_device_are_one_line_and_exit_1(
        tmp_path: Path, argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    with open("/dev/full", "w") as full:
        result = run(argv, tmp_path, stdout=full, env=env)
    assert_no_traceback(result.stderr)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == FULL
    assert result.stderr.count("error:") == 1


def test_a_benchmark_with_a_log_file_keeps_its_facts_whatever_stdout_does(
        tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open("/dev/full", "w") as full:
        result = run([*BENCH_RUN, "--log_file", str(log)], tmp_path, stdout=full)
    assert_no_traceback(result.stderr)
    assert result.returncode == 0, result.stderr
    assert '__results.status__="ok"' in log.read_text()


def test_a_benchmark_usage_error_keeps_exit_2_with_a_full_stdout(tmp_path: Path) -> None:
    """The usage failure fact cannot be written to stdout: the usage message, then why."""
    with open("/dev/full", "w") as full:
        result = run([*BENCHMARK, "--bogus"], tmp_path, stdout=full)
    assert_no_traceback(result.stderr)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-2:] == [
        "benchmarks.py: error: unrecognized arguments: --bogus", FULL]

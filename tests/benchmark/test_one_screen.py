"""``benchmarks.py`` by hand: at a terminal a person reads what runs, one progress line and a
result block; the facts go to --log_file, or to stdout when it is not a terminal or --facts
stdout asks (what DLBS's launchers capture stays as it was) (issue 20)."""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.output.display import result_lines, throughput_interval

from dlbs.runner.core import Outcome, Summary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
TINY = ["--model", "deep_mnist", "--batch_size", "2", "--device", "cpu", "--num_batches", "3",
        "--num_warmup_batches", "1", "--peak_tflops", "1"]


def _on_a_terminal(*argv: str) -> tuple[int, str, str]:
    """Run the real benchmark with stdout on a pseudo-terminal (stderr on a pipe); return the
    exit code, what the terminal showed and stderr."""
    leader, follower = os.openpty()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *argv], stdout=follower,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side closed (the process ended)
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    err = proc.stderr.read().decode() if proc.stderr else ""
    return proc.wait(timeout=60), shown.decode().replace("\r\n", "\n"), err


@pytest.fixture(scope="module")
def terminal_run() -> tuple[int, str, str]:
    return _on_a_terminal(*TINY)


def test_a_terminal_shows_what_runs_progress_and_a_result_block(
        terminal_run: tuple[int, str, str]) -> None:
    code, shown, err = terminal_run
    assert code == 0, err
    lines = shown.split("\n")
    assert lines[0] == ("benchmarks.py: deep_mnist training, batch 2, cpu float32: 1 warm-up + "
                        "3 timed iterations")
    assert "\r  running: iteration 1/4, " in shown  # one line, rewritten in place
    assert "\n  running" not in shown
    block = [line.split("\r")[-1] for line in lines[1:] if line]
    assert block[0] == "deep_mnist training, batch 2 x 1 replica, cpu float32"
    labels = [line.split()[0] for line in block[1:]]
    assert labels[:4] == ["throughput", "time", "memory", "MFU"]
    assert "samples/s (95% CI " in block[1]
    assert block[-1] == ("  facts       not written (--log_file FILE keeps them; --facts stdout "
                         "prints them)")


def test_a_terminal_shows_no_facts_and_the_warnings_once_in_the_block(
        terminal_run: tuple[int, str, str]) -> None:
    _, shown, err = terminal_run
    assert "__" not in shown
    assert "WARNING:" not in err  # said in the block instead
    warned = [line for line in shown.split("\n") if line.startswith("  warning ")]
    assert len(warned) == len(set(warned))


def test_log_file_keeps_the_facts_while_the_terminal_shows_the_block(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    code, shown, err = _on_a_terminal(*TINY, "--log_file", str(log))
    assert code == 0, err
    facts = dict(iter_facts(log.read_text().splitlines()))
    assert facts["results.status"] == "ok" and facts["exp.model"] == "deep_mnist"
    assert f"  facts       appended to {log}" in shown
    assert "__" not in shown


def test_facts_stdout_prints_the_facts_on_a_terminal_as_a_launcher_sees_them() -> None:
    code, shown, err = _on_a_terminal(*TINY, "--facts", "stdout")
    assert code == 0, err
    facts = dict(iter_facts(shown.splitlines()))
    assert facts["results.status"] == "ok"
    assert "running: iteration" not in shown and "throughput  " not in shown
    assert "WARNING: " in err  # the launcher's way: a stderr line per warning


def test_a_pipe_gets_the_facts_as_before() -> None:
    """What a launcher captures (stdout a pipe): facts only, the summary line on stderr."""
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert all(line.startswith("__") for line in done.stdout.splitlines())
    assert dict(iter_facts(done.stdout.splitlines()))["results.status"] == "ok"
    assert "samples/s" in done.stderr and "running: iteration" not in done.stderr


def test_a_usage_error_at_a_terminal_prints_no_fact_line() -> None:
    code, shown, err = _on_a_terminal("--model", "deep_mnist", "--num_batches", "0")
    assert code == 2
    assert "__" not in shown
    assert "--num_batches: expected an integer >= 1" in err


@pytest.mark.parametrize("argv, message", [
    pytest.param(["--facts", "log"], "--facts log needs --log_file", id="log-without-file"),
    pytest.param(["--facts", "json"], "argument --facts: invalid choice: 'json'", id="choice"),
])
def test_facts_flag_refusals(argv: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "deep_mnist", *argv],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert message in done.stderr


def test_the_interval_is_the_time_interval_in_samples_per_second() -> None:
    results = {"results.time_ci95": [100.0, 125.0]}
    assert throughput_interval(results, 10) == "(95% CI 80.0-100.0)"
    assert throughput_interval({"results.time_ci95": None}, 10) == \
        "(95% CI n/a: too few iterations)"


def test_the_block_says_mfu_is_unknown_rather_than_zero() -> None:
    lines = result_lines("m", {"results.throughput": 5.0}, 2, [], "on stdout")
    assert "  MFU         n/a" in lines


def test_a_sweep_says_a_repeated_warning_once_with_its_count() -> None:
    energy = "no energy figures: no RAPL energy counters"
    outcomes = [Outcome("ok", 1.0, f"{i}.log", warnings=[energy]) for i in range(12)]
    outcomes[3].warnings.append("--seq_len ignored: 'resnet50' is not a token model")
    text = Summary(total=12, outcomes=outcomes).text()
    assert text.count(energy) == 1
    assert f"  warning (12 of 12 experiments): {energy}" in text
    assert "  warning (1 of 12 experiments): --seq_len ignored" in text


def test_a_withheld_interval_shows_its_reason_not_too_few_iterations() -> None:
    """Issue 30: a drifting 400-iteration run printed "95% CI" (or "too few iterations");
    the block says why the interval is withheld."""
    results = {"results.time_ci95": None, "results.ci_withheld": "not steady",
               "results.num_batches_done": 400}
    assert throughput_interval(results, 10) == "(95% CI n/a: not steady)"


def test_an_interval_beside_a_failed_steady_test_is_not_shown() -> None:
    """Older facts could carry an interval with ``results.steady_state=false``: no "95% CI"."""
    results = {"results.time_ci95": [100.0, 125.0], "results.steady_state": False}
    assert throughput_interval(results, 10) == "(95% CI n/a: not steady)"


def test_the_block_flags_a_busy_machine_and_a_run_that_is_not_steady() -> None:
    """2.64 samples/s at load 14 (13.8 quiet) was printed as the truth: the block says so."""
    results = {"results.throughput": 2.64, "results.other_cpu_share": 0.85,
               "results.load_avg_before": [14.0, 12.0, 10.0], "results.steady_state": False,
               "results.time_ci95": None, "results.ci_withheld": "not steady"}
    text = "\n".join(result_lines("m", results, 2, [], "on stdout"))
    assert "busy machine: other processes took 85% of the CPUs" in text
    assert "load 14.0" in text
    assert "(95% CI n/a: not steady)" in text
    assert "not steady: the iteration times kept changing (results.steady_state=false)" in text


def test_a_quiet_steady_run_gets_no_machine_flag() -> None:
    results = {"results.throughput": 13.8, "results.other_cpu_share": 0.01,
               "results.steady_state": True, "results.time_ci95": [70.0, 75.0]}
    text = "\n".join(result_lines("m", results, 1, [], "on stdout"))
    assert "busy" not in text and "not steady" not in text


def test_the_block_shows_ttft_and_tpot_with_generate() -> None:
    results = {"results.throughput": 5.0, "results.output_tokens_per_second": 80.0,
               "results.ttft_p50": 12.5, "results.ttft_p99": 20.0, "results.tpot_p50": 3.25,
               "results.tpot_p99": 4.5}
    text = "\n".join(result_lines("m", results, 1, [], "on stdout"))
    assert "TTFT p50 12.5 ms (p99 20.0)" in text and "TPOT p50 3.25 ms (p99 4.5)" in text


def test_the_summary_line_gives_the_reason_an_interval_is_withheld() -> None:
    from pytorch_benchmarks.output.reporter import summary_line

    line = summary_line("m", "training", 2, 1, "cpu", "float32",
                        {"results.precision": None, "results.ci_withheld": "heavy tails",
                         "results.other_cpu_share": 0.5, "results.steady_state": True})
    assert "CI95 n/a: heavy tails" in line and "busy machine" in line


def test_the_busy_threshold_is_the_reports_one() -> None:
    from pytorch_benchmarks.output.display import BUSY_SHARE

    from dlbs.reports.model import BUSY_THRESHOLD
    assert BUSY_SHARE == BUSY_THRESHOLD

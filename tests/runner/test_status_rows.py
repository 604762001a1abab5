"""``experimenter status``: a row per experiment with model, batch, device/replicas, repeat,
state, and duration or reason; ``--format json`` (issue 20)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlbs.dispatch.status import ExperimentState, outcome, table


def plan(tmp_path: Path, bench_dir: Path) -> list[str]:
    """ok and fail (the stand-in benchmark) x batches 2 and 4, twice each; 'fail' at 4 disabled."""
    disabled = {"condition": {"exp.model": "fail", "exp.replica_batch": 4},
                "parameters": {"exp.status": "disabled"}}
    # exp.interleave=fixed: the rows are in the order the runs run, and issue 19 made that a
    # seeded random order of rounds by default; fixed keeps round-robin plan order to pin
    return ['-Vexp.model=["ok", "fail"]', "-Vexp.replica_batch=[2, 4]", "-Pexp.repeat=2",
            "-Pexp.interleave=fixed",
            '-Pexp.gpus=""', "-Pexp.cpu_replicas=2", f"-Ppytorch.bench_path={bench_dir}",
            f"-Pexp.log_dir={tmp_path}/logs", "-E", json.dumps(disabled)]


def dlbs(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_status_shows_what_ran_and_how_it_ended(tmp_path: Path, bench_dir: Path) -> None:
    argv = plan(tmp_path, bench_dir)
    before = dlbs(tmp_path, "status", *argv, "--format", "json")
    assert before.returncode == 0, before.stderr
    assert {row["state"] for row in json.loads(before.stdout)} == {"not run", "disabled"}
    ran = dlbs(tmp_path, "run", *argv)
    assert ran.returncode == 1, ran.stderr  # 'fail' fails
    done = dlbs(tmp_path, "status", *argv, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["model"], r["batch"], r["repeat"], r["state"], r["status"]) for r in rows] == [
        ("ok", 2, "1/2", "done", "ok"), ("ok", 4, "1/2", "done", "ok"),
        ("fail", 2, "1/2", "done", "failure"), ("fail", 4, "1/2", "disabled", ""),
        ("ok", 2, "2/2", "done", "ok"), ("ok", 4, "2/2", "done", "ok"),
        ("fail", 2, "2/2", "done", "failure"), ("fail", 4, "2/2", "disabled", ""),
    ]
    assert {(r["device"], r["replicas"]) for r in rows} == {("cpu", 2)}
    assert all(r["duration_s"] > 0 for r in rows if r["state"] == "done")
    assert {r["reason"] for r in rows if r["status"] == "failure"} == {"stand-in failure"}
    assert {r["reason"] for r in rows if r["status"] == "ok"} == {""}
    text = dlbs(tmp_path, "status", *argv)
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["#", "model", "batch", "device", "repeat", "state", "duration",
                                "or", "reason"]
    assert lines[3].split()[:7] == ["2", "fail", "2", "cpu", "x2", "1/2", "failure"]
    assert lines[3].endswith("s; stand-in failure")
    assert lines[4].split() == ["3", "fail", "4", "cpu", "x2", "1/2", "disabled"]
    assert "8 experiments: 6 done (4 ok, 2 failure), 2 disabled" in text.stderr


@pytest.mark.parametrize("state, shown", [
    pytest.param(ExperimentState(0, "done", "a.log", status="ok", duration_s=12.34), "12.3 s",
                 id="ok"),
    pytest.param(ExperimentState(0, "done", "a.log", status="oom", duration_s=2.0,
                                 reason="out of memory"), "2.0 s; out of memory", id="failed"),
    pytest.param(ExperimentState(0, "pending", "a.log", job_id="77", detail="Resources"),
                 "job 77: Resources", id="job"),
    pytest.param(ExperimentState(0, "incomplete", "a.log", status="interrupted",
                                 detail="interrupted; the next run repeats it"),
                 "interrupted; the next run repeats it", id="incomplete"),
    pytest.param(ExperimentState(0, "not run", "a.log"), "", id="not-run"),
])
def test_the_last_column_is_the_duration_or_the_reason(state: ExperimentState,
                                                       shown: str) -> None:
    assert outcome(state) == shown
    assert table([state]).splitlines()[1].endswith(shown)


@pytest.mark.parametrize("reason, shown", [
    pytest.param("boom\nnext line", "boom next line", id="line-break"),
    pytest.param("red \x1b[31mtext\x1b[0m", "red \\x1b[31mtext\\x1b[0m", id="escape-sequence"),
    pytest.param("abc\u202edef", "abc\\u202edef", id="bidi-override"),
    pytest.param("ünïcode ok", "ünïcode ok", id="printable-unicode-kept"),
])
def test_a_reason_read_from_a_log_cannot_break_the_row_or_drive_the_terminal(
        reason: str, shown: str) -> None:
    # results.error comes from a log file: a planted one must not add rows or colour the screen
    lines = table([ExperimentState(0, "done", "a.log", status="failure", reason=reason)])
    assert len(lines.splitlines()) == 2 and lines.splitlines()[1].endswith(shown)

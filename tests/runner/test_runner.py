"""The runner's mechanics with a stand-in benchmark: logs, statuses, timeouts, reruns,
monitor facts, progress file and shell injection. Experiments are hand-made dicts."""
from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts

from dlbs.experiment import Experiment
from dlbs.runner import Runner
from dlbs.runner.runlog import LogState, log_state, part_file, rerun_decision

#: The runner's view of a benchmark (its process tree, resource use, signals) is what these
#: tests read: never a child of the tests' fork server.
pytestmark = pytest.mark.real_processes

MakeExp = Callable[..., dict[str, Any]]


def facts_of(log_file: str | Path) -> dict[str, Any]:
    """Every fact of a log (the last occurrence of a key wins)."""
    return dict(iter_facts(Path(log_file).read_text().splitlines()))


def alive(pid: int, wait: float = 60.0) -> bool:
    """Whether ``pid`` still runs after up to ``wait`` seconds of waiting for it to end (a
    zombie waiting for its reaper does not count). Returns as soon as it has ended: the wait
    is a hang guard for a loaded machine, not a speed."""
    deadline = time.monotonic() + wait
    while True:  # looked at once at least (wait=0: is it alive now?)
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state == "Z":
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


def run_all(experiments: list[dict[str, Any]], **kwargs: Any) -> Any:
    return Runner(out=io.StringIO(), err=io.StringIO(), bar=False, **kwargs).run(experiments)


def test_log_has_header_output_and_trailer(make_exp: MakeExp) -> None:
    exp = make_exp("ok")
    summary = run_all([exp])
    assert summary.exit_code == 0 and summary.count("ok") == 1
    text = Path(exp["exp.log_file"]).read_text()
    lines = text.splitlines()
    assert lines[0] == '__exp.framework__="pytorch"'  # the header comes first
    assert lines.index("stand-in benchmark: ok") > lines.index('__exp.model__="ok"')
    facts = facts_of(exp["exp.log_file"])
    assert {k: facts[k] for k in exp} == exp  # every resolved parameter, round-tripped
    assert facts["results.status"] == "ok" and facts["results.exit_code"] == 0
    assert facts["results.duration"] > 0 and facts["results.time"] == 1.5
    for key in ("hw.hostname", "hw.os", "exp.runner_python", "exp.dlbs_commit",
                "exp.runner_start_time", "exp.runner_end_time"):
        assert key in facts, key
    assert lines[-1].startswith("__results.status__")
    assert not part_file(exp["exp.log_file"]).exists()
    script = Path(exp["exp.log_file"][:-4] + ".sh")
    assert os.access(script, os.X_OK) and "benchmarks.py" in script.read_text()


@pytest.mark.parametrize("model, status, code, error", [
    pytest.param("fail", "failure", 1, "stand-in failure", id="failure-reported"),
    pytest.param("crash", "failure", -9, "killed by SIGKILL; last output: stand-in benchmark: "
                 "crash", id="killed-by-signal"),
    pytest.param("silent", "failure", 0, "wrote no results.status", id="no-result"),
])
def test_failures_are_recorded_and_the_sweep_goes_on(make_exp: MakeExp, model: str, status: str,
                                                     code: int, error: str) -> None:
    bad, good = make_exp(model), make_exp("ok")
    summary = run_all([bad, good])
    assert summary.exit_code == 1 and summary.count("ok") == 1
    facts = facts_of(bad["exp.log_file"])
    assert (facts["results.status"], facts["results.exit_code"]) == (status, code)
    assert error in facts["results.error"]
    assert facts_of(good["exp.log_file"])["results.status"] == "ok"


def test_timeout_kills_the_process_group_and_the_sweep_goes_on(make_exp: MakeExp,
                                                               tmp_path: Path) -> None:
    block, child_pid = tmp_path / "block", tmp_path / "child.pid"
    block.touch()
    env = {"runtime.env.BLOCK_FILE": str(block), "runtime.env.CHILD_PID_FILE": str(child_pid)}
    slow = make_exp("block", {"exp.timeout": 1, "runtime.kill_grace": 0.5, **env})
    after = make_exp("ok")
    summary = run_all([slow, after])
    facts = facts_of(slow["exp.log_file"])
    assert facts["results.status"] == "timeout" and "exp.timeout" in facts["results.error"]
    # stopped at exp.timeout (1 s), not when the stand-in gives up blocking (120 s)
    assert 1 <= facts["results.duration"] < 100
    assert not alive(int(child_pid.read_text()))  # the grandchild was killed too
    assert facts_of(after["exp.log_file"])["results.status"] == "ok"
    assert [o.status for o in summary.outcomes] == ["timeout", "ok"]


@pytest.mark.parametrize("grace", [0.0, 0.5])
def test_timeout_kills_descendants_in_their_own_session(make_exp: MakeExp, tmp_path: Path,
                                                        grace: float) -> None:
    """torchrun starts its workers in new sessions: killing the group alone orphaned them."""
    block, child_pid = tmp_path / "block", tmp_path / "child.pid"
    block.touch()
    env = {"runtime.env.BLOCK_FILE": str(block), "runtime.env.CHILD_PID_FILE": str(child_pid)}
    slow = make_exp("block_session", {"exp.timeout": 1, "runtime.kill_grace": grace, **env})
    run_all([slow])
    assert facts_of(slow["exp.log_file"])["results.status"] == "timeout"
    pid = int(child_pid.read_text())
    try:
        assert not alive(pid)
    finally:
        if alive(pid, wait=0):
            os.kill(pid, 9)


def test_interrupted_log_names_the_signal(make_exp: MakeExp, tmp_path: Path) -> None:
    import signal
    import threading
    block, child_pid = tmp_path / "block", tmp_path / "child.pid"
    block.touch()
    env = {"runtime.env.BLOCK_FILE": str(block), "runtime.env.CHILD_PID_FILE": str(child_pid)}
    exp = make_exp("block", {"runtime.kill_grace": 0.5, **env})
    runner = Runner(out=io.StringIO(), err=io.StringIO(), bar=False)

    def interrupt() -> None:
        deadline = time.monotonic() + 300
        while not child_pid.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        runner._on_signal(signal.SIGTERM, None)
    threading.Thread(target=interrupt, daemon=True).start()
    summary = runner.run([exp])
    facts = facts_of(exp["exp.log_file"])
    assert summary.interrupted == "SIGTERM" and facts["results.status"] == "interrupted"
    assert facts["results.error"] == "interrupted by SIGTERM"  # was "interrupted by interrupted"


def test_rerun_does_not_share_the_part_file_of_an_orphaned_benchmark(make_exp: MakeExp) -> None:
    """A runner killed outright leaves its benchmark appending to ``<log>.part``."""
    exp = make_exp("ok")
    part = part_file(exp["exp.log_file"])
    part.parent.mkdir(parents=True)
    with part.open("ab") as orphan:  # the orphan's stdout
        orphan.write(b"old output\n")
        orphan.flush()
        assert run_all([exp]).exit_code == 0
        orphan.write(b'__results.status__="failure"\n')
        orphan.flush()
    text = Path(exp["exp.log_file"]).read_text()
    assert "old output" not in text and facts_of(exp["exp.log_file"])["results.status"] == "ok"


@pytest.mark.parametrize("log_file", [None, ""])
def test_experiment_without_log_file_is_a_one_line_error(make_exp: MakeExp,
                                                         log_file: str | None) -> None:
    from dlbs.errors import RunError
    exp = make_exp("ok")
    del exp["exp.log_file"]
    if log_file is not None:
        exp["exp.log_file"] = log_file
    with pytest.raises(RunError, match="exp.log_file is not set"):
        run_all([exp])


def test_a_folder_where_the_log_should_be_fails_that_experiment_only(make_exp: MakeExp) -> None:
    blocked, fine = make_exp("ok"), make_exp("ok")
    Path(blocked["exp.log_file"]).mkdir(parents=True)  # a folder where the log should be
    summary = run_all([blocked, fine])
    assert summary.count("ok") == 1 and summary.exit_code == 1
    (failed,) = summary.failures
    assert failed.error == (f"'{blocked['exp.log_file']}' is a directory, not a regular file: "
                            "refusing to write it; remove it or name a regular file")


def test_rerun_policies(make_exp: MakeExp, tmp_path: Path) -> None:
    record = tmp_path / "record"
    env = {"runtime.env.RECORD": str(record)}
    plan = [make_exp("ok", env), make_exp("fail", env)]
    run_all(plan)
    assert record.read_text().split() == ["ok", "fail"]
    for policy, again in (("never", []), ("onfail", ["fail"]), ("always", ["ok", "fail"])):
        record.write_text("")
        summary = run_all([dict(e, **{"exp.rerun": policy}) for e in plan])
        assert record.read_text().split() == again, policy
        assert summary.count("skipped") == 2 - len(again)


@pytest.mark.parametrize("setup, state, runs", [
    pytest.param(None, LogState.MISSING, True, id="missing"),
    pytest.param("part", LogState.INCOMPLETE, True, id="part-file-left-by-kill"),
    pytest.param("no-trailer", LogState.INCOMPLETE, True, id="no-trailer"),
    pytest.param("interrupted", LogState.INCOMPLETE, True, id="interrupted"),
    pytest.param("failure", LogState.FAILED, False, id="failed"),
    pytest.param("ok", LogState.OK, False, id="ok"),
])
def test_log_state_and_rerun_never(make_exp: MakeExp, setup: str | None, state: LogState,
                                   runs: bool) -> None:
    exp = make_exp("ok")
    log = Path(exp["exp.log_file"])
    log.parent.mkdir(parents=True)
    trailer = '__results.exit_code__=0\n__results.status__="{}"\n'
    if setup == "part":
        part_file(log).write_text('__exp.model__="ok"\n')
    elif setup == "no-trailer":
        log.write_text('__exp.model__="ok"\n__exp.runner_start_time__="2026-01-01T00:00:00+00:00"\n'
                       '__results.status__="ok"\n')
    elif setup:
        log.write_text('__exp.model__="ok"\n' + trailer.format(setup))
    assert log_state(log) is state
    assert rerun_decision(Experiment.of(exp))[0] is runs


def test_disabled_and_simulated_experiments_are_not_run(make_exp: MakeExp) -> None:
    out = io.StringIO()
    plan = [make_exp("ok", {"exp.status": "disabled"}), make_exp("ok", {"exp.status": "simulate"})]
    summary = Runner(out=out, err=io.StringIO(), bar=False).run(plan)
    assert [o.status for o in summary.outcomes] == ["skipped", "simulated"]
    assert not Path(plan[0]["exp.log_dir"]).exists()
    assert out.getvalue().count("#!/usr/bin/env bash") == 1


def test_monitor_writes_use_facts(make_exp: MakeExp) -> None:
    """The stand-in burns 1 s of CPU (longer by the clock on a busy machine): the CPU series,
    integrated over the sample times, accounts for it (no share of a core is assumed)."""
    exp = make_exp("burn", {"monitor.frequency": 0.1})
    run_all([exp])
    facts = facts_of(exp["exp.log_file"])
    samples = facts["results.use.samples"]
    assert samples >= 3 and len(facts["results.use.cpu"]) == samples
    when, cpu = facts["results.use.time"], facts["results.use.cpu"]
    assert len(when) == samples and when == sorted(when)
    assert facts["results.use.cpu_peak"] == max(cpu)
    # each sample is the tree's CPU % since the previous one (100 = one core): the CPU seconds
    # seen, from a process's birth (its first interval counts: psutil's cpu_percent lost it, and
    # saw 0.41 of 1.04 s under load); only the interval the tree ends in may be lost
    seen = sum(c / 100 * (t - t0) for c, t, t0 in zip(cpu[1:], when[1:], when))
    burnt = facts["test.cpu_seconds"]
    assert burnt >= 1.0 and 0.7 * burnt <= seen <= 1.5 * burnt, (seen, burnt)
    assert facts["results.use.rss_mb_peak"] > 1
    assert "results.use.gpu_util" not in facts  # no NVML here: no GPU series, no error


def test_progress_file_is_kept_current(make_exp: MakeExp, tmp_path: Path) -> None:
    progress = tmp_path / "progress.json"
    run_all([make_exp("ok"), make_exp("fail"), make_exp("ok", {"exp.status": "disabled"})],
            progress_file=str(progress))
    state = json.loads(progress.read_text())
    assert {k: state[k] for k in ("state", "total", "done", "failed", "skipped", "left")} == \
        {"state": "finished", "total": 3, "done": 1, "failed": 1, "skipped": 1, "left": 0}
    assert state["current"] is None and state["eta_s"] == 0
    assert not list(tmp_path.glob(".progress.json*"))  # temporary files renamed away


def test_plain_progress_lines_when_not_a_terminal(make_exp: MakeExp) -> None:
    err = io.StringIO()
    Runner(out=io.StringIO(), err=err, bar=None).run([make_exp("ok"), make_exp("fail")])
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("[1/2] start ok")
    assert "[2/2] failure" in lines[3] and "done 1 failed 1" in lines[3] and "eta" in lines[3]


def test_progress_bar_on_a_terminal(make_exp: MakeExp) -> None:
    err = io.StringIO()
    Runner(out=io.StringIO(), err=err, bar=True).run([make_exp("ok"), make_exp("fail")])
    text = err.getvalue()
    assert "2/2" in text and "failed=1" in text and "100%" in text


NASTY = "x'; touch {owned}; echo \"$(touch {owned})\" `touch {owned}`\ntouch {owned} #"


def test_shell_injection_attempts_run_no_command(make_exp: MakeExp, tmp_path: Path) -> None:
    owned = tmp_path / "owned"
    nasty = NASTY.format(owned=owned)
    exp = make_exp("echo", {"runtime.env.FOO": nasty, "exp.dtype": nasty, "exp.data_dir": nasty,
                            "exp.id": nasty, "pytorch.data_backend": "$(touch " + str(owned) + ")"})
    exp["exp.log_file"] = str(tmp_path / "logs" / "$(touch owned)`id`.log")
    run_all([exp])
    assert not owned.exists() and not (Path.cwd() / "owned").exists()
    facts = facts_of(exp["exp.log_file"])
    argv = facts["test.argv"]
    assert argv[argv.index("--dtype") + 1] == nasty
    assert argv[argv.index("--data_dir") + 1] == nasty
    assert facts["test.env"]["FOO"] == nasty
    assert facts["exp.id"] == nasty and facts["results.status"] == "ok"


def test_progress_file_lost_during_a_sweep_warns_once_and_the_sweep_goes_on(
        tmp_path: Path) -> None:
    import shutil

    from dlbs.runner.progress import Progress
    folder = tmp_path / "progress"
    stream = io.StringIO()
    progress = Progress(2, str(folder / "p.json"), stream, bar=False)
    shutil.rmtree(folder)
    folder.write_text("now a file")  # the progress file cannot be written any more
    progress.start(0, Experiment.of({"exp.model": "m", "exp.log_file": "m.log"}))
    progress.finish(0, "ok", 1.0)
    progress.close("finished")
    warnings = [line for line in stream.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "cannot write the progress file" in warnings[0]


def test_progress_names_every_parameter_that_varies_over_the_sweep(tmp_path: Path) -> None:
    """Threads 1 and 2 of one model: the lines, the bar's file and its history tell them apart
    (the model alone made them look identical)."""
    from dlbs.runner.progress import Progress, varying_keys

    experiments = [{"exp.model": "m", "exp.cpu_threads": t, "exp.replica_batch": 8,
                    "exp.id": f"m-{t}", "exp.log_file": f"m{t}.log"} for t in (1, 2)]
    assert varying_keys(experiments) == ["exp.cpu_threads"]
    stream = io.StringIO()
    progress = Progress(2, str(tmp_path / "p.json"), stream, bar=False,
                        varying=varying_keys(experiments))
    for index, exp in enumerate(experiments):
        progress.start(index, Experiment.of(exp))
        progress.finish(index, "ok", 1.0)
    lines = stream.getvalue().splitlines()
    assert "[1/2] start m [exp.cpu_threads=1] (m1.log)" in lines
    assert "[2/2] start m [exp.cpu_threads=2] (m2.log)" in lines
    saved = json.loads((tmp_path / "p.json").read_text())
    assert [h["settings"] for h in saved["history"]] == ["exp.cpu_threads=1",
                                                         "exp.cpu_threads=2"]

"""Logs no dlbs runner wrote (DLBS's own, ``benchmarks.py --log_file`` alone) at an experiment's
``exp.log_file`` are complete logs: ``exp.rerun=never`` skips them and never overwrites them, as
DLBS's experimenter did ("log file exists, exp.rerun='never'"); ``onfail`` re-runs the failed
one only; ``experimenter status`` calls them done; an interrupted run never replaces them.

The DLBS logs are written by hand in DLBS's format (``dlbs_log`` below: the launcher line, every
parameter as ``__key__=json``, the framework's output, then ``results.*``; no trailer of ours),
as DLBS's PyTorch launcher wrote them for an ok run and a run out of memory.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.dispatch.status import local_state
from dlbs.experiment import Experiment
from dlbs.runner.core import Runner
from dlbs.runner.runlog import LogState, classify_log, log_state, part_file, rerun_decision


def dlbs_log(path: Path, model: str, time: float | None = None, failed: bool = False,
             skipped: bool = False) -> Path:
    """A log as DLBS's ``pytorch.sh`` launcher wrote it (``time``: results.time in ms)."""
    params: dict[str, Any] = {
        "exp.status": "ok", "exp.framework": "pytorch", "exp.framework_title": "PyTorch",
        "exp.model": model, "exp.model_title": model.title(), "exp.phase": "training",
        "exp.dtype": "float32", "exp.effective_batch": 2, "exp.replica_batch": 2, "exp.gpus": "",
        "exp.num_gpus": 0, "exp.num_replicas": 1, "exp.device_type": "cpu",
        "exp.id": "5c1f0e2d9a8b4c7e9f00112233445566", "exp.log_file": str(path),
        "exp.rerun": "never", "pytorch.launcher": "/opt/dlbs/scripts/launchers/pytorch.sh",
    }
    launch = ("Running subprocess (['/opt/dlbs/scripts/launchers/pytorch.sh', '--exp_log_file', "
              f"'{path}']) with log file '{path}'")
    lines = [launch, "", "Variables from python script."]
    lines += [f"__{key}__={json.dumps(value)}" for key, value in params.items()]
    lines += ["01-02-19 12:00:00 [INFO]    /opt/dlbs/scripts/launchers/pytorch.sh",
              '__results.start_time__= "2019-01-02:12:00:00:123"']
    if skipped:
        lines += ['__exp.status__= "skipped"', "[FATAL] The replica batch size is too large"]
    elif failed:
        lines += ["RuntimeError: CUDA error: out of memory", '__results.status__="failure"']
    else:
        lines += [f"__results.time__={time}", f"__results.throughput__={int(2000 / time)}"]
    lines += ['__results.end_time__= "2019-01-02:12:01:00:456"']
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("write, state, status", [
    pytest.param(lambda p: dlbs_log(p, "ok1", time=30.0), LogState.OK, "ok", id="dlbs-ok"),
    pytest.param(lambda p: dlbs_log(p, "fail", failed=True), LogState.FAILED, "failure",
                 id="dlbs-failed"),
    pytest.param(lambda p: dlbs_log(p, "ok1", skipped=True), LogState.FAILED, "skipped",
                 id="dlbs-skipped"),
    pytest.param(lambda p: p.write_text('__exp.model_title__="AlexNet"\n__results.time__=12.0\n'
                                        '__results.throughput__=85.3\n__results.status__="ok"\n'),
                 LogState.OK, "ok", id="benchmarks-py-log-file-alone"),
    pytest.param(lambda p: p.write_text("no facts here\n"), LogState.FAILED, "failure",
                 id="not-a-log-is-failed-never-overwritten"),
    pytest.param(lambda p: p.write_text('__exp.model__="ok1"\n__exp.runner_start_time__="2026-01-'
                                        '01T00:00:00+00:00"\n__results.status__="ok"\n'),
                 LogState.INCOMPLETE, "ok", id="our-header-no-trailer-is-a-killed-run"),
])
def test_log_without_runner_trailer_is_judged_as_the_parser_judges_it(
        tmp_path: Path, write: Any, state: LogState, status: str) -> None:
    log = tmp_path / "x.log"
    write(log)
    assert classify_log(log) == (state, status)
    assert log_state(log) is state
    exp = {"exp.log_file": str(log), "exp.rerun": "never"}
    assert rerun_decision(Experiment.of(exp))[0] is (state is LogState.INCOMPLETE)


def cli(tmp_path: Path, bench_dir: Path, action: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "dlbs", action, f"-Pexp.log_dir={tmp_path / 'logs'}",
            '-Pexp.gpus=""', "-Pruntime.kill_grace=1", '-Vexp.model=["ok1", "fail"]',
            "-Pexp.replica_batch=2", f"-Pexp.log_file={tmp_path}/old/${{exp.model}}.log",
            f"-Ppytorch.bench_path={bench_dir}", f"-Pruntime.env.RECORD={tmp_path / 'record'}",
            *options]


def test_dlbs_logs_at_the_log_path_are_skipped_not_overwritten(tmp_path: Path,
                                                                bench_dir: Path) -> None:
    ok = dlbs_log(tmp_path / "old" / "ok1.log", "ok1", time=30.0)
    failed = dlbs_log(tmp_path / "old" / "fail.log", "fail", failed=True)
    before = {ok: ok.read_bytes(), failed: failed.read_bytes()}

    def run(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cli(tmp_path, bench_dir, "run", *options), cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)

    never = run("-Pexp.rerun=never")
    assert never.returncode == 0, never.stderr
    assert "2 skipped" in never.stdout + never.stderr
    assert not (tmp_path / "record").exists()  # no benchmark started
    assert {path: path.read_bytes() for path in before} == before  # byte for byte
    status = subprocess.run(cli(tmp_path, bench_dir, "status", "--format", "summary"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            check=False)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "2 experiments: 2 done (1 ok, 1 failure)"

    onfail = run("-Pexp.rerun=onfail")  # the failed DLBS log runs again; the ok one does not
    assert (tmp_path / "record").read_text().split() == ["fail"], onfail.stderr
    assert ok.read_bytes() == before[ok]
    assert "__exp.runner_start_time__" in failed.read_text()  # replaced by a complete log
    assert not list((tmp_path / "old").glob("*.part"))


def test_an_interrupted_run_never_replaces_a_dlbs_log(tmp_path: Path) -> None:
    """``exp.rerun=always``/``onfail`` over a DLBS log, stopped: the old log stays, the run's
    log is set aside as ``<log>.interrupted`` (as over a complete log of ours)."""
    log = dlbs_log(tmp_path / "ok1.log", "ok1", time=30.0)
    before = log.read_bytes()
    part = part_file(log)
    part.write_text('__exp.runner_start_time__="2026-01-01T00:00:00+00:00"\n'
                    '__results.exit_code__=null\n__results.status__="interrupted"\n')
    kept = Runner._settle(part, log, interrupted=True)
    assert kept == Path(f"{log}.interrupted") and kept.exists()
    assert log.read_bytes() == before


def test_status_of_a_dlbs_log_is_done_with_its_status(tmp_path: Path) -> None:
    ok = dlbs_log(tmp_path / "ok1.log", "ok1", time=30.0)
    skipped = dlbs_log(tmp_path / "big.log", "ok1", skipped=True)
    states = [local_state(i, Experiment.of({"exp.log_file": str(p)})) for i, p in enumerate([ok, skipped])]
    assert [(s.state, s.status) for s in states] == [("done", "ok"), ("done", "skipped")]

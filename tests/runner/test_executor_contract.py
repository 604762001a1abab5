"""The executor contract (issue 33): the same tests run against every executor.

As Hydra tests its launchers, each test here is parametrized over the executors (``local``:
a process group on this host; ``slurm``: a batch job on the real two-node test cluster,
``.ci/slurm-cluster.sh``). The sweep core (``dlbs.runner.core``) runs the experiments, so what
is checked is what the core relies on: every member of ``dlbs.runner.job.Executor``, a
passing experiment's log (the benchmark's facts and the runner's trailer), a failing one that
ends failed while the sweep goes on, and a stop that ends the experiment as interrupted.

The experiments run the stand-in benchmark (``standin_benchmark.py``): a Slurm job costs a
few seconds of polling, not a real benchmark's start-up.
"""
from __future__ import annotations

import inspect
import io
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.runner import Executor, Runner, Summary
from dlbs.runner.local import LocalExecutor
from dlbs.slurm.executor import SlurmExecutor

from .test_runner import facts_of

MakeExp = Callable[..., dict[str, Any]]

#: Each executor: how to make one, and the parameters that send an experiment to it.
EXECUTORS: dict[str, tuple[Callable[[], Executor], dict[str, Any]]] = {
    "local": (LocalExecutor, {}),
    "slurm": (SlurmExecutor, {"exp.scheduler": "slurm"}),
}
#: The cluster's jobs are one parametrization; it needs the cluster (skips without one, fails
#: in CI), like the other Slurm tests.
KINDS = [pytest.param("local", id="local"),
         pytest.param("slurm", id="slurm", marks=pytest.mark.slurm)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The executor under test; ``slurm`` waits for the test cluster with no job on it."""
    if request.param == "slurm":
        request.getfixturevalue("slurm")
    return str(request.param)


def sweep(kind: str, make_exp: MakeExp, *models: str,
          params: dict[str, Any] | None = None,
          during: Callable[[Runner], None] | None = None) -> tuple[Summary, list[dict[str, Any]]]:
    """Run one experiment per model through the sweep core on ``kind``'s executor; ``during``
    runs in a thread beside it (given the runner). Returns the summary and the experiments."""
    make, scheduler = EXECUTORS[kind]
    exps = [make_exp(model, {**scheduler, **(params or {})}) for model in models]
    runner = Runner(out=io.StringIO(), err=io.StringIO(), bar=False, executor=make())
    if during is not None:
        threading.Thread(target=during, args=(runner,), daemon=True).start()
    return runner.run(exps), exps


# --- the protocol ------------------------------------------------------------------------------

def protocol_members() -> tuple[dict[str, Any], dict[str, inspect.Signature]]:
    """The attributes (name -> type) and methods (name -> signature) of ``Executor``."""
    attributes = inspect.get_annotations(Executor, eval_str=True)
    methods = {name: inspect.signature(value) for name, value in vars(Executor).items()
               if inspect.isfunction(value) and not name.startswith("_")}
    return attributes, methods


@pytest.mark.parametrize("name", list(EXECUTORS))
def test_the_executor_has_every_member_of_the_protocol(name: str) -> None:
    """A structural check that the class satisfies ``Executor``: the core calls every member
    directly (no ``getattr``), so one missing here would fail only when a sweep needs it."""
    executor = EXECUTORS[name][0]()
    attributes, methods = protocol_members()
    assert {"name", "capacity", "detached", "deferred"} <= set(attributes)
    assert {"attach_note", "recover", "start", "flush", "wait", "stop", "close"} <= set(methods)
    for attribute, kind in attributes.items():
        assert isinstance(getattr(executor, attribute), kind), f"{name}.{attribute}"
    for method, signature in methods.items():
        found = getattr(executor, method)
        assert callable(found), f"{name}.{method}"
        assert list(inspect.signature(found).parameters) == \
            [p for p in signature.parameters if p != "self"], f"{name}.{method}{signature}"
    assert executor.name == name and executor.capacity >= 1
    assert not executor.detached and not executor.deferred  # the defaults: waited for, at once
    executor.attach_note(lambda index, text: None)
    assert executor.flush() == []  # nothing handed over: nothing to submit


# --- experiments through the sweep core ------------------------------------------------------

def test_a_passing_experiment_ends_ok_with_its_facts_and_the_trailer(
        kind: str, make_exp: MakeExp) -> None:
    summary, (exp,) = sweep(kind, make_exp, "ok")
    assert summary.exit_code == 0 and not summary.failures
    facts = facts_of(exp["exp.log_file"])
    assert facts["results.throughput"] == 100.0 and facts["results.time"] == 1.5  # benchmark
    assert facts["results.status"] == "ok" and facts["results.exit_code"] == 0  # trailer
    assert "exp.runner_start_time" in facts and "exp.runner_end_time" in facts
    assert not Path(f"{exp['exp.log_file']}.part").exists()
    assert ("results.slurm_job_id" in facts) is (kind == "slurm")


def test_a_failing_experiment_ends_failed_and_the_sweep_goes_on(
        kind: str, make_exp: MakeExp) -> None:
    summary, (failed, passed) = sweep(kind, make_exp, "fail", "ok")
    assert [outcome.log_file for outcome in summary.failures] == [failed["exp.log_file"]]
    facts = facts_of(failed["exp.log_file"])
    assert facts["results.status"] == "failure" and facts["results.exit_code"] == 1
    assert facts["results.error"] == "stand-in failure"
    assert facts_of(passed["exp.log_file"])["results.status"] == "ok"
    assert summary.interrupted is None


def test_a_stop_ends_the_experiment_as_interrupted(kind: str, make_exp: MakeExp,
                                                   tmp_path: Path) -> None:
    block, child_pid = tmp_path / "block", tmp_path / "child.pid"
    block.touch()

    def interrupt(runner: Runner) -> None:
        """SIGTERM's handler once the benchmark runs (its child's pid is written)."""
        deadline = time.monotonic() + 300  # a hang guard for a loaded machine
        while not child_pid.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        runner._on_signal(signal.SIGTERM, None)

    params = {"runtime.kill_grace": 0.5, "runtime.env.BLOCK_FILE": str(block),
              "runtime.env.CHILD_PID_FILE": str(child_pid)}
    summary, (exp,) = sweep(kind, make_exp, "block", params=params, during=interrupt)
    assert summary.interrupted == "SIGTERM"
    facts = facts_of(exp["exp.log_file"])
    assert facts["results.status"] == "interrupted"
    assert facts["results.error"] == "interrupted by SIGTERM"

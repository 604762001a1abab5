"""Which executor runs a plan (``exp.scheduler``), and what must hold before it may.

A plan runs on one scheduler: ``local`` (the default) or ``slurm``. Mixing them in one sweep is
refused, since a local experiment measured while Slurm jobs of the same sweep run beside it
would not be alone on the machine.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from dlbs.errors import DLBSError, UsageError, ValidationError
from dlbs.experiment import Experiment
from dlbs.runner.job import Executor

SCHEDULERS = ("local", "slurm")
NOT_RUN = frozenset({"disabled", "inactive", "simulate"})


def runnable(experiments: Iterable[Experiment]) -> list[Experiment]:
    """The experiments a ``run`` would start (not disabled, inactive or simulated)."""
    return [e for e in experiments if e.status not in NOT_RUN]


def scheduler_of(experiments: Sequence[Experiment]) -> str:
    """The one scheduler of the runnable experiments; a ValidationError when they differ."""
    found = {e.scheduler for e in runnable(experiments)}
    unknown = sorted(found - set(SCHEDULERS))
    if unknown:
        raise ValidationError(f"exp.scheduler '{unknown[0]}' is not one of "
                              f"{', '.join(SCHEDULERS)}")
    if len(found) > 1:
        raise ValidationError("the plan mixes exp.scheduler values "
                              f"({', '.join(sorted(found))}); run one plan per scheduler")
    return found.pop() if found else "local"


def check_slurm(experiments: Sequence[Experiment]) -> None:
    """Every batch script renders, ``slurm.max_jobs`` is one value, Slurm answers and each
    partition exists; raise a one-line ValidationError otherwise."""
    from dlbs.slurm import ctl

    exps = check_slurm_plan(experiments)
    for partition in sorted({e.slurm.partition for e in exps}):
        problem = ctl.check(partition)
        if problem:
            raise ValidationError(f"exp.scheduler=slurm: {problem}")


def check_slurm_plan(experiments: Sequence[Experiment]) -> list[Experiment]:
    """``check_slurm`` without asking Slurm (``build --scripts`` may run where no cluster is):
    every batch script renders, log names Slurm can take, one ``slurm.array`` and one
    ``slurm.max_jobs``; return the runnable experiments."""
    from dlbs.slurm import ctl
    from dlbs.slurm.script import array, build_batch_script, max_jobs

    exps = runnable(experiments)
    for index, exp in enumerate(exps):
        try:
            build_batch_script(exp, "launch.sh", "end")
        except DLBSError as err:
            raise ValidationError(f"experiment {index}: {err}") from None
        problem = ctl.filename_problem(exp.log_file)
        if problem:
            raise ValidationError(f"experiment {index}: {problem}")
    if len({array(e) for e in exps}) > 1:
        raise ValidationError("slurm.array differs between experiments; a sweep is submitted "
                              "as job arrays or as single jobs, so give it one value")
    if len({max_jobs(e) for e in exps}) > 1:
        raise ValidationError("slurm.max_jobs differs between experiments; it bounds the "
                              "whole sweep, so give it one value")
    return exps


def check_scheduler(experiments: Sequence[Experiment]) -> str:
    """``validate``'s scheduler checks; return the scheduler."""
    scheduler = scheduler_of(experiments)
    if scheduler == "slurm":
        check_slurm(experiments)
    return scheduler


def executor_for(experiments: Sequence[Experiment], detach: bool = False) -> Executor:
    """The executor of a plan (``--detach`` only means something to a batch scheduler)."""
    scheduler = scheduler_of(experiments)
    if scheduler == "slurm":
        from dlbs.slurm.executor import SlurmExecutor
        from dlbs.slurm.script import array, max_jobs
        exps = runnable(experiments)
        return SlurmExecutor(max_jobs=max_jobs(exps[0]) if exps else 1, detach=detach,
                             array=any(array(e) for e in exps))
    if detach:
        raise UsageError("--detach submits jobs and returns: it needs -Pexp.scheduler=slurm "
                         "(a local run ends with the runner)")
    from dlbs.runner.local import LocalExecutor
    return LocalExecutor()

"""Running experiments: the sweep (``core``), written once, over small executors.

- ``core``: what to run (``exp.status``, ``exp.rerun``), the log header and trailer, the
  progress and the summary; ``job``: what the core hands an executor and gets back;
- ``local``: a process group on this host (bare metal, torchrun, Docker);
- Slurm batch jobs (``exp.scheduler=slurm``) are ``dlbs.slurm``'s, made by ``executors``
  and reached only through the ``Executor`` protocol;
- what only the runner needs: ``runlog`` (log files and the rerun policy), ``progress``,
  ``monitor``, ``provenance`` (host facts), ``dockerengine`` (the Docker engine client),
  ``status`` (``experimenter status``).
"""
from dlbs.runner.core import Outcome, Runner, Summary
from dlbs.runner.job import Ending, Executor, Job

__all__ = ["Ending", "Executor", "Job", "Outcome", "Runner", "Summary"]

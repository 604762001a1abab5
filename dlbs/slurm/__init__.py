"""Everything of ``exp.scheduler=slurm``, in one place.

- ``script``: the batch script of an experiment (``#SBATCH`` lines, ``srun``) and of a job
  array; built, never submitted (pure, like ``dlbs.launchers``, over which it stands);
- ``executor``: the Slurm executor (``dlbs.runner.job.Executor``): submits, adopts, polls,
  cancels; ``jobfile``: the job's record beside its log; ``endings``: how an ended job
  becomes an ``Ending`` (Slurm's end states, requeues, the rank that failed first);
- ``ctl``: a thin client of Slurm's own commands; ``acct``: what accounting says a job used;
  ``output``: what a job's output says (the task that failed, the node, each attempt).

The sweep (``dlbs.runner.core``) never imports this package: it reaches the executor through
the ``Executor`` protocol, made by ``dlbs.dispatch.executors``.
"""

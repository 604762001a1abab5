"""Where a plan's experiments run and where they stand: above both the runner and Slurm.

``executors`` chooses the executor of a plan (``exp.scheduler``: the runner's local one, or
``dlbs.slurm``'s) and checks what must hold before it may run; ``status`` says where each
experiment of a plan stands, from its log and Slurm's record. Both need the runner and Slurm;
the runner and Slurm need neither (the runner's sweep core reaches an executor only through
the ``Executor`` protocol of ``dlbs.runner.job``), so no ring joins the two packages.
"""

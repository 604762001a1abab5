"""Where a plan's experiments run and where they stand: above both the runner and Slurm.

``executors`` chooses the executor of a plan (``exp.scheduler``: the runner's local one, or
``dlbs.slurm``'s) and checks what must hold before it may run; ``status`` says where each
experiment of a plan stands, from its log and Slurm's record; ``device`` runs a plan's
local bare-metal experiments on the CPU of a host without a GPU when the plan only inherits
DLBS's default GPU 0 (it rewrites the plan's dicts before they are built). The first two need
the runner and Slurm;
the runner and Slurm need neither (the runner's sweep core reaches an executor only through
the ``Executor`` protocol of ``dlbs.runner.job``), so no ring joins the two packages.
"""

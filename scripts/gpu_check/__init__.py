"""``scripts/gpu-check``: a bounded first check of the benchmark on a GPU host.

Responsibility: run ``python/pytorch_benchmarks/benchmarks.py`` (and small probes) as
subprocesses of the host's own Python, in stages that each end well inside 10 minutes, and
write what they measured as markdown tables plus the logs into one folder. It never imports
``dlbs`` nor the benchmark's package, and never prints a figure that was not measured: a
figure a run did not log is ``-``, a check that did not run says why, never "passed".
"""

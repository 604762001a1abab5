"""The run: from the spec's parts to timed iterations.

Owns: :mod:`.workload` (model, data source and phase runner assembled from the spec's model,
data, device and run parts), :mod:`.phases` (one runner per phase: training, inference, the
input pipeline), :mod:`.timing` (the timed loop and the ``results.*`` of its times),
:mod:`.generate` (prefill then decode steps with a KV cache: TTFT, TPOT), :mod:`.tokens`
(what differs for token models), :mod:`.maxbatch` (``--batch_size max``: the largest batch
that fits, found with short real runs; a package: its search, probers and memory limits
apart) and :mod:`.stop_rule` (the stop rule's warnings and facts; its arithmetic is
:mod:`benchstats.stopping`).

May import: torch, numpy, the standard library, ``benchstats``, ``safeio``, the models, the
data, the runtime, :mod:`pytorch_benchmarks.spec` and :mod:`pytorch_benchmarks.errors`. Never
the measurements (they come in as :class:`~pytorch_benchmarks.run.phases.TimingHooks`), the
entry point, nor ``dlbs``; it writes no facts itself (the entry point's reporter does).
"""

"""What a benchmark measures besides time: FLOPs and MFU, peak memory, energy, clock
throttling, and profiler traces.

Responsibility: one small module per figure (:mod:`.flops`, :mod:`.peaks`,
:mod:`.calibration`, :mod:`.memory`, :mod:`.nvml`, :mod:`.energy`, :mod:`.throttle`,
:mod:`.profiling`) and :mod:`.session`, which wires them around the runner's timed window
(:class:`~pytorch_benchmarks.run.phases.TimingHooks`). Nothing here times iterations: the timed
loop stays in :mod:`pytorch_benchmarks.run.timing`.

May import: torch, the standard library, ``safeio``, the runtime (the device set-up, the
distributed context), :mod:`pytorch_benchmarks.spec`. Never the run, the models, the data,
nor ``dlbs``.
"""

"""Where the benchmark runs: the device and its precision, the processes of a distributed run,
and the host's description.

Owns: :mod:`.device` (``--device``/``--dtype``/cuDNN/threads turned into a ``DeviceSetup``:
autocast, gradient scaler, memory format, synchronisation), :mod:`.distributed` (torchrun's
ranks, the process group, DDP, combining the ranks' times) and :mod:`.hostinfo` (the ``hw.*``
and environment facts, device names, timestamps) and :mod:`.stopsignals` (SIGUSR1/SIGTERM
recorded for the run to stop at its next boundary; standard library only).

May import: torch, the standard library, ``safeio``, :mod:`pytorch_benchmarks.spec` and
:mod:`pytorch_benchmarks.errors`. Never the models, the data, the run, the measurements, nor
``dlbs``; it builds no model and times nothing.
"""

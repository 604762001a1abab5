"""Input data for the benchmark: a synthetic batch, or real images (Caffe LMDB, ImageFolder)
decoded and augmented by DataLoader worker processes, and the command that makes small real
datasets (:mod:`.prepare`, run as ``python -m pytorch_benchmarks.prepare``).

May import: torch, numpy, PIL, lmdb, the standard library, ``safeio`` and
:mod:`pytorch_benchmarks.errors`. Nothing here builds a model, chooses a device or times
anything; never imports ``dlbs``.
"""

"""The benchmark's output side: what goes to stdout, the log file and a person's terminal.

Owns: the run's writer of facts and warnings (:mod:`.reporter`), the view of a person at a
terminal (:mod:`.display`) and the guard around stdout (:mod:`.stdout_guard`).

May import: the standard library, :mod:`safeio` and the fact format
(:mod:`pytorch_benchmarks.facts`); never torch, the command line, the models, the data, the
runtime, the measurements nor the run (they hand it plain facts).
"""

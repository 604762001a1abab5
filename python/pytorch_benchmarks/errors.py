"""The benchmark's user-facing error.

Responsibility: :class:`BenchmarkError`, whose message is the whole story (what is wrong and
what to do); the run reports it as ``results.status=failure`` with that one line and no
traceback. Every folder may raise it (data's :class:`~pytorch_benchmarks.data.errors.DatasetError`
is one); standard library only.
"""
from __future__ import annotations


class BenchmarkError(Exception):
    """A user-facing error: the message says what is wrong and what to do (status failure)."""

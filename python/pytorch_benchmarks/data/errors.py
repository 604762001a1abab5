"""The typed error of a dataset that cannot be read: the message names the file and the reason.

A :class:`DatasetError` is a :class:`~pytorch_benchmarks.errors.BenchmarkError`: the benchmark
writes ``results.status="failure"`` with the message as ``results.error`` (no traceback). Raised
in a DataLoader worker, it reaches the main process re-made from the worker's whole traceback;
the constructor keeps only the original message and the worker's number, so the reason is not
cut off in the one-line ``results.error``.
"""
from __future__ import annotations

import re

from pytorch_benchmarks.errors import BenchmarkError

#: DataLoader's wrapping of a worker's exception (torch ``ExceptionWrapper.reraise``).
_WRAPPED = re.compile(r"^Caught (\w+) in (DataLoader worker process \d+)\.\nOriginal Traceback")


class DatasetError(BenchmarkError):
    """A dataset file that cannot be read (truncated, damaged, not the expected format)."""

    def __init__(self, message: str) -> None:
        wrapped = _WRAPPED.match(message)
        if wrapped is not None:
            last = message.rstrip().rsplit("\n", 1)[-1]
            reason = last.split(f"{wrapped.group(1)}: ", 1)[-1]
            message = f"{reason} (in {wrapped.group(2)})"
        super().__init__(message)

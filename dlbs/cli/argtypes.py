"""Argument types for numeric options: a value out of range is a one-line usage error.

``argparse`` calls these on the option's text; an ``argparse.ArgumentTypeError`` becomes
``usage: ... error: argument --jobs: ...`` and exit code 2, before anything is read or run.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

#: Worker processes at most: more would be a fork bomb, not a faster parse.
MAX_JOBS = 1024


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A type for an integer option from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not an integer; give an "
                                             f"integer from {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text[:40]} is out of range; give an integer "
                                             f"from {low} to {high}")
        return value
    parse.__name__ = "integer"
    return parse


#: ``--jobs N``: worker processes, at least one.
jobs = int_range(1, MAX_JOBS)
#: ``--benchmarks_per_file N``, ``--num_output_files N``: at least one.
positive_count = int_range(1, 2**31 - 1)

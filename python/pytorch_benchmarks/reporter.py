"""Where the benchmark's facts and warnings go: stdout or an appended ``--log_file``.

Responsibility: one object that writes ``__key__=json`` facts (through
:mod:`pytorch_benchmarks.facts`, the only writer) and warning lines. Only rank 0 writes facts
under torchrun; warnings go to stderr from every rank so a problem on any rank is visible.
It never decides what a fact means.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pytorch_benchmarks.facts import write_facts


class Reporter:
    """Writes facts (rank 0 only) and warnings (a stderr line plus the ``exp.warnings`` fact)."""

    def __init__(self, log_file: str | None = None, enabled: bool = True) -> None:
        self.log_file = log_file
        self.enabled = enabled
        self.warnings: list[str] = []
        #: Why ``log_file`` could not be appended to (facts then go to stdout), else ``None``.
        self.log_error: str | None = None

    def facts(self, facts: Mapping[str, Any], force: bool = False) -> None:
        """Write ``facts`` now (flushed); ``force`` writes even when not rank 0 (failures)."""
        if not (self.enabled or force) or not facts:
            return
        if self.log_file:
            try:
                with open(self.log_file, "a", encoding="utf-8") as stream:
                    write_facts(facts, stream)
                return
            except OSError as err:  # the failure must still be written somewhere: stdout
                self.log_error = f"cannot append to --log_file {self.log_file}: {err}"
                self.log_file = None
        write_facts(facts, sys.stdout)

    def warn(self, message: str) -> None:
        """State a fallback or an ignored flag: a ``WARNING:`` line and the full warning list."""
        self.warnings.append(message)
        print(f"WARNING: {message}", file=sys.stderr, flush=True)
        self.facts({"exp.warnings": self.warnings})

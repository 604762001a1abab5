"""``dcgmi diag -r 1`` output parsed (pure): each test's result, and whether any failed.

dcgmi prints a box of ``| Test name | Result |`` rows (``Pass``, ``Fail``, ``Skip``,
``Warn``). Its absence is said by the caller (``dcgmi`` not on PATH), never guessed here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_ROW = re.compile(r"^\|\s*(?P<name>[^|]+?)\s*\|\s*(?P<result>Pass|Fail|Skip|Warn)\b[^|]*\|",
                  re.IGNORECASE)


@dataclass(frozen=True)
class DiagResult:
    """The tests dcgmi ran and their results (``Pass``/``Fail``/``Skip``/``Warn``)."""

    tests: dict[str, str]

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.tests.items() if result == "Fail"]


def parse_diag(text: str) -> DiagResult:
    """Read the result rows of ``dcgmi diag`` output; a row without a result is skipped."""
    tests: dict[str, str] = {}
    for line in text.splitlines():
        found = _ROW.match(line.strip())
        if found:
            tests[found["name"]] = found["result"].capitalize()
    return DiagResult(tests)

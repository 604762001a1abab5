"""``dcgmi diag -r 1`` output parsed (pure): each test's result, and whether any failed; a
node's verdict on the check ``dcgmi`` from it (a test that fails fails the node).

dcgmi prints a box of ``| Test name | Result |`` rows (``Pass``, ``Fail``, ``Skip``,
``Warn``). Its absence is said by the caller (``dcgmi`` not on PATH), never guessed here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dlbs.accept.verdict import CheckVerdict

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


#: The check a node's dcgmi diagnostics are judged as.
CHECK = "dcgmi"


def dcgmi_verdict(node: str, facts: Mapping[str, Any]) -> CheckVerdict | None:
    """A node's ``dcgmi`` verdict from its facts: failed when a test of ``dcgmi diag -r 1``
    failed (each named), passed when every test passed, skipped or warned (the warnings
    named); not judged when dcgmi is absent or its output holds no result (its last line
    said); None when the check did not run."""
    output = facts.get("accept.dcgmi_output")
    if not isinstance(output, str):
        why = facts.get("accept.dcgmi_unavailable")
        return CheckVerdict(node, CHECK, False, f"{CHECK}: not run: {why}", judged=False) \
            if isinstance(why, str) else None
    result = parse_diag(output)
    if not result.tests:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        last = lines[-1][:200] if lines else "(no output)"
        return CheckVerdict(node, CHECK, False, f"{CHECK}: diag -r 1 gave no test result: "
                            f"{last}", judged=False)
    counts = ", ".join(f"{sum(r == word for r in result.tests.values())} {word}"
                       for word in ("Pass", "Skip", "Warn", "Fail")
                       if word in result.tests.values())
    head = f"{CHECK} diag -r 1, {len(result.tests)} tests ({counts})"
    if result.failed:
        return CheckVerdict(node, CHECK, True, f"{head}: failed: {', '.join(result.failed)}")
    warned = [name for name, r in result.tests.items() if r == "Warn"]
    return CheckVerdict(node, CHECK, False, f"{head}: ok" + (
        f" (warned: {', '.join(warned)})" if warned else ""))

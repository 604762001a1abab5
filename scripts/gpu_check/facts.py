"""Markdown cells from measured figures, and the benchmark's ``__key__=json`` fact lines.

No figure is made up here: a missing or non-finite value is shown as ``-``."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FACT = re.compile(r"^__(?P<key>[A-Za-z0-9_.\-]+)__=(?P<value>.*)$")
MISSING = "-"


def parse_facts(lines: Iterable[str]) -> dict[str, Any]:
    """The facts of ``__key__=json`` lines (a later line wins, as in the project's parser);
    a line whose value is not JSON is skipped."""
    facts: dict[str, Any] = {}
    for line in lines:
        match = FACT.match(line.strip())
        if match:
            try:
                facts[match["key"]] = json.loads(match["value"])
            except ValueError:
                continue
    return facts


def read_facts(path: Path) -> dict[str, Any]:
    """The facts of a file (none when it does not exist)."""
    if not path.is_file():
        return {}
    return parse_facts(path.read_text(encoding="utf-8", errors="replace").splitlines())


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (null, text, NaN, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value: Any, digits: int = 4) -> str:
    """A measured figure with ``digits`` significant digits, ``-`` when there is none."""
    x = number(value)
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


def pct(value: Any) -> str:
    """A fraction as a percentage (``-`` when there is none)."""
    x = number(value)
    return MISSING if x is None else f"{100 * x:.3g}%"


def cell(text: Any) -> str:
    """One markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or MISSING


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines

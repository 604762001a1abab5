"""The one writer and reader of log facts: lines ``__<dotted.key>__=<JSON value>``.

This module is the single definition of the log-line format (``docs/log-format.md``). It uses
only the standard library so that both the benchmark (inside a container with only torch) and
the ``dlbs`` runner and log parser share it. Facts survive being interleaved with other output;
the last occurrence of a key wins.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

#: ``__key__ = value``: blanks allowed around ``=``; the key is a dotted name.
FACT_RE = re.compile(r"^\s*__([A-Za-z0-9_][A-Za-z0-9_.\-]*?)__\s*=\s*(.*?)\s*$")


def _jsonable(value: Any) -> Any:
    """Turn values JSON cannot hold (NaN, inf, tuples, paths) into ones it can."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def format_fact(key: str, value: Any) -> str:
    """Return one log line (no newline) for ``key`` and ``value``; strings are JSON-quoted."""
    return f"__{key}__={json.dumps(_jsonable(value), separators=(',', ':'), ensure_ascii=False)}"


def write_facts(facts: Mapping[str, Any] | Iterable[tuple[str, Any]], stream: IO[str]) -> None:
    """Write each fact on its own line to ``stream`` and flush it (a crash loses nothing written)."""
    items = facts.items() if isinstance(facts, Mapping) else facts
    stream.write("".join(format_fact(k, v) + "\n" for k, v in items))
    stream.flush()


def parse_fact(line: str) -> tuple[str, Any] | None:
    """Return ``(key, value)`` for a fact line, ``None`` for any other line.

    Raises ``ValueError`` when the line looks like a fact but its value is not valid JSON, so the
    caller can warn with file and line number.
    """
    if "__" not in line:
        return None
    match = FACT_RE.match(line)
    if match is None:
        return None
    key, raw = match.group(1), match.group(2)
    try:
        # NaN/Infinity are not JSON: read them as null, as format_fact writes them.
        return key, json.loads(raw, parse_constant=_non_finite)
    except json.JSONDecodeError as err:
        raise ValueError(f"value of '{key}' is not valid JSON ({err.msg} at column {err.colno})") from None


def _non_finite(name: str) -> None:
    """``json.loads`` hook for ``NaN``/``Infinity``/``-Infinity``: no value (null)."""


def iter_facts(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Yield ``(key, value)`` for every well-formed fact line, skipping malformed ones."""
    for line in lines:
        try:
            fact = parse_fact(line)
        except ValueError:
            continue
        if fact is not None:
            yield fact

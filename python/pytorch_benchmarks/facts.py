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

#: ``__key__ = value``: blanks allowed around ``=``; the key is a dotted name. The value is the
#: rest of the line, stripped (matched by slicing: a lazy ``(.*?)\s*$`` takes quadratic time on
#: a line padded with blanks).
FACT_RE = re.compile(r"^\s*__([A-Za-z0-9_][A-Za-z0-9_.\-]*?)__\s*=")
#: The deepest nesting of lists and objects a fact value may have (the benchmark writes 2 at
#: most). A deeper value is refused: it would overflow the recursion of ``json.loads`` (a
#: 100,000-deep list) or of whatever reads the record next.
MAX_DEPTH = 64


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


def facts_text(facts: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """The log lines of ``facts``, each ended by a newline."""
    items = facts.items() if isinstance(facts, Mapping) else facts
    return "".join(format_fact(k, v) + "\n" for k, v in items)


def write_facts(facts: Mapping[str, Any] | Iterable[tuple[str, Any]], stream: IO[str]) -> None:
    """Write each fact on its own line to ``stream`` and flush it (a crash loses nothing written)."""
    stream.write(facts_text(facts))
    stream.flush()


def parse_fact(line: str, strict: bool = False) -> tuple[str, Any] | None:
    """Return ``(key, value)`` for a fact line, ``None`` for any other line.

    Raises ``ValueError`` when the line looks like a fact but its value is not valid JSON, is
    nested deeper than ``MAX_DEPTH`` or holds an integer too long to convert, so the caller can
    warn with file and line number. A non-finite number (``NaN``, ``Infinity``, ``1e999``) is
    read as null, as :func:`format_fact` writes it; with ``strict`` it raises ``ValueError``
    instead (the log parser drops such a fact: an infinite throughput is a plausible lie).
    """
    if "__" not in line:
        return None
    match = FACT_RE.match(line)
    if match is None:
        return None
    key, raw = match.group(1), line[match.end():].strip()
    try:
        # Only a number with a 3-digit exponent or 200 digits can overflow a float (1e999):
        # the per-number hooks, which cost a Python call per number, run only then.
        if _MAY_OVERFLOW.search(raw):
            hook = _refuse_non_finite if strict else _non_finite
            value = json.loads(raw, parse_constant=hook, **_number_readers(hook))
        else:  # a decoder made once: json.loads with a hook builds one per call (a log: 200)
            value = _DECODERS[strict].decode(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"value of '{key}' is not valid JSON ({err.msg} at column {err.colno})") \
            from None
    except RecursionError:
        raise ValueError(f"value of '{key}' is nested too deep (more than {MAX_DEPTH} levels)") \
            from None
    except _NonFinite as err:
        raise ValueError(f"value of '{key}' is not a finite number ({err}); a benchmark "
                         "never writes one") from None
    except ValueError as err:  # an integer of more than sys.get_int_max_str_digits() digits
        raise ValueError(f"value of '{key}' is not a usable number ({err})") from None
    if isinstance(value, (list, dict)) and _too_deep(value):
        raise ValueError(f"value of '{key}' is nested too deep (more than {MAX_DEPTH} levels)")
    return key, value


class _NonFinite(Exception):
    """Raised by the strict ``json.loads`` hooks for ``NaN``, ``Infinity`` and ``1e999``."""


def _non_finite(name: str) -> None:
    """``json.loads`` hook for ``NaN``/``Infinity``/``-Infinity``: no value (null)."""


def _refuse_non_finite(name: str) -> None:
    """The strict hook: a non-finite number is an error."""
    raise _NonFinite(name)


#: ``json.loads(raw, parse_constant=hook)`` without its per-call decoder: by ``strict``.
_DECODERS = {True: json.JSONDecoder(parse_constant=_refuse_non_finite),
             False: json.JSONDecoder(parse_constant=_non_finite)}

#: Text that may hold a number beyond a float's range: a 3-digit exponent or 200 digits.
_MAY_OVERFLOW = re.compile(r"[eE][+]?[0-9]{3}|[0-9]{200}")


def _number_readers(on_non_finite: Any) -> dict[str, Any]:
    """``parse_float``/``parse_int`` hooks: a number beyond a float's range (``1e999``, an
    integer of 309 digits) is handed to ``on_non_finite``, as ``Infinity`` would be."""
    def read_float(text: str) -> float | None:
        value = float(text)
        return value if math.isfinite(value) else on_non_finite(text)

    def read_int(text: str) -> int | None:
        return int(text) if len(text.lstrip("-")) < 309 else on_non_finite(text[:20] + "...")
    return {"parse_float": read_float, "parse_int": read_int}


def _too_deep(value: Any) -> bool:
    """True when lists/objects nest deeper than ``MAX_DEPTH`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (list, dict)))
    return False


def iter_facts(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Yield ``(key, value)`` for every well-formed fact line, skipping malformed ones."""
    for line in lines:
        try:
            fact = parse_fact(line)
        except ValueError:
            continue
        if fact is not None:
            yield fact

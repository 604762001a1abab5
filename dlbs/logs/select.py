"""Select records by a filter query and keep chosen keys (``--filter_query``/``--output_params``).

The matching rules are those of extension conditions, with one deviation: a key missing from a
record does **not** match (an extension condition treats it as matching). A query is a JSON
object, AND over its keys; a value that is a list matches when any element matches; a string
``""`` matches only ``""``; any other string is a regular expression applied with ``re.match``;
any other value matches with ``==`` (so ``true`` matches ``1``). The tests themselves are the
engine's (:func:`dlbs.engine.conditions.compile_test`), so the two can never drift apart. Pure functions; a bad query is a ``DLBSError`` (exit code 1) naming the key. Regular expressions
are the engine's bounded ones (``dlbs.engine.bounded_re``): a pattern that backtracks too much on
a record is a one-line error naming the key, never a hang.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dlbs.engine.bounded_re import RegexError, compile_regex
from dlbs.engine.conditions import compile_test
from dlbs.errors import DLBSError

Query = dict[str, Any]


def _check_patterns(key: str, condition: Any) -> None:
    items = condition if isinstance(condition, list) else [condition]
    for item in items:
        if isinstance(item, (list, dict)):
            raise DLBSError(f"--filter_query: condition of '{key}' must be a value or a list of "
                             f"values, not {json.dumps(item)}")
    # Only a string condition is a regular expression; list items match by equality.
    if isinstance(condition, str) and condition:
        try:
            compile_regex(condition)
        except RegexError as err:
            raise DLBSError(f"--filter_query: '{key}': bad regular expression "
                             f"'{condition}': {err}") from None


def parse_query(text: str | None) -> Query:
    """Parse a ``--filter_query`` JSON object; an empty or missing one selects everything."""
    if not text:
        return {}
    try:
        query = json.loads(text)
    except json.JSONDecodeError as err:
        raise DLBSError(f"--filter_query is not valid JSON ({err.msg} at column {err.colno}); "
                         "write e.g. '{\"exp.model\": \"resnet50\"}'") from None
    if not isinstance(query, dict):
        raise DLBSError("--filter_query must be a JSON object of key: condition")
    for key, condition in query.items():
        _check_patterns(key, condition)
    return query


def matches(query: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True when ``record`` satisfies every condition; a missing key never matches."""
    return _compiled(query)(record)


def _compiled(query: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """Compile ``query`` with the engine's condition tests (one definition of the rules)."""
    tests = [(key, compile_test(key, cond, where="--filter_query: "))
             for key, cond in query.items()]
    return lambda record: all(key in record and test(record[key]) is not None
                              for key, test in tests)


def filter_records(records: Iterable[dict[str, Any]], query: Mapping[str, Any]
                   ) -> Iterator[dict[str, Any]]:
    """Yield the records that satisfy ``query``."""
    if not query:
        yield from records
        return
    selected = _compiled(query)
    yield from (record for record in records if selected(record))


def parse_key_list(text: str | None) -> list[str]:
    """Split a comma- or blank-separated list of keys (glob patterns allowed)."""
    if not text:
        return []
    return [item for item in re.split(r"[,\s]+", text) if item]


def project(record: Mapping[str, Any], patterns: Sequence[str]) -> dict[str, Any]:
    """Return only the keys of ``record`` that match one of ``patterns`` (``fnmatch`` globs)."""
    if not patterns:
        return dict(record)
    exact = [p for p in patterns if not any(c in p for c in "*?[")]
    globs = [p for p in patterns if p not in exact]
    kept = {key: record[key] for key in exact if key in record}
    for key, value in record.items():
        if key not in kept and any(fnmatch.fnmatchcase(key, g) for g in globs):
            kept[key] = value
    return kept

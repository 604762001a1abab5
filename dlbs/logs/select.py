"""Select records by a filter query and keep chosen keys (``--filter_query``/``--output_params``).

The matching rules are those of extension conditions, which are DLBS's (``DictUtils.match``):
a query is a JSON object, AND over its keys; a value that is a list matches when any element
matches; a string ``""`` matches only ``""``; any other string is a regular expression applied
with ``re.match``; any other value matches with ``==`` (so ``true`` matches ``1``). A key
missing from a record is matched by ``policy``: ``relaxed`` (DLBS's logparser
``--filter_query``, and an extension condition) keeps the record, ``strict`` (DLBS's summary
builder ``--query``) drops it. The tests themselves are the engine's
(:func:`dlbs.engine.conditions.compile_test`), so the two can never drift apart. Pure
functions; a bad query is a ``DLBSError`` (exit code 1) naming the key. Regular expressions
are the engine's bounded ones (``dlbs.engine.bounded_re``): a pattern that backtracks too much on
a record is a one-line error naming the key, never a hang. ``extend`` adds DLBS's ``-P``
parameters, whose ``${...}`` references name the record's own keys.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dlbs.duplicates import DuplicateKey, unique_object
from dlbs.engine.bounded_re import RegexError, compile_regex
from dlbs.engine.conditions import compile_test
from dlbs.engine.resolver import PYTHON_VARIABLE, Resolver
from dlbs.errors import DLBSError, ExpansionError

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


#: How a key missing from a record matches: ``relaxed`` keeps the record, ``strict`` drops it.
POLICIES = ("relaxed", "strict")


def parse_query(text: str | None, option: str = "--filter_query") -> Query:
    """Parse a ``--filter_query`` JSON object; an empty or missing one selects everything."""
    if not text:
        return {}
    try:
        query = json.loads(text)
    except json.JSONDecodeError as err:
        raise DLBSError(f"{option} is not valid JSON ({err.msg} at column {err.colno}); "
                         "write e.g. '{\"exp.model\": \"resnet50\"}'") from None
    if not isinstance(query, dict):
        raise DLBSError(f"{option} must be a JSON object of key: condition")
    for key, condition in query.items():
        _check_patterns(key, condition)
    return query


def matches(query: Mapping[str, Any], record: Mapping[str, Any], policy: str = "relaxed"
            ) -> bool:
    """True when ``record`` satisfies every condition; a missing key matches by ``policy``."""
    return _compiled(query, policy)(record)


def _compiled(query: Mapping[str, Any], policy: str = "relaxed", option: str = "--filter_query"
              ) -> Callable[[Mapping[str, Any]], bool]:
    """Compile ``query`` with the engine's condition tests (one definition of the rules)."""
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r} is not one of {POLICIES}")
    tests = [(key, compile_test(key, cond, where=f"{option}: "))
             for key, cond in query.items()]
    if policy == "strict":
        return lambda record: all(key in record and test(record[key]) is not None
                                  for key, test in tests)
    return lambda record: all(key not in record or test(record[key]) is not None
                              for key, test in tests)


def filter_records(records: Iterable[dict[str, Any]], query: Mapping[str, Any],
                   policy: str = "relaxed", option: str = "--filter_query"
                   ) -> Iterator[dict[str, Any]]:
    """Yield the records that satisfy ``query`` (a missing key matches by ``policy``;
    ``option`` names the query in messages)."""
    if not query:
        yield from records
        return
    selected = _compiled(query, policy, option)
    yield from (record for record in records if selected(record))


def having(records: Iterable[dict[str, Any]], keys: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Yield the records that have every key of ``keys`` (DLBS's ``--filter_params``)."""
    yield from (record for record in records if all(key in record for key in keys))


def parse_extension(texts: Sequence[str]) -> dict[str, Any]:
    """DLBS's ``-P '{"key": "value"}'`` options, merged (later wins); a bad one is a
    ``DLBSError``."""
    extended: dict[str, Any] = {}
    for text in texts:
        try:
            params = json.loads(text, object_pairs_hook=unique_object)
        except DuplicateKey as err:
            raise DLBSError(f"-P {text!r}: {err}") from None
        except json.JSONDecodeError as err:
            raise DLBSError(f"-P {text!r} is not valid JSON ({err.msg} at column {err.colno}); "
                             "write e.g. -P'{\"exp.my_summary\": \"${exp.model_title}\"}'"
                             ) from None
        if not isinstance(params, dict):
            raise DLBSError(f"-P {text!r} must be a JSON object of parameter: value, as in "
                             "DLBS's logparser")
        extended.update(params)
    return extended


def extend(record: dict[str, Any], params: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``record`` with ``params`` added, their ``${key}`` references and ``$(...)$``
    expressions computed from the record's own keys (DLBS's logparser ``-P``). A reference to
    a key the record lacks is a ``DLBSError`` naming ``source``, as DLBS stops there too."""
    if not params:
        return record
    raw = {**record, **params}
    asked = _Unknown()
    resolver = Resolver(raw, {}, asked, dict(record), {})
    resolver.id_pending = False  # exp.id is the record's, never one to compute
    try:
        resolver.resolve_names(list(params))
    except ExpansionError as err:
        if asked.names:
            key = asked.names[-1]
            raise DLBSError(f"-P: {source} has no '{key}' (referenced by {err.param}), as "
                             "DLBS's logparser requires; keep only the records that have it: "
                             f"--filter_params {key}") from None
        raise DLBSError(f"-P: {source}: {err}") from None
    return {**record, **{key: resolver.done[key] for key in params}}


class _Unknown(Mapping[str, str]):
    """The environment of a ``-P`` expansion: empty (a reference names a key of the record),
    remembering the names asked for, so that an undefined one can be named."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __getitem__(self, name: str) -> str:
        if name != PYTHON_VARIABLE:
            self.names.append(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


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

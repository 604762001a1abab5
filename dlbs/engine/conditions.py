"""Extension conditions: compile them once, match them against unexpanded experiments (spec §2.3).

A condition is an AND over its keys. A key missing from the experiment matches. A list matches
when the value equals any item; a non-string scalar compares with ``==``; ``""`` matches only
``""``; any other string is a regular expression applied with ``re.match``. The regex groups of a
match are returned as captures ``__condition.<name>_<n>``. Patterns are compiled and matched by
``bounded_re`` (``re`` syntax, bounded in time: a pattern that backtracks too much on a value is a
``PlanError`` naming the condition, never a hang).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dlbs.engine.bounded_re import Regex, RegexError, RegexTimeout, compile_regex
from dlbs.engine.model import CAPTURE_PREFIX, shown
from dlbs.errors import PlanError

#: A compiled test: value -> ``None`` (no match) or the captures it contributes (maybe empty).
Test = Callable[[Any], "dict[str, str] | None"]

_NO_CAPTURES: dict[str, str] = {}
_MISSING = object()


class Condition:
    """One extension's compiled condition."""

    def __init__(self, index: int, condition: Mapping[str, Any]) -> None:
        """Compile every key of ``condition``; ``index`` (1-based) names the extension."""
        self.index = index
        self.tests: tuple[tuple[str, Test], ...] = tuple(
            (name, compile_test(name, cond, where=f"extension #{index}: "))
            for name, cond in condition.items())

    def names(self) -> set[str]:
        """The parameter names the condition looks at."""
        return {name for name, _ in self.tests}

    def match(self, experiment: Mapping[str, Any]) -> dict[str, str] | None:
        """Return the captures of a match (maybe empty) or ``None`` when it does not match."""
        captures = _NO_CAPTURES
        for name, test in self.tests:
            value = experiment.get(name, _MISSING)
            if value is _MISSING:
                continue
            self._check_constant(name, value)
            found = test(value)
            if found is None:
                return None
            if found:
                captures = {**captures, **found}
        return captures

    def _check_constant(self, name: str, value: Any) -> None:
        """Raise when a value still holds a reference or expression (undecidable at build)."""
        text = _as_text(value) if isinstance(value, list) else value
        if isinstance(text, str) and ("${" in text or "$(" in text):
            raise PlanError(
                f"extension #{self.index}: non-constant condition on parameter '{name}': its "
                f"value {shown(text)} holds a reference or expression that is only known after "
                f"expansion; give '{name}' a constant value or condition on another parameter")


def _as_text(value: list) -> str:
    """Return a list value as expansion would: items joined with single spaces."""
    return " ".join(str(item) for item in value)


def compile_test(name: str, cond: Any, where: str = "") -> Test:
    """Return the test for one condition key (also used by the log parser's ``--filter_query``).

    ``where`` starts the messages of the ``PlanError`` raised for an invalid pattern and, by the
    test, for a match that runs past its time limit (e.g. ``"extension #2: "``).
    """
    if isinstance(cond, list):
        items = list(cond)
        return lambda value: _NO_CAPTURES if _normal(value) in items else None
    if not isinstance(cond, str):
        return lambda value: _NO_CAPTURES if _normal(value) == cond else None
    if cond == "":
        return lambda value: _NO_CAPTURES if _normal(value) == "" else None
    try:
        pattern = compile_regex(cond)
    except RegexError as err:
        raise PlanError(f"{where}condition on '{name}': invalid regular expression "
                        f"{shown(cond)}: {err}") from None
    return _regex_test(name, pattern, where)


def _regex_test(name: str, pattern: Regex, where: str) -> Test:
    """Return a ``re.match`` test whose groups become captures."""
    prefix = f"{CAPTURE_PREFIX}{name}_"

    def test(value: Any) -> dict[str, str] | None:
        value = _normal(value)
        text = value if isinstance(value, str) else str(value)
        try:
            found = pattern.match(text)
        except RegexTimeout as err:
            raise PlanError(f"{where}condition on '{name}': {err}; value {shown(text)}") \
                from None
        if found is None:
            return None
        groups = (found.group(0), *found.groups(default=""))
        return {f"{prefix}{n}": group for n, group in enumerate(groups)}

    return test


def _normal(value: Any) -> Any:
    """Return a list value as its space-joined string; other values unchanged."""
    return _as_text(value) if isinstance(value, list) else value

"""Casting expanded string values to their declared type and checking domains (spec §3.4).

Only strings are cast; a value of another type is kept as it is. ``Rules`` precomputes, once per
set of declarations, which parameters need a cast or a domain check, so that expanding thousands
of experiments does no per-value declaration lookups for the others.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dlbs.engine.model import ParamSpec, shown
from dlbs.errors import ExpansionError

_TRUE = frozenset({"true", "on", "1", "yes"})
_FALSE = frozenset({"false", "off", "0", "no"})


def _to_bool(text: str) -> bool:
    """Return the bool a string spells (true/on/1/yes, false/off/0/no; any case)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


_CASTS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "bool": _to_bool}
_HINTS = {"int": "an integer such as 16", "float": "a number such as 0.5",
          "bool": "one of true/false, on/off, yes/no, 1/0"}
#: Words that an int parameter takes besides integers, kept as they are (not cast). The
#: replica batch ``"max"`` asks the benchmark for the largest batch that fits
#: (``docs/pytorch-benchmark.md``); the effective batch computed from it is ``"max"`` too
#: until the run logs the batch it used. Validate checks what else such a value needs.
INT_WORDS: dict[str, frozenset[str]] = {"exp.replica_batch": frozenset({"max"}),
                                        "exp.effective_batch": frozenset({"max"})}


class Rule:
    """The cast and domain of one parameter."""

    __slots__ = ("allowed", "cast", "domain", "name", "type", "words")

    def __init__(self, spec: ParamSpec) -> None:
        self.name = spec.name
        self.type = spec.type or ""
        self.cast = _CASTS.get(self.type)
        self.words = INT_WORDS.get(self.name, frozenset()) if self.type == "int" else frozenset()
        self.allowed = spec.domain  # as written, for messages
        self.domain = spec.domain
        if spec.domain is not None and self.cast is not None:
            # A domain written as strings ("16") also holds what those strings cast to (16).
            self.domain = spec.domain + tuple(_cast_or_keep(self.cast, v) for v in spec.domain)

    def apply(self, value: Any) -> Any:
        """Return ``value`` cast (when it is a string) and checked against the domain."""
        if self.cast is not None and isinstance(value, str) and value not in self.words:
            value = self._cast(self.cast, value)
        if self.domain is not None and value not in self.domain:
            allowed = ", ".join(str(item) for item in self.allowed or ())
            raise ExpansionError(f"parameter '{self.name}': value {shown(value)} is not allowed; "
                                 f"allowed values: {allowed}", param=self.name)
        return value

    def _cast(self, cast: Callable[[str], Any], value: str) -> Any:
        """Cast a string to the declared type or raise naming the parameter."""
        try:
            return cast(value)
        except ValueError:
            words = "".join(f" or '{word}'" for word in sorted(self.words))
            raise ExpansionError(
                f"parameter '{self.name}': cannot cast {shown(value)} to {self.type}; give "
                f"{_HINTS[self.type]}{words}", param=self.name) from None


def _cast_or_keep(cast: Callable[[str], Any], value: Any) -> Any:
    """Return ``value`` cast when it is a string that casts, else ``value`` itself."""
    if isinstance(value, str):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


#: id(spec) -> (spec, its rule or None). Specs are frozen and kept alive here, so an id is never
#: reused while cached; expanding many experiments with the same specs builds each rule once.
_RULES: dict[int, tuple[ParamSpec, Rule | None]] = {}
_RULES_LIMIT = 100_000


def build_rules(specs: Mapping[str, ParamSpec]) -> dict[str, Rule]:
    """Return the rules of the parameters that need a cast or a domain check."""
    if len(_RULES) > _RULES_LIMIT:
        _RULES.clear()
    rules = {}
    for name, spec in specs.items():
        cached = _RULES.get(id(spec))
        if cached is None or cached[0] is not spec:
            needed = spec.type in _CASTS or spec.domain is not None
            cached = _RULES[id(spec)] = (spec, Rule(spec) if needed else None)
        if cached[1] is not None:
            rules[name] = cached[1]
    return rules

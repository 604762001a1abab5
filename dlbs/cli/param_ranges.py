"""The accepted range of every count, size and time parameter, checked before anything runs.

The default configs declare it next to the type (``"type": "int", "min": 1, "max":
2147483647``); this module reads those declarations and checks an expanded experiment against
them: the kind (an integer for ``int``, a finite number for ``float``; never a bool) and the
bounds. The upper bounds are sane limits, far above any real run and low enough that a value
fits a C ``int``, a tensor size or a timer (``exp.replica_batch=99999999999999999999`` would
otherwise reach the benchmark and fail there, minutes later, with a traceback).

``validate`` and ``run`` report each value out of range (one line: the parameter, its value
and the range); ``run --no-validation`` still checks them, because a value out of range either
crashes or hangs what runs it. The engine neither reads nor enforces the ranges.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dlbs.engine.casts import INT_WORDS
from dlbs.engine.model import shown
from dlbs.params import catalogue

#: Parameters whose range has a message of its own (``validate._check_adaptive``: an upper
#: bound that is not accepted itself, and what 0 means).
OWN_CHECKS = frozenset({"exp.target_precision", "exp.max_time"})
#: Parameters given in seconds: a value over the range says so in days too.
SECONDS = catalogue.in_unit("s")
DAY_S = 24 * 3600


@dataclass(frozen=True)
class Range:
    """The declared kind and bounds of one parameter (``words``: what it takes besides
    numbers, such as ``exp.replica_batch``'s ``max``)."""

    name: str
    type: str
    low: float | None
    high: float | None
    words: frozenset[str] = frozenset()

    def problem(self, value: Any) -> str | None:
        """One line naming the parameter, the value and the range; ``None`` when it fits."""
        if isinstance(value, str) and value in self.words:
            return None
        if self._fits(value):
            return None
        noun = "an integer" if self.type == "int" else "a number"
        words = "".join(f" or '{word}'" for word in sorted(self.words))
        low = f" >= {_number(self.low)}" if self.low is not None else ""
        high = f" (at most {_number(self.high)})" if self.high is not None else ""
        return f"{self.name} is {self._value(value)}; it must be {noun}{low}{words}{high}"

    def _value(self, value: Any) -> str:
        """The value, in seconds and days for a time over its range (``99999999 s (over 30
        days)``)."""
        text = _shown(value)
        over = self.high is not None and _is_number(value) and value > self.high
        if self.name in SECONDS and over and self.high is not None and self.high >= DAY_S:
            return f"{text} s (over {_number(self.high / DAY_S)} days)"
        return text

    def _fits(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        if self.type == "int" and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(bound: float) -> str:
    """``1`` rather than ``1.0`` for a whole bound."""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _shown(value: Any) -> str:
    """The value as the user wrote it (a 5000-digit integer is cut, never converted whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 60:
        return "an integer of more than 60 digits"
    return shown(value) if isinstance(value, str) else repr(value)


def ranges_of(definitions: Mapping[str, Any]) -> list[Range]:
    """The ranges declared in one config's ``parameters`` (definitions with ``min``/``max``)."""
    found = []
    for name, spec in definitions.items():
        if isinstance(spec, Mapping) and ("min" in spec or "max" in spec):
            words = INT_WORDS.get(name, frozenset()) if spec.get("type") == "int" else frozenset()
            found.append(Range(name, str(spec.get("type") or "float"), spec.get("min"),
                               spec.get("max"), words))
    return found


@lru_cache(maxsize=1)
def declared_ranges() -> tuple[Range, ...]:
    """Every range the default configs (``config/*.json``) declare."""
    from dlbs.config import default_config_files, load_config_file

    found: list[Range] = []
    for path in default_config_files():  # read as any config: a FIFO is refused, not waited on
        found += ranges_of(load_config_file(path).get("parameters", {}))
    return tuple(found)


def check_ranges(experiment: Mapping[str, Any],
                 ranges: Iterable[Range] | None = None) -> list[str]:
    """One line per parameter of ``experiment`` outside its declared range (absent ones are
    not checked: the default config gives them a value in range)."""
    problems = []
    for declared in declared_ranges() if ranges is None else ranges:
        if declared.name in experiment and declared.name not in OWN_CHECKS:
            problem = declared.problem(experiment[declared.name])
            if problem:
                problems.append(problem)
    return problems

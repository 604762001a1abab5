"""Results memoised on the values a computation read, in the order it read them.

A computation that is a function of its text and of the values it reads (no randomness, no
identities, no clock) reads, given the same values so far, the same thing next. So its results
form a tree: a step holds where it read (a *site*: a parameter's name, or a name and where it
appears) and, for each value read there, the next step or, when it read nothing more, the
result. ``recall`` walks the tree reading through the caller's own function, so a hit reads
exactly what the computation would have read (the caller records the same dependencies and
raises the same errors). Two values share a branch only when no computation can tell them
apart (:func:`value_key`). This module computes nothing itself.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable, Hashable
from typing import Any

#: Longest text memoised, as a value read or as a result (a result may be up to a million
#: characters; many such would hold gigabytes).
MAX_TEXT = 10_000
#: A float's bits: ``0.0 == -0.0`` but their texts differ.
_DOUBLE = struct.Struct("<d")
#: A root missed this many times, with fewer hits than misses, is no longer memoised: what it
#: reads changes every time (``exp.log_file`` reads ``exp.id``), so the memo only costs.
MISSES_BEFORE_GIVING_UP = 64
#: Most characters of text a memo holds (values read and results, counted by their lengths):
#: 100,000 steps of texts of up to ``MAX_TEXT`` characters would hold gigabytes.
TEXT_BUDGET = 16_000_000


class Step:
    """Where a computation read next, and what followed each value read there."""

    __slots__ = ("branches", "site")

    def __init__(self, site: Any) -> None:
        self.site = site
        self.branches: dict[tuple, Any] = {}  # value key -> the next Step, or the result


class Memo:
    """Results of computations (named by a root key) by the values they read."""

    def __init__(self, limit: int, give_up: int = MISSES_BEFORE_GIVING_UP,
                 budget: int = TEXT_BUDGET) -> None:
        """``limit``: most steps kept; ``budget``: most characters of text kept (values read
        and results); the memo is emptied when it would hold more. ``give_up``: a root missed
        this many times more than it was hit is no longer memoised."""
        self.limit = limit
        self.budget = budget
        self.give_up = give_up
        self.roots: dict[Hashable, Any] = {}  # a Step, a result, or None: given up
        self.steps = 0
        self.chars = 0  # characters of the texts kept (counted, not measured)
        self.hits = 0
        self.tally: dict[Hashable, int] = {}  # root -> misses less hits

    def recall(self, root: Hashable, read: Callable[[Any], Any],
               trail: list[tuple[Any, Any]]) -> Any:
        """The result memoised under ``root`` for what ``read(site)`` gives now, or None.

        Each (site, value) read is appended to ``trail``: after a miss, the caller computes
        afresh and may reuse them (:func:`replaying`). A root given up on misses at once.
        """
        step = self.roots.get(root)
        while isinstance(step, Step):
            value = read(step.site)
            trail.append((step.site, value))
            key = value_key(value)
            step = step.branches.get(key) if key is not None else None
        if step is not None:
            self.tally[root] -= 1
            self.hits += 1
        return step

    def gave_up(self, root: Hashable) -> bool:
        """Whether ``root`` is no longer memoised (it missed ``give_up`` times more than hit)."""
        return root in self.roots and self.roots[root] is None

    def remember(self, root: Hashable, trail: list[tuple[Any, Any]], result: Any,
                 result_chars: int = 0) -> None:
        """Keep ``result`` (a text, or any object but None: ``result_chars`` says how many
        characters of text it holds) for the (site, value) pairs of ``trail``, read in that
        order (unless a value or a text result cannot be kept)."""
        tally = self.tally[root] = self.tally.get(root, 0) + 1
        if tally > self.give_up:
            self.roots[root] = None  # its steps are counted until the memo is emptied
            return
        keys = [key for _, value in trail if (key := value_key(value)) is not None]
        if len(keys) < len(trail) or (result.__class__ is str and len(result) > MAX_TEXT):
            return
        chars = result_chars + (len(result) if result.__class__ is str else 0)
        chars += sum(len(value) for _, value in trail if value.__class__ is str)
        if chars > self.budget:
            return
        if self.steps + len(trail) + 1 > self.limit or self.chars + chars > self.budget:
            self.roots.clear()
            self.tally.clear()
            self.steps = self.chars = 0
        self.steps += len(trail) + 1
        self.chars += chars
        if not trail:
            self.roots[root] = result
            return
        step = self.roots.get(root)
        if not isinstance(step, Step):
            step = self.roots[root] = Step(trail[0][0])
        for index, key in enumerate(keys[:-1]):
            following = step.branches.get(key)
            if not isinstance(following, Step):
                following = step.branches[key] = Step(trail[index + 1][0])
            step = following
        step.branches[keys[-1]] = result


def value_key(value: Any) -> tuple | None:
    """A key equal for two values only when no computation can tell them apart: same type and
    value (a float's bits); None for a value never memoised on (a container, a long text)."""
    kind = value.__class__
    if kind is str:
        return (kind, value) if len(value) <= MAX_TEXT else None
    if kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float and not math.isnan(value):  # a NaN's identity is visible to 'in'
        return (kind, _DOUBLE.pack(value))
    return None


def replaying(read: Callable[[Any], Any],
              trail: list[tuple[Any, Any]]) -> Callable[[Any], Any]:
    """``read`` for a computation after ``Memo.recall`` missed: the values recalled come again
    from ``trail`` (each is read once), and every (site, value) read is appended to it."""
    replay = list(trail)
    trail.clear()

    def recording(site: Any) -> Any:
        index = len(trail)
        if index < len(replay) and replay[index][0] == site:
            value = replay[index][1]
        else:
            value = read(site)
        trail.append((site, value))
        return value
    return recording

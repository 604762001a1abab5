"""The restricted evaluator of computed values ``$(expression)$`` (spec §3.3, DEVIATION security).

An expression is parsed with ``ast``, its names are checked against the whitelist, and the tree
is turned by ``interpreter`` into closures that accept only whitelisted node types and route
every risky operation through the ``sandbox`` guards. Raw text is never given to ``eval``, and
nothing is ever compiled to Python bytecode. The built closures are cached by expression text,
and so is the result of an expression that uses no randomness (the same texts recur across the
thousands of experiments of a plan). The result of one that reads other parameters
(``param(...)``) is memoised on the exact values it read (:class:`_Step`), so that a plan's
thousands of experiments evaluate each expression once for each combination of those values.
"""
from __future__ import annotations

import ast
import math
import struct
import warnings
from collections.abc import Callable
from typing import Any

from dlbs.engine.interpreter import Node, build
from dlbs.engine.sandbox import (
    ALLOWED_NAMES,
    CONTEXT_NAMES,
    NONDETERMINISTIC_NAMES,
    Forbidden,
    Sandbox,
)

#: Longest expression accepted (deeply nested text can exhaust the parser).
MAX_EXPRESSION_LENGTH = 2_000
_CACHE_LIMIT = 50_000
#: Longest result kept in the cache (results may be up to ``MAX_ITEMS`` characters; 50,000
#: such would hold gigabytes).
_CACHED_RESULT_LENGTH = 10_000


#: Most steps of the memo of results by the values read (:class:`_Step`); it is cleared when
#: it grows past this (a plan has few combinations of the values its expressions read).
_MEMO_LIMIT = 100_000


class _Compiled:
    """A validated expression turned into closures."""

    __slots__ = ("cacheable", "deterministic", "memoisable", "node")

    def __init__(self, node: Node, deterministic: bool, cacheable: bool,
                 memoisable: bool) -> None:
        self.node = node
        self.deterministic = deterministic  # uses no randomness
        self.cacheable = cacheable          # ... nor the caller's context (sys.executable)
        self.memoisable = memoisable        # its result follows from its text and what it reads


class _Step:
    """One value read by an expression: the result is memoised on the values read, in order.

    An expression that uses no randomness and compares no identities computes the same result
    from the same text and the same values of what it reads, so the name it reads next is the
    same too: the memo is a tree whose steps hold the name read there and, for each value read,
    the next step or (when nothing more was read) the result.
    """

    __slots__ = ("branches", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.branches: dict[tuple, _Step | str] = {}


_COMPILED: dict[str, _Compiled | Forbidden] = {}
_RESULTS: dict[str, str] = {}
#: (text, python) -> the first step (or the result, when nothing was read).
_MEMO: dict[tuple[str, str | None], _Step | str] = {}
_memo_steps = 0
#: A float's bits: ``0.0 == -0.0`` but their texts differ.
_DOUBLE = struct.Struct("<d")


def evaluate(text: str, python: str | None = None,
             lookup: Callable[[str], Any] | None = None) -> tuple[str, bool]:
    """Evaluate ``text``; return ``str()`` of the result and whether it is deterministic.

    ``python`` is what ``sys.executable`` gives (DLBS's idiom for the interpreter; the only
    member of ``sys``); without it ``sys`` is not available. ``lookup`` is what
    ``param(name)`` gives: another parameter's value, passed as a value (never pasted into the
    source); without it ``param`` is not available. Raises ``Forbidden`` for a forbidden
    construct or unbounded work, and any other exception when the expression itself or
    ``lookup`` fails (the caller names the parameter).
    """
    cached = _RESULTS.get(text)
    if cached is not None:
        return cached, True
    compiled = compile_expression(text)
    read: list[tuple[str, Any]] = []
    if compiled.memoisable and lookup is not None:
        memo = _recall(text, python, lookup, read)
        if memo is not None:
            return memo, True
        lookup = _replaying(lookup, read)
    result = _run(compiled, python, lookup)
    if compiled.cacheable and len(result) <= _CACHED_RESULT_LENGTH:
        _remember(_RESULTS, text, result)
    elif compiled.memoisable and lookup is not None and len(result) <= _CACHED_RESULT_LENGTH:
        _memoise(text, python, read, result)
    return result, compiled.deterministic


def _run(compiled: _Compiled, python: str | None, lookup: Callable[[str], Any] | None) -> str:
    """Evaluate ``compiled`` in a fresh sandbox; return ``str()`` of its plain-data value."""
    sandbox = Sandbox(python, lookup)
    value = compiled.node(sandbox, {})
    if value.__class__ is not str:
        check_plain_data(value)
    return value if value.__class__ is str else sandbox.call(str, value)


def _recall(text: str, python: str | None, lookup: Callable[[str], Any],
            read: list[tuple[str, Any]]) -> str | None:
    """The memoised result of ``text`` for the values ``lookup`` gives now, or None.

    It reads the names the evaluation would read, in its order (so ``lookup`` records the same
    dependencies and raises the same errors), appending each (name, value) to ``read``.
    """
    step = _MEMO.get((text, python))
    while isinstance(step, _Step):
        value = lookup(step.name)
        read.append((step.name, value))
        key = _value_key(value)
        step = step.branches.get(key) if key is not None else None
    return step


def _replaying(lookup: Callable[[str], Any],
               read: list[tuple[str, Any]]) -> Callable[[str], Any]:
    """``lookup`` for an evaluation after ``_recall`` missed: the values ``_recall`` read come
    again from ``read`` (each is looked up once), and every value read is appended to it."""
    replay = list(read)
    read.clear()

    def recording(name: str) -> Any:
        index = len(read)
        if index < len(replay) and replay[index][0] == name:
            value = replay[index][1]
        else:
            value = lookup(name)
        read.append((name, value))
        return value
    return recording


def _memoise(text: str, python: str | None, read: list[tuple[str, Any]], result: str) -> None:
    """Remember ``result`` for the values ``read`` (unless one of them cannot be a key)."""
    global _memo_steps
    keys = [key for _, value in read if (key := _value_key(value)) is not None]
    if len(keys) < len(read):
        return
    if _memo_steps + len(read) > _MEMO_LIMIT:
        _MEMO.clear()
        _memo_steps = 0
    _memo_steps += len(read) + 1
    root = (text, python)
    if not read:
        _MEMO[root] = result
        return
    step = _MEMO.get(root)
    if not isinstance(step, _Step):
        step = _MEMO[root] = _Step(read[0][0])
    last = len(read) - 1
    for index, key in enumerate(keys):
        if index == last:
            step.branches[key] = result
            return
        following = step.branches.get(key)
        if not isinstance(following, _Step):
            following = step.branches[key] = _Step(read[index + 1][0])
        step = following


#: Longest text memoised on (a value read that is longer is not).
_KEY_LENGTH = 10_000


def _value_key(value: Any) -> tuple | None:
    """A key equal for two values only when an expression cannot tell them apart: same type,
    same value (a float's bits); None for any other kind of value (never memoised on)."""
    kind = value.__class__
    if kind is str:
        return (kind, value) if len(value) <= _KEY_LENGTH else None
    if kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float and not math.isnan(value):  # a NaN's identity is visible to 'in'
        return (kind, _DOUBLE.pack(value))
    return None


#: The types of a value an expression may give (lists, tuples and dicts of them too): its text
#: is the same in every run. Anything else (a generator, a function, a range, a set, whose
#: order changes between runs, a regex match, a module) would become its ``repr``.
PLAIN_DATA = (str, int, float, bool, type(None), list, tuple, dict)
_CONTAINERS = (list, tuple, dict)


def check_plain_data(value: Any) -> None:
    """Raise ``Forbidden`` unless ``value`` is plain data (:data:`PLAIN_DATA`, nested)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item.__class__ not in PLAIN_DATA:
            raise Forbidden(f"its value is {_kind(item)}, not plain data (a string, number, "
                            "boolean, None, or a list, tuple or dict of them); turn it into "
                            "one, e.g. list(...) or sorted(...)")
        if item.__class__ in _CONTAINERS:
            stack.extend(item.keys() if item.__class__ is dict else item)
            if item.__class__ is dict:
                stack.extend(item.values())


def _kind(value: Any) -> str:
    """``a generator``, ``a function``, ``a match``... (never the value's ``repr``)."""
    name = "function" if callable(value) else type(value).__name__.lstrip("_").lower()
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def compile_expression(text: str) -> _Compiled:
    """Return the cached compiled form of ``text``; raise ``Forbidden`` (cached too) if refused."""
    if len(text) > MAX_EXPRESSION_LENGTH:  # refused before the cache: it would keep the text
        raise Forbidden(f"an expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        cached = _COMPILED[text]
    except KeyError:
        try:
            cached = _compile(text)
        except Forbidden as err:
            cached = err
        _remember(_COMPILED, text, cached)
    if isinstance(cached, Forbidden):
        raise cached
    return cached


def _remember(cache: dict, key: str, value: object) -> None:
    """Store ``value``, clearing the cache when it is full (plans repeat few expressions)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _compile(text: str) -> _Compiled:
    """Parse, check and build ``text``."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise Forbidden(f"an expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning: the engine never prints
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
        node = build(tree)
        names = _check_names(tree)
    except SyntaxError as err:
        raise Forbidden(f"invalid syntax ({err.msg})") from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise Forbidden(f"invalid expression ({type(err).__name__})") from None
    deterministic = not names & NONDETERMINISTIC_NAMES
    return _Compiled(node, deterministic, deterministic and not names & CONTEXT_NAMES,
                     deterministic and not _compares_identities(tree))


#: Constants an object is identical to exactly when it is equal to them and of their type.
_SINGLETONS = (None, True, False)


def _compares_identities(tree: ast.AST) -> bool:
    """Whether ``tree`` has an ``is``/``is not`` that its values' identities could decide.

    Two equal values read from parameters may be one object or two: only a comparison with
    ``None``, ``True`` or ``False`` (or of two constants) follows from the values alone.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for index, op in enumerate(node.ops):
                if isinstance(op, (ast.Is, ast.IsNot)) and \
                        not _decided_by_values(operands[index], operands[index + 1]):
                    return True
    return False


def _decided_by_values(left: ast.expr, right: ast.expr) -> bool:
    """Whether ``left is right`` follows from the two values (not their identities)."""
    constants = [isinstance(side, ast.Constant) for side in (left, right)]
    if all(constants):
        return True
    return any(isinstance(side, ast.Constant) and any(side.value is s for s in _SINGLETONS)
               for side in (left, right))


def _check_names(tree: ast.AST) -> set[str]:
    """Refuse names neither whitelisted nor bound by a comprehension; return the global names."""
    bound = {target.id for node in ast.walk(tree) if isinstance(node, ast.comprehension)
             for target in ast.walk(node.target) if isinstance(target, ast.Name)}
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise Forbidden(f"name '{node.id}' (names starting with '_' are forbidden)")
            if node.id not in ALLOWED_NAMES and node.id not in bound:
                raise Forbidden(f"name '{node.id}' is not available")
            used.add(node.id)
    return used - bound

"""The restricted evaluator of computed values ``$(expression)$`` (spec §3.3, DEVIATION security).

An expression is parsed with ``ast``, its names are checked against the whitelist, and the tree
is turned by ``interpreter`` into closures that accept only whitelisted node types and route
every risky operation through the ``sandbox`` guards. Raw text is never given to ``eval``, and
nothing is ever compiled to Python bytecode. The built closures are cached by expression text,
and so is the result of an expression that uses no randomness (the same texts recur across the
thousands of experiments of a plan). The result of one that reads other parameters
(``param(...)``) is memoised on the exact values it read (``dlbs.engine.memo``), so that a plan's
thousands of experiments evaluate each expression once for each combination of those values.
"""
from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from typing import Any

from dlbs.engine.interpreter import Node, build
from dlbs.engine.memo import Memo, replaying
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


#: Most steps of the memo of results by the values read (``dlbs.engine.memo``); it is cleared when
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


_COMPILED: dict[str, _Compiled | Forbidden] = {}
_RESULTS: dict[str, str] = {}
#: Results of expressions that read parameters, by (text, python) and the values read.
_MEMO = Memo(_MEMO_LIMIT)


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
    if compiled.cacheable or not compiled.memoisable or lookup is None:
        result = _run(compiled, python, lookup)
        if compiled.cacheable and len(result) <= _CACHED_RESULT_LENGTH:
            _remember(_RESULTS, text, result)
        return result, compiled.deterministic
    read: list[tuple[str, Any]] = []
    memo = _MEMO.recall((text, python), lookup, read)
    if memo is not None:
        return memo, True
    result = _run(compiled, python, replaying(lookup, read))
    _MEMO.remember((text, python), read, result)
    return result, True


def follows_from_values(text: str) -> bool:
    """Whether the result of ``text``, evaluated already, follows from its text and the values
    it read (no randomness, no identities compared; ``sys.executable`` is the caller's)."""
    compiled = _COMPILED.get(text)
    return compiled.__class__ is _Compiled and compiled.memoisable  # type: ignore[union-attr]


def _run(compiled: _Compiled, python: str | None, lookup: Callable[[str], Any] | None) -> str:
    """Evaluate ``compiled`` in a fresh sandbox; return ``str()`` of its plain-data value."""
    sandbox = Sandbox(python, lookup)
    value = compiled.node(sandbox, {})
    if value.__class__ is not str:
        check_plain_data(value)
    return value if value.__class__ is str else sandbox.call(str, value)


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
    cacheable = deterministic and not names & CONTEXT_NAMES
    return _Compiled(node, deterministic, cacheable,
                     cacheable or (deterministic and not _compares_identities(tree)))


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

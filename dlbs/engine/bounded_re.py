"""User regular expressions, bounded in time and memory: the one place dlbs compiles and runs them.

Regular expressions come from users in three places: extension conditions and ``--filter_query``
(both through ``conditions.compile_test``) and ``re.*`` inside ``$(...)$`` (``sandbox``). Python's
``re`` backtracks: ``re.match('(a*)*b', 'a' * 40)`` runs for hours and cannot be interrupted. So
every user pattern is compiled by :func:`compile_regex` and matched here, with the third-party
``regex`` package:

- **Why ``regex`` and not ``google-re2``.** DLBS conditions are Python ``re`` patterns. ``regex``
  (in its default ``VERSION0`` mode) is a superset of ``re`` with the same semantics, so
  backreferences, lookahead and lookbehind, named groups and atomic groups keep working; RE2 is
  linear-time but refuses backreferences and lookaround, and differs in places (``\\d`` is ASCII
  only), so valid DLBS configs would change meaning or stop working. ``regex`` also memoises
  backtracking (``(a*)*b`` against 40 ``a`` fails at once) and its matching functions take a
  ``timeout=``, which bounds what memoisation does not catch (``(.*?,){20}P``). It is a pure
  computation library (no I/O), which is why the engine may import it.
- **Same language as ``re``.** A pattern is first parsed by Python's own ``re`` parser, so only
  ``re`` syntax is accepted (not ``regex``'s extensions such as fuzzy matching), and a pattern is
  valid exactly when ``re.compile`` accepts it. Flags are ``re`` flags (``re.IGNORECASE``...).
- **Bounded compilation.** ``regex`` unrolls the mandatory part of counted repeats when it
  compiles (``(?:(?:a{1000}){1000}){1000}`` would take gigabytes), so the unrolled size is computed
  from the parsed pattern and refused over :data:`MAX_UNROLLED`; nesting too deep for the
  parser is refused too.
- **Bounded matching.** Each call may take :data:`MATCH_SECONDS` of CPU, or what is left of a
  shared :class:`TimeBudget` (one evaluation of an expression). Past it, :class:`RegexTimeout`.

Callers turn :class:`RegexError` and :class:`RegexTimeout` into the error type of their context,
naming the parameter or extension.
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from dlbs.engine.model import shown

try:  # Python 3.11+: the parser of ``re`` (used only to check a pattern, never to match)
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

#: CPU seconds one match may take (a condition against one value, a filter against one record).
#: ``regex`` measures its ``timeout`` in CPU time, so a loaded machine takes longer by the clock.
MATCH_SECONDS = 1.0
#: Most pattern elements after unrolling counted repeats (``a{10}`` is 10); 100,000 compile in
#: well under a second.
MAX_UNROLLED = 100_000
#: Longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 100_000

#: ``re`` flags accepted, and the name of the ``regex`` flag each stands for (``re.A`` is 256,
#: ``regex.A`` 128; ``re.DEBUG``, which prints, and ``re.LOCALE`` are refused).
_FLAGS = {re.IGNORECASE: "IGNORECASE", re.MULTILINE: "MULTILINE", re.DOTALL: "DOTALL",
          re.VERBOSE: "VERBOSE", re.ASCII: "ASCII", re.UNICODE: "UNICODE"}
_ALL_FLAGS = sum(_FLAGS)
_REPEATS = {_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT,
            getattr(_sre_parse, "POSSESSIVE_REPEAT", _sre_parse.MAX_REPEAT)}


#: A group reference in a replacement template: ``\1``, ``\g<name>``.
_TEMPLATE_REFERENCE = re.compile(r"\\(?:g<[^>]*>|[1-9])")


@functools.cache
def _regex() -> Any:
    """The ``regex`` module, imported on first use: its import costs about 10 ms of CPU, a
    twentieth of expanding a thousand experiments, and most plans hold no pattern."""
    import regex

    return regex


@functools.cache
def match_type() -> type:
    """The type of the match objects that matching returns."""
    return type(_regex().match("", ""))


class RegexError(ValueError):
    """A pattern that is not a valid ``re`` pattern, or too big or too deep to compile."""


class RegexTimeout(Exception):
    """Matching took longer than its time limit."""


class TimeBudget:
    """CPU seconds of matching left to a series of calls (e.g. every regex of one expression)."""

    __slots__ = ("left", "total")

    def __init__(self, seconds: float = MATCH_SECONDS) -> None:
        self.total = seconds
        self.left = seconds

    def run(self, regex_call: Callable[..., Any], pattern: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``regex_call(*args, timeout=...)`` with what is left; raise ``RegexTimeout``."""
        if self.left <= 0:
            raise _timeout(pattern, self.total)
        start = time.process_time()
        try:
            return regex_call(*args, timeout=self.left, **kwargs)
        except TimeoutError:
            self.left = 0
            raise _timeout(pattern, self.total) from None
        finally:
            self.left -= time.process_time() - start


def _timeout(pattern: str, seconds: float) -> RegexTimeout:
    return RegexTimeout(f"regular expression {shown(pattern)} ran past its time limit of "
                        f"{seconds:g} s of CPU (it backtracks too much: avoid nested repeats such as "
                        f"'(a*)*' and '(.*,){{20}}')")


class Regex:
    """A compiled user pattern whose every match is bounded in time.

    The matching methods take the ``budget`` to spend (default: a fresh one of
    :data:`MATCH_SECONDS`) and otherwise behave as those of ``re.Pattern``.
    """

    __slots__ = ("_compiled", "flags", "groups", "pattern")

    def __init__(self, pattern: str, flags: int, compiled: Any) -> None:
        self.pattern = pattern
        self.flags = flags
        self.groups: int = compiled.groups
        self._compiled = compiled

    def __repr__(self) -> str:
        return f"re.compile({shown(self.pattern)})"

    def _run(self, method: str, budget: TimeBudget | None, *args: Any, **kwargs: Any) -> Any:
        budget = budget if budget is not None else TimeBudget()
        return budget.run(getattr(self._compiled, method), self.pattern, *args, **kwargs)

    def match(self, text: str, budget: TimeBudget | None = None) -> Any:
        """``re.Pattern.match``: a match at the start of ``text`` or ``None``."""
        return self._run("match", budget, text)

    def search(self, text: str, budget: TimeBudget | None = None) -> Any:
        """``re.Pattern.search``."""
        return self._run("search", budget, text)

    def fullmatch(self, text: str, budget: TimeBudget | None = None) -> Any:
        """``re.Pattern.fullmatch``."""
        return self._run("fullmatch", budget, text)

    def findall(self, text: str, budget: TimeBudget | None = None) -> list[Any]:
        """``re.Pattern.findall``."""
        found = self._run("findall", budget, text)
        if self.groups == 1:  # ``regex`` gives 1-tuples for a repeated group: ``(a+)+``
            return [item[0] if isinstance(item, tuple) else item for item in found]
        return list(found)

    def split(self, text: str, maxsplit: int = 0, budget: TimeBudget | None = None) -> list[Any]:
        """``re.Pattern.split``."""
        return list(self._run("split", budget, text, maxsplit=maxsplit))

    def sub(self, repl: str, text: str, count: int = 0, budget: TimeBudget | None = None,
            max_size: int | None = None) -> str:
        """``re.Pattern.sub`` with a string replacement; with ``max_size``, ``RegexError`` as
        soon as the result could be longer (each replacement counted before it is made)."""
        if max_size is None:
            return str(self._run("sub", budget, repl, text, count=count))
        refs = len(_TEMPLATE_REFERENCE.findall(repl))
        size = len(text)

        def replace(found: Any) -> str:
            nonlocal size
            longest = max(map(len, found.groups(default="")), default=0) if refs else 0
            size += len(repl) + refs * max(longest, len(found.group(0)))
            if size > max_size:
                raise RegexError(f"re.sub would make more than {max_size} characters")
            return str(found.expand(repl))

        return str(self._run("sub", budget, replace, text, count=count))


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: Any, flags: int = 0) -> Regex:
    """Compile a user pattern (``re`` syntax and flags); raise ``RegexError`` when invalid or too
    big to compile. Compiled patterns are cached (a ``Regex`` is immutable)."""
    if not isinstance(pattern, str):
        raise RegexError(f"a pattern must be a string, not {type(pattern).__name__}")
    if not isinstance(flags, int) or isinstance(flags, bool) or flags & ~_ALL_FLAGS:
        raise RegexError(f"regular-expression flags {flags!r} (allowed: I, M, S, X, A)")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"a pattern of {len(pattern)} characters (limit {MAX_PATTERN_LENGTH})")
    try:
        re.compile(pattern, flags)  # the language of ``re``, checked in full
        size = _unrolled(_sre_parse.parse(pattern, flags))
    except (re.error, OverflowError) as err:
        raise RegexError(str(err)) from None
    except (RecursionError, MemoryError):
        raise RegexError("the pattern is nested too deep") from None
    if size > MAX_UNROLLED:
        raise RegexError(f"counted repeats unroll to about {size} elements (limit "
                         f"{MAX_UNROLLED}); use '+' or '*' or smaller counts")
    regex = _regex()
    native = sum(getattr(regex, name) for key, name in _FLAGS.items() if flags & key)
    try:
        compiled = regex.compile(pattern, native | regex.VERSION0)
    except (regex.error, RecursionError, OverflowError, MemoryError) as err:
        raise RegexError(f"{type(err).__name__}: {err}") from None
    return Regex(pattern, flags, compiled)


def _unrolled(items: Any) -> int:
    """Elements of a parsed pattern once the mandatory part of counted repeats is unrolled."""
    total = 0
    for op, arg in items:
        if op in _REPEATS:
            low, _, body = arg
            total += max(low, 1) * _unrolled(body)
        else:
            total += 1 + sum(_unrolled(body) for body in _bodies(arg))
        if total > MAX_UNROLLED:  # stop early: a product may have thousands of digits
            return total
    return total


def _bodies(arg: Any) -> Iterator[Any]:
    """The sub-patterns inside one parsed element's argument."""
    if isinstance(arg, _sre_parse.SubPattern):
        yield arg
    elif isinstance(arg, (tuple, list)):
        for item in arg:
            yield from _bodies(item)

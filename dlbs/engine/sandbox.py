"""Run-time guards of the restricted evaluator: the names an expression sees and the limits.

``interpreter`` routes every attribute access, call, risky operator, comprehension loop and
built value of an expression through the guards defined here. The guards allow only whitelisted
attributes of whitelisted types and modules, and refuse work that would not finish or would
exhaust memory (``9**9**9``, ``'a'*10**10``, ``range(10**12)``, huge joins and paddings).

Work is charged *before* it is done: a call is charged what it will read (its arguments and the
string or container a method belongs to: ``max(range(999999))`` costs 999,999 units), an
operator or comparison its operands, and what any of them builds is charged after (and refused
over ``MAX_ITEMS``); ``zip`` and ``enumerate`` are lazy and charge each item as it is taken, so
``list(zip(*[range(999999)]*999))`` stops after about a thousand tuples. Regular expressions are
``bounded_re``'s: ``re`` syntax, and all those of one evaluation share ``REGEX_SECONDS``. Nothing
here touches files, processes, the network or the environment.
"""
from __future__ import annotations

import functools
import importlib
import json
import math
import os.path
import re
import string
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dlbs.engine.bounded_re import (
    MATCH_SECONDS,
    Regex,
    RegexError,
    RegexTimeout,
    TimeBudget,
    compile_regex,
    match_type,
)

#: Most items (characters, list items, range length) one value may have.
MAX_ITEMS = 1_000_000
#: Most bits of an integer result.
MAX_INT_BITS = 100_000
#: Work units (items created, counted deeply, + loop iterations) one evaluation may spend.
MAX_WORK = 1_000_000
#: Largest ``ndigits`` of ``round`` (``round(1, -10**9)`` computes ``10**10**9``).
MAX_ROUND_DIGITS = 1_000
#: CPU seconds all the regular-expression calls of one evaluation may take together.
REGEX_SECONDS = MATCH_SECONDS


class Forbidden(Exception):
    """An expression used a forbidden construct or would do unbounded work."""


class Module:
    """A read-only stand-in for a module exposing only whitelisted members."""

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        self.name = name
        self.members = members

    def __repr__(self) -> str:
        return f"<module {self.name}>"


class LazyModule(Module):
    """A :class:`Module` whose members are taken from the real module on first use: ``uuid``
    costs 2 ms to import, and few plans call it."""

    def __init__(self, name: str, names: str) -> None:
        self.name = name
        self._names = names
        self._members: dict[str, Any] | None = None

    @property
    def members(self) -> dict[str, Any]:  # type: ignore[override]
        if self._members is None:
            self._members = _members(importlib.import_module(self.name), self._names)
        return self._members


def _safe_format(text: str, *args: Any, **kwargs: Any) -> str:
    """``str.format`` without attribute or index access in fields and with bounded widths."""
    _check_format_fields(text)
    return _checked_len(text.format(*args, **kwargs))


def _check_format_fields(text: str) -> None:
    """Refuse ``{0.attr}``, ``{0[key]}``, nested fields and huge widths in a format string."""
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is None:
            continue
        if "." in field or "[" in field:
            raise Forbidden(f"format field '{{{field}}}' with attribute or index access")
        if spec and ("{" in spec or any(int(n) > MAX_ITEMS for n in re.findall(r"\d+", spec))):
            raise Forbidden(f"format spec '{spec}' (nested field or width over {MAX_ITEMS})")


def _check_percent_format(text: str) -> None:
    """Refuse ``%*d`` and widths over ``MAX_ITEMS`` in a ``%`` format string."""
    for spec in re.findall(r"%[^a-zA-Z%]*", text):
        if "*" in spec or any(int(n) > MAX_ITEMS for n in re.findall(r"\d+", spec)):
            raise Forbidden(f"format spec '{spec}' (star or width over {MAX_ITEMS})")


def _checked_len(value: Any) -> Any:
    """Return ``value`` unless it is longer than ``MAX_ITEMS``."""
    if hasattr(value, "__len__") and len(value) > MAX_ITEMS:
        raise Forbidden(f"a value of {len(value)} items (limit {MAX_ITEMS})")
    return value


def _check_size(size: int, what: str) -> None:
    """Refuse a result that would have ``size`` items."""
    if size > MAX_ITEMS:
        raise Forbidden(f"{what} would make {size} items (limit {MAX_ITEMS})")


def _str_join(sep: str, items: Iterable[Any]) -> str:
    items = list(items)
    size = sum(len(item) for item in items if isinstance(item, str))
    _check_size(size + len(sep) * max(len(items) - 1, 0), "str.join")
    return sep.join(items)


def _str_replace(text: str, old: str, new: str, count: int = -1) -> str:
    hits = text.count(old) if count < 0 else min(count, text.count(old))
    _check_size(len(text) + hits * max(len(new) - len(old), 0), "str.replace")
    return text.replace(old, new, count)


def _str_pad(method: str) -> Callable[..., str]:
    def pad(text: str, width: int, *args: Any) -> str:
        _check_size(width, f"str.{method}")
        return getattr(text, method)(width, *args)
    return pad


def _str_expandtabs(text: str, tabsize: int = 8) -> str:
    _check_size(len(text) + text.count("\t") * max(tabsize, 0), "str.expandtabs")
    return text.expandtabs(tabsize)


_RE_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII


def _re_flags(flags: int) -> int:
    """Return ``flags`` unless it holds a flag outside I, M, S, X, A (``re.DEBUG`` prints)."""
    if not isinstance(flags, int) or flags & ~_RE_FLAGS:
        raise Forbidden(f"regular-expression flags {flags!r} (allowed: I, M, S, X, A)")
    return flags


class Pattern:
    """``re.compile(...)`` in an expression: a ``bounded_re.Regex`` spending the evaluation's
    shared time budget. Its methods are those of ``re.Pattern``."""

    __slots__ = ("_budget", "_regex", "flags", "groups", "pattern")

    def __init__(self, regex: Regex, budget: TimeBudget) -> None:
        self._regex = regex
        self._budget = budget
        self.pattern = regex.pattern
        self.flags = regex.flags
        self.groups = regex.groups

    def __repr__(self) -> str:
        return repr(self._regex)

    def match(self, text: str) -> Any:
        return _bounded(self._regex.match, text, self._budget)

    def search(self, text: str) -> Any:
        return _bounded(self._regex.search, text, self._budget)

    def fullmatch(self, text: str) -> Any:
        return _bounded(self._regex.fullmatch, text, self._budget)

    def findall(self, text: str) -> list:
        return _bounded(self._regex.findall, text, self._budget)

    def split(self, text: str, maxsplit: int = 0) -> list:
        return _bounded(self._regex.split, text, maxsplit, self._budget)

    def sub(self, repl: Any, text: str, count: int = 0) -> str:
        if not isinstance(repl, str):
            raise Forbidden("re.sub with a function as replacement")
        try:
            return _bounded(self._regex.sub, repl, text, count, self._budget, MAX_ITEMS)
        except RegexError as err:  # the result would be too big
            raise Forbidden(str(err)) from None


def _bounded(method: Callable[..., Any], *args: Any) -> Any:
    """Call a matching method; its running past the time budget is ``Forbidden``."""
    try:
        return method(*args)
    except RegexTimeout as err:
        raise Forbidden(str(err)) from None


class RegexModule(Module):
    """The ``re`` of one evaluation: ``re``'s functions over ``Pattern`` and one time budget."""

    def __init__(self) -> None:
        self.budget = TimeBudget(REGEX_SECONDS)
        super().__init__("re", {**_RE_CONSTANTS, "compile": self.compile, "match": self.match,
                                "search": self.search, "fullmatch": self.fullmatch,
                                "findall": self.findall, "split": self.split, "sub": self.sub})

    def compile(self, pattern: Any, flags: int = 0) -> Pattern:
        if isinstance(pattern, Pattern):
            return pattern
        return Pattern(compile_regex(pattern, _re_flags(flags)), self.budget)

    def match(self, pattern: Any, text: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).match(text)

    def search(self, pattern: Any, text: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).search(text)

    def fullmatch(self, pattern: Any, text: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).fullmatch(text)

    def findall(self, pattern: Any, text: str, flags: int = 0) -> list:
        return self.compile(pattern, flags).findall(text)

    def split(self, pattern: Any, text: str, maxsplit: int = 0, flags: int = 0) -> list:
        return self.compile(pattern, flags).split(text, maxsplit)

    def sub(self, pattern: Any, repl: Any, text: str, count: int = 0, flags: int = 0) -> str:
        return self.compile(pattern, flags).sub(repl, text, count)


def _json_loads(text: str) -> Any:
    return json.loads(text)


def _json_dumps(obj: Any, sort_keys: bool = False, indent: int | None = None) -> str:
    if indent is not None and not 0 <= indent <= 16:
        raise Forbidden(f"json.dumps indent {indent} (allowed 0..16)")
    return _checked_len(json.dumps(obj, sort_keys=sort_keys, indent=indent))


_STR_METHODS = {
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isspace",
    "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
    "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith",
    "strip", "swapcase", "title", "upper",
}
_STR_WRAPPERS: dict[str, Callable[..., Any]] = {
    "format": _safe_format, "join": _str_join, "replace": _str_replace,
    "center": _str_pad("center"), "ljust": _str_pad("ljust"), "rjust": _str_pad("rjust"),
    "zfill": _str_pad("zfill"), "expandtabs": _str_expandtabs,
}
_NUMBER_ATTRS = {"real", "imag", "conjugate", "bit_length", "is_integer", "numerator",
                 "denominator", "as_integer_ratio"}
_TYPE_ATTRS: dict[type, set[str]] = {
    list: {"count", "index", "copy"},
    tuple: {"count", "index"},
    dict: {"get", "keys", "values", "items", "copy"},
    set: {"copy", "union", "intersection", "difference", "symmetric_difference", "issubset",
          "issuperset", "isdisjoint"},
    int: _NUMBER_ATTRS, bool: _NUMBER_ATTRS, float: _NUMBER_ATTRS | {"hex"},
    Pattern: {"match", "search", "fullmatch", "findall", "split", "sub", "pattern", "flags",
              "groups"},
}
#: A match's attributes (its type is ``regex``'s, known once a pattern has been compiled).
_MATCH_ATTRS = {"group", "groups", "groupdict", "start", "end", "span", "string"}
#: A ``uuid.UUID``'s attributes (the module is imported when an expression first uses it).
_UUID_ATTRS = {"hex", "int", "urn", "version", "variant"}


def _members(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split()}


_RE_CONSTANTS = _members(re, "escape IGNORECASE I MULTILINE M DOTALL S VERBOSE X ASCII A")
_MATH = Module("math", _members(math, "pi e tau inf nan ceil floor trunc sqrt isqrt exp log "
                                      "log2 log10 pow fabs fmod gcd isclose isfinite isinf isnan "
                                      "copysign hypot degrees radians sin cos tan asin acos atan "
                                      "atan2 sinh cosh tanh fsum modf frexp ldexp"))
_JSON = Module("json", {"loads": _json_loads, "dumps": _json_dumps})
_OS = Module("os", {"path": Module("os.path", _members(
    os.path, "join basename dirname split splitext normpath normcase isabs commonpath "
             "commonprefix sep"))})
_UUID = LazyModule("uuid", "uuid3 uuid4 uuid5 UUID NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID "
                           "NAMESPACE_X500")

#: The function that gives an expression another parameter's value as a value
#: (``param('exp.data_dir')``), never pasted into its source as ``'${exp.data_dir}'`` is.
PARAM_FUNCTION = "param"
#: Names that use randomness: expressions using them are never cached.
NONDETERMINISTIC_NAMES = frozenset({"uuid"})
#: Names whose value comes from the evaluation's caller (``sys``: only ``sys.executable``, the
#: ``python`` given to ``Sandbox``; ``param``: the values of other parameters): their results
#: are not cached by text.
CONTEXT_NAMES = frozenset({"sys", PARAM_FUNCTION})


_CONTAINERS = (list, tuple, set, frozenset, dict)
#: Types read by a hash lookup in ``in``.
_HASHED = (set, frozenset, dict)
#: Other types whose reading costs their length.
_SIZED: tuple[type, ...] = (range, type({}.keys()), type({}.values()), type({}.items()))


class Sandbox:
    """The guards of one evaluation; they share one work budget.

    Containers are charged by their *deep* size (a list holding the same big list a million times
    costs a million times its size), so that ``str()``, sorting or comparing anything an
    expression builds stays bounded. Reading a value is charged before the work that reads it
    (``cost``), building one after (``item``).
    """

    def __init__(self, python: str | None = None,
                 lookup: Callable[[str], Any] | None = None) -> None:
        """``python``: the value of ``sys.executable`` (DLBS's configs name the interpreter so:
        ``$(sys.executable if ${exp.docker} is False else 'python')$``); ``sys`` has no other
        member, and no ``sys`` at all when ``python`` is None. ``lookup``: what
        ``param(name)`` gives (the value of parameter ``name``); no ``param`` without it."""
        self.work = 0
        self.sizes: dict[int, tuple[Any, int]] = {}  # id -> (object kept alive, deep size)
        self.names: dict[str, Any] = {**SAFE_NAMES, "range": self.range, "sum": _sum,
                                      "round": _round, "re": RegexModule()}
        if python is not None:
            self.names["sys"] = Module("sys", {"executable": str(python)})
        if lookup is not None:
            self.names[PARAM_FUNCTION] = _param_function(lookup)

    def charge(self, units: int) -> None:
        """Spend ``units`` of the budget; refuse when it is exhausted."""
        self.work += units
        if self.work > MAX_WORK:
            raise Forbidden(f"the expression does too much work (over {MAX_WORK} steps)")

    def range(self, *args: int) -> range:
        """``range`` limited to ``MAX_ITEMS`` items."""
        values = range(*args)
        _check_size(len(values), "range")
        return values

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func`` (only whitelisted callables are reachable).

        What it may read is charged before it runs: its arguments and the string or container
        it is a method of. What it built is charged after. ``zip`` and ``enumerate`` return
        lazy iterators that charge each item as it is taken.
        """
        if func is zip or func is enumerate:
            return self.lazy(func(*args, **kwargs))
        owner = func.args if func.__class__ is functools.partial else \
            (getattr(func, "__self__", None),)
        units = sum(map(self.cost, owner)) + sum(map(self.cost, args))
        if kwargs:
            units += sum(map(self.cost, kwargs.values()))
        self.charge(units)
        return self.item(func(*args, **kwargs))

    def lazy(self, values: Iterator[Any]) -> Iterator[Any]:
        """Yield the items of a lazy built-in, charging each (a tuple by its length)."""
        for value in values:
            self.charge(len(value) if value.__class__ is tuple else 1)
            yield value

    def cost(self, value: Any) -> int:
        """Units of reading ``value`` once: a string's or container's deep size, a range's or a
        dict view's length, an integer's 64-bit words; 1 for anything else."""
        kind = value.__class__
        if kind is str or kind in _CONTAINERS:
            return self.size(value)
        if kind is int:
            return 1 + value.bit_length() // 64
        if kind in _SIZED:
            return len(value)
        return 1

    def compared(self, left: Any, right: Any, membership: bool) -> None:
        """Charge a comparison before it runs: ``in`` reads its container (a hash lookup, or an
        integer in a range, only the key); ``==``, ``<``... read up to the smaller operand."""
        if not membership:
            self.charge(min(self.cost(left), self.cost(right)))
        elif right.__class__ in _HASHED or (right.__class__ is range
                                            and left.__class__ in (int, bool)):
            self.charge(self.cost(left))
        else:
            self.charge(self.cost(left) + self.cost(right))

    def plain(self, op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
        """An operator without its own guard (``-``, ``/``, ``|``...): operands charged before,
        the result after (``s | t`` of two sets builds a set)."""
        self.charge(self.cost(left) + self.cost(right))
        return self.item(op(left, right))

    def sliced(self, value: Any, index: Any) -> Any:
        """``value[index]``; a slice copies: charged its length before, its result after."""
        if index.__class__ is slice and hasattr(value, "__len__"):
            self.charge(len(range(*index.indices(len(value)))))
            return self.item(value[index])
        return value[index]

    def iterate(self, values: Iterable[Any]) -> Iterator[Any]:
        """Iterate a comprehension's source, charging one unit per item."""
        for value in values:
            self.charge(1)
            yield value

    def item(self, value: Any) -> Any:
        """Charge the deep size of ``value`` (a result or a comprehension element); return it."""
        if isinstance(value, int):
            _check_bits(value.bit_length(), "an integer")
            self.charge(1 + value.bit_length() // 64)
        else:
            size = self.size(value)
            _check_size(size, "a value")
            self.charge(size)
        return value

    def size(self, value: Any) -> int:
        """Return the deep size of ``value``: a string's length, the sum of a container's items'.

        Sizes are remembered by identity (the object is kept alive so its id is not reused),
        so a container holding one object many times is measured in time linear in its length.
        """
        kind = value.__class__
        if kind is str:
            return len(value) or 1
        if kind not in _CONTAINERS:
            return 1
        known = self.sizes.get(id(value))
        if known is not None:
            return known[1]
        total = sum(map(self.size, value))
        if kind is dict:
            total += sum(map(self.size, value.values()))
        total = total or 1
        self.sizes[id(value)] = (value, total)
        return total

    def binop(self, op: str, left: Any, right: Any) -> Any:
        """``+``, ``*``, ``**``, ``<<`` and ``%`` with their results bounded."""
        self.charge(self.cost(left) + self.cost(right))
        if op == "pow":
            _check_pow(left, right)
            return self.item(left ** right)
        if op == "lshift":
            if isinstance(left, int) and isinstance(right, int):
                _check_bits(left.bit_length() + right, "<<")
            return self.item(left << right)
        if op == "mult":
            self._check_mult(left, right)
            return self.item(left * right)
        if op == "mod" and isinstance(left, str):
            _check_percent_format(left)
        return self.item(left + right if op == "add" else left % right)

    def _check_mult(self, left: Any, right: Any) -> None:
        """Refuse a repetition (``'a' * n``) or a product that would be too big."""
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length(), "product")
        elif isinstance(right, int) and hasattr(left, "__len__"):
            _check_size(self.size(left) * right, "repetition")
        elif isinstance(left, int) and hasattr(right, "__len__"):
            _check_size(self.size(right) * left, "repetition")


def _param_function(lookup: Callable[[str], Any]) -> Callable[[str], Any]:
    """``param(name)``: the value of parameter ``name`` (a string naming it)."""
    def param(name: str) -> Any:
        if name.__class__ is not str:
            raise Forbidden(f"{PARAM_FUNCTION}() takes a parameter's name as a string, e.g. "
                            f"{PARAM_FUNCTION}('exp.data_dir'); got {type(name).__name__}")
        return lookup(name)
    return param


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise Forbidden(f"{what} of about {bits} bits (limit {MAX_INT_BITS})")


def _check_pow(base: Any, exp: Any) -> None:
    """Refuse an integer power whose result would exceed ``MAX_INT_BITS``."""
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        _check_bits(int(exp * math.log2(abs(base))) + 1, "power")


def _sum(values: Iterable[Any], start: float = 0) -> Any:
    """``sum`` of numbers only (summing lists or strings is quadratic)."""
    if not isinstance(start, (int, float)):
        raise Forbidden("sum with a non-numeric start (use str.join or a comprehension)")
    return sum(values, start)


def _round(number: Any, ndigits: int | None = None) -> Any:
    """``round`` with ``ndigits`` limited to +-``MAX_ROUND_DIGITS``."""
    if ndigits is None:
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise Forbidden(f"round to {ndigits} digits (limit {MAX_ROUND_DIGITS})")
    return round(number, ndigits)


def _lazy_type_attrs(kind: type) -> set[str]:
    """The attributes allowed on a value of a type whose module is imported on first use."""
    if kind.__module__ == "uuid" and kind is getattr(sys.modules.get("uuid"), "UUID", None):
        return _UUID_ATTRS
    return _MATCH_ATTRS if kind is match_type() else set()


def get_attribute(obj: Any, name: str) -> Any:
    """Return ``obj.name`` if the attribute is whitelisted for the object's type."""
    if isinstance(obj, Module):
        if name in obj.members:
            return obj.members[name]
        raise Forbidden(f"'{obj.name}.{name}' is not available")
    kind = type(obj)
    if kind is str:
        if name in _STR_WRAPPERS:
            return functools.partial(_STR_WRAPPERS[name], obj)
        if name in _STR_METHODS:
            return getattr(obj, name)
    elif name in _TYPE_ATTRS.get(kind, ()) or name in _lazy_type_attrs(kind):
        return getattr(obj, name)
    raise Forbidden(f"attribute '{name}' of a {kind.__name__} value")


SAFE_NAMES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "len": len, "min": min, "max": max,
    "abs": abs, "sorted": sorted, "list": list, "tuple": tuple, "dict": dict,
    "set": set, "any": any, "all": all, "enumerate": enumerate, "zip": zip,
    "isinstance": isinstance, "True": True, "False": False, "None": None,
    "math": _MATH, "json": _JSON, "os": _OS, "uuid": _UUID,
}

#: Every name an expression may use (the guarded built-ins included).
ALLOWED_NAMES = frozenset(SAFE_NAMES) | {"range", "sum", "round", "re"} | CONTEXT_NAMES

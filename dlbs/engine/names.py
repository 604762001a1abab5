"""Parameter names, and the characters no name or value may hold.

A name is read in its NFKC form, so that a name typed in full-width or other compatibility
characters (``ｅｘｐ.replica_batch``) is the ASCII name it looks like and is used as such, never
kept as a new parameter that nothing reads. A name that is still not ASCII-identifier-like
(:data:`NAME_RE`: a Cyrillic ``о`` in ``exp.mоdel``, a blank) is refused, with the closest
known name.

No name or value may hold a NUL (a C string ends there: an argument, a path or an environment
variable would be cut short) or a surrogate U+D800..U+DFFF (it has no UTF-8 form; Python makes
one of each byte that is not UTF-8 in a command-line argument, an environment variable or a
file name, and JSON's ``"\\ud800"`` makes one too).

This module only checks text; its callers raise their own errors with the origin.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

#: A parameter name (after NFKC): ASCII letters, digits, ``_``, ``.`` and ``-``, not starting
#: with a digit, ``.`` or ``-`` (DLBS's names, ``runtime.env.NAME`` and environment variables).
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
#: The names of environment variables of the benchmark: ``validate`` checks the rest.
ENV_PREFIX = "runtime.env."


class BadName(ValueError):
    """``name`` is not a parameter name; ``str()`` says why (without the name or origin)."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(reason)
        self.name = name


def bad_character(text: str) -> str | None:
    """Why ``text`` cannot be a name or a value (``"holds a NUL character ..."``), or None."""
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return None
    char, where = found.group(), found.start()
    if char == "\x00":
        return (f"holds a NUL character (at position {where}), which no argument, path or "
                "environment variable can hold; remove it")
    return (f"holds U+{ord(char):04X}, a lone surrogate (at position {where}): bytes that are "
            "not UTF-8 (in a command-line argument, the environment or a file) or a "
            f"'\\u{ord(char):04x}' escape; write it as UTF-8 text")


def first_bad_value(value: Any) -> str | None:
    """``bad_character`` of the first string in ``value`` (a string, list or dict, nested)
    that has one, dict keys included; None when there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is str:
            reason = bad_character(item)
            if reason is not None:
                return reason
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def normal_name(name: str, known: Iterable[str] = ()) -> str:
    """Return ``name`` in its NFKC form; raise ``BadName`` when that is not a parameter name
    (the message suggests the closest of ``known``)."""
    if NAME_RE.fullmatch(name):
        return name  # ASCII: NFKC leaves it alone
    reason = bad_character(name)
    if reason is not None:
        raise BadName(reason)
    normal = unicodedata.normalize("NFKC", name)
    if NAME_RE.fullmatch(normal) or normal.startswith(ENV_PREFIX):
        return normal  # the variable name of runtime.env.NAME: validate says what it may be
    shown = "" if normal == name else f" (in NFKC form {normal!r})"
    raise BadName(f"holds {_odd_character(normal)}{shown}, which no parameter name has: a name "
                  "is ASCII letters, digits, '_', '.' and '-', starting with a letter or '_'"
                  f"{_did_you_mean(normal, known)}")


def _odd_character(name: str) -> str:
    """The first character of ``name`` a name cannot have there, shown with its code point
    (a look-alike letter is invisible otherwise)."""
    for char in name:
        if not (char.isascii() and (char.isalnum() or char in "_.-")):
            return f"{char!r} (U+{ord(char):04X})"
    return f"{name[:1]!r} as its first character"  # NAME_RE refused it: a digit, '.' or '-'



def renamed(names: Iterable[str], known: Iterable[str] = ()) -> dict[str, str]:
    """Map each of ``names`` whose NFKC form differs to that form (usually nothing); raise
    ``BadName`` (with its ``name``) for a name that is not a parameter name, or that is the
    same as another of ``names`` once normalised."""
    changed: dict[str, str] = {}
    for name in names:
        try:
            normal = normal_name(name, known)
        except BadName as err:
            raise BadName(str(err), name) from None
        if normal != name:
            changed[name] = normal
    if changed:
        seen: dict[str, str] = {}
        for name in names:
            normal = changed.get(name, name)
            if normal in seen:
                raise BadName(f"is {normal!r} in NFKC form, as {seen[normal]!r} is; keep one",
                              name)
            seen[normal] = name
    return changed


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'exp.model'?"`` for the known name closest to ``name``, or ``""``."""
    # Letters with marks lose them (``é`` -> ``e``); other non-ASCII characters count as misses.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    candidates = [n for n in known if NAME_RE.fullmatch(n)]
    close = difflib.get_close_matches(ascii_name, candidates, n=1, cutoff=0.6) or \
        difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""

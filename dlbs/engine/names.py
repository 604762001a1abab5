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


class LookAlikeName(BadName):
    """``name`` is a known name typed with a look-alike letter (:data:`LOOK_ALIKES`): a typo,
    which callers report as a usage error."""


#: Letters of other scripts that look like an ASCII one (from Unicode's confusables, UTS #39,
#: limited to what a keyboard layout gives: Cyrillic and Greek letters shaped like Latin
#: ones, and the dashes and hyphens shaped like '-'). NFKC maps none of them: ``exp.mоdel``
#: with a Cyrillic ``о`` would otherwise be a new name that nothing reads.
LOOK_ALIKES: dict[str, str] = {
    **dict(zip("\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458\u04bb\u04cf"
               "\u0501\u051b\u051d", "aeopcyxsijhldqw")),  # Cyrillic small letters
    **dict(zip("\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423"
               "\u0405\u0406\u0408\u051c", "ABEKMHOPCTXYSIJW")),  # Cyrillic capitals
    **dict(zip("\u03b1\u03bf\u03c1\u03bd\u03b9\u03ba\u03c5\u03c7", "aopvikux")),  # Greek small
    **dict(zip("\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4"
               "\u03a5\u03a7", "ABEZHIKMNOPTYX")),  # Greek capitals
    **dict.fromkeys("\u2010\u2012\u2013\u2212", "-"),  # hyphen, figure dash, en dash, minus
}
_LOOK_ALIKE_TABLE = str.maketrans(LOOK_ALIKES)


def bad_character(text: str) -> str | None:
    """Why ``text`` cannot be a name or a value (``"holds a NUL character ..."``), or None."""
    if text.isascii() and "\x00" not in text:  # most texts; surrogates are not ASCII
        return None
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
    _refuse_look_alike(normal, known)
    shown = "" if normal == name else f" (in NFKC form {normal!r})"
    raise BadName(f"holds {_odd_character(normal)}{shown}, which no parameter name has: a name "
                  "is ASCII letters, digits, '_', '.' and '-', starting with a letter or '_'"
                  f"{_did_you_mean(normal, known)}")


def _refuse_look_alike(name: str, known: Iterable[str]) -> None:
    """Raise ``LookAlikeName`` when ``name`` is one of ``known`` once its look-alike letters
    are read as the ASCII letters they look like."""
    meant = name.translate(_LOOK_ALIKE_TABLE)
    if meant == name or not NAME_RE.fullmatch(meant) or meant not in set(known):
        return
    chars = ", ".join(f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, '?')}, not {LOOK_ALIKES[c]!r})"
                      for c in dict.fromkeys(c for c in name if c in LOOK_ALIKES))
    raise LookAlikeName(f"holds the look-alike {chars}; did you mean '{meant}'?")


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
            raise type(err)(str(err), name) from None  # a LookAlikeName stays one
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


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'exp.model'?"`` for the known name closest to ``name``, or ``""``
    (the suggestion every unknown name gets: parameters, facts, metrics, axes)."""
    return _did_you_mean(name, known)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'exp.model'?"`` for the known name closest to ``name``, or ``""``."""
    # Letters with marks lose them (``é`` -> ``e``); other non-ASCII characters count as misses.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    candidates = [n for n in known if NAME_RE.fullmatch(n)]
    import difflib  # only for a name that is not known (about 1 ms of every start-up)

    close = difflib.get_close_matches(ascii_name, candidates, n=1, cutoff=0.6) or \
        difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""

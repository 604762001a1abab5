"""Secrets out of everything dlbs shows or stores: the one redaction used wherever a database
URL or a command line is printed, written to a file, put in a page or in an error.

A password reaches a database driver in several forms, and each is hidden as ``***``:

* the URL's user information: ``postgresql+psycopg://user:PASSWORD@host/name``;
* an option in the URL's query: ``?password=PASSWORD`` (libpq and psycopg accept it),
  ``?sslpassword=``, ``?PGPASSWORD=``: any option whose name holds ``password``, ``passwd``,
  ``secret`` or ``token`` (``?passfile=`` and ``?service=`` name files: kept);
* a libpq connection string (``host=h password=PASSWORD``), as a driver may echo it, and in
  any text a ``NAME=value`` whose name ends in one of those words (``-Papi_token=...``).

The module imports only the standard library, so any layer may use it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

HIDDEN = "***"
#: A URL query option whose name carries a secret (percent-decoded; ``passfile``: a path).
_SECRET_NAME = re.compile(r"pass(word|wd)|secret|token", re.IGNORECASE)
#: ``scheme://`` of a URL inside a longer text.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: What may close a URL quoted in a text.
_CLOSERS = "'\"<>`"
#: ``:password@`` of a text meant as a URL that is none.
_LOOSE_USERINFO = re.compile(r":[^\s@]*@")
#: ``name=value`` of a libpq connection string whose name is a secret's.
_CONNINFO = re.compile(r"""(?P<name>\b\w*(?:pass(?:word|wd)|secret|token))"""
                       r"""(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s&;,'"]+)""",
                       re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (user information and secret query options) hidden; in a
    text meant as a URL but without ``scheme://`` (a typo: ``postgresql//me:pw@host``)
    whatever lies between a ``:`` and an ``@`` is hidden, and connection-string secrets."""
    match = _SCHEME.match(url)
    if not match:
        return _hide_conninfo(_LOOSE_USERINFO.sub(f":{HIDDEN}@", url))
    head, rest = url[:match.end()], url[match.end():]
    rest = _hide_userinfo(rest)
    return head + _hide_query(rest)


def redact_text(text: str) -> str:
    """A free text (an error message, a command line) with every URL's password and every
    connection-string secret in it hidden. A URL there ends at white space or a quote."""
    out, pos = [], 0
    for match in _SCHEME.finditer(text):
        if match.start() < pos:
            continue
        end = _url_end(text, match.end())
        out.append(_hide_conninfo(text[pos:match.start()]))
        out.append(redact_url(text[match.start():end]))
        pos = end
    out.append(_hide_conninfo(text[pos:]))
    return "".join(out)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with the secrets of each argument hidden (an argument is one word, so a
    URL in it may hold white space)."""
    return [redact_url(arg) if _SCHEME.match(arg) else redact_text(arg) for arg in argv]


def hide_values(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of the given secrets (a driver may echo the password
    it was given, decoded) replaced by ``***``, then :func:`redact_text`."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return redact_text(text)


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries (its password and secret query options), raw and decoded:
    what :func:`hide_values` needs to clean a driver's message."""
    found: list[str] = []
    match = _SCHEME.match(url)
    rest = url[match.end():] if match else url
    span = _password_span(rest)
    if span:
        found.append(rest[span[0]:span[1]])
    query = rest.partition("?")[2]
    for pair in re.split(r"[&;]", query):
        name, sep, value = pair.partition("=")
        if sep and value and _SECRET_NAME.search(unquote(name)):
            found.append(value)
    for match_ in _CONNINFO.finditer(url):
        found.append(match_.group("value").strip("'"))
    return sorted({v for s in found for v in (s, unquote(s), unquote(s.replace("+", " ")))
                   if v and v != HIDDEN})


def _url_end(text: str, start: int) -> int:
    """Where the URL starting at ``start`` ends: at white space, or at a quote or bracket that
    closes it (followed by the end, white space or punctuation). A quote followed by more of
    the word is part of it (a password may hold ``'``: ``u:pa'ss@host`` is one URL)."""
    end = start
    while end < len(text) and not text[end].isspace():
        if text[end] in _CLOSERS and (end + 1 == len(text) or text[end + 1].isspace()
                                      or text[end + 1] in _CLOSERS + ".,;:)]}"):
            break
        end += 1
    return end


def _password_span(rest: str) -> tuple[int, int] | None:
    """Where the password of ``user:password@host...`` lies in ``rest`` (the URL after its
    ``scheme://``), or None. SQLAlchemy ends the password at the first ``@`` after the colon;
    an unencoded ``@`` in the password would end it there, so the span runs on to the last
    ``@`` before the host's ``/`` or ``?`` (hiding too much rather than a part)."""
    colon = rest.find(":")
    if colon < 0 or "/" in rest[:colon]:
        return None
    at = rest.find("@", colon + 1)
    if at < 0:
        return None
    while True:
        after = re.search(r"[@/?#]", rest[at + 1:])
        if not after or after.group() != "@":
            break
        at = at + 1 + after.start()
    return colon + 1, at


def _hide_userinfo(rest: str) -> str:
    span = _password_span(rest)
    if not span:
        return rest
    return rest[:span[0]] + HIDDEN + rest[span[1]:]


def _hide_query(rest: str) -> str:
    """The query options of ``rest`` (after the first ``?`` past the user information) with
    every secret option's value hidden."""
    at = rest.find("@")
    base = at + 1 if at >= 0 and HIDDEN in rest[:at] else 0
    mark = rest.find("?", base)
    if mark < 0:
        return _hide_conninfo(rest)
    pairs = re.split(r"([&;])", rest[mark + 1:])
    for i in range(0, len(pairs), 2):
        name, sep, _ = pairs[i].partition("=")
        if sep and _SECRET_NAME.search(unquote(name)):
            pairs[i] = f"{name}={HIDDEN}"
        else:
            pairs[i] = _hide_conninfo(pairs[i])
    return rest[:mark + 1] + "".join(pairs)


def _hide_conninfo(text: str) -> str:
    return _CONNINFO.sub(lambda m: f"{m.group('name')}{m.group('eq')}{HIDDEN}", text)

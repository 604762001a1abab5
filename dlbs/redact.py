"""Secrets out of everything dlbs shows or stores: the one redaction used wherever a database
URL or a command line is printed, written to a file, put in a page or in an error.

A password reaches a database driver in several forms, and each is hidden as ``***``:

* the URL's user information: ``postgresql+psycopg://user:PASSWORD@host/name``. A password
  holding an ``@`` that is not percent-encoded is read two ways: SQLAlchemy ends it at the
  first ``@`` (and takes the rest for the host, the database or the query, which the driver
  echoes in its errors), urllib at the last ``@`` before the host. Both are hidden: from the
  colon to the URL's last ``@``;
* an option in the URL's query: ``?password=PASSWORD`` (libpq and psycopg accept it),
  ``?sslpassword=``, ``?PGPASSWORD=``, ``?pwd=``: any option whose name holds ``pass``,
  ``pwd``, ``secret``, ``token`` or ``credential`` (``?passfile=`` and ``?service=`` name
  files: kept);
* a libpq connection string (``host=h password=PASSWORD``), as a driver may echo it, and in
  any text a ``NAME=value`` whose name ends in one of those words (``-Papi_token=...``); in a
  URL's database name and query values also once percent-decoded
  (``?options=-c%20password%3DPASSWORD``, ``/db;password=PASSWORD``);
* a URL's fragment (``#...``, which no driver needs, but SQLAlchemy keeps in the database
  name, where it is rendered ``%23...``): hidden whole.

Each reading marks what it would take for a secret in the URL as written, and the union is
hidden: a part one reading takes for a host and another for a password is hidden.

The module imports only the standard library, so any layer may use it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote, unquote, unquote_plus

HIDDEN = "***"
#: A URL query option whose name carries a secret (percent-decoded; ``passfile``: a path).
_SECRET_NAME = re.compile(r"pass(?!file)|pwd|secret|token|credential", re.IGNORECASE)
#: What stays unencoded when a component with a hidden secret is written back.
_SAFE = "*=:,;/@!$'()~"
#: ``scheme://`` of a URL inside a longer text.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: What may close a URL quoted in a text.
_CLOSERS = "'\"<>`"
#: ``:password@`` of a text meant as a URL that is none (to the word's last ``@``).
_LOOSE_USERINFO = re.compile(r":\S*@")
#: ``?name=value`` (or ``&``, ``;``) anywhere in a URL: a query option as libpq and urllib
#: read it; the value runs to the next option or the fragment (an ``@`` or ``/`` in it too).
_OPTION = re.compile(r"[?&;](?P<name>[^=&;?#]*)=(?P<value>[^&;#]*)")
#: ``name=value`` of a libpq connection string whose name is a secret's.
_CONNINFO = re.compile(r"""(?P<name>\b\w*(?:pass(?:word|wd)?|pwd|secret|token|credentials?))"""
                       r"""(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|(?:[^\s&;,'"\\]|\\.)+)""",
                       re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (user information and secret query options) hidden; in a
    text meant as a URL but without ``scheme://`` (a typo: ``postgresql//me:pw@host``)
    whatever lies between a ``:`` and the last ``@`` is hidden, and connection-string
    secrets."""
    match = _SCHEME.match(url)
    if not match:
        return _hide_conninfo(_LOOSE_USERINFO.sub(f":{HIDDEN}@", url))
    head, rest = url[:match.end()], url[match.end():]
    rest = _hide_fragment(_mask(rest, _secret_spans(rest)))
    return head + _hide_query(rest)


def redact_text(text: str) -> str:
    """A free text (an error message, a command line) with every URL's password and every
    connection-string secret in it hidden. A URL there ends at white space or a quote."""
    out, pos = [], 0
    for match in _url_starts(text):
        if match.start() < pos:
            continue
        end = _url_end(text, match.end())
        out.append(_hide_conninfo(text[pos:match.start()]))
        out.append(redact_url(text[match.start():end]))
        pos = end
    out.append(_hide_conninfo(text[pos:]))
    return "".join(out)


def _url_starts(text: str) -> Iterator[re.Match[str]]:
    """The ``scheme://`` of each URL in ``text``, but for one inside a connection-string
    secret's value (``password='Q://Q'``: that value is hidden whole, as a secret, not read as
    a URL whose password it would not find)."""
    values = [match.span("value") for match in _CONNINFO.finditer(text)]
    for match in _SCHEME.finditer(text):
        if not any(start <= match.start() < end for start, end in values):
            yield match


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with the secrets of each argument hidden (an argument is one word, so a
    URL in it may hold white space: ``--db=URL`` too, whose URL runs to the argument's end)."""
    return [_redact_word(arg) for arg in argv]


def _redact_word(arg: str) -> str:
    """One argument: the text before its first URL, then that URL to the end, redacted."""
    match = next(_url_starts(arg), None)
    if not match:
        return redact_text(arg)
    return redact_text(arg[:match.start()]) + redact_url(arg[match.start():])


def hide_values(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of the given secrets (a driver may echo the password
    it was given, decoded) replaced by ``***``, then :func:`redact_text`."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return redact_text(text)


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries (its password and secret query options), raw and decoded,
    and the pieces of a password with an unencoded ``@`` that a driver reads as a host or a
    database: what :func:`hide_values` needs to clean a driver's message."""
    found: list[str] = []
    match = _SCHEME.match(url)
    rest = url[match.end():] if match else url
    for start, end in _secret_spans(rest):
        found.extend(_pieces(rest[start:end]))
    for text in {url, unquote(url), unquote_plus(url)}:
        for match_ in _CONNINFO.finditer(text):
            found.append(match_.group("value").strip("'"))
    found.append(_fragment(_hide_userinfo(rest)))  # a driver may echo the database name
    return sorted({v for s in found for v in (s, unquote(s), unquote(s.replace("+", " ")))
                   if v and v != HIDDEN})


def _pieces(secret: str) -> list[str]:
    """A secret and, when it holds an ``@``, what follows each ``@`` in it (SQLAlchemy ends
    a password at its first ``@`` and sends the rest to the driver as the host, which its
    error names: ``failed to resolve host 'ss@SECRET@db'``)."""
    return [secret] + [secret[i + 1:] for i, char in enumerate(secret)
                       if char == "@" and len(secret) - i > 4]


def _secret_spans(rest: str) -> list[tuple[int, int]]:
    """Where ``rest`` (a URL after its ``scheme://``) holds a secret under any reading: the
    password of its user information, and the value of each secret query option."""
    spans = [(m.start("value"), m.end("value")) for m in _OPTION.finditer(rest)
             if m.group("value") and _SECRET_NAME.search(unquote_plus(m.group("name")))]
    mark = rest.find("#")  # urllib: a fragment from the first '#' (libpq: an error naming it)
    if mark >= 0 and mark + 1 < len(rest):
        spans.append((mark + 1, len(rest)))
    password = _password_span(rest)
    return spans + [password] if password else spans


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by ``***``."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + HIDDEN + text[end:]
    return text


def _url_end(text: str, start: int) -> int:
    """Where the URL starting at ``start`` ends: at white space, or at a quote or bracket that
    closes it (followed by the end, white space or punctuation). A quote followed by more of
    the word is part of it (a password may hold ``'``: ``u:pa'ss@host`` is one URL). A URL
    already redacted ends before the punctuation after its last ``***``."""
    end = start
    while end < len(text) and not text[end].isspace():
        if text[end] in _CLOSERS and (end + 1 == len(text) or text[end + 1].isspace()
                                      or text[end + 1] in _CLOSERS + ".,;:)]}"):
            break
        end += 1
    if end > start and text[end - 1] in ":,.;)" and text[start:end - 1].endswith(HIDDEN):
        end -= 1  # 'URL_ALREADY_SHOWN***: reason': the colon is the message's, kept
    return end


def _password_span(rest: str) -> tuple[int, int] | None:
    """Where the password of ``user:password@host...`` lies in ``rest`` (the URL after its
    ``scheme://``), or None. SQLAlchemy takes the text after the first ``:`` (with no ``/``
    before it) up to the first ``@`` for the password, and whatever follows up to ``/`` ``:``
    ``?`` for the host, ``@`` included; urllib ends the password at the last ``@`` before the
    host's ``/``. An unencoded ``@`` in the password makes the two differ, and the part after
    it may reach past a ``/`` (``u:p@a/b@host``: SQLAlchemy's host ``a``, database
    ``b@host``): the span runs to the last ``@`` of the URL (hiding too much rather than a
    part; a query value holding an ``@`` is hidden with it)."""
    colon = rest.find(":")
    if colon < 0 or "/" in rest[:colon]:
        return None
    at = rest.rfind("@", colon + 1)
    if at < 0:
        return None
    return colon + 1, at


def _hide_userinfo(rest: str) -> str:
    span = _password_span(rest)
    if not span:
        return rest
    return rest[:span[0]] + HIDDEN + rest[span[1]:]


def _authority_end(rest: str) -> int:
    """Where the host part of ``rest`` (a URL after its ``scheme://``, its password already
    hidden) ends: past the ``@`` of the user information, at the first ``/``, ``?`` or ``#``."""
    at = rest.find("@")
    base = at + 1 if at >= 0 and HIDDEN in rest[:at] else 0
    after = re.search(r"[/?#]", rest[base:])
    return base + after.start() if after else len(rest)


def _fragment_start(rest: str) -> int | None:
    """Where the fragment of ``rest`` begins (just past its ``#``, or past a ``%23`` in the
    database name, as SQLAlchemy renders a ``#`` there), or None."""
    start = _authority_end(rest)
    mark = rest.find("#", start)
    path = rest[start:].partition("?")[0]
    encoded = path.upper().find("%23")
    if encoded >= 0 and (mark < 0 or start + encoded < mark):
        return start + encoded + 3
    return mark + 1 if mark >= 0 else None


def _fragment(rest: str) -> str:
    """The fragment of ``rest`` (what :func:`_hide_fragment` hides), or ``""``."""
    begin = _fragment_start(rest)
    if begin is None:
        return ""
    return rest[begin:] if rest[begin - 1] == "#" else rest[begin:].partition("?")[0]


def _hide_fragment(rest: str) -> str:
    """``rest`` with its fragment hidden: after a ``#``, everything; after a ``%23`` in the
    database name, the rest of that name (the query keeps its options)."""
    begin = _fragment_start(rest)
    if begin is None:
        return rest
    if rest[begin - 1] == "#":
        return rest[:begin] + HIDDEN
    mark = rest.find("?", begin)
    return rest[:begin] + HIDDEN + (rest[mark:] if mark >= 0 else "")


def _hide_query(rest: str) -> str:
    """``rest`` with every secret in its database name and query hidden: the value of each
    option whose name is a secret's, and any ``password=...`` inside a name or a value, also
    once percent-decoded."""
    start = _authority_end(rest)
    mark = rest.find("?", start)
    if mark < 0:
        return rest[:start] + _hide_component(rest[start:], plus=False)
    pairs = re.split(r"([&;])", rest[mark + 1:])
    for i in range(0, len(pairs), 2):
        name, sep, _ = pairs[i].partition("=")
        if sep and _SECRET_NAME.search(unquote_plus(name)):
            pairs[i] = f"{name}={HIDDEN}"
        else:
            pairs[i] = _hide_component(pairs[i], plus=True)
    return (rest[:start] + _hide_component(rest[start:mark], plus=False) + "?"
            + "".join(pairs))


def _hide_component(text: str, plus: bool) -> str:
    """A database name or a query's ``name=value`` with its connection-string secrets hidden;
    when one shows only once percent-decoded (``-c%20password%3DPW``), the decoded text with
    it hidden is written back encoded (``plus``: a query's ``+`` is a space)."""
    hidden = _hide_conninfo(text)
    decoded = unquote_plus(text) if plus else unquote(text)
    if decoded == text:
        return hidden
    cleaned = _hide_conninfo(decoded)
    if cleaned == decoded:
        return hidden
    encoded = quote(cleaned, safe=_SAFE + ("&" if not plus else ""))
    return encoded.replace("%20", "+") if plus else encoded


def _hide_conninfo(text: str) -> str:
    return _CONNINFO.sub(lambda m: f"{m.group('name')}{m.group('eq')}{HIDDEN}", text)

"""Which database a command uses, and how it is shown.

``--db URL`` wins, else the environment variable ``DLBS_DB``; a URL is an SQLAlchemy URL
(``sqlite:///results.db``, ``postgresql+psycopg://user:password@host:5432/name``). A URL is
shown only with its secrets hidden (``***``: the password, and ``?password=``-style options,
by :mod:`dlbs.redact`): in errors, logs, reports, pages and facts.
"""
from __future__ import annotations

import os
import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dlbs.errors import DLBSError
from dlbs.redact import redact_url

ENV = "DLBS_DB"
#: The drivers this project installs and tests (pyproject.toml): SQLite (standard library) and
#: PostgreSQL through psycopg 3.
SUPPORTED = ("sqlite", "postgresql")


class DatabaseError(DLBSError):
    """A database that cannot be used: one line naming the (redacted) URL and what to do."""

    exit_code = 2


def resolve(arg: str | None) -> URL:
    """The URL given with ``--db``, else ``$DLBS_DB``; a one-line error when neither is set or
    the text is not a URL of a supported database."""
    text = arg or os.environ.get(ENV, "")
    if not text:
        raise DatabaseError(f"no database: give --db URL (e.g. --db sqlite:///results.db) or set "
                            f"{ENV}")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseError(f"--db: not a database URL ({_unparsed_shown(text)}); use e.g. "
                            "sqlite:///results.db or postgresql+psycopg://user@host/name") from None
    check_unencoded_at(url, text)
    if url.get_backend_name() not in SUPPORTED:
        raise DatabaseError(f"--db {shown(url)}: unsupported database "
                            f"'{url.get_backend_name()}'; use sqlite or postgresql+psycopg")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")
    check_persistent(url)
    return url


def check_unencoded_at(url: URL, text: str) -> None:
    """Refuse a server's URL with more than one ``@`` (or a user, host or database holding
    one): a password with an unencoded ``@`` (``user:p@ss@host``), which SQLAlchemy ends at
    its first ``@``, sending the rest to the driver as the host (or the query's option
    names), whose error would name it. An SQLite URL is a path, where ``@`` is a letter."""
    if url.get_backend_name() == "sqlite":
        return
    pieces = [url.username, url.host] + ([url.database] if url.password is not None else [])
    if text.count("@") > 1 or any("@" in (piece or "") for piece in pieces):
        raise DatabaseError(f"--db {redact_url(text)}: an '@' that is not percent-encoded "
                            "leaves the password's end unclear (the driver would take part of "
                            "it for the host); write '@' in a password or an option as %40 (and "
                            "'/' as %2F, '?' as %3F, '#' as %23, '%' as %25)")


#: An authority without '@' whose "port" is not a number: ``postgresql://user:password``
#: (the host forgotten) reads as host ``user``, port ``password``.
_PORTLESS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:)([^/?#@]*)(.*)$", re.DOTALL)


def _unparsed_shown(text: str) -> str:
    """A URL SQLAlchemy could not read, shown with its secrets hidden: besides what
    :func:`redact_url` hides, a "port" that is not a number, which is a password whose
    host was left out (``postgresql://u:SECRET`` was printed whole)."""
    hidden = redact_url(text)
    match = _PORTLESS.match(hidden)
    if match and not match.group(2).isdigit():
        return f"{match.group(1)}***{match.group(3)}"
    return hidden


def check_persistent(url: URL) -> None:
    """Refuse an SQLite URL that names no file (``sqlite://``) or an in-memory database
    (``sqlite:///:memory:``, ``mode=memory``): every command stores into, or reads from, a
    database that outlives it, and such a one is gone when the command ends (an ingest into
    it said "3 new run(s)" and kept nothing)."""
    if url.get_backend_name() != "sqlite":
        return
    name, where = url.database or "", unquote(shown(url))  # as typed (no secret in a file's)
    if not name.strip():
        raise DatabaseError(f"--db {where}: no database file named; give one, e.g. "
                            "--db sqlite:///results.db")
    if _keeps_nothing(url):
        raise DatabaseError(f"--db {where}: an in-memory database keeps nothing (it is "
                            "gone when this command ends); give a file, e.g. "
                            "--db sqlite:///results.db")


def _query_values(url: URL, key: str) -> tuple[str, ...]:
    """Every value of the URL's option ``key`` (SQLAlchemy gives a repeated one as a tuple)."""
    value = url.query.get(key, ())
    return (value,) if isinstance(value, str) else tuple(value)


def _keeps_nothing(url: URL) -> bool:
    """Whether SQLite would open this URL as a database gone when the connection closes:
    ``:memory:``, ``file::memory:``, any ``mode=memory``, the in-memory VFS (``vfs=memdb``),
    or a ``file:`` URI naming no path (``file:?uri=true`` is a temporary database, deleted on
    close: an ingest into it said "1 new run(s)" and kept nothing)."""
    name = url.database or ""
    if name == ":memory:" or name.startswith("file::memory:"):
        return True
    if "memory" in _query_values(url, "mode") or "memdb" in _query_values(url, "vfs"):
        return True
    if name.startswith("file:"):
        return not uri_path(name).strip()
    return False


def uri_path(name: str) -> str:
    """The path of an SQLite ``file:`` URI (``file:x.db?mode=ro``, ``file:///abs/x.db``),
    still percent-encoded; ``""`` when it names none."""
    path = name[len("file:"):].split("?", 1)[0].split("#", 1)[0]
    if path.startswith("//"):  # file://authority/path: the path follows the authority
        slash = path.find("/", 2)
        path = path[slash:] if slash >= 0 else ""
    return path


def shown(url: URL | str) -> str:
    """The URL with its secrets hidden (:func:`dlbs.redact.redact_url`)."""
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    return redact_url(url)

"""Which database a command uses, and how it is shown.

``--db URL`` wins, else the environment variable ``DLBS_DB``; a URL is an SQLAlchemy URL
(``sqlite:///results.db``, ``postgresql+psycopg://user:password@host:5432/name``). A URL is
shown only with its secrets hidden (``***``: the password, and ``?password=``-style options,
by :mod:`dlbs.redact`): in errors, logs, reports, pages and facts.
"""
from __future__ import annotations

import os

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
        raise DatabaseError(f"--db: not a database URL ({redact_url(text)}); use e.g. "
                            "sqlite:///results.db or postgresql+psycopg://user@host/name") from None
    if url.get_backend_name() not in SUPPORTED:
        raise DatabaseError(f"--db {shown(url)}: unsupported database "
                            f"'{url.get_backend_name()}'; use sqlite or postgresql+psycopg")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown(url: URL | str) -> str:
    """The URL with its secrets hidden (:func:`dlbs.redact.redact_url`)."""
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    return redact_url(url)

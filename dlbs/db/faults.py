"""A database that fails under a command (a server gone, a full disk, a read-only file, a
schema of a newer dlbs) as one line: the URL without its secrets, what was being done, the
driver's own reason (its first line: never the SQL text or its parameters, never a
password) and what to do. The database itself stays consistent: a failed transaction is
rolled back by the database, so nothing is half-stored.

This module only words errors; it opens nothing.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from dlbs.db.packed import PackError
from dlbs.db.url import DatabaseError, shown
from dlbs.redact import hide_values, url_secrets

F = TypeVar("F", bound=Callable[..., Any])

#: (words of the driver's message, what to do): the first match gives the advice.
ADVICE = (
    (("disk is full", "no space left", "could not extend file", "disk full"),
     "free space where the database lives, then run the command again"),
    (("readonly database", "read-only", "permission denied", "readonly"),
     "this command writes to the database: use a file or a role that may write"),
    (("packed facts", "user-defined function raised exception"),
     ("the database file is damaged or a newer dlbs wrote it: use that dlbs, or a copy of "
      "the file from before the damage")),
    (("database is locked",),
     "another program holds the database file; try again when it is done"),
    (("server closed the connection", "connection failed", "terminating connection",
      "connection refused", "connection is closed", "connection timed out", "ssl syscall",
      "could not connect", "consuming input failed", "the connection is lost"),
     "check that the server runs and can be reached, then run the command again"),
)
GENERIC = "check the database, then run the command again"
#: The advice for a server that cannot be reached (opening a database: the URL may be wrong).
UNREACHABLE = ADVICE[4][1]


def reason_of(err: BaseException, url: URL) -> str:
    """The first line of the driver's message (SQLAlchemy's own text adds the SQL and its
    parameters on further lines: left out), with the URL's secrets hidden."""
    text = str(getattr(err, "orig", None) or err).strip()
    line = text.splitlines()[0].strip() if text else type(err).__name__
    raw = url.render_as_string(hide_password=False)
    return hide_values(line, [*url_secrets(raw), url.password])


def advice_for(reason: str) -> str:
    """What to do about a driver's message."""
    lowered = reason.lower()
    for words, advice in ADVICE:
        if any(word in lowered for word in words):
            return advice
    return GENERIC


def failure(url: URL, what: str, err: BaseException, note: str = "") -> DatabaseError:
    """One line: ``--db URL: WHAT failed (REASON)NOTE; ADVICE``."""
    reason = reason_of(err, url)
    return DatabaseError(f"--db {shown(url)}: {what} failed ({reason}){note}; "
                         f"{advice_for(reason)}")


def guarded(what: str, note: str = "") -> Callable[[F], F]:
    """A method of a room of the store (``dlbs.db.writes``, ``queries``, ``summary``), or a
    function whose first argument is one (``dlbs.db.ingest``), whose database errors become
    one-line :class:`DatabaseError` (``what`` names the action: 'ingest', 'the query')."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (SQLAlchemyError, PackError) as err:
                raise failure(self.url, what, err, note) from None
        return cast(F, run)
    return wrap

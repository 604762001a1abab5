"""PostgreSQL: new runs stored with ``COPY`` (issue 34: ingest of 20,000 logs < 15 s).

A multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of 500 runs is one statement of
about 13,000 parameters: the driver splits its text in Python each time (it is too long for
its cache) and the server parses it again, about a third of an ingest's time. ``COPY`` streams
the rows instead: into a temporary table of the transaction, from which one short statement
moves the new runs (by identity, in the order given) into ``runs``, returning their ids.
The facts go as the JSON text the server parses into ``jsonb`` (made by the parsing workers
where they can), the same value the ``JSONB`` column type would send.

A role without the database's TEMPORARY privilege (a hardened server revokes it from PUBLIC)
stores its runs with the ``INSERT`` as before (:func:`can_stage`).

A row the server rejects (text ``jsonb`` cannot hold, a number too large for its column)
fails the ``COPY`` with the driver's error, raised here as SQLAlchemy's (``DataError``,
``IntegrityError``, ``OperationalError``...), so that the ingest's fallback (one run at a
time, the rejected one refused and named) and the retries work as for an ``INSERT``.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from dlbs.db.schema import run_times, runs

#: The columns a new run is given (its id comes from the sequence).
COLUMNS: tuple[str, ...] = tuple(c.name for c in runs.columns if c.name != "id")
#: The transaction's staging table (emptied when the transaction ends).
STAGING = "dlbs_incoming_runs"


def facts_text(facts: Any) -> str:
    """The JSON text of a run's facts as the ``JSONB`` column type writes it (``json.dumps``);
    text already (made by a parsing worker) passes unchanged."""
    return facts if isinstance(facts, str) else json.dumps(facts)


def with_facts_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its facts as an object again where a worker made them JSON text (the
    ``INSERT`` of a role that may not stage: the ``JSONB`` type encodes the object)."""
    facts = row.get("facts")
    return {**row, "facts": json.loads(facts)} if isinstance(facts, str) else dict(row)


def _quoted(name: str) -> str:
    return f'"{name}"'


class _QuietCopyCleanup(logging.Filter):
    """Drops psycopg's own warning when a COPY ends on a lost connection ("error ignored
    terminating <psycopg.Copy ...>"): the error itself is the command's one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


@contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's, as ``Connection.execute`` raises them."""
    import psycopg

    quiet = _QuietCopyCleanup()
    logger = logging.getLogger("psycopg")
    logger.addFilter(quiet)
    try:
        yield
    except psycopg.Error as err:
        raise DBAPIError.instance(statement, None, err, psycopg.Error) from err
    finally:
        logger.removeFilter(quiet)


def can_stage(conn: Connection) -> bool:
    """Whether this role may create the staging table (the database's TEMPORARY privilege,
    which a hardened server revokes from PUBLIC): without it runs are inserted as before
    (a slower ingest, the same rows). Asked once a connection."""
    known = conn.info.get("dlbs_can_stage")
    if known is None:
        known = bool(conn.exec_driver_sql(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY')").scalar())
        conn.info["dlbs_can_stage"] = known
    return bool(known)


def _cursor(conn: Connection) -> Any:
    """A cursor of the driver's connection under ``conn`` (in its transaction)."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def copy_runs(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """Store ``rows`` (``runs`` rows without ids, distinct identities) that are not stored
    yet, in their order; ``(id, identity)`` of each new one."""
    columns = ", ".join(_quoted(c) for c in COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ON COMMIT DELETE ROWS AS "
        f"SELECT 0::bigint AS dlbs_order, {columns} FROM runs WITH NO DATA")
    conn.exec_driver_sql(f"DELETE FROM {STAGING}")
    copy = f"COPY {STAGING} (dlbs_order, {columns}) FROM STDIN"
    facts_at = COLUMNS.index("facts")
    with _as_sqlalchemy_errors(copy), _cursor(conn) as cursor, cursor.copy(copy) as stream:
        for order, row in enumerate(rows):
            values = [row.get(c) for c in COLUMNS]
            values[facts_at] = facts_text(values[facts_at])
            stream.write_row((order, *values))
    return [(int(i), str(identity)) for i, identity in conn.exec_driver_sql(
        f"INSERT INTO runs ({columns}) SELECT {columns} FROM {STAGING} ORDER BY dlbs_order "
        "ON CONFLICT (identity) DO NOTHING RETURNING id, identity").all()]


def copy_times(conn: Connection, children: Sequence[Mapping[str, Any]]) -> None:
    """The ``run_times`` rows of runs :func:`copy_runs` has just stored (new ids: none of them
    has a row yet)."""
    copy = f"COPY {run_times.name} (run_id, times) FROM STDIN"
    with _as_sqlalchemy_errors(copy), _cursor(conn) as cursor, cursor.copy(copy) as stream:
        for child in children:
            stream.write_row((child["run_id"], json.dumps(child["times"])))

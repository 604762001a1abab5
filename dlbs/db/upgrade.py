"""The schema's upgrade to the newest Alembic revision (``migrations/``), and the compaction of
an SQLite file after the revision that packed its facts.

Several processes may open an old database at once: on PostgreSQL an advisory lock serialises
their upgrades; on SQLite the whole upgrade is one transaction that holds the write lock, and
a process that finds another's revision already there stops. Alembic is imported here only,
when a database needs it (:mod:`dlbs.db.revisions` reads the revision without it).

This module changes the schema; it stores, reads and words no run.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from dlbs.db.connection import Database, retrying
from dlbs.db.faults import reason_of

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The schema revision that packs SQLite's facts (a database upgraded across it is compacted).
PACKED_REVISION = "0004"
#: PostgreSQL's advisory lock of the upgrading transactions.
UPGRADE_LOCK = 7301991


class AlembicError(Exception):
    """Stands for ``alembic.util.CommandError`` in an ``except`` (Alembic is imported only
    to upgrade: :func:`upgrade` turns its error into this one)."""


def upgrade(db: Database) -> bool:
    """Bring the schema to the newest Alembic revision; False when another process
    brought it there first (several processes at once: on PostgreSQL an advisory lock
    serialises them; on SQLite the loser retries, or finds the winner's revision)."""
    from alembic.util import CommandError

    for attempt in range(5):
        try:
            retrying(lambda: _upgrade_once(db))
            return True
        except CommandError as err:
            # SQLite: another process upgraded between this one's reading of the revision
            # and its writing of the new one (Alembic finds no row to move on)
            if _at_head(db):
                return False
            raise AlembicError(str(err)) from err
        except (OperationalError, DBAPIError) as err:
            if attempt == 4 or "already exists" not in str(err).lower():
                raise
            time.sleep(0.2)
    return True


def _upgrade_once(db: Database) -> None:
    """One transaction of Alembic's upgrade to ``head``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
        else:  # the whole upgrade in one transaction that holds the write lock:
            # Python's sqlite3 runs DDL outside a transaction unless one was begun,
            # so another process saw half-made tables ("already exists")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _at_head(db: Database) -> bool:
    from dlbs.db.revisions import current, known
    return current(db.engine) == known()[1]


def compact(db: Database) -> None:
    """SQLite: return the space a rewrite of the rows freed to the disk (``VACUUM``, once,
    after the upgrade that packed the facts); a failure (a full disk) is a warning, the
    database stays as it is."""
    if db.backend != "sqlite" or db.url.database in (None, "", ":memory:"):
        return
    try:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")
    except SQLAlchemyError as err:
        print(f"warning: --db {db.shown}: the facts are packed, but returning the freed "
              f"space to the disk failed ({reason_of(err, db.url)}); the file keeps its "
              "size until SQLite's VACUUM runs", file=sys.stderr)

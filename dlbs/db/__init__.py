"""The results database: runs of every log kept across commits and dates (SQLite by default,
PostgreSQL for teams), their history along an axis and the regressions in it.

``open_store(url)`` opens and migrates a database (:mod:`dlbs.db.store`); the schema is
:mod:`dlbs.db.schema` (Alembic revisions in ``migrations/``), a run's row and comparability key
:mod:`dlbs.db.records`, histories and regressions :mod:`dlbs.db.history`.
"""
from __future__ import annotations

from dlbs.db.store import IngestResult, RunRecord, Store, open_store
from dlbs.db.url import DatabaseError

__all__ = ["DatabaseError", "IngestResult", "RunRecord", "Store", "open_store"]

"""The results database: runs of every log kept across commits and dates (SQLite by default,
PostgreSQL for teams), their history along an axis and the regressions in it.

``open_store(url)`` opens and migrates a database (:mod:`dlbs.db.store`, a facade over
``connection``, ``writes``, ``ingest``, ``queries``, ``summary`` and ``upgrade``); the schema
is :mod:`dlbs.db.schema` (Alembic revisions in ``migrations/``), a run's row and comparability
key :mod:`dlbs.db.records`, histories :mod:`dlbs.db.history` (series built by
:mod:`dlbs.db.series`, regressions judged by :mod:`dlbs.db.changes`).
"""
from __future__ import annotations

from dlbs.db.store import IngestResult, RunRecord, Store, open_store
from dlbs.db.url import DatabaseError

__all__ = ["DatabaseError", "IngestResult", "RunRecord", "Store", "open_store"]

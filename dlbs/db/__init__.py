"""The results database: runs of every log kept across commits and dates (SQLite by default,
PostgreSQL for teams), their history along an axis and the regressions in it.

``open_store(url)`` opens and migrates a database (:mod:`dlbs.db.store`, a facade over
``connection``, ``writes``, ``ingest``, ``queries``, ``summary`` and ``upgrade``); the schema
is :mod:`dlbs.db.schema` (Alembic revisions in ``migrations/``), a run's row and comparability
key :mod:`dlbs.db.records`, histories :mod:`dlbs.db.history` (series built by
:mod:`dlbs.db.series`, regressions judged by :mod:`dlbs.db.changes`).

SQLAlchemy, Alembic and psycopg are the ``db`` extra (docs/install.md): the names below are
imported when first used, so the modules that need none of them (``records``: a run's key,
read by ``bisect`` and ``dlbs db``'s options) import without it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbs.db.store import IngestResult, RunRecord, Store, open_store
    from dlbs.db.url import DatabaseError

__all__ = ["DatabaseError", "IngestResult", "RunRecord", "Store", "open_store"]


def __getattr__(name: str) -> Any:
    """``from dlbs.db import open_store``: the store's names, imported when first asked for."""
    if name == "DatabaseError":
        from dlbs.db import url
        return url.DatabaseError
    if name in ("IngestResult", "RunRecord", "Store", "open_store"):
        from dlbs.db import store
        return getattr(store, name)
    raise AttributeError(f"module 'dlbs.db' has no attribute {name!r}")

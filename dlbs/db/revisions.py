"""Which schema revision a results database is at, against the Alembic revisions of this
dlbs (``migrations/versions``): at the newest (nothing to write), older (to upgrade), or
stamped by a newer dlbs (refused in one line: this dlbs cannot know its tables).

Reading only: the upgrade itself is :meth:`dlbs.db.store.Store.upgrade`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from dlbs.db.url import DatabaseError, shown

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@lru_cache(maxsize=1)
def known() -> tuple[frozenset[str], str]:
    """The revisions this dlbs knows, and the newest."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    revisions = frozenset(r.revision for r in script.walk_revisions())
    return revisions, str(script.get_current_head())


def current(engine: Engine) -> str | None:
    """The revision stamped in the database; None for a database without the schema."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def needs_upgrade(engine: Engine, url: URL) -> bool:
    """Whether the database is older than this dlbs (or empty); a one-line
    :class:`DatabaseError` when a newer dlbs wrote it."""
    revision = current(engine)
    revisions, head = known()
    if revision is not None and revision not in revisions:
        raise DatabaseError(f"--db {shown(url)}: the schema is at revision '{revision}', "
                            f"written by a newer dlbs (this one knows up to '{head}'); use "
                            "that dlbs (or a newer one) with this database")
    return revision != head

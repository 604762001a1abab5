"""SQLite keeps each run's facts packed: zlib with a preset dictionary (``dlbs.db.packed``),
about a twentieth of the JSON text, which every query reads back unchanged. The rows are
rewritten in place, in batches; SQL reads the packed facts through ``dlbs_facts(facts)``.
PostgreSQL is unchanged (``jsonb``, revision 0003; TOAST compresses long values itself).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dlbs.db import packed

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Rows rewritten per statement batch (bounded memory on a database of a million runs).
BATCH = 5000


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rewrite("text", lambda value: packed.pack_text(value))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rewrite("blob", lambda value: packed.unpack_text(value))


def _rewrite(stored_as: str, convert: object) -> None:
    """Every row whose facts are stored as ``stored_as`` (SQLite's typeof), converted."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, facts FROM runs WHERE id > :last AND typeof(facts) = :kind "
            "ORDER BY id LIMIT :batch"), {"last": last, "kind": stored_as, "batch": BATCH}).all()
        if not rows:
            return
        bind.execute(sa.text("UPDATE runs SET facts = :facts WHERE id = :id"),
                     [{"id": run_id, "facts": convert(value)}  # type: ignore[operator]
                      for run_id, value in rows])
        last = rows[-1][0]

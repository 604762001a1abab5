"""PostgreSQL keeps the facts as ``jsonb`` (parsed once, when stored) with a GIN index
(``jsonb_path_ops``) that filters on facts without a column of their own use
(``facts @> {...}``); SQLite is unchanged (its JSON is text either way).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE runs ALTER COLUMN facts TYPE jsonb USING facts::jsonb")
    op.execute("CREATE INDEX ix_runs_facts ON runs USING gin (facts jsonb_path_ops)")
    op.execute("ANALYZE runs")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_runs_facts")
    op.execute("ALTER TABLE runs ALTER COLUMN facts TYPE json USING facts::json")

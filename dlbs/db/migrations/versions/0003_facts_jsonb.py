"""PostgreSQL keeps the facts as ``jsonb`` (parsed once, when stored) with a GIN index
(``jsonb_path_ops``) that filters on facts without a column of their own use
(``facts @> {...}``); SQLite is unchanged (its JSON is text either way). jsonb holds no NUL
character: a stored fact's NUL (json accepted it) becomes U+FFFD first, so that the cast
cannot fail (new runs with one are refused on both engines, ``records.refusal``).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

#: What a NUL in a stored fact becomes (the replacement character: visibly not the text).
REPLACEMENT = "\ufffd"

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace_nul()
    op.execute("ALTER TABLE runs ALTER COLUMN facts TYPE jsonb USING facts::jsonb")
    op.execute("CREATE INDEX ix_runs_facts ON runs USING gin (facts jsonb_path_ops)")
    op.execute("ANALYZE runs")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_runs_facts")
    op.execute("ALTER TABLE runs ALTER COLUMN facts TYPE json USING facts::json")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _replace_nul() -> None:
    """The rows whose facts hold a NUL (their JSON text holds the escape ``\\u0000``; a
    text that only says so is rewritten unchanged), rewritten without it."""
    bind = op.get_bind()
    found = bind.execute(sa.text(
        "SELECT id, facts::text FROM runs WHERE strpos(facts::text, :escape) > 0"),
        {"escape": "\\u0000"}).all()
    for run_id, text in found:
        facts = json.dumps(_without_nul(json.loads(text)))
        bind.execute(sa.text("UPDATE runs SET facts = CAST(:facts AS json) WHERE id = :id"),
                     {"facts": facts, "id": run_id})

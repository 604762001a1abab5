"""The index of ``regressions --latest``: the newest code versions of each series are chosen
from it alone (``Store.newest_point_rows``), without reading the rows and their facts.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ["comparability_key", "code_version", "status", "throughput", "time_mean", "date",
           "id"]


def upgrade() -> None:
    op.create_index("ix_runs_key_version", "runs", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_runs_key_version", table_name="runs")

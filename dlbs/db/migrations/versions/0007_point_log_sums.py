"""Each ``points`` row keeps the exact sums of its usable runs' log values (``log_sums``:
``dlbs.db.pointvalue.LogSums``), so that an ingest adds its new runs to a point instead of
reading every run of the version (50,000 runs of one version made each batch read them all);
the statistics are now computed from exact sums (rounded once), so every row is made anew.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dlbs.db import points

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("points", sa.Column("log_sums", sa.String(200)))
    points.fill_points(op.get_bind())


def downgrade() -> None:
    op.drop_column("points", "log_sums")

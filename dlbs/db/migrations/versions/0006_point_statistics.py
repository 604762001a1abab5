"""Each ``points`` row keeps its point's statistics (``runs``, ``value``, ``low``, ``high``,
``se``: ``dlbs.db.pointvalue``, over the version's usable runs, excluded or not), so that
``regressions --latest`` reads the window's points and not their runs; ``first_id`` becomes the
id of the version's oldest run by date, then id (the run a history names the point by). Every
row is made anew from the stored runs.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dlbs.db import points

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATISTICS = (("runs", sa.Integer), ("value", sa.Float), ("low", sa.Float),
              ("high", sa.Float), ("se", sa.Float))


def upgrade() -> None:
    for name, kind in STATISTICS:
        op.add_column("points", sa.Column(name, kind))
    points.fill_points(op.get_bind(), sums=False)  # the sums' column comes in 0007


def downgrade() -> None:
    for name, _ in reversed(STATISTICS):
        op.drop_column("points", name)

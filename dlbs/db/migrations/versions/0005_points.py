"""The tables ``regressions --latest`` chooses its window from (``dlbs.db.points``): ``series``
(one row per comparability key, with the indexed columns its runs share), ``points`` (one
row per series, summary metric and code version with a usable run) and ``classes`` (the
runs of a series counted by status and what they hold), filled from the runs already stored. From then on every change to the runs or exclusions keeps them.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dlbs.db import points

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("comparability_key", sa.String(64), nullable=False, unique=True),
        sa.Column("model", sa.String(200)),
        sa.Column("phase", sa.String(40)),
        sa.Column("precision", sa.String(40)),
        sa.Column("batch", sa.Integer),
        sa.Column("device", sa.String(40)),
        sa.Column("device_count", sa.Integer),
        sa.Column("framework", sa.String(40)),
        sa.Column("framework_version", sa.String(80)),
    )
    op.create_index("ix_series_config", "series", ["model", "phase", "precision", "batch"])
    op.create_table(
        "points",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("metric", sa.Integer, nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("first_date", sa.DateTime(timezone=False), nullable=False),
        sa.Column("first_id", sa.Integer, nullable=False),
        sa.Column("live", sa.Integer, nullable=False),
    )
    op.create_index("ix_points_window", "points",
                    ["series_id", "metric", "live", "first_date", "first_id"])
    op.create_index("ix_points_version", "points", ["series_id", "code_version"])
    op.create_table(
        "classes",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("has_throughput", sa.Integer, nullable=False),
        sa.Column("has_time", sa.Integer, nullable=False),
        sa.Column("has_version", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
    )
    op.create_index("ix_classes_class", "classes", ["series_id", "status", "has_throughput",
                                                    "has_time", "has_version"], unique=True)
    points.fill(op.get_bind())  # series and classes; points: revision 0006 (with statistics)


def downgrade() -> None:
    op.drop_index("ix_classes_class", table_name="classes")
    op.drop_table("classes")
    op.drop_index("ix_points_version", table_name="points")
    op.drop_index("ix_points_window", table_name="points")
    op.drop_table("points")
    op.drop_index("ix_series_config", table_name="series")
    op.drop_table("series")

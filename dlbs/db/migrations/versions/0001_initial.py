"""The first schema: runs, run_times, exclusions (dlbs/db/schema.py).

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_INDEXED = ("device", "device_count", "host", "framework", "framework_version",
            "container_image", "code_version", "date", "repeat", "status")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identity", sa.String(64), nullable=False, unique=True),
        sa.Column("comparability_key", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("phase", sa.String(40)),
        sa.Column("precision", sa.String(40)),
        sa.Column("batch", sa.Integer),
        sa.Column("device", sa.String(40)),
        sa.Column("device_model", sa.String(200)),
        sa.Column("device_count", sa.Integer),
        sa.Column("host", sa.String(200)),
        sa.Column("framework", sa.String(40)),
        sa.Column("framework_version", sa.String(80)),
        sa.Column("container_image", sa.String(400)),
        sa.Column("code_version", sa.String(200)),
        sa.Column("date", sa.DateTime(timezone=False)),
        sa.Column("repeat", sa.Integer),
        sa.Column("status", sa.String(40)),
        sa.Column("throughput", sa.Float),
        sa.Column("time_mean", sa.Float),
        sa.Column("time_ci_low", sa.Float),
        sa.Column("time_ci_high", sa.Float),
        sa.Column("ess", sa.Float),
        sa.Column("steady_state", sa.Boolean),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("ingested_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index("ix_runs_config", "runs", ["model", "phase", "precision", "batch"])
    op.create_index("ix_runs_key_date", "runs", ["comparability_key", "date"])
    for name in _INDEXED:
        op.create_index(f"ix_runs_{name}", "runs", [name])
    op.create_table(
        "run_times",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("times", sa.JSON, nullable=False),
    )
    op.create_table(
        "exclusions",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excluded_at", sa.DateTime(timezone=False), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exclusions")
    op.drop_table("run_times")
    op.drop_table("runs")

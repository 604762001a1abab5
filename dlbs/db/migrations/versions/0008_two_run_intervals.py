"""A point of two runs keeps no interval (``benchstats.estimate.MIN_RUNS_FOR_INTERVAL``):
Student's t on one degree of freedom gave runs of 3.72 and 8.34 samples/s the interval
[0.033, 940.6]. The rows stored before hold such intervals: theirs are removed (one statement:
a row of two runs is the only kind whose interval changed; its value and standard error stay).

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE points SET low = NULL, high = NULL WHERE runs = 2")


def downgrade() -> None:
    """Nothing to undo: the rows hold the same columns (the intervals of two-run points come
    back only through a downgrade to 0006 and up again)."""

"""Alembic's environment for the results database: run by :func:`dlbs.db.engine.upgrade` with
the connection it opened (``config.attributes['connection']``); no alembic.ini is needed."""
from __future__ import annotations

from alembic import context

from dlbs.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

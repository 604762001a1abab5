"""Which schema revision a results database is at, against the Alembic revisions of this
dlbs (``migrations/versions``): at the newest (nothing to write), older (to upgrade), or
stamped by a newer dlbs (refused in one line: this dlbs cannot know its tables).

Reading only, and without Alembic: the revisions are the ``revision``/``down_revision``
assignments of the files in ``migrations/versions`` and the database's stamp is the row of
Alembic's ``alembic_version`` table, so a command on an up-to-date database does not import
Alembic (a third of a second at every start). ``tests/db/test_revisions.py`` checks both
against Alembic's own reading. The upgrade itself is :func:`dlbs.db.upgrade.upgrade`.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from dlbs.db.url import DatabaseError, shown

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Alembic's table of the revision a database is at (one row, column ``version_num``).
VERSION_TABLE = "alembic_version"


def _assignments(path: Path) -> dict[str, object]:
    """The module-level ``name = literal`` assignments of one migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


@lru_cache(maxsize=1)
def known() -> tuple[frozenset[str], str]:
    """The revisions this dlbs knows, and the newest (the one no other revision follows)."""
    links: dict[str, object] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        values = _assignments(path)
        if isinstance(values.get("revision"), str):
            links[str(values["revision"])] = values.get("down_revision")
    followed = {down for down in links.values() if isinstance(down, str)}
    heads = sorted(set(links) - followed)
    if len(heads) != 1:
        raise RuntimeError(f"dlbs/db/migrations/versions has {len(heads)} newest revisions "
                           f"({', '.join(heads)}); it must have one")
    return frozenset(links), heads[0]


def current(engine: Engine) -> str | None:
    """The revision stamped in the database; None for a database without the schema."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def needs_upgrade(engine: Engine, url: URL) -> bool:
    """Whether the database is older than this dlbs (or empty); a one-line
    :class:`DatabaseError` when a newer dlbs wrote it."""
    revision = current(engine)
    revisions, head = known()
    if revision is not None and revision not in revisions:
        raise DatabaseError(f"--db {shown(url)}: the schema is at revision '{revision}', "
                            f"written by a newer dlbs (this one knows up to '{head}'); use "
                            "that dlbs (or a newer one) with this database")
    return revision != head

"""The schema revision is read without Alembic (``dlbs.db.revisions``), and reads what Alembic
reads: the revisions of ``migrations/versions`` with their newest, and a database's stamp. A
command on an up-to-date database never imports Alembic; an older one is upgraded by it."""
from __future__ import annotations

import os
import subprocess
import sys

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from dlbs.db import open_store
from dlbs.db.revisions import MIGRATIONS, current, known, needs_upgrade


def test_the_known_revisions_and_the_newest_are_alembics() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    revisions, head = known()
    assert revisions == {r.revision for r in script.walk_revisions()}
    assert head == script.get_current_head()


def test_the_stamp_is_what_alembic_reads_before_and_after_the_upgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert current(engine) is None is MigrationContext.configure(conn).get_current_revision()
        assert needs_upgrade(engine, make_url(db_url))
        open_store(db_url).close()
        with engine.connect() as conn:
            stamp = MigrationContext.configure(conn).get_current_revision()
        assert current(engine) == stamp == known()[1]
        assert not needs_upgrade(engine, make_url(db_url))
    finally:
        engine.dispose()


def test_a_command_on_an_up_to_date_database_does_not_import_alembic(db_url: str) -> None:
    open_store(db_url).close()  # created and upgraded: Alembic ran here
    code = ("import sys; from dlbs.db import open_store; "
            f"open_store({db_url!r}, readonly=True).close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120, env={**os.environ, "DLBS_DB": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_ingest_leaves_the_planner_statistics_current(logs: object, db_url: str,
                                                          tmp_path: object) -> None:
    """After an ingest the tables are analysed: SQLite's sqlite_stat1 has the runs' indexes,
    PostgreSQL's pg_stats the runs' columns (written by ANALYZE itself, in its transaction)."""
    from pathlib import Path

    from sqlalchemy import text

    folder = Path(str(tmp_path)) / "logs"
    for repeat in range(3):
        logs.write(folder / f"r{repeat}.log", logs.facts(repeat=repeat))  # type: ignore[attr-defined]
    store = open_store(db_url)
    try:
        assert store.ingest_paths([str(folder)]).added == 3
        with store.engine.connect() as conn:
            if db_url.startswith("sqlite"):
                indexes = {row[0] for row in conn.execute(
                    text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'runs'"))}
                assert {"ix_runs_config", "ix_runs_host", "ix_runs_key_date"} <= indexes
            else:
                columns = {row[0] for row in conn.execute(text(
                    "SELECT attname FROM pg_stats WHERE tablename = 'runs'"))}
                assert {"model", "batch", "host", "comparability_key"} <= columns
    finally:
        store.close()

"""The schema revision is read without Alembic (``dlbs.db.revisions``), and reads what Alembic
reads: the revisions of ``migrations/versions`` with their newest, and a database's stamp. A
command on an up-to-date database never imports Alembic; an older one is upgraded by it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from dlbs.db import open_store
from dlbs.db.revisions import MIGRATIONS, current, known, needs_upgrade
from dlbs.db.store import Store


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


def _store_at(db_url: str, revision: str) -> Store:
    """A store whose tables are those of an older ``revision``, as that release made them
    (not upgraded: :class:`Store` itself never migrates)."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()
    store = Store(make_url(db_url))
    store.keeps_points = False  # the tables of revisions 0005-0006 are not there yet
    return store


def _facts_as_text(store: Store) -> None:
    """SQLite: the runs' facts rewritten as the releases before revision 0004 stored them,
    JSON text (this release's store packs them when it writes)."""
    if store.url.get_backend_name() != "sqlite":
        return
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE runs SET facts = dlbs_facts(facts)")
        assert conn.exec_driver_sql("SELECT DISTINCT typeof(facts) FROM runs").all() == [
            ("text",)]


def test_a_database_of_the_first_schema_is_upgraded_in_place(logs: object, db_url: str,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    """A database made at revision 0001 (the schema of the release before issue 34), with
    runs, an exclusion and iteration times, is upgraded by the next command that opens it:
    nothing is lost (every fact as stored, floats to the last digit), the new indexes are
    there (PostgreSQL: facts as jsonb), filters on other facts and --latest read through
    them."""
    from sqlalchemy import inspect

    from dlbs.db.history import latest_changes, load_series

    old = _store_at(db_url, "0001")  # the tables of revision 0001, written as that release did
    try:
        old.store_many([(logs.facts(code=f"c{v:02d}x", repeat=r,  # type: ignore[attr-defined]
                                    throughput=100.0 + r, day=1 + v, **{
                                        "results.num_batches_done": 20 + r, "exp.queue": f"q{v % 3}",
                                        "results.time_p50": 79.999999999999986}),
                         f"{v}-{r}.log")
                        for v in range(25) for r in range(2)])
        _facts_as_text(old)
        before = {r.identity: (r.facts, r.date) for r in old.runs()}
        excluded = old.runs()[0].id
        old.exclude([excluded], "bad build")
        times = old.times([excluded])
    finally:
        old.close()
    store = open_store(db_url, readonly=True)  # a reading command upgrades an older schema
    try:
        said = capsys.readouterr().err
        assert f"from schema revision 0001 to {known()[1]} (once;" in said
        assert "password" not in said and (make_url(db_url).password or "@@") not in said
        assert current(store.engine) == known()[1] == "0008"
        after = {r.identity: (r.facts, r.date) for r in store.runs()}
        assert after == before and len(after) == 50
        assert [r.reason for r in store.runs() if r.excluded] == ["bad build"]
        assert store.times([excluded]) == times and times
        with store.engine.connect() as conn:
            names = {ix["name"] for ix in inspect(conn).get_indexes("runs")}
        assert "ix_runs_key_version" in names
        if db_url.startswith("sqlite"):  # 0004: every run's facts packed
            with store.engine.connect() as conn:
                kinds = conn.exec_driver_sql("SELECT typeof(facts), count(*) FROM runs "
                                             "GROUP BY 1").all()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
            assert kinds == [("blob", 50)]
            assert free == 0  # compacted after the rewrite: the freed pages went back
        if db_url.startswith("postgresql"):  # 0003: jsonb facts with a GIN index
            assert "ix_runs_facts" in names
            with store.engine.connect() as conn:
                kind = conn.exec_driver_sql(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'runs' AND column_name = 'facts'").scalar()
            assert kind == "jsonb"
        # filters on facts without a column: an integer (also given as text) and a text
        assert len(store.runs({"results.num_batches_done": 21})) == len(
            store.runs({"results.num_batches_done": "21"})) == 25
        assert {r.facts["exp.code_version"] for r in store.runs({"exp.queue": "q1"})} == {
            f"c{v:02d}x" for v in range(25) if v % 3 == 1}
        loaded = load_series(store, {}, "results.throughput", "exp.code_version", newest=23)
        assert latest_changes(loaded.series, "results.throughput", "exp.code_version").judged == 1
    finally:
        store.close()


def test_the_upgrade_to_jsonb_replaces_a_stored_nul_that_jsonb_cannot_hold(logs: object,
                                                                          db_url: str) -> None:
    """json took a NUL in a fact, jsonb does not: the upgrade writes U+FFFD in its place
    instead of failing on the cast (SQLite keeps the text as it was)."""
    from sqlalchemy import text

    old = _store_at(db_url, "0002")
    try:
        old.store_many([(logs.facts(repeat=r), f"{r}.log")  # type: ignore[attr-defined]
                        for r in range(2)])
        damaged = old.runs()[0]
        facts = {**damaged.facts, "hw.note": "a\x00b", "hw.list": ["\\u0000 is said", "c\x00"]}
        with old.engine.begin() as conn:  # as json (and an older dlbs) stored it
            cast = "CAST(:f AS json)" if db_url.startswith("postgresql") else ":f"
            conn.execute(text(f"UPDATE runs SET facts = {cast} WHERE id = :id"),
                         {"f": json.dumps(facts), "id": damaged.id})
    finally:
        old.close()
    store = open_store(db_url)
    try:
        stored = {r.id: r.facts for r in store.runs()}
        kept = "a\x00b" if db_url.startswith("sqlite") else "a\ufffdb"
        assert stored[damaged.id]["hw.note"] == kept
        assert stored[damaged.id]["hw.list"] == ["\\u0000 is said", "c" + kept[1]]
        assert len(stored) == 2
    finally:
        store.close()


def test_a_run_with_a_nul_in_a_fact_is_refused_on_both_engines(logs: object, db_url: str,
                                                                tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "nul"
    logs.write(folder / "good.log", logs.facts(repeat=0))  # type: ignore[attr-defined]
    logs.write(folder / "nul.log", logs.facts(repeat=1, **{"hw.x": "a\x00b"}))  # type: ignore[attr-defined]
    store = open_store(db_url)
    try:
        result = store.ingest_paths([str(folder)])
        assert result.added == 1 and store.count() == 1
        assert any("nul.log" in r and "fact hw.x holds a NUL character" in r
                   for r in map(str, result.refused)), result.refused
    finally:
        store.close()


def test_two_commands_upgrading_one_sqlite_file_at_once_both_succeed(logs: object,
                                                                      tmp_path: object) -> None:
    """Two processes open a database of the release before packing at the same moment: one
    upgrades (the rewrite takes a while), the other finds the newest revision written and
    goes on; both read every run (it was a 'cannot open the database' error)."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "old.db"
    old = _store_at(f"sqlite:///{path}", "0003")
    try:
        old.store_many([(logs.facts(repeat=r, **{"exp.queue": f"q{r % 2}"}),  # type: ignore[attr-defined]
                         f"{r}.log") for r in range(1500)])
        _facts_as_text(old)
    finally:
        old.close()
    command = [sys.executable, "-m", "dlbs", "db", "query", "--db", f"sqlite:///{path}",
               "-Pexp.queue=q1", "--format", "json"]
    env = {**os.environ, "DLBS_DB": ""}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err
        assert len(json.loads(out)) == 750
    store = open_store(f"sqlite:///{path}", readonly=True)
    try:
        assert current(store.engine) == known()[1] and store.count() == 1500
    finally:
        store.close()


def test_the_upgrade_to_0008_removes_the_intervals_of_two_run_points(logs: object,
                                                                     db_url: str) -> None:
    """Revision 0007 stored two runs' Student t interval on one degree of freedom (3.72 and
    8.34 samples/s: [0.033, 940.6]); 0008 removes it, the value and standard error stay."""
    from sqlalchemy import text

    store = open_store(db_url)
    try:
        store.store_many([(logs.facts(code="c1", repeat=r,  # type: ignore[attr-defined]
                                      throughput=t, day=1), f"{r}.log")
                          for r, t in enumerate((3.72, 8.34))])
        with store.engine.begin() as conn:  # as 0007 kept it
            conn.execute(text("UPDATE points SET low = 0.033, high = 940.6 WHERE runs = 2"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0007'"))
            kept = conn.execute(text("SELECT value, se FROM points WHERE runs = 2 ORDER BY metric")
                                ).all()
        assert len(kept) == 2  # throughput and time
    finally:
        store.close()
    store = open_store(db_url)  # a command upgrades an older schema
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT value, se, low, high FROM points WHERE runs = 2 "
                                     "ORDER BY metric")).all() == [(*k, None, None) for k in kept]
            assert current(store.engine) == "0008"
    finally:
        store.close()

"""Storing many runs at once (PostgreSQL streams them with COPY, ``dlbs.db.pgcopy``; SQLite
inserts them): new runs get ids in the order given, stored ones are skipped, every fact
comes back as written (text COPY escapes too), and a row the server rejects is refused by
name while the others are stored (issue 34)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlbs.db import open_store, pgcopy

#: Facts that text COPY must escape (tab, newline, backslash, carriage return), characters
#: beyond ASCII, floats of 17 digits and an integer beyond 53 bits.
AWKWARD = {"hw.note": "tab\there\nnewline \\ back\\slash \r cr \"quoted\" é ∑ \u2028 😀",
           "hw.values": [0.1 + 0.2, 1e-300, 12345.678901234567, 2**53 + 1],
           "hw.nested": {"a": [1, {"b": None, "c": True}], "": "empty key"}}


def _facts(logs: Any, repeat: int, **extra: Any) -> dict[str, Any]:
    return logs.facts(repeat=repeat, throughput=100.0 + repeat, **extra)  # type: ignore[no-any-return]


def test_a_batch_stores_its_new_runs_in_order_and_skips_the_stored_ones(logs: Any,
                                                                        db_url: str) -> None:
    store = open_store(db_url)
    try:
        assert store.store_many([(_facts(logs, r), f"{r}.log") for r in (0, 1)]) == 2
        batch = [(_facts(logs, r, **(AWKWARD if r == 3 else {})), f"{r}.log")
                 for r in (1, 2, 3, 4, 2)]  # 1 is stored, 2 comes twice
        assert store.store_many(batch) == 3
        stored = store.runs()
        by_source = {run.source: run for run in stored}
        assert sorted(by_source) == ["0.log", "1.log", "2.log", "3.log", "4.log"]
        assert by_source["2.log"].id < by_source["3.log"].id < by_source["4.log"].id
        for name in ("hw.note", "hw.values", "hw.nested"):
            assert by_source["3.log"].facts[name] == AWKWARD[name]
        assert repr(by_source["3.log"].facts["hw.values"]) == repr(AWKWARD["hw.values"])
        times = store.times([run.id for run in stored])
        assert sorted(times) == sorted(run.id for run in stored)
        assert store.store_many(batch) == 0 and store.count() == 5
    finally:
        store.close()


def test_ingest_gives_the_same_facts_from_workers_as_from_this_process(logs: Any, db_url: str,
                                                                        tmp_path: Path) -> None:
    """200 logs or more are parsed in worker processes (which make PostgreSQL's JSON text
    there), fewer in this one: the stored facts are the same."""
    few, many = tmp_path / "few", tmp_path / "many"
    for r in range(3):
        logs.write(few / f"{r}.log", _facts(logs, r, **AWKWARD))  # type: ignore[attr-defined]
    for r in range(3, 203):
        logs.write(many / f"{r}.log", _facts(logs, r, **AWKWARD))  # type: ignore[attr-defined]
    store = open_store(db_url)
    try:
        assert store.ingest_paths([str(few)]).added == 3
        assert store.ingest_paths([str(many)]).added == 200
        for run in store.runs():
            assert {name: run.facts[name] for name in AWKWARD} == AWKWARD, run.source
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_run_the_server_rejects_in_the_copy_is_refused_by_name_and_the_others_stored(
        logs: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "logs"
    for r in range(4):
        logs.write(folder / f"r{r}.log", _facts(logs, r))  # type: ignore[attr-defined]
    real = pgcopy.facts_text

    def broken(facts: Any) -> str:  # the JSON text of r2's facts cut short: the server's error
        text = real(facts)
        return text[:-5] if '"exp.repeat_index": 2,' in text else text
    monkeypatch.setattr(pgcopy, "facts_text", broken)
    store = open_store(db_url)
    try:
        result = store.ingest_paths([str(folder)])
        assert result.added == 3 and store.count() == 3
        assert len(result.refused) == 1, result.refused
        assert "r2.log: the database rejected the run (" in result.refused[0]
        assert "json" in result.refused[0].lower() and "COPY" not in result.refused[0]
        assert sorted(run.source.rsplit("/", 1)[-1] for run in store.runs()) == [
            "r0.log", "r1.log", "r3.log"]
        monkeypatch.undo()
        again = store.ingest_paths([str(folder)])
        assert (again.added, again.existing, again.refused) == (1, 3, [])
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_role_that_may_not_create_temporary_tables_ingests_as_before(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """A hardened server revokes TEMPORARY from PUBLIC: a role that may write the tables but
    not stage stores its runs with the INSERT (the same rows, facts objects not strings)."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    open_store(db_url).close()  # the tables, made by the owner
    role, secret = f"dlbs_nostage_{os.getpid()}", "nostage-pass"
    owner = create_engine(db_url)
    database = make_url(db_url).database
    statements = [f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'",
                  f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC",
                  f"GRANT USAGE ON SCHEMA public TO {role}",
                  f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                  f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"]
    try:
        with owner.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
        folder = tmp_path / "logs"
        for r in range(3):
            logs.write(folder / f"r{r}.log", _facts(logs, r, **AWKWARD))  # type: ignore[attr-defined]
        limited = make_url(db_url).set(username=role, password=secret)
        store = open_store(limited.render_as_string(hide_password=False))
        try:
            result = store.ingest_paths([str(folder)])
            assert (result.added, result.refused, result.failed) == (3, [], [])
            for run in store.runs():
                assert {name: run.facts[name] for name in AWKWARD} == AWKWARD
            assert store.store_facts(_facts(logs, 9), "nine.log")
        finally:
            store.close()
    finally:
        with owner.begin() as conn:
            conn.execute(text(f"GRANT TEMPORARY ON DATABASE {database} TO PUBLIC"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


def test_psycopgs_own_warning_of_a_copy_on_a_lost_connection_is_not_printed(
        caplog: pytest.LogCaptureFixture) -> None:
    """A connection lost during the COPY is the command's one error line; psycopg's own
    "error ignored terminating <psycopg.Copy ...>" warning (its cleanup of the COPY) is not
    printed beside it, other psycopg warnings are."""
    import logging

    logger = logging.getLogger("psycopg")
    with caplog.at_level(logging.WARNING, logger="psycopg"):
        with pgcopy._as_sqlalchemy_errors("COPY x FROM STDIN"):
            logger.warning("error ignored terminating %s: the connection is lost", "<Copy>")
            logger.warning("something else")
        logger.warning("error ignored terminating %s: outside a COPY", "<Copy>")
    assert [r.getMessage() for r in caplog.records] == [
        "something else", "error ignored terminating <Copy>: outside a COPY"]

"""Reading stored runs: the runs whose facts equal some filters, some or all facts of runs by
id, their iteration times, how many there are.

Every statement is built by SQLAlchemy with bound parameters. A filter on an indexed fact
(:data:`dlbs.db.schema.INDEXED`) is an SQL condition on its column; any other is checked on
each run's facts in Python (the same on both engines), narrowed first in SQL where the value
allows it (SQLite's ``json_extract``, PostgreSQL's ``jsonb`` containment).

This module reads; it writes nothing, and reads no summary of a series (``dlbs.db.summary``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dlbs.db import packed
from dlbs.db.connection import Room
from dlbs.db.faults import guarded
from dlbs.db.schema import INDEXED, INTEGER_BITS, exclusions, fits, run_times, runs

#: How many ids one statement names (a database caps the parameters of one statement).
CHUNK = 500


@dataclass
class RunRecord:
    """One stored run."""

    id: int
    identity: str
    comparability_key: str
    facts: dict[str, Any]
    date: datetime | None
    source: str | None
    excluded: bool = False
    reason: str | None = None


class Queries(Room):
    """The reads of stored runs of one open database."""

    @guarded("the query")
    def runs(self, filters: Mapping[str, Any] | None = None,
             include_excluded: bool = True) -> list[RunRecord]:
        """The runs whose facts equal every filter (``{"exp.model": "resnet50"}``), oldest
        first. Filters on indexed facts (:data:`dlbs.db.schema.INDEXED`) are SQL conditions;
        the others are checked on each run's facts in Python (the same on both engines)."""
        stmt = select(runs.c.id, runs.c.identity, runs.c.comparability_key, runs.c.facts,
                      runs.c.date, runs.c.source, exclusions.c.reason).select_from(
            runs.outerjoin(exclusions, exclusions.c.run_id == runs.c.id))
        rest: dict[str, Any] = {}
        for key, value in dict(filters or {}).items():
            column = INDEXED.get(key)
            sql_value = column_value(column, value) if column else None
            if column and sql_value is not None:
                stmt = stmt.where(runs.c[column] == sql_value)
            else:
                rest[key] = value
                condition = _json_condition(key, value, self.db.backend)
                if condition is not None:  # narrows in SQL; the facts are checked below
                    stmt = stmt.where(condition)
        stmt = stmt.order_by(runs.c.date, runs.c.id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        found = []
        for row in rows:
            record = RunRecord(row.id, row.identity, row.comparability_key, row.facts, row.date,
                               row.source, row.reason is not None, row.reason)
            if record.excluded and not include_excluded:
                continue
            if all(equal(record.facts.get(k), v) for k, v in rest.items()):
                found.append(record)
        return found

    def fact_names(self, newest: int = 1000) -> set[str]:
        """The fact names of the ``newest`` runs stored (what an unknown name is compared
        with for a suggestion)."""
        with self.db.engine.connect() as conn:
            found = conn.execute(select(runs.c.facts).order_by(runs.c.id.desc()).limit(newest))
            return {name for (facts,) in found for name in facts}

    @guarded("the query")
    def facts_of(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The full facts of some runs, by id."""
        return self._by_id(runs.c.id, runs.c.facts, run_ids)

    @guarded("the query")
    def some_facts_of(self, run_ids: Sequence[int], names: Sequence[str]
                      ) -> dict[int, dict[str, Any]]:
        """Only the facts ``names`` of some runs, by id (a fact a run lacks is left out, as is
        a JSON null): read by the database from each run's JSON, so that no whole facts object
        reaches Python (``regressions --latest`` asks why thousands of one-run points have no
        interval, 4 facts each, and names each series from its key's facts); on SQLite each
        run's packed facts are unpacked once, however many names are asked."""
        out: dict[int, dict[str, Any]] = {}
        ids = list(run_ids)
        with self.db.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                for row in self._some_facts(conn, ids[start:start + CHUNK], names):
                    out[row[0]] = {name: value for name, value in zip(names, row[1:])
                                   if value is not None}
        return out

    def _some_facts(self, conn: Connection, run_ids: Sequence[int], names: Sequence[str]
                    ) -> Iterator[tuple[Any, ...]]:
        """``(id, value, ...)`` of each run of one chunk, in the backend's cheapest way."""
        backend = self.db.backend
        if backend == "sqlite" and names and not any('"' in name for name in names):
            return _facts_in_one_call(conn, run_ids, names)
        if backend == "postgresql" and names:
            return _facts_in_one_object(conn, run_ids, names)
        return iter(conn.execute(select(runs.c.id, *(fact(name, backend) for name in names))
                                 .where(runs.c.id.in_(run_ids))))

    @guarded("the query")
    def times(self, run_ids: Sequence[int]) -> dict[int, list[float]]:
        """The raw iteration times (ms) of runs, by id (runs without them are left out)."""
        return self._by_id(run_times.c.run_id, run_times.c.times, run_ids)

    def _by_id(self, key: Any, value: Any, run_ids: Sequence[int]) -> dict[int, Any]:
        """``{id: value}`` of a table's rows whose ``key`` is one of ``run_ids`` (read in
        chunks of 500: a database caps the parameters of one statement)."""
        out: dict[int, Any] = {}
        ids = list(run_ids)
        with self.db.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                rows = conn.execute(select(key, value).where(key.in_(ids[start:start + CHUNK])))
                out.update((row[0], row[1]) for row in rows)
        return out

    @guarded("the query")
    def count(self) -> int:
        """How many runs are stored."""
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())


def _facts_in_one_call(conn: Connection, run_ids: Sequence[int], names: Sequence[str]
                       ) -> Iterator[tuple[Any, ...]]:
    """SQLite: ``(id, value, ...)`` of each run, its packed facts unpacked once and every
    name read by one ``json_extract`` (a JSON array of the values, null where a fact is
    missing): a small array to decode a run, not a JSON value a name."""
    paths = [f'$."{name}"' for name in [*names, *names][:max(len(names), 2)]]
    unpacked = getattr(func, packed.SQL_FUNCTION)(runs.c.facts)
    stmt = select(runs.c.id, func.json_extract(unpacked, *paths)).where(runs.c.id.in_(run_ids))
    for run_id, found in conn.execute(stmt):
        yield (run_id, *(json.loads(found) if found is not None else []))


def _facts_in_one_object(conn: Connection, run_ids: Sequence[int], names: Sequence[str]
                         ) -> Iterator[tuple[Any, ...]]:
    """PostgreSQL: ``(id, value, ...)`` of each run from one object of the asked facts
    (``jsonb_each`` over its facts, kept by name): one jsonb detoasted and one JSON value
    decoded a run, not one a name (27 names for 3,500 runs took 1 s)."""
    each = func.jsonb_each(runs.c.facts).table_valued("key", "value")
    picked = (select(func.jsonb_object_agg(each.c.key, each.c.value))
              .where(each.c.key.in_(list(names))).scalar_subquery())
    stmt = select(runs.c.id, picked).where(runs.c.id.in_(run_ids))
    for run_id, found in conn.execute(stmt):
        found = found or {}
        yield (run_id, *(found.get(name) for name in names))


def column_value(column: str, value: Any) -> Any:
    """A filter's value as the indexed ``column`` can hold it, or None (then the facts
    decide)."""
    if column in ("batch", "device_count", "repeat"):
        # an integer no column can hold matches no row's column: the facts decide
        return value if _integer(value) and fits(value, INTEGER_BITS) else None
    return value if isinstance(value, str) else None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_condition(key: str, value: Any, backend: str) -> Any:
    """An SQL condition that narrows the runs to those whose fact ``key`` may equal ``value``,
    for texts and integers; None for other values. SQLite: ``json_extract``; PostgreSQL:
    containment in the ``jsonb`` facts, which the GIN index ``ix_runs_facts`` answers (an
    integer also as its text, as the check in Python takes ``"16"`` for ``16``). Never a
    cast that can fail on another run's value."""
    if isinstance(value, bool):
        return None
    if backend == "postgresql":
        facts = type_coerce(runs.c.facts, JSONB)
        if isinstance(value, int):
            return or_(facts.contains({key: value}), facts.contains({key: str(value)}))
        if isinstance(value, str) and not _looks_numeric(value):
            return facts.contains({key: value})
        return None
    element = fact(key, backend)
    if isinstance(value, int):
        return element.as_integer() == value if fits(value, 64) else None
    if isinstance(value, str) and not _looks_numeric(value):
        return element.as_string() == value
    return None


def fact(key: str, backend: str) -> Any:
    """The SQL expression of one fact of a run (JSON: a missing fact and a JSON null are
    NULL). SQLite reads its packed facts through ``dlbs_facts`` (:mod:`dlbs.db.packed`)."""
    if backend == "postgresql":
        return type_coerce(runs.c.facts, JSONB)[key]
    return type_coerce(getattr(func, packed.SQL_FUNCTION)(runs.c.facts), JSON)[key]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def equal(stored: Any, wanted: Any) -> bool:
    """A stored fact equals a filter's value: equal, or equal numbers (PostgreSQL's jsonb
    returns a float written with an exponent, 1e+16, as the integer 10000000000000000), or
    the same text."""
    if stored == wanted:
        return True
    if _number(stored) and _number(wanted):
        try:
            if float(stored) == float(wanted):
                return True
        except OverflowError:  # an integer beyond a float's range: equal only as itself
            pass
    return stored is not None and str(stored) == str(wanted)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

"""The tables of the results database (SQLAlchemy Core), shared by the migrations and the store.

* ``runs``: one row per run (one log of one experiment). ``identity`` (unique) is the SHA-256
  of the run's facts, canonical JSON: the same log ingested twice, or from a copy in another
  folder, is the same row. The columns people filter by are indexed; ``facts`` keeps every
  fact of the log (``jsonb`` on PostgreSQL, with a GIN index for filters on the other
  facts, revision 0003; on SQLite JSON packed with zlib and a preset dictionary,
  ``dlbs.db.packed``, revision 0004). The summary columns are the benchmark's own statistics.
* ``run_times``: the raw iteration times of a run (``results.time_data``, ms), kept apart so
  that queries over many runs do not read them.
* ``exclusions``: runs left out of history and regressions, with the reason (the run stays).
* ``series``, ``points`` and ``classes``: what ``regressions --latest`` chooses its window
  from and counts the runs it leaves out by (revision 0005), derived from ``runs`` and
  ``exclusions`` and kept with them (``dlbs.db.points``).

Changing a table means a new Alembic revision in ``dlbs/db/migrations/versions``.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from dlbs.db.packed import FACTS
from dlbs.params import catalogue

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(64), nullable=False, unique=True),
    Column("comparability_key", String(64), nullable=False),
    Column("model", String(200)),
    Column("phase", String(40)),
    Column("precision", String(40)),
    Column("batch", Integer),
    Column("device", String(40)),
    Column("device_model", String(200)),
    Column("device_count", Integer),
    Column("host", String(200)),
    Column("framework", String(40)),
    Column("framework_version", String(80)),
    Column("container_image", String(400)),
    Column("code_version", String(200)),
    Column("date", DateTime(timezone=False)),
    Column("repeat", Integer),
    Column("status", String(40)),
    Column("throughput", Float),
    Column("time_mean", Float),
    Column("time_ci_low", Float),
    Column("time_ci_high", Float),
    Column("ess", Float),
    Column("steady_state", Boolean),
    Column("facts", FACTS, nullable=False),
    Column("source", Text),
    Column("ingested_at", DateTime(timezone=False), nullable=False),
)
Index("ix_runs_config", runs.c.model, runs.c.phase, runs.c.precision, runs.c.batch)
Index("ix_runs_key_date", runs.c.comparability_key, runs.c.date)
#: ``regressions --latest`` chooses each series' newest code versions from this index alone
#: (revision 0002).
Index("ix_runs_key_version", runs.c.comparability_key, runs.c.code_version, runs.c.status,
      runs.c.throughput, runs.c.time_mean, runs.c.date, runs.c.id)
#: Filters on facts that have no column of their own (``facts @> {...}``, revision 0003).
Index("ix_runs_facts", runs.c.facts, postgresql_using="gin",
      postgresql_ops={"facts": "jsonb_path_ops"}).ddl_if(dialect="postgresql")
for _name in ("device", "device_count", "host", "framework", "framework_version",
              "container_image", "code_version", "date", "repeat", "status"):
    Index(f"ix_runs_{_name}", runs.c[_name])

run_times = Table(
    "run_times", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("times", JSON, nullable=False),
)

exclusions = Table(
    "exclusions", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("excluded_at", DateTime(timezone=False), nullable=False),
)

#: One row per comparability key: the indexed columns that every run of the key shares (they
#: are comparability fields), so that a filter on them names series without reading runs
#: (revision 0005; kept by ``dlbs.db.points`` in the transaction that stores a run).
series = Table(
    "series", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("comparability_key", String(64), nullable=False, unique=True),
    Column("model", String(200)),
    Column("phase", String(40)),
    Column("precision", String(40)),
    Column("batch", Integer),
    Column("device", String(40)),
    Column("device_count", Integer),
    Column("framework", String(40)),
    Column("framework_version", String(80)),
)
Index("ix_series_config", series.c.model, series.c.phase, series.c.precision, series.c.batch)

#: One row per series, summary metric (0: ``throughput``, 1: ``time_mean``) and code version
#: that has a usable run (ended ok, the metric finite and > 0): when the version was first
#: measured (``first_date``: the earliest run's date, :data:`dlbs.db.points.UNDATED` when no
#: run has a date), its first run's id (the earliest by date, then id; undated runs last),
#: whether a run of it is not excluded (``live``), and the point's statistics over its usable
#: runs, excluded or not, as a history computes them (``runs``, ``value``, ``low``, ``high``,
#: ``se``: ``dlbs.db.pointvalue``; revision 0006).
#: The newest versions of a series are the last rows of ``ix_points_window`` of its id:
#: ``regressions --latest`` chooses its window there, at a cost that does not grow with the
#: history (revision 0005; kept by ``dlbs.db.points`` whenever runs or exclusions change).
#: A few dozen bytes a row: the series by its integer id.
points = Table(
    "points", metadata,
    Column("series_id", Integer, nullable=False),
    Column("metric", Integer, nullable=False),
    Column("code_version", String(200), nullable=False),
    Column("first_date", DateTime(timezone=False), nullable=False),
    Column("first_id", Integer, nullable=False),
    Column("live", Integer, nullable=False),
    # the point's statistics over its usable runs (dlbs.db.pointvalue; revision 0006): NULL
    # where NaN (a one-run point without an interval)
    Column("runs", Integer),
    Column("value", Float),
    Column("low", Float),
    Column("high", Float),
    Column("se", Float),
    # the exact sums of the usable runs' log values (dlbs.db.pointvalue.LogSums.text; revision
    # 0007): an ingest adds its new runs to them instead of reading every run of the version
    Column("log_sums", String(200)),
)
Index("ix_points_window", points.c.series_id, points.c.metric, points.c.live,
      points.c.first_date, points.c.first_id)
#: What a refresh deletes by (a series' rows of one version).
Index("ix_points_version", points.c.series_id, points.c.code_version)

#: How many runs of a series there are by status and by whether they have a usable
#: throughput, a usable time and a code version: the counts of the runs ``regressions
#: --latest`` leaves out, without reading the runs (revision 0005; runs are only ever added,
#: so each insert adds to its counts).
classes = Table(
    "classes", metadata,
    Column("series_id", Integer, nullable=False),
    Column("status", String(40), nullable=False),
    Column("has_throughput", Integer, nullable=False),
    Column("has_time", Integer, nullable=False),
    Column("has_version", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
)
Index("ix_classes_class", classes.c.series_id, classes.c.status, classes.c.has_throughput,
      classes.c.has_time, classes.c.has_version, unique=True)

#: Facts a run logs that are no parameter -> the indexed column holding each.
LOGGED_COLUMNS = {"hw.hostname": "host", "exp.framework_version": "framework_version",
                  "results.status": "status"}
#: fact -> the indexed column that holds it (what ``-P key=value`` filters match on): each
#: parameter's ``db_column`` in config/*.json, and :data:`LOGGED_COLUMNS`. The columns
#: themselves are the migrations' (``dlbs/db/migrations``): a test keeps every one a column of
#: :data:`runs`.
INDEXED = {**catalogue.db_columns(), **LOGGED_COLUMNS}

#: The ``Integer`` columns (ids, batch, device count, repeat) are 32-bit on PostgreSQL.
INTEGER_BITS = 32


def fits(value: int, bits: int) -> bool:
    """Whether ``value`` is a signed integer of ``bits`` bits (what a column or a bound
    parameter can hold: a 20-digit filter value is none)."""
    return -(1 << (bits - 1)) <= value < (1 << (bits - 1))

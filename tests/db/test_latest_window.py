"""``regressions --latest`` reads only the newest points of each series, chosen in SQL
(``Store.newest_point_rows``), and finds exactly what reading every run finds: the same
changes, the same series judged and not judged, the same runs left out and named. Checked on
seeded databases with failed and interrupted runs, excluded runs and whole excluded versions,
versions run again later, versions first run at the same moment, and ``--since``."""
from __future__ import annotations

import dataclasses
import math
import random
from datetime import datetime
from typing import Any

import pytest
from benchstats.latest import WINDOW

from dlbs.db import open_store
from dlbs.db.history import latest_changes, load_series

MODELS = ("resnet18", "alexnet", "vgg11")


def _history(logs: Any, seed: int) -> list[dict[str, Any]]:
    """The facts of a seeded history: 6 series of 26-34 versions, 1-3 runs each."""
    rng = random.Random(seed)
    out = []
    for series in range(6):
        model, batch = MODELS[series % 3], 8 * (1 + series // 3)
        versions = rng.randint(WINDOW + 6, WINDOW + 14)
        level = 100.0 * (1 + series)
        drop = 0.8 if rng.random() < 0.5 else 1.0  # a regression at the newest version
        for v in range(versions):
            day = 1 + v if rng.random() > 0.1 else max(1, v)  # some versions share a moment
            for r in range(rng.randint(1, 3)):
                value = level * (drop if v == versions - 1 else 1.0) * (1 + 0.01 * rng.gauss(0, 1))
                extra: dict[str, Any] = {"exp.replica_batch": batch}
                roll = rng.random()
                if roll < 0.05:
                    extra["results.status"] = "interrupted"
                elif roll < 0.08:
                    extra["results.status"] = "failed"
                when = day + (rng.randint(5, 20) if rng.random() < 0.05 else 0)  # run again later
                facts = logs.facts(model=model, code=f"c{v:03d}x", throughput=value, repeat=r,
                                   day=min(when, 28), **extra)
                facts["exp.start_time"] = f"2026-{1 + when // 28:02d}-{1 + when % 28:02d}" \
                                          f"T10:{r:02d}:00+00:00"
                out.append(facts)
    return out


def _judged(store: Any, newest: int | None, since: datetime | None) -> Any:
    loaded = load_series(store, {}, "results.throughput", "exp.code_version", since=since,
                         newest=newest)
    judged = latest_changes(loaded.series, "results.throughput", "exp.code_version")
    return ([dataclasses.asdict(c) for c in judged.changes], judged.judged,
            judged.not_judged, loaded.left_out, [s.parameters for s in loaded.series])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_windowed_read_judges_what_reading_everything_judges(logs: Any, db_url: str,
                                                                 seed: int) -> None:
    store = open_store(db_url)
    try:
        store.store_many([(facts, f"run{i}.log") for i, facts in enumerate(_history(logs, seed))])
        rng = random.Random(seed + 100)
        ids = [record.id for record in store.runs()]
        store.exclude(rng.sample(ids, len(ids) // 15), "noisy neighbour")
        by_version: dict[str, list[int]] = {}
        for record in store.runs():
            by_version.setdefault(record.facts["exp.code_version"], []).append(record.id)
        left_out = rng.sample(sorted(by_version), 4)
        for version in left_out:  # whole versions left out
            store.exclude(by_version[version], "bad build")
        _same_judgement(store)
        store.include(by_version[left_out[0]])  # one of them back, and a run taken back
        store.include(rng.sample(ids, 1))
        _same_judgement(store)
        later = [facts for facts in _history(logs, seed + 50) if rng.random() < 0.05]
        for facts in later:  # runs of versions already stored, stored later
            facts["exp.start_time"] = "2026-02-27T11:00:00+00:00"
        store.store_many([(facts, f"later{i}.log") for i, facts in enumerate(later)])
        _same_judgement(store)
        assert any(_judged(store, None, None)[0])  # and changes were found
    finally:
        store.close()


def _same_judgement(store: Any) -> None:
    for since in (None, datetime(2026, 1, 20)):
        full = _judged(store, None, since)
        windowed = _judged(store, WINDOW + 3, since)
        assert windowed == full
        assert full[1] > 0  # series were judged
    for model in MODELS:  # a filter on a series column: the window from the points table
        loaded = load_series(store, {"exp.model": model}, "results.throughput",
                             "exp.code_version", newest=WINDOW + 3)
        full = load_series(store, {"exp.model": model}, "results.throughput",
                           "exp.code_version")
        assert ([s.parameters for s in loaded.series]
                == [s.parameters for s in full.series]) and loaded.series
        for windowed, whole in zip(loaded.series, full.series):
            newest = [p.axis_value for p in whole.points if not p.excluded][-WINDOW - 3:]
            assert [p.axis_value for p in windowed.points if not p.excluded] == newest
            # the points kept at ingest are those the runs make, to the last bit
            by_value = {p.axis_value: _numbers(p) for p in whole.points}
            assert [_numbers(p) for p in windowed.points] == \
                [by_value[p.axis_value] for p in windowed.points]


def _numbers(p: Any) -> tuple[Any, ...]:
    """What a point says, NaN as None (NaN never equals itself)."""
    return tuple(None if isinstance(x, float) and math.isnan(x) else x
                 for x in (p.axis_value, p.value, p.low, p.high, p.se, p.runs, p.excluded,
                           p.first_run, p.withheld))


def test_the_window_after_an_upgrade_is_the_one_stored_runs_give(logs: Any, db_url: str
                                                                  ) -> None:
    """Revisions 0005 and 0006 fill the tables the window is read from out of the runs stored
    before: a database that gets them late holds the same rows (statistics included) and
    judges as one that had them all along."""
    from sqlalchemy import delete, select

    from dlbs.db import points
    from dlbs.db.schema import classes, series
    from dlbs.db.schema import points as points_table

    store = open_store(db_url)
    try:
        store.store_many([(facts, f"run{i}.log") for i, facts in enumerate(_history(logs, 7))])
        ids = [record.id for record in store.runs()]
        store.exclude(ids[::9], "noisy neighbour")
        by_key = (select(series.c.comparability_key, points_table.c.metric,
                         points_table.c.code_version, points_table.c.first_date,
                         points_table.c.first_id, points_table.c.live, points_table.c.runs,
                         points_table.c.value, points_table.c.low, points_table.c.high,
                         points_table.c.se)
                  .join(series, series.c.id == points_table.c.series_id))
        counted = (select(series.c.comparability_key, classes.c.status, classes.c.has_throughput,
                          classes.c.has_time, classes.c.has_version, classes.c.runs)
                   .join(series, series.c.id == classes.c.series_id))
        with store.engine.connect() as conn:
            kept = sorted(conn.execute(by_key).all())
            counts = sorted(conn.execute(counted).all())
        assert kept and counts
        assert sum(row[-1] for row in counts) == len(ids)
        with store.engine.begin() as conn:  # as revision 0005 finds a database: without them
            for table in (points_table, classes, series):
                conn.execute(delete(table))
            points.fill(conn)
            points.fill_points(conn, series_at_once=2)  # revision 0006, a few series a time
        with store.engine.connect() as conn:
            assert sorted(conn.execute(by_key).all()) == kept
            assert sorted(conn.execute(counted).all()) == counts
        _same_judgement(store)
    finally:
        store.close()


def test_the_window_reads_a_bounded_number_of_runs(logs: Any, db_url: str) -> None:
    """However long the history, the windowed read returns the newest versions only."""
    store = open_store(db_url)
    try:
        items = []
        for v in range(60):
            for r in range(2):
                facts = logs.facts(code=f"c{v:03d}x", repeat=r, throughput=100.0 + r)
                facts["exp.start_time"] = f"2026-{1 + v // 28:02d}-{1 + v % 28:02d}T10:0{r}:00"
                items.append((facts, f"{v}-{r}.log"))
        store.store_many(items)
        rows = store.newest_point_rows({}, "throughput", 5)
        assert rows is not None
        assert sorted({row[7] for row in rows}) == [f"c{v:03d}x" for v in range(55, 60)]
        assert len(rows) == 10
    finally:
        store.close()


@pytest.mark.parametrize("axis", ["exp.code_version", "date", "exp.docker_image", "hw.cpu_model",
                                  "hw.devices", "exp.num_threads", "exp.parallelism"])
def test_a_series_is_named_from_the_facts_its_key_reads_alone(logs: Any, axis: str) -> None:
    """``--latest`` names each series from the facts of ``KEY_SOURCE_FACTS`` only (not the
    whole run): the same name as from every fact, whatever the axis."""
    from dlbs.db.history import naming_of
    from dlbs.db.records import KEY_SOURCE_FACTS

    sharded = logs.facts(**{
        "exp.docker": True, "exp.docker_image": "img:1", "hw.devices": ["NVIDIA H100"],
        "exp.phase": "training", "exp.parallelism": "fsdp", "exp.dp_shard": 2,
        "exp.optimizer": "adamw", "exp.activation_checkpointing": "full", "exp.seq_len": 1024,
        "hw.cuda_version": "12.4", "hw.nvidia_driver": "550", "exp.num_threads": 4,
        "exp.world_size": 8, "exp.num_nodes": 2, "exp.model_config": {"layers": 2}})
    for facts in (logs.facts(), sharded):
        few = {k: v for k, v in facts.items() if k in KEY_SOURCE_FACTS}
        assert naming_of(few, axis) == naming_of(facts, axis)
    assert naming_of(sharded, axis) != naming_of(logs.facts(), axis)


def test_versions_first_run_at_one_moment_give_one_window_whatever_the_filter(
        logs: Any, db_url: str) -> None:
    """Four versions first measured at the same moment straddle the window's edge, and their
    runs' ids are not in date order: the window from the points table (a model filter), the one
    from every run (a host filter, ``--since``) and the whole history agree (each version's
    first run is its oldest by date, then id, in all of them)."""
    store = open_store(db_url)
    try:
        count = [0]

        def run(code: str, value: float, when: str) -> tuple[dict[str, Any], str]:
            count[0] += 1
            facts = logs.facts(code=code, throughput=value, repeat=count[0])
            facts["exp.start_time"] = when
            return facts, f"{count[0]}.log"

        tie = {"t1": 100.0, "t2": 100.5, "t3": 80.0, "t4": 101.0}
        items = [run("a1", 100.0, "2026-10-01T00:00:00"), run("a2", 100.2, "2026-10-02T00:00:00")]
        for version in ["t4", "t3", "t2", "t1"]:  # smaller ids, dated later
            items.append(run(version, tie[version] * 1.002, "2026-11-27T00:00:00"))
        for version in ["t1", "t2", "t3", "t4"]:  # the first-dated run of each
            items.append(run(version, tie[version], "2026-11-03T00:00:00"))
        for i in range(WINDOW):  # newer versions, the newest 6% slower
            value = 94.0 if i == WINDOW - 1 else 100.0 + (i % 3) * 0.4
            items.append(run(f"n{i:02d}", value, f"2026-11-{5 + i:02d}T00:00:00"))
            items.append(run(f"n{i:02d}", value * 1.003, f"2026-11-{5 + i:02d}T01:00:00"))
        store.store_many(items)
        verdicts = []
        for filters, since in (({"exp.model": "resnet18"}, None), ({"hw.hostname": "vm"}, None),
                               ({}, datetime(2026, 1, 1))):
            loaded = load_series(store, filters, "results.throughput", "exp.code_version",
                                 since=since, newest=WINDOW + 3)
            judged = latest_changes(loaded.series, "results.throughput", "exp.code_version")
            verdicts.append([dataclasses.asdict(c) for c in judged.changes])
        full = load_series(store, {}, "results.throughput", "exp.code_version")
        whole = latest_changes(full.series, "results.throughput", "exp.code_version")
        assert verdicts[0] == verdicts[1] == verdicts[2] == \
            [dataclasses.asdict(c) for c in whole.changes]
    finally:
        store.close()


def test_runs_whose_statistics_overflow_are_stored_and_read_from_their_runs(
        logs: Any, db_url: str) -> None:
    """A version whose runs overflow a point's statistics (1e300 beside 100 twice: two runs
    keep no interval, so three overflow its end) or a one-run point
    with an absurd ``results.ess``: every run is stored (the points row keeps no statistics),
    the window of such a series is read from its runs, every other series' from the table."""
    store = open_store(db_url)
    try:
        items = [(logs.facts(code="c1", throughput=100.0, day=1), "a.log"),
                 (logs.facts(code="c2", throughput=100.0, day=2), "b.log"),
                 (logs.facts(code="c2", throughput=1e300, repeat=1, day=2), "c.log"),
                 (logs.facts(code="c2", throughput=100.0, repeat=2, day=2), "g.log"),
                 (logs.facts(model="vgg11", code="c1", throughput=9.0, day=1,
                             **{"results.ess": 1.7e308}), "d.log"),
                 (logs.facts(model="resnet50", code="c1", throughput=50.0, day=1), "e.log"),
                 (logs.facts(model="resnet50", code="c2", throughput=51.0, day=2), "f.log")]
        assert store.store_many(items) == 7
        assert store.newest_points({"exp.model": "resnet18"}, "throughput", 5) is None
        assert store.newest_points({"exp.model": "vgg11"}, "throughput", 5) is None
        kept = store.newest_points({"exp.model": "resnet50"}, "throughput", 5)
        assert kept is not None and [row[1] for row in kept] == ["c1", "c2"]
        loaded = load_series(store, {"exp.model": "resnet50"}, "results.throughput",
                             "exp.code_version", newest=WINDOW + 3)
        assert [p.value for p in loaded.series[0].points] == [50.0, 51.0]
        store.exclude([record.id for record in store.runs({"exp.model": "resnet18"})], "outlier")
        assert store.count() == 7
    finally:
        store.close()

"""The ``points`` rows an ingest keeps by adding its new runs to each point's exact sums of
log values (``dlbs.db.points.add_runs``, issue 61): the same rows, to the last digit, as a
refresh from every run at once, whatever the batches and the order the runs come in, and an
ingest reads no run of a version but its new ones."""
from __future__ import annotations

import math
import random
from types import SimpleNamespace
from typing import Any

import benchstats.estimate as estimate_module
from sqlalchemy import delete, select

from dlbs.db import open_store, pointvalue
from dlbs.db import points as db_points
from dlbs.db.schema import points, series


def _facts(logs: Any, rng: random.Random, count: int) -> list[tuple[dict[str, Any], str]]:
    """Runs of 3 models x 5 versions, dates out of order, some undated, one hot version; a
    version of two runs far apart (1e300 and 1e-300: its statistics overflow)."""
    items = []
    for i in range(count):
        version = "dev" if i % 2 else f"c{i % 4}"
        facts = logs.facts(model=("resnet18", "resnet50", "vgg16")[i % 3], code=version,
                           repeat=i % 50, throughput=math.exp(rng.gauss(4.6, 0.3)),
                           day=1 + rng.randrange(28))
        if i % 17 == 0:
            del facts["exp.start_time"]
        if i in (3, 6):
            facts["exp.code_version"] = "wild"
            facts["results.throughput"] = 1e300 if i == 3 else 1e-300
        items.append((facts, f"run{i}.log"))
    return items


def _rows(store: Any) -> list[tuple[Any, ...]]:
    stmt = (select(series.c.comparability_key, points.c.metric, points.c.code_version,
                   points.c.first_date, points.c.first_id, points.c.live, points.c.runs,
                   points.c.value, points.c.low, points.c.high, points.c.se, points.c.log_sums)
            .join(series, series.c.id == points.c.series_id))
    with store.engine.connect() as conn:
        return sorted(conn.execute(stmt).all(), key=repr)


def test_points_kept_batch_by_batch_equal_one_refresh_of_every_run(logs: Any, db_url: str
                                                                    ) -> None:
    rng = random.Random(61)
    items = _facts(logs, rng, 400)
    rng.shuffle(items)
    store = open_store(db_url)
    try:
        at = 0
        while at < len(items):  # batches of 1 to 40 runs
            size = rng.randint(1, 40)
            store.store_many(items[at:at + size])
            at += size
        ids = [record.id for record in store.runs()]
        store.exclude(ids[::7], "noisy")
        store.store_many(_facts(logs, rng, 30))  # more runs after the exclusion
        kept = _rows(store)
        assert any(row[6] is None for row in kept)  # the version whose statistics overflow
        assert max(row[6] or 0 for row in kept) > 50
        with store.engine.begin() as conn:
            conn.execute(delete(points))
            db_points.fill_points(conn)
        assert _rows(store) == kept
    finally:
        store.close()


def test_the_statistics_do_not_depend_on_the_order_of_the_runs() -> None:
    rng = random.Random(7)
    values = [math.exp(rng.gauss(6.0, 0.05)) for _ in range(1000)]
    once = pointvalue.over_runs(values)
    rng.shuffle(values)
    assert pointvalue.over_runs(values) == once
    halves = pointvalue.log_sums(values[:300]).merged(pointvalue.log_sums(values[300:]))
    assert pointvalue.over_sums(pointvalue.LogSums.parse(halves.text())) == once
    logs = [math.log(v) for v in values]  # the two-pass definition, to its rounding
    centre = math.fsum(logs) / len(logs)
    sd = math.sqrt(math.fsum((x - centre) ** 2 for x in logs) / (len(logs) - 1))
    assert once[0] == math.exp(centre)
    assert math.isclose(once[3], once[0] * sd / math.sqrt(len(logs)), rel_tol=1e-12)


def test_an_ingest_reads_no_run_of_a_version_but_its_new_ones(logs: Any, db_url: str,
                                                             monkeypatch: Any) -> None:
    """300 runs of one version, then one more: the logs taken are the new run's (one for
    each metric), not the version's 301 (the refresh from all runs read every one)."""
    store = open_store(db_url)
    try:
        store.store_many([(logs.facts(code="dev", repeat=r % 60, day=1 + r // 60,
                                      throughput=100.0 + r), f"{r}.log") for r in range(300)])
        taken: list[float] = []

        def log(x: float) -> float:
            taken.append(x)
            return math.log(x)

        functions = {name: getattr(math, name) for name in dir(math) if name[0] != "_"}
        # the logs are taken where the one estimator keeps its sums (benchstats.estimate)
        monkeypatch.setattr(estimate_module, "math", SimpleNamespace(**{**functions, "log": log}))
        store.store_many([(logs.facts(code="dev", repeat=0, day=20, throughput=150.0),
                           "new.log")])
        assert len(taken) == 2
        assert [row[6] for row in _rows(store)] == [301, 301]
    finally:
        store.close()

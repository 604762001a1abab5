"""Seeded histories as the database holds them, for the tests of ``regressions --latest``
(``tests/db/test_latest_pooled.py``, ``tests/db/test_latest_prediction.py``): plain
functions, no pytest."""
from __future__ import annotations

import math

from benchstats.histories import HistoryCase, histories
from benchstats.latest import WINDOW

from dlbs.db.history import Series, point
from dlbs.db.store import RunRecord

METRIC = "results.throughput"


def latest_series(count: int, seed: int, drop: float, case: HistoryCase) -> list[Series]:
    """The newest ``WINDOW + 1`` points of ``count`` seeded histories, each point built from
    its runs by ``dlbs.db.history.point`` (as the database builds it); the newest point's runs
    lowered by ``drop``."""
    h = histories(case, count, seed)
    assert h.samples is not None
    out = []
    for s in range(count):
        points = []
        for i in range(case.points - WINDOW - 1, case.points):
            scale = 1.0 - drop if i == case.points - 1 else 1.0
            runs = [RunRecord(k, "", "k", {METRIC: float(v) * scale, "results.status": "ok"},
                              None, None) for k, v in enumerate(h.samples[s, i])
                    if math.isfinite(v)]
            found = point(f"v{i:03d}", runs, METRIC)
            assert found is not None
            points.append(found)
        out.append(Series(str(s), {"series": s}, points))
    return out

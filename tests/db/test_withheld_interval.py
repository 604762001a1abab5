"""Issue 30: ``dlbs db query`` shows why a run's within-run interval is withheld (a window
that was not steady, heavy tails...) beside ``time_ci95``, also for logs written before the
benchmark said so (an interval beside ``results.steady_state=false``)."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs

from dlbs.logs.withheld import ci_withheld


def _query(db_url: str, folder: Path) -> list[dict[str, Any]]:
    def dlbs(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_dlbs(argv, env={**os.environ, "DLBS_DB": ""})
    assert dlbs("db", "ingest", "--db", db_url, str(folder)).returncode == 0
    out = dlbs("db", "query", "--db", db_url, "--format", "json")
    assert out.returncode == 0, out.stderr
    return sorted(json.loads(out.stdout), key=lambda r: r["repeat"])


def test_query_rows_say_why_an_interval_is_withheld(logs: Any, db_url: str,
                                                    tmp_path: Path) -> None:
    logs.write(tmp_path / "a" / "0.log", logs.facts(repeat=0))
    logs.write(tmp_path / "a" / "1.log", logs.facts(repeat=1, **{
        "results.time_ci95": None, "results.steady_state": False,
        "results.ci_withheld": "not steady", "results.ci_note": "not steady: ..."}))
    logs.write(tmp_path / "a" / "2.log", logs.facts(repeat=2, **{  # before issue 30
        "results.steady_state": False}))
    rows = _query(db_url, tmp_path / "a")
    assert [(r["time_ci95"] is not None, r["ci_withheld"]) for r in rows] == [
        (True, None), (False, "not steady"), (True, "not steady")]


@pytest.mark.parametrize("facts,reason", [
    pytest.param({"results.time_ci95": [1.0, 2.0], "results.steady_state": True}, None,
                 id="interval"),
    pytest.param({"results.time_ci95": None, "results.ci_withheld": "heavy tails"},
                 "heavy tails", id="said"),
    pytest.param({"results.time_ci95": None, "results.ci_note": "12 iterations: an interval "
                  "of the mean needs at least 50 (fewer ...)"}, "too few iterations",
                 id="old-short-run"),
    pytest.param({"results.time_ci95": None, "results.ci_note": "series too short for its "
                  "correlation: ..."}, "too correlated", id="old-correlated"),
    pytest.param({}, None, id="no-timing"),
])
def test_the_reason_is_read_from_new_and_old_logs(facts: dict[str, Any],
                                                  reason: str | None) -> None:
    assert ci_withheld(facts) == reason


def test_a_history_point_of_one_run_that_was_not_steady_has_no_interval(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """A one-run point took its interval from the run's own; an older log's interval of a
    window that was not steady is not one (issue 30): none, on both paths (summary columns
    and facts)."""
    from dlbs.db import open_store
    from dlbs.db.history import build_series, load_series

    for v, steady in enumerate((True, False)):
        logs.write(tmp_path / "h" / f"{v}.log", logs.facts(
            code=f"v{v}", day=1 + v, **{"results.steady_state": steady}))
    _query(db_url, tmp_path / "h")
    store = open_store(db_url)
    try:
        for series in (load_series(store, {}, "results.throughput", "exp.code_version").series,
                       build_series(store.runs({}), "results.throughput", "exp.code_version")):
            points = series[0].points
            assert [p.axis_value for p in points] == ["v0", "v1"]
            assert math.isfinite(points[0].low) and math.isnan(points[1].low)
    finally:
        store.close()


def test_history_and_page_say_why_a_one_run_point_has_no_interval(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """A one-run point without an interval showed an empty cell: when the run's interval was
    withheld, ``dlbs history`` (both read paths) and ``dlbs db page`` give the reason."""
    from dlbs.cli.history import rows_of
    from dlbs.db import open_store
    from dlbs.db.history import build_series, load_series
    from dlbs.db.page import _low_cell

    logs.write(tmp_path / "w" / "0.log", logs.facts(code="v0", day=1))
    logs.write(tmp_path / "w" / "1.log", logs.facts(code="v1", day=2, **{
        "results.time_ci95": None, "results.steady_state": True,
        "results.ci_withheld": "heavy tails", "results.ci_note": "heavy tails: ..."}))
    _query(db_url, tmp_path / "w")
    store = open_store(db_url)
    try:
        for series in (load_series(store, {}, "results.throughput", "exp.code_version").series,
                       build_series(store.runs({}), "results.throughput", "exp.code_version")):
            rows = rows_of(series, "results.throughput", "exp.code_version")
            assert [r["ci_withheld"] for r in rows] == [None, "heavy tails"]
            assert _low_cell(series[0].points[1]) == "none: heavy tails"
    finally:
        store.close()

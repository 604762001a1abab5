"""Every number the database gives means what it says (issue 30): only runs that ended ``ok``
enter a statistic and the others are named; a throughput or time that is no measurement is
refused at ingest; one damaged log never stops an ingest; a typo is an error, never a gate
that passes; a point's standard error is its runs' own."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _versions(logs: Any, folder: Path, versions: int = 12, runs: int = 3) -> None:
    for v in range(versions):
        for r in range(runs):
            value = 100.0 * (1.0 + 0.01 * ((v * runs + r) % 5 - 2))
            logs.write(folder / f"v{v:02d}_r{r}.log",
                       logs.facts(code=f"v{v:02d}", throughput=value, repeat=r, day=1 + v))


def test_an_interrupted_run_enters_no_statistic_and_is_named(logs: Any, db_url: str,
                                                             tmp_path: Path) -> None:
    """A run stopped after 27 of 30 batches (status ``interrupted``, a throughput of its own)
    is stored, but history, regressions and the page leave it out and say so."""
    _versions(logs, tmp_path / "h")
    logs.write(tmp_path / "h" / "v11_r3.log",
               logs.facts(code="v11", throughput=20.0, repeat=3, day=12,
                          **{"results.status": "interrupted"}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    history = _dlbs("history", "--db", db_url, "--format", "json")
    assert history.returncode == 0, history.stderr
    newest = json.loads(history.stdout)[-1]
    assert newest["at"] == "v11" and newest["runs"] == 3 and newest["value"] > 90
    assert "1 interrupted run left out" in history.stderr
    for command in (["regressions"], ["regressions", "--latest"]):
        done = _dlbs(*command, "--db", db_url, "--format", "json")
        assert done.returncode == 0 and json.loads(done.stdout) == [], done.stderr
        assert "1 interrupted run left out" in done.stderr
    page = _dlbs("db", "page", "--db", db_url, "--output", str(tmp_path / "page"))
    assert page.returncode == 0 and "1 interrupted run left out" in page.stderr
    page_text = (tmp_path / "page" / "index.html").read_text()
    assert "1 interrupted run left out" in page_text
    # the legend says what a one-run point's interval is (not "over runs")
    assert "(one run: its own interval over iterations, where logged; two runs: none" \
        in page_text


def test_a_run_whose_loss_was_not_finite_enters_no_history_and_is_named(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """A run that ended ``ok`` at a speed of its own but whose loss went NaN
    (``results.loss_finite`` false) is stored as ``not_finite``: no point takes it, every
    command counts it; its facts keep what it logged."""
    _versions(logs, tmp_path / "h")
    logs.write(tmp_path / "h" / "v11_r3.log",
               logs.facts(code="v11", throughput=300.0, repeat=3, day=12,
                          **{"results.loss_finite": False, "results.loss_decreasing": None}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    history = _dlbs("history", "--db", db_url, "--format", "json")
    assert history.returncode == 0, history.stderr
    newest = json.loads(history.stdout)[-1]
    assert newest["at"] == "v11" and newest["runs"] == 3 and newest["value"] < 110
    assert "1 not_finite run left out" in history.stderr
    # a filter on a fact outside the summary columns reads every run's facts: the same rule
    # (it averaged the run in: 131.9 of 4 runs, with no note)
    filtered = _dlbs("history", "--db", db_url, "-P", "hw.num_cpus=2", "--format", "json")
    assert filtered.returncode == 0, filtered.stderr
    assert json.loads(filtered.stdout)[-1]["runs"] == 3
    assert "1 not_finite run left out" in filtered.stderr
    done = _dlbs("regressions", "--db", db_url, "--format", "json")
    assert done.returncode == 0 and "1 not_finite run left out" in done.stderr, done.stderr
    query = _dlbs("db", "query", "--db", db_url, "--format", "json")
    assert query.returncode == 0, query.stderr
    assert [r["status"] for r in json.loads(query.stdout)].count("not_finite") == 1


def test_a_run_whose_check_found_it_off_enters_no_history_and_is_named(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """A run that ended ``ok`` but whose ``--check_numerics`` found its output off its float32
    reference (``results.numerics`` off) is stored as ``numerics_off``: no point takes its
    speed, the history names it."""
    _versions(logs, tmp_path / "h")
    logs.write(tmp_path / "h" / "v11_r3.log",
               logs.facts(code="v11", throughput=300.0, repeat=3, day=12,
                          **{"results.numerics": "off", "results.numerics_error": 0.3}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    history = _dlbs("history", "--db", db_url, "--format", "json")
    assert history.returncode == 0, history.stderr
    newest = json.loads(history.stdout)[-1]
    assert newest["at"] == "v11" and newest["runs"] == 3 and newest["value"] < 110
    assert "1 numerics_off run left out" in history.stderr
    query = _dlbs("db", "query", "--db", db_url, "--format", "json")
    assert [r["status"] for r in json.loads(query.stdout)].count("numerics_off") == 1


@pytest.mark.parametrize("command", [["history"], ["regressions"], ["regressions", "--latest"]])
def test_runs_that_all_failed_are_an_error_never_an_empty_gate_that_passes(
        logs: Any, db_url: str, tmp_path: Path, command: list[str]) -> None:
    """When every matched run was left out (interrupted, failed), nothing is judged: exit 2
    with the count and why, never "0 series, 0 regression(s)" and exit 0."""
    for r in range(3):
        logs.write(tmp_path / "h" / f"r{r}.log",
                   logs.facts(code="v00", throughput=50.0, repeat=r, day=1,
                              **{"results.status": "interrupted"}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    done = _dlbs(*command, "--db", db_url)
    assert done.returncode == 2, done.stderr
    assert "no run left to judge: 3 interrupted runs left out" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_run_whose_throughput_line_is_unreadable_enters_no_statistic(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """``__results.throughput__=NaN`` (not JSON: the parser skips the line) beside a good
    ``results.time`` was stored as an ok run and entered every mean by its time alone; the
    parser now marks such a run failed, so it is stored, left out and named (issue 30)."""
    _versions(logs, tmp_path / "h", versions=3)
    damaged = logs.write(tmp_path / "h" / "nan.log",
                         logs.facts(code="v02", throughput=50.0, repeat=7, day=3))
    damaged.write_text(damaged.read_text().replace('__results.throughput__=50.0',
                                                   '__results.throughput__=NaN'))
    done = _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"))
    assert done.returncode == 0 and "damaged results, marked failed" in done.stderr
    history = _dlbs("history", "--db", db_url, "--format", "json")
    assert [p["runs"] for p in json.loads(history.stdout)] == [3, 3, 3]
    assert "1 failure run left out" in history.stderr


@pytest.mark.parametrize("filters", [[], ["-Phw.cpu_model=AMD EPYC"]], ids=["columns", "facts"])
def test_an_unsteady_newest_run_is_not_judged_by_latest(
        logs: Any, db_url: str, tmp_path: Path, filters: list[str]) -> None:
    """One newest run whose window was not steady has no interval: the history's scatter
    would stand in for it and the verdict read as a steady run's (a -4% 'regression', p
    0.001). It is not judged, and the summary and a note say why (issue 30); with no other
    series judged, the gate exits 3 (nothing judged, not a pass) and says what to do."""
    _versions(logs, tmp_path / "h", versions=10)
    logs.write(tmp_path / "h" / "v10.log",
               logs.facts(code="v10", throughput=96.0, repeat=0, day=20,
                          **{"results.steady_state": False, "results.time_ci95": None,
                             "results.ci_withheld": "not steady"}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    done = _dlbs("regressions", "--latest", "--min-change", "0", "--db", db_url,
                 "--format", "json", *filters)
    assert done.returncode == 3 and json.loads(done.stdout) == [], done.stderr
    assert "1 with an unsteady newest run not judged" in done.stderr
    assert ("nothing judged: none of the 1 series could be judged (1 with one unsteady newest "
            "run); run each unsteady newest point again, on a quiet machine before gating on "
            "them; exit 3, not a pass") in done.stderr
    assert "newest point v10: its one run was not steady (no interval)" in done.stderr


def test_failed_runs_in_the_summary_columns_are_left_out_too(logs: Any, db_url: str,
                                                             tmp_path: Path) -> None:
    """The fast path (summary columns) and the facts path leave out the same runs."""
    from dlbs.db import open_store
    from dlbs.db.history import load_series

    _versions(logs, tmp_path / "h", versions=3)
    logs.write(tmp_path / "h" / "bad.log",
               logs.facts(code="v02", throughput=5.0, repeat=9, day=3,
                          **{"results.status": "failure"}))
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"))
    store = open_store(db_url)
    try:
        fast = load_series(store, {}, "results.throughput", "exp.code_version")
        slow = load_series(store, {"hw.cpu_model": "AMD EPYC"}, "results.throughput",
                           "exp.code_version")  # a filter on a fact without a column
    finally:
        store.close()
    assert fast.left_out == {"failure": 1}
    assert [p.runs for p in fast.series[0].points] == [3, 3, 3]
    assert slow.left_out == {"failure": 1}
    assert [p.runs for p in slow.series[0].points] == [3, 3, 3]


@pytest.mark.parametrize("fact,value", [
    ("results.throughput", 0), ("results.throughput", -5.0),
    ("results.throughput", math.nan), ("results.throughput", math.inf),
    ("results.time", 0.0), ("results.time", -math.inf),
])
@pytest.mark.parametrize("kind", ["log", "jsonl"])
def test_a_throughput_or_time_that_is_no_measurement_is_refused_at_ingest(
        logs: Any, db_url: str, tmp_path: Path, fact: str, value: float, kind: str) -> None:
    """From a log (the parser already skips a NaN line there) or a parsed-results file."""
    for r in range(2):
        logs.write(tmp_path / "logs" / f"good{r}.log", logs.facts(repeat=r))
    facts = logs.facts(repeat=5, **{fact: value})
    if kind == "log":
        bad = logs.write(tmp_path / "logs" / "bad.log", facts)
    else:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps(facts) + "\n")
    extra = [str(bad)] if kind == "jsonl" else []
    done = _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs"), *extra)
    if not math.isfinite(value) and kind == "log":
        assert "malformed fact line skipped" in done.stderr  # and nothing else: no run
        return
    assert done.returncode == 0, done.stderr
    assert f"warning: {bad}: {fact} is" in done.stderr and "not stored" in done.stderr
    assert "2 new run(s)" in done.stderr and "1 run(s) refused" in done.stderr
    rows = json.loads(_dlbs("db", "query", "--db", db_url, "--format", "json").stdout)
    assert sorted(r["repeat"] for r in rows) == [0, 1]


@pytest.mark.parametrize("line", [
    '__exp.code_version__="v\\ud800"',   # a text column
    '__results.x__="\\ud800"',          # a fact kept only in the JSON facts
    '__results.y__={"\\udc80": 1}',     # a key
])
def test_one_damaged_log_never_stops_an_ingest(logs: Any, db_url: str, tmp_path: Path,
                                               line: str) -> None:
    for r in range(4):
        logs.write(tmp_path / "logs" / f"r{r}.log", logs.facts(repeat=r))
    damaged = tmp_path / "logs" / "r2.log"
    damaged.write_text(damaged.read_text() + line + "\n")
    done = _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"warning: {damaged}:" in done.stderr and "lone surrogate" in done.stderr
    assert "3 new run(s)" in done.stderr
    query = _dlbs("db", "query", "--db", db_url)
    assert query.returncode == 0 and len(query.stdout.strip().splitlines()) == 4


def test_a_batch_the_database_refuses_is_stored_run_by_run(logs: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Whatever the database refuses in one run (here: a row the engine rejects), the other
    runs of the batch are stored and the file is named."""
    from dlbs.db import open_store, records

    for r in range(3):
        logs.write(tmp_path / "logs" / f"r{r}.log", logs.facts(repeat=r))
    real = records.row

    def row(facts: dict[str, Any]) -> dict[str, Any]:
        values = real(facts)
        if facts.get("exp.repeat_index") == 1:
            values["identity"] = None  # NOT NULL on both engines: the insert fails
        return values

    monkeypatch.setattr(records, "row", row)
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        result = store.ingest_paths([str(tmp_path / "logs")])
    finally:
        store.close()
    assert result.added == 2 and len(result.refused) == 1
    assert result.refused[0].startswith(str(tmp_path / "logs" / "r1.log"))


@pytest.mark.parametrize("command", [["history"], ["regressions"], ["regressions", "--latest"],
                                     ["db", "page", "--output", "PAGE"]])
@pytest.mark.parametrize("option,typo,meant", [
    ("--metric", "results.thruput", "results.throughput"),
    ("--by", "exp.code_versoin", "exp.code_version"),
    ("--by", "exp.num_thread", "exp.num_threads"),
])
def test_a_typo_in_the_metric_or_axis_is_an_error_with_a_suggestion(
        logs: Any, tmp_path: Path, command: list[str], option: str, typo: str,
        meant: str) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    for r in range(2):
        logs.write(tmp_path / "logs" / f"r{r}.log",
                   logs.facts(repeat=r, **{"exp.num_threads": 2}))
    _dlbs("db", "ingest", "--db", url, str(tmp_path / "logs"))
    args = [str(tmp_path / "page") if a == "PAGE" else a for a in command]
    done = _dlbs(*args, "--db", url, option, typo)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"{option} {typo}" in done.stderr and f"did you mean '{meant}'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["history"], ["regressions"]])
def test_filters_that_match_no_stored_run_are_an_error(logs: Any, tmp_path: Path,
                                                       command: list[str]) -> None:
    """A gate over nothing (a misspelt filter, a database file that is new) never passes."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    logs.write(tmp_path / "logs" / "r.log", logs.facts())
    _dlbs("db", "ingest", "--db", url, str(tmp_path / "logs"))
    done = _dlbs(*command, "--db", url, "-Pexp.model=resnet81")
    assert done.returncode == 2 and "no stored run matches" in done.stderr
    assert "exp.model=resnet81" in done.stderr
    typo = _dlbs(*command, "--db", url, "-Pexp.modle=resnet18")
    assert typo.returncode == 2 and "did you mean 'exp.model'" in typo.stderr
    new = f"sqlite:///{tmp_path / 'new.db'}"
    from dlbs.db import open_store
    open_store(new).close()  # a database with no run (`db upgrade` refuses a missing file)
    empty = _dlbs(*command, "--db", new)
    assert empty.returncode == 2 and "holds no runs" in empty.stderr


def _run(run_id: int, value: float, **facts: Any) -> Any:
    from dlbs.db.store import RunRecord

    return RunRecord(run_id, str(run_id), "k", {"results.throughput": value, **facts}, None,
                     None)


def test_a_point_of_several_runs_has_their_standard_error() -> None:
    """sd of the log values / sqrt(n), times the value: not the t interval over 2 x 1.96."""
    from dlbs.db.history import point

    values = [100.0, 104.0, 97.0]
    found = point("v1", [_run(i, v) for i, v in enumerate(values)], "results.throughput")
    assert found is not None
    logs = [math.log(v) for v in values]
    centre = sum(logs) / 3
    sd = math.sqrt(sum((x - centre) ** 2 for x in logs) / 2)
    assert found.se == pytest.approx(found.value * sd / math.sqrt(3), rel=1e-9)


def test_a_point_of_one_run_uses_the_quantile_of_its_own_interval() -> None:
    """One run's interval is a t interval on its effective sample size (``results.ess``)."""
    from benchstats.tdist import t_critical

    from dlbs.db.history import point

    run = _run(1, 100.0, **{"results.time": 80.0, "results.time_ci95": [76.0, 84.0],
                            "results.ess": 6.0})
    found = point("v1", [run], "results.throughput")
    assert found is not None
    half_log = (math.log(84.0) - math.log(76.0)) / 2
    assert found.se == pytest.approx(100.0 * half_log / t_critical(5), rel=1e-9)


def test_report_from_the_database_leaves_an_interrupted_run_out_as_the_folder_report_does(
        logs: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    for r in range(3):
        logs.write(tmp_path / "logs" / f"r{r}.log", logs.facts(repeat=r, throughput=100.0 + r))
    logs.write(tmp_path / "logs" / "r3.log",
               logs.facts(repeat=3, throughput=20.0, **{"results.status": "interrupted"}))
    _dlbs("db", "ingest", "--db", url, str(tmp_path / "logs"))
    from_db = _dlbs("report", "--db", url, "--format", "json")
    from_logs = _dlbs("report", str(tmp_path / "logs"), "--format", "json")
    assert from_db.returncode == 0, from_db.stderr
    tables = json.loads(from_db.stdout)
    tables.pop("provenance", None)
    expected = json.loads(from_logs.stdout)
    expected.pop("provenance", None)
    assert tables == expected
    (throughput,) = [t for t in tables["tables"] if t["name"] == "throughput"]
    assert 100.0 < throughput["rows"][0]["cells"][0] < 102.0  # the ok runs only


def test_a_one_run_point_whose_run_withheld_its_interval_shows_none(
        logs: Any, tmp_path: Path) -> None:
    """A log that carries an interval and ``results.ci_withheld`` (a contradictory log) is
    read by its reason: no interval, the reason beside the point (issue 30 review)."""
    url = f"sqlite:///{tmp_path / 'results.db'}"
    logs.write(tmp_path / "h" / "a.log",
               logs.facts(**{"results.ci_withheld": "heavy tails"}))
    assert _dlbs("db", "ingest", "--db", url, str(tmp_path / "h")).returncode == 0
    done = _dlbs("history", "--db", url, "--metric", "results.time", "--format", "json",
                 "-Phw.cpu_model=AMD EPYC")  # a filter on the facts: the facts' path
    [point] = json.loads(done.stdout)
    assert point["ci_low"] is None and point["ci_withheld"] == "heavy tails", point

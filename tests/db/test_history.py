"""History along an axis and regressions found with each point's interval (issue 21), through
the commands as a user runs them, on both engines."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from forked_cli import run_dlbs


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _history(logs: Any, folder: Path, versions: int, step_at: int | None, step: float,
             seed: int, model: str = "resnet18", runs: int = 3) -> None:
    """``versions`` code versions of ``runs`` runs each, run CV 1%, a step of ``step`` from
    version ``step_at`` on."""
    rng = np.random.default_rng(seed)
    for v in range(versions):
        level = 100.0 * (1.0 + (step if step_at is not None and v >= step_at else 0.0))
        for r in range(runs):
            value = float(level * (1.0 + 0.01 * rng.standard_normal()))
            logs.write(folder / f"{model}_v{v:02d}_r{r}.log",
                       logs.facts(model=model, code=f"v{v:02d}", throughput=value, repeat=r,
                                  day=1 + v % 28))


def test_history_gives_each_version_with_its_interval_and_runs(logs: Any, db_url: str,
                                                                tmp_path: Path) -> None:
    _history(logs, tmp_path / "h", 4, None, 0.0, seed=1)
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    done = _dlbs("history", "--db", db_url, "-Pexp.model=resnet18", "--by", "exp.code_version",
                 "--format", "json", "--plot", str(tmp_path / "h.png"))
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)
    assert [p["at"] for p in points] == ["v00", "v01", "v02", "v03"]
    for p in points:
        assert p["runs"] == 3 and p["ci_low"] < p["value"] < p["ci_high"]
        assert abs(p["value"] / 100.0 - 1.0) < 0.05
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_a_step_is_found_at_its_place_with_its_size_and_exit_1(logs: Any, db_url: str,
                                                                tmp_path: Path) -> None:
    _history(logs, tmp_path / "h", 30, 15, -0.10, seed=2)
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"))
    done = _dlbs("regressions", "--db", db_url, "--format", "json")
    assert done.returncode == 1, done.stderr
    changes = json.loads(done.stdout)
    assert len(changes) == 1
    found = changes[0]
    assert (found["last_good"], found["first_bad"]) == ("v14", "v15")
    assert found["direction"] == "regression" and found["metric"] == "results.throughput"
    assert found["axis"] == "exp.code_version" and found["parameters"]["exp.model"] == "resnet18"
    low, high = found["ci"]
    assert low <= -0.10 <= high < -0.05 and 0 <= found["p_value"] < 0.01


def test_no_change_no_alarm_and_a_short_history_is_not_judged(logs: Any, db_url: str,
                                                               tmp_path: Path) -> None:
    _history(logs, tmp_path / "flat", 30, None, 0.0, seed=3, model="alexnet")
    _history(logs, tmp_path / "short", 6, 3, -0.3, seed=4, model="vgg11")
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "flat"), str(tmp_path / "short"))
    done = _dlbs("regressions", "--db", db_url, "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
    assert "2 series, 1 judged, 1 too short to judge" in done.stderr


def test_an_improvement_is_not_a_regression_and_excluded_points_are_skipped(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    _history(logs, tmp_path / "h", 30, 15, 0.10, seed=5)
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"))
    done = _dlbs("regressions", "--db", db_url, "--format", "json")
    assert done.returncode == 0
    assert [c["direction"] for c in json.loads(done.stdout)] == ["improvement"]
    # exclude the runs after the step: the history has no change any more
    rows = json.loads(_dlbs("db", "query", "--db", db_url, "--format", "json").stdout)
    late = [str(r["id"]) for r in rows if r["code_version"] >= "v15"]
    assert _dlbs("db", "exclude", "--db", db_url, *late, "--reason", "new kernel").returncode == 0
    again = _dlbs("regressions", "--db", db_url, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout) == []


def test_a_change_under_min_change_is_not_reported(logs: Any, db_url: str,
                                                   tmp_path: Path) -> None:
    _history(logs, tmp_path / "h", 30, 15, -0.03, seed=6)
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"))
    assert json.loads(_dlbs("regressions", "--db", db_url, "--format", "json").stdout) == []
    strict = _dlbs("regressions", "--db", db_url, "--format", "json", "--min-change", "0")
    assert strict.returncode == 1 and len(json.loads(strict.stdout)) == 1


@pytest.mark.parametrize("args,words", [
    (["--since", "yesterday"], "--since yesterday"),
    (["--min-change", "2"], "--min-change 2"),
])
def test_bad_options_are_one_line(args: list[str], words: str, tmp_path: Path) -> None:
    done = _dlbs("regressions", "--db", f"sqlite:///{tmp_path / 'x.db'}", *args)
    assert done.returncode == 2 and words in done.stderr


def test_latest_judges_only_the_newest_run_against_its_history(logs: Any, db_url: str,
                                                               tmp_path: Path) -> None:
    """``dlbs regressions --latest``: the CI gate for the run just made (a change at the last
    point, which find_changes cannot see: it needs 5 points after a change)."""
    _history(logs, tmp_path / "h", 21, 20, -0.12, seed=8)
    _history(logs, tmp_path / "flat", 21, None, 0.0, seed=9, model="alexnet")
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h"), str(tmp_path / "flat"))
    assert json.loads(_dlbs("regressions", "--db", db_url, "--format", "json").stdout) == []
    done = _dlbs("regressions", "--db", db_url, "--latest", "--format", "json")
    assert done.returncode == 1, done.stderr
    (found,) = json.loads(done.stdout)
    assert (found["last_good"], found["first_bad"]) == ("v19", "v20")
    assert found["parameters"]["exp.model"] == "resnet18" and found["direction"] == "regression"
    assert found["ci"][0] <= -0.12 <= found["ci"][1] and found["ci"][1] < -0.05
    assert "2 series, 2 judged" in done.stderr


@pytest.mark.parametrize("metric,axis", [("results.throughput", "exp.code_version"),
                                         ("results.time", "date")])
def test_the_summary_column_path_gives_the_same_series_as_the_facts(
        logs: Any, db_url: str, tmp_path: Path, metric: str, axis: str) -> None:
    """``load_series`` reads summary columns where it can; ``build_series`` reads the facts:
    the same points, intervals, order, names and exclusions."""
    from dlbs.db import open_store
    from dlbs.db.history import build_series, load_series

    _history(logs, tmp_path / "a", 8, 4, -0.1, seed=21)             # 3 runs a point
    _history(logs, tmp_path / "b", 8, None, 0.0, seed=22, model="vgg11", runs=1)
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "a"), str(tmp_path / "b"))
    store = open_store(db_url)
    try:
        store.exclude([1, 2], "test")
        for include in (True, False):
            loaded = load_series(store, {}, metric, axis, include_excluded=include)
            fast, count = loaded.series, loaded.runs
            slow = build_series(store.runs({}, include_excluded=include), metric, axis)
            slow.sort(key=lambda s: json.dumps(s.parameters, sort_keys=True, default=str))
            assert count == (32 if include else 30)
            assert [s.parameters for s in fast] == [s.parameters for s in slow]
            for f, s in zip(fast, slow):
                assert [(p.axis_value, p.runs, p.run_ids, p.excluded) for p in f.points] == \
                    [(p.axis_value, p.runs, p.run_ids, p.excluded) for p in s.points]
                for pf, ps in zip(f.points, s.points):
                    assert pf.value == pytest.approx(ps.value, rel=1e-9)
                    assert pf.low == pytest.approx(ps.low, rel=1e-9, nan_ok=True)
                    assert pf.high == pytest.approx(ps.high, rel=1e-9, nan_ok=True)
                    assert pf.se == pytest.approx(ps.se, rel=1e-9, nan_ok=True)
    finally:
        store.close()


def test_series_that_differ_only_in_a_setting_beyond_the_model_are_named_apart(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """Threads 1 and 2 (and two sequence lengths) are separate series: their names in the
    history and regressions tables say how they differ, not the same five words twice."""
    for extra, name in (({"exp.num_threads": 1}, "t1"), ({"exp.num_threads": 2}, "t2"),
                        ({"exp.num_threads": 2, "exp.seq_len": 256}, "s256")):
        for v in range(16):
            level = 100.0 * (0.8 if name == "t1" and v >= 8 else 1.0)
            for r in range(2):
                logs.write(tmp_path / "h" / f"{name}_v{v:02d}_r{r}.log",
                           logs.facts(code=f"v{v:02d}", repeat=r, day=1 + v,
                                      throughput=level * (1.0 + 0.001 * r), **extra))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "h")).returncode == 0
    rows = json.loads(_dlbs("history", "--db", db_url, "--format", "json").stdout)
    names = sorted({row["configuration"] for row in rows})
    assert len(names) == 3, names
    assert any("num_threads=1" in n for n in names) and any("seq_len=256" in n for n in names)
    assert all(row["parameters"].get("exp.seq_len") == 256 for row in rows
               if "seq_len=256" in row["configuration"])
    table = _dlbs("regressions", "--db", db_url).stdout
    assert "num_threads=1" in table, table

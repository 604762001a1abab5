"""``dlbs report --db`` builds the same reports from the database as from the log folders."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from forked_cli import run_dlbs


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _tables(text: str) -> Any:
    data = json.loads(text)
    data.pop("provenance", None)
    return data


def _sweep(logs: Any, folder: Path) -> None:
    for model, base in (("resnet18", 60.0), ("alexnet_owt", 140.0)):
        for threads in (1, 2):
            for r in range(3):
                value = base * threads * (1.0 + 0.01 * (r - 1))
                logs.write(folder / f"{model}_{threads}_{r}.log",
                           logs.facts(model=model, throughput=value, repeat=r,
                                      **{"exp.num_threads": threads}))


def test_a_report_from_the_database_equals_the_one_from_the_logs(logs: Any, db_url: str,
                                                                 tmp_path: Path) -> None:
    _sweep(logs, tmp_path / "logs")
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs")).returncode == 0
    from_logs = _dlbs("report", str(tmp_path / "logs"), "--format", "json")
    from_db = _dlbs("report", "--db", db_url, "--format", "json")
    assert from_logs.returncode == 0 and from_db.returncode == 0, from_db.stderr
    assert _tables(from_db.stdout) == _tables(from_logs.stdout)


def test_compare_from_the_database_takes_two_filters(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    _sweep(logs, tmp_path / "logs")
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs"))
    done = _dlbs("report", "--db", db_url, "--compare", '{"exp.num_threads": 1}',
                 '{"exp.num_threads": 2}', "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"faster"' in done.stdout
    # the inputs are named as filters (was: 'inputs read: /tmp/.../{"exp.num_threads": 1}')
    assert json.loads(done.stdout)["provenance"]["inputs"] == [
        'database runs matching {"exp.num_threads": 1}',
        'database runs matching {"exp.num_threads": 2}']
    bad = _dlbs("report", "--db", db_url, "--compare", "threads=1", '{"exp.num_threads": 2}')
    assert bad.returncode == 2 and "not a JSON object" in bad.stderr
    both = _dlbs("report", "--db", db_url, str(tmp_path / "logs"))
    assert both.returncode == 2 and "drop the log inputs" in both.stderr


def test_excluded_runs_are_left_out_of_reports(logs: Any, db_url: str, tmp_path: Path) -> None:
    _sweep(logs, tmp_path / "logs")
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs"))
    rows = json.loads(_dlbs("db", "query", "--db", db_url, "-Pexp.model=alexnet_owt",
                            "--format", "json").stdout)
    ids = [str(r["id"]) for r in rows]
    assert len(ids) == 6
    assert _dlbs("db", "exclude", "--db", db_url, *ids, "--reason", "x").returncode == 0
    done = _dlbs("report", "--db", db_url, "--format", "json")
    assert done.returncode == 0 and "alexnet" not in done.stdout.lower()
    assert "resnet" in done.stdout.lower()


def test_a_run_without_a_usable_measurement_is_left_out_alike_from_the_database(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """Issue 30: a run our runner logged ok without its throughput is stored (nothing to
    refuse) and left out of every statistic, with the same note, by both reports."""
    _sweep(logs, tmp_path / "logs")
    facts = logs.facts(model="resnet18", throughput=70.0, repeat=3,
                       **{"exp.num_threads": 1,
                          "exp.runner_start_time": "2026-11-01T10:00:00+00:00",
                          "results.exit_code": 0})
    facts.pop("results.throughput")
    logs.write(tmp_path / "logs" / "no_throughput.log", facts)
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs")).returncode == 0
    from_logs = _dlbs("report", str(tmp_path / "logs"), "--format", "json")
    from_db = _dlbs("report", "--db", db_url, "--format", "json")
    assert from_logs.returncode == 0 and from_db.returncode == 0, from_db.stderr
    assert _tables(from_db.stdout) == _tables(from_logs.stdout)
    assert any(n.startswith("1 run without a usable results.throughput left out")
               for n in _tables(from_db.stdout)["notes"])
    assert "no_throughput.log: no results.throughput" in from_db.stderr


def test_a_comparison_from_the_database_names_its_filters_not_paths(
        logs: Any, db_url: str, tmp_path: Path) -> None:
    """The text report's 'inputs read' line names the filters, never a path."""
    _sweep(logs, tmp_path / "logs")
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "logs"))
    text = _dlbs("report", "--db", db_url, "--compare", '{"exp.num_threads": 1}',
                 '{"exp.num_threads": 2}').stdout
    assert 'inputs read: database runs matching {"exp.num_threads": 1}, database runs ' \
        'matching {"exp.num_threads": 2}' in text
    assert os.getcwd() not in text.split("inputs read:")[1].splitlines()[0]

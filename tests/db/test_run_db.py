"""``experimenter run --db``: each experiment is stored as it ends; a store that fails is a
warning, never a lost log or a stopped sweep (issue 21)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlbs.cli.run import _storer
from dlbs.db import open_store
from dlbs.runner.core import Outcome


@pytest.mark.slow
def test_run_stores_each_experiment_with_its_code_version(db_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", "-Pexp.model=deep_mnist", "-Pexp.num_batches=5",
         "-Pexp.num_warmup_batches=1", "-Pexp.phase=inference", "-Vexp.replica_batch=[2, 4]",
         "-Pexp.code_version=abc1234", f"-Pexp.log_dir={tmp_path / 'logs'}", "--db", db_url],
        capture_output=True, text=True, check=False, timeout=600, cwd=tmp_path,
        env={**os.environ, "DLBS_DB": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    store = open_store(db_url)
    try:
        runs = store.runs({"exp.code_version": "abc1234"})
        assert sorted(r.facts["exp.replica_batch"] for r in runs) == [2, 4]
        assert all(r.facts["results.status"] == "ok" for r in runs)
        assert all(len(t) == 5 for t in store.times([r.id for r in runs]).values())
    finally:
        store.close()
    query = subprocess.run([sys.executable, "-m", "dlbs", "db", "query", "--db", db_url,
                            "--format", "json"], capture_output=True, text=True, check=False,
                           timeout=120)
    assert [r["code_version"] for r in json.loads(query.stdout)] == ["abc1234", "abc1234"]


def test_a_store_that_fails_is_a_warning_and_the_log_stays(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        hook = _storer(store)
        empty = tmp_path / "empty.log"
        empty.write_text("no facts at all\n")
        hook(Outcome("ok", log_file=str(empty)))  # must not raise
        err = capsys.readouterr().err
        assert "not stored in sqlite:///" in err
        assert f"store it later with: dlbs db ingest {tmp_path} --db sqlite:///" in err
        assert empty.read_text() == "no facts at all\n"
        assert store.runs() == []
    finally:
        store.close()


def test_a_bad_database_stops_the_run_before_anything_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", "-Pexp.model=deep_mnist", "-Pexp.num_batches=2",
         f"-Pexp.log_dir={tmp_path / 'logs'}", "--db", "mysql://u:pw@h/x"],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path)
    assert done.returncode == 2 and "unsupported database" in done.stderr
    assert "u:***@h" in done.stderr and ":pw@" not in done.stderr
    assert not (tmp_path / "logs").exists()  # nothing ran


def test_run_db_without_a_code_version_says_why_history_would_be_empty(tmp_path: Path) -> None:
    """``experimenter run --db`` without ``exp.code_version``: the runs are stored, and the
    user is told that history and regressions (by code version) will leave them out and what
    to set."""
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", "-Pexp.model=deep_mnist", "-Pexp.num_batches=2",
         "-Pexp.num_warmup_batches=0", "-Pexp.phase=inference", "--no-validation",
         "-Pexp.status=simulate", f"-Pexp.log_dir={tmp_path / 'logs'}",
         "--db", f"sqlite:///{tmp_path / 'r.db'}"],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path,
        env={**os.environ, "DLBS_DB": ""})
    assert "1 of 1 experiment(s) have no exp.code_version" in done.stderr, done.stderr[-2000:]
    assert "-Pexp.code_version=$(git rev-parse --short HEAD)" in done.stderr


def test_code_version_warning_counts_only_the_experiments_without_one() -> None:
    from dlbs.cli.run import code_version_warning

    assert code_version_warning([{"exp.code_version": "abc"}]) is None
    text = code_version_warning([{"exp.code_version": "abc"}, {"exp.code_version": " "}, {}])
    assert text is not None and text.startswith("2 of 3 experiment(s)")

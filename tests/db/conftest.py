"""The database tests run against SQLite and PostgreSQL both. PostgreSQL is the server
``.ci/postgres.sh`` starts (``DLBS_TEST_DB``); without it the PostgreSQL cases skip, except
under ``DLBS_REQUIRE_COMPONENTS=1`` (CI), where the marker turns the skip into a failure."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS classes, points, series, exclusions, run_times, "
                          "runs, alembic_version CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'results.db'}"
        return
    url = os.environ.get("DLBS_TEST_DB", "")
    if not url:
        pytest.skip("no PostgreSQL: start one with 'bash .ci/postgres.sh start DIR' and export "
                    "DLBS_TEST_DB")
    _reset_postgres(url)
    yield url
    _reset_postgres(url)


def write_log(path: Path, facts: dict[str, Any]) -> Path:
    """A log file in the benchmark's format (``__key__=json`` lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"__{k}__={json.dumps(v)}\n" for k, v in facts.items()))
    return path


def run_facts(model: str = "resnet18", code: str = "v1", throughput: float = 100.0,
              repeat: int = 0, day: int = 1, **extra: Any) -> dict[str, Any]:
    """The facts of one finished run (as the benchmark and runner write them)."""
    time_ms = 8 * 1000.0 / throughput
    facts: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": model, "exp.phase": "inference",
        "exp.replica_batch": 8, "exp.dtype": "float32", "exp.device_type": "cpu",
        "exp.num_replicas": 1, "exp.framework_version": "2.13.0+cpu",
        "hw.cpu_model": "AMD EPYC", "hw.num_cpus": 2, "hw.hostname": "vm",
        "exp.code_version": code, "exp.repeat_index": repeat,
        "exp.start_time": f"2026-11-{day:02d}T10:{repeat:02d}:00+00:00",
        "results.throughput": throughput, "results.time": time_ms,
        "results.time_ci95": [time_ms * 0.99, time_ms * 1.01],
        "results.time_data": [time_ms] * 5, "results.status": "ok",
    }
    facts.update(extra)
    return facts


def ingest_folder(folder: Path, database: Path) -> str:
    """The SQLite URL of ``database`` after ``dlbs db ingest`` of ``folder`` (checked)."""
    from dlbs.cli.main import main

    url = f"sqlite:///{database}"
    assert main(["db", "ingest", "--db", url, str(folder)]) == 0
    return url


@pytest.fixture
def logs() -> Any:
    """The helpers above, for the test modules (tests are imported by path, not as a package)."""
    from types import SimpleNamespace
    return SimpleNamespace(write=write_log, facts=run_facts, ingest=ingest_folder)

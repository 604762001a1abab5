"""``dlbs db rekey``: a database stored under older identity rules, keyed again, is the database
a fresh ingest of the same runs makes today (keys, keyed columns, series, class counts, points),
on both engines; a dry run writes nothing; a second rekey finds nothing to change."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dlbs.cli.main import main
from dlbs.db import open_store, records
from dlbs.db.schema import classes, points, runs, series

KEYED = ("identity", "comparability_key", "precision", "batch", "device_model", "device_count",
         "container_image")


def _runs(logs: Any) -> list[tuple[dict[str, Any], str]]:
    """Two versions x three runs of one model, compiled and not (two configurations today;
    one before issue 57 keyed pytorch.compile), and one other model."""
    items = []
    for version in ("v1", "v2"):
        for repeat in range(3):
            for compiled in (False, True):
                facts = logs.facts(code=version, repeat=repeat,
                                   throughput=(150.0 if compiled else 100.0) + repeat,
                                   **{"pytorch.compile": compiled})
                items.append((facts, f"{version}-{repeat}-{compiled}.log"))
            items.append((logs.facts(model="vgg16", code=version, repeat=repeat,
                                     throughput=20.0 + repeat), f"vgg-{version}-{repeat}.log"))
    return items


def _state(url: str) -> dict[str, Any]:
    """Every table a key moves, by run identity and key (ids aside)."""
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            run_rows = sorted(tuple(r) for r in conn.execute(select(*(runs.c[c] for c in KEYED))))
            ids = {i: key for i, key in conn.execute(select(series.c.id,
                                                            series.c.comparability_key))}
            point_rows = sorted(
                (ids[r.series_id], r.metric, r.code_version, r.runs, r.value, r.low, r.high)
                for r in conn.execute(select(points)))
            class_rows = sorted((ids[r.series_id], r.status, r.has_throughput, r.runs)
                                for r in conn.execute(select(classes)))
    finally:
        store.close()
    return {"runs": run_rows, "points": point_rows, "classes": class_rows,
            "series": sorted(ids.values())}


def _stored(url: str, items: list[tuple[dict[str, Any], str]]) -> None:
    store = open_store(url)
    try:
        store.store_many(items)
    finally:
        store.close()


def test_rekey_makes_the_database_a_fresh_ingest_makes(logs: Any, db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    items = _runs(logs)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    _stored(fresh, items)
    expected = _state(fresh)
    assert len(expected["series"]) == 3  # compiled, not compiled, vgg16

    today = records.comparability_key
    monkeypatch.setattr(records, "comparability_key", lambda facts, axis=None: today(
        {k: v for k, v in facts.items() if k != "pytorch.compile"}, axis))
    _stored(db_url, items)
    monkeypatch.undo()
    old = _state(db_url)
    assert len(old["series"]) == 2 and old["runs"] != expected["runs"]
    capsys.readouterr()

    assert main(["db", "rekey", "--db", db_url, "--dry-run"]) == 0
    said = capsys.readouterr().err
    assert "18 run(s) read; would change the keyed columns of 6 (6 to another series); " \
           "2 series; run again without --dry-run" in said, said
    assert _state(db_url) == old  # a dry run writes nothing

    assert main(["db", "rekey", "--db", db_url]) == 0
    said = capsys.readouterr().err
    assert "changed the keyed columns of 6 (6 to another series); series 2 -> 3" in said, said
    assert _state(db_url) == expected

    assert main(["db", "rekey", "--db", db_url]) == 0
    assert "every one of 18 run(s) is keyed by today's rules; nothing changed" in \
        capsys.readouterr().err
    assert _state(db_url) == expected

"""SQLite keeps each run's facts packed (zlib with a preset dictionary, ``dlbs.db.packed``):
nothing is lost, the file holds a fraction of the JSON, SQL reads the packed facts through
``dlbs_facts``, and a damaged value or a changed dictionary is a one-line error, never other
facts (issue 34)."""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dlbs.db import DatabaseError, open_store, packed
from dlbs.logs import parse_log

ROOT = Path(__file__).resolve().parents[2]
#: Logs the benchmark wrote, committed with the first GPU run (not among the dictionary's
#: sources, which are named in scripts/make_facts_dictionary.py).
GPU_LOGS = [log for log in sorted((ROOT / "docs/gpu/2026-11-26-h200").glob("call*/logs/*.facts"))
            if log.name not in ("dlbs-resnet50-train-bf16.facts", "d1-llama-bf16-train.facts")]


def test_the_released_dictionary_is_the_pinned_one() -> None:
    """A database file depends on its dictionary's bytes: dictionary 1 is what was released."""
    name, digest = packed.DICTIONARIES[1]
    data = (Path(packed.__file__).parent / "dictionaries" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    assert packed.dictionary(1) == data and len(data) <= 32 * 1024  # zlib's window


@pytest.mark.parametrize("facts", [
    {"exp.model": "resnet50", "results.throughput": 4643.123456789012, "results.ok": True},
    {"hw.name": "Grüße ✓ 日本", "big": 2 ** 80, "neg": -1e-300, "nested": {"a": [1, None, "x"]}},
    {"results.time_data": [0.1 * i for i in range(2000)], "empty": "", "list": []},
    {},
])
def test_packing_loses_nothing(facts: dict[str, Any]) -> None:
    value = packed.pack(facts)
    assert isinstance(value, bytes) and value[0] == packed.CURRENT
    assert packed.unpack(value) == facts
    assert packed.unpack_text(value) == json.dumps(facts)


def test_the_benchmarks_facts_pack_to_a_fraction_of_their_json() -> None:
    """The facts of logs the benchmark wrote on an H200 (not the dictionary's own logs) come
    back equal to the last digit; all but the iteration times (about 8.5 bytes a float: the
    digits of a measurement do not repeat) pack to at most a seventh of their JSON (measured:
    287-562 bytes of 3,868-4,731)."""
    assert len(GPU_LOGS) >= 20
    for log in GPU_LOGS:
        facts = parse_log(log).record
        assert facts, log
        assert packed.unpack(packed.pack(facts)) == facts
        rest = {name: value for name, value in facts.items() if name != "results.time_data"}
        size = len(packed.pack(rest))
        assert size * 7 <= len(json.dumps(rest)), (log.name, size)


def test_a_damaged_value_fails_and_never_reads_as_other_facts() -> None:
    value = packed.pack({"exp.model": "resnet50", "results.throughput": 100.0})
    for damaged, words in ((value[:-3], "end early"),
                           (value[:5] + bytes([value[5] ^ 0xFF]) + value[6:], "decompress"),
                           (bytes([200]) + value[1:], "dictionary 200"),
                           (b"", "empty")):
        with pytest.raises(packed.PackError, match=words):
            packed.unpack(damaged)


def test_a_changed_dictionary_file_is_refused(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    name, _ = packed.DICTIONARIES[1]
    (tmp_path / name).write_bytes(packed.dictionary(1) + b" ")
    monkeypatch.setattr(packed, "_FOLDER", tmp_path)
    packed.dictionary.cache_clear()
    packed._primed.cache_clear()
    try:
        with pytest.raises(packed.PackError, match="SHA-256 differs"):
            packed.pack({"a": 1})
    finally:
        packed.dictionary.cache_clear()
        packed._primed.cache_clear()


def test_sqlite_stores_blobs_and_sql_reads_them(logs: Any, tmp_path: Path) -> None:
    """The file holds packed blobs (an SQLite of its own, opened without dlbs, sees bytes);
    SQL filters on facts without a column, and a query of some facts, read them."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url)
    try:
        store.store_many([(logs.facts(repeat=r, **{"exp.queue": f"q{r % 2}",
                                                   "results.note": "é ✓"}), f"{r}.log")
                          for r in range(4)])
        two = store.runs({"exp.queue": "q1"})
        assert [r.facts["exp.repeat_index"] for r in two] == [1, 3]
        some = store.some_facts_of([r.id for r in two], ["results.note", "exp.queue", "nope"])
        assert list(some.values()) == [{"results.note": "é ✓", "exp.queue": "q1"}] * 2
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "r.db") as raw:
        kinds = raw.execute("SELECT typeof(facts), length(facts) FROM runs").fetchall()
    assert {kind for kind, _ in kinds} == {"blob"}
    assert max(size for _, size in kinds) < len(json.dumps(logs.facts()))


def test_a_damaged_row_is_a_one_line_error(logs: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url)
    store.store_many([(logs.facts(repeat=r), f"{r}.log") for r in range(2)])
    store.close()
    with sqlite3.connect(tmp_path / "r.db") as raw:
        raw.execute("UPDATE runs SET facts = substr(facts, 1, 20) WHERE id = 2")
    store = open_store(url, readonly=True)
    try:
        for query in (lambda: store.runs(), lambda: store.runs({"exp.queue": "q"}),
                      lambda: store.some_facts_of([1, 2], ["exp.model"])):
            with pytest.raises(DatabaseError) as caught:
                query()
            message = str(caught.value)
            assert "\n" not in message and "damaged" in message, message
    finally:
        store.close()


def test_a_nan_and_an_infinity_survive_as_json_wrote_them() -> None:
    facts = {"results.x": math.inf, "results.y": -math.inf}
    assert packed.unpack(packed.pack(facts)) == facts
    nan = packed.unpack(packed.pack({"v": math.nan}))["v"]
    assert math.isnan(nan)

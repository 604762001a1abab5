"""The results database on both engines: ingest is idempotent and loses nothing with two
writers at once, queries filter on any fact, exclusions are kept with their reason, and a
password never reaches any output (issue 21)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs

from dlbs.cli.main import main
from dlbs.db import DatabaseError, open_store
from dlbs.db.records import comparability_key, container_image, identity


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _sweep(logs: Any, folder: Path, count: int, code: str = "v1",
           model: str = "resnet18") -> Path:
    for i in range(count):
        logs.write(folder / f"{model}_{code}_r{i}.log",
                   logs.facts(model=model, code=code, throughput=100.0 + i, repeat=i))
    return folder


def _ingest_at_once(db_url: str, *folders: Path) -> None:
    """One real ``dlbs db ingest`` process per folder, all started before any is waited for;
    each must succeed."""
    procs = [subprocess.Popen([sys.executable, "-m", "dlbs", "db", "ingest", "--db", db_url,
                               str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for folder in folders]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), results


def test_ingest_twice_or_from_a_copy_gives_the_same_rows(logs: Any, db_url: str, tmp_path: Path) -> None:
    folder = _sweep(logs, tmp_path / "logs", 3)
    copy = tmp_path / "elsewhere" / "logs"
    shutil.copytree(folder, copy)
    first = _dlbs("db", "ingest", "--db", db_url, str(folder))
    assert first.returncode == 0 and "3 new run(s), 0 already stored" in first.stderr
    again = _dlbs("db", "ingest", "--db", db_url, str(folder), str(copy))
    assert again.returncode == 0 and "0 new run(s), 6 already stored" in again.stderr
    store = open_store(db_url)
    try:
        runs = store.runs()
        assert len(runs) == 3
        assert sorted(store.times([r.id for r in runs]).values()) == sorted(
            [[8000.0 / (100.0 + i)] * 5 for i in range(3)])
    finally:
        store.close()


def test_query_filters_on_indexed_and_other_facts_in_every_format(logs: Any, db_url: str,
                                                                  tmp_path: Path) -> None:
    _sweep(logs, tmp_path / "a", 2, model="resnet18")
    logs.write(tmp_path / "a" / "other.log", logs.facts(model="alexnet", exp_extra=1,
                                                     **{"exp.num_threads": 2}))
    assert _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "a")).returncode == 0
    out = _dlbs("db", "query", "--db", db_url, "-Pexp.model=resnet18", "--format", "json")
    rows = json.loads(out.stdout)
    assert out.returncode == 0 and [r["model"] for r in rows] == ["resnet18", "resnet18"]
    assert {r["repeat"] for r in rows} == {0, 1} and all(r["batch"] == 8 for r in rows)
    # a fact that has no column is matched on the stored facts; a number as JSON
    two = json.loads(_dlbs("db", "query", "--db", db_url, "-Pexp.num_threads=2",
                           "--format", "json").stdout)
    assert [r["model"] for r in two] == ["alexnet"]
    by_filter = json.loads(_dlbs("db", "query", "--db", db_url, "--filter",
                                 '{"exp.replica_batch": 8, "exp.model": "alexnet"}',
                                 "--format", "json").stdout)
    assert len(by_filter) == 1
    lines = _dlbs("db", "query", "--db", db_url, "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 3 and all(json.loads(line)["status"] == "ok" for line in lines)
    csv_out = _dlbs("db", "query", "--db", db_url, "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("id,model,phase") and len(csv_out) == 4
    table = _dlbs("db", "query", "--db", db_url).stdout
    assert "resnet18" in table and "alexnet" in table


def test_exclusions_keep_the_run_with_its_reason_and_can_be_undone(logs: Any, db_url: str,
                                                                    tmp_path: Path) -> None:
    _sweep(logs, tmp_path / "a", 2)
    _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "a"))
    no_reason = _dlbs("db", "exclude", "--db", db_url, "1")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    assert _dlbs("db", "exclude", "--db", db_url, "1", "--reason", "fan failed").returncode == 0
    rows = json.loads(_dlbs("db", "query", "--db", db_url, "--format", "json").stdout)
    assert [(r["id"], r["excluded"], r["reason"]) for r in rows] == [
        (1, True, "fan failed"), (2, False, None)]
    missing = _dlbs("db", "exclude", "--db", db_url, "99", "--reason", "x")
    assert missing.returncode == 2 and "no run with id 99" in missing.stderr
    assert _dlbs("db", "exclude", "--db", db_url, "1", "--include").returncode == 0
    rows = json.loads(_dlbs("db", "query", "--db", db_url, "--format", "json").stdout)
    assert not any(r["excluded"] for r in rows)


def test_two_writers_at_once_lose_nothing(logs: Any, db_url: str, tmp_path: Path) -> None:
    """Two real processes ingest different folders into one database at the same time."""
    open_store(db_url).close()  # created and migrated first, as 'experimenter run --db' does
    _ingest_at_once(db_url, _sweep(logs, tmp_path / "a", 40, code="va"),
                    _sweep(logs, tmp_path / "b", 40, code="vb"))
    store = open_store(db_url)
    try:
        assert len(store.runs()) == 80
        assert len(store.runs({"exp.code_version": "va"})) == 40
    finally:
        store.close()


def test_two_processes_opening_a_new_database_at_once_both_migrate(logs: Any, db_url: str,
                                                                   tmp_path: Path) -> None:
    _ingest_at_once(db_url, _sweep(logs, tmp_path / "a", 3, code="va"),
                    _sweep(logs, tmp_path / "b", 3, code="vb"))
    store = open_store(db_url)
    try:
        assert len(store.runs()) == 6
    finally:
        store.close()


def test_the_schema_is_at_the_newest_alembic_revision(db_url: str) -> None:
    from sqlalchemy import text

    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"
    finally:
        store.close()
    assert _dlbs("db", "upgrade", "--db", db_url).returncode == 0


def test_a_bad_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, words in ((["--db", "mysql://u:secret@h/db"], "unsupported database"),
                        (["--db", "not a url"], "not a database URL"),
                        (["--db", "postgresql+psycopg://u:secret@h:notaport/db"],
                         "not a database URL"),
                        ([], "no database"),
                        (["--db", f"sqlite:///{tmp_path}/no/such/dir/x.db"], "does not exist")):
        done = _dlbs("db", "query", *args)
        assert done.returncode == 2 and words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "secret" not in done.stderr


@pytest.mark.postgres
def test_a_password_never_appears_in_errors_or_output(logs: Any, tmp_path: Path) -> None:
    url = os.environ.get("DLBS_TEST_DB", "")
    if not url:
        pytest.skip("no PostgreSQL (DLBS_TEST_DB)")
    from sqlalchemy.engine import make_url
    real = make_url(url)
    assert real.password, "the test server is started with a password (.ci/postgres.sh)"
    wrong = real.set(password="wrong-" + str(real.password)).render_as_string(hide_password=False)
    done = _dlbs("db", "query", "--db", wrong)
    assert done.returncode == 2 and "***" in done.stderr
    assert str(real.password) not in done.stderr + done.stdout and "wrong-" not in done.stderr
    _sweep(logs, tmp_path / "a", 1)
    ok = _dlbs("db", "ingest", "--db", url, str(tmp_path / "a"))
    assert ok.returncode == 0 and str(real.password) not in ok.stderr + ok.stdout


def test_the_comparability_key_leaves_out_the_axis_and_only_a_used_image(logs: Any) -> None:
    base = logs.facts()
    other_code = logs.facts(code="v2", throughput=90.0)
    assert comparability_key(base) == comparability_key(other_code)  # code is never in it
    threads = logs.facts(**{"exp.num_threads": 1})
    assert comparability_key(base) != comparability_key(threads)
    assert comparability_key(base, "exp.num_threads") == comparability_key(
        threads, "exp.num_threads")
    bare = logs.facts(**{"exp.docker_image": "dlbs/pytorch:latest", "exp.docker": False})
    assert container_image(bare) is None and comparability_key(bare) == comparability_key(base)
    boxed = logs.facts(**{"exp.docker_image": "img:1", "exp.docker": True})
    assert comparability_key(boxed) != comparability_key(base)
    assert identity(base) != identity(other_code) and identity(base) == identity(logs.facts())


def test_a_sharded_run_is_another_configuration_and_ddp_keys_stay_as_stored(logs: Any) -> None:
    """exp.parallelism, exp.dp_shard, exp.optimizer and exp.activation_checkpointing came after
    runs were stored: a DDP, SGD, no-checkpointing training run's key is the key it had before
    them (whether it logs those values or nothing), any other is its own, and the series'
    names say which is which; in an inference log the plan's optimizer changes nothing."""
    from dlbs.db.history import naming_of

    def train(**extra: Any) -> dict[str, Any]:
        return logs.facts(**{"exp.phase": "training", **extra})

    before = train()
    usual = train(**{"exp.parallelism": "ddp", "exp.dp_shard": 0, "exp.optimizer": "sgd",
                     "exp.activation_checkpointing": "none"})
    assert comparability_key(before) == comparability_key(usual)
    assert comparability_key(train(**{"exp.optimizer": "auto"})) == comparability_key(before)
    others = [train(**{"exp.parallelism": "fsdp"}),
              train(**{"exp.parallelism": "hsdp", "exp.dp_shard": 2}),
              train(**{"exp.optimizer": "adamw"}),
              train(**{"exp.activation_checkpointing": "full"})]
    keys = {comparability_key(f) for f in others}
    assert len(keys) == 4 and comparability_key(before) not in keys
    assert comparability_key(others[0], "exp.parallelism") == \
        comparability_key(usual, "exp.parallelism")
    assert "exp.parallelism" not in naming_of(usual, "exp.code_version")
    named = naming_of(others[1], "exp.code_version")
    assert (named["exp.parallelism"], named["exp.dp_shard"]) == ("hsdp", 2)
    assert naming_of(others[2], "exp.code_version")["exp.optimizer"] == "adamw"
    for value in ("auto", "adamw"):
        infer = logs.facts(**{"exp.optimizer": value, "exp.activation_checkpointing": "none"})
        assert comparability_key(infer) == comparability_key(logs.facts())
        assert "exp.optimizer" not in naming_of(infer, "exp.code_version")
    # exp.tp_degree: fsdp_tp's group, a key field under fsdp_tp only (a sweep over the
    # parallelism logs the plan's group in its ddp and fsdp runs too, which ignore it)
    assert comparability_key(train(**{"exp.tp_degree": 2})) == comparability_key(before)
    fsdp = train(**{"exp.parallelism": "fsdp"})
    assert comparability_key(train(**{"exp.parallelism": "fsdp", "exp.tp_degree": 2})) == \
        comparability_key(fsdp)
    tp2, tp4 = (train(**{"exp.parallelism": "fsdp_tp", "exp.tp_degree": n}) for n in (2, 4))
    assert len({comparability_key(f) for f in (fsdp, tp2, tp4, before)}) == 4
    assert naming_of(tp4, "exp.code_version")["exp.tp_degree"] == 4
    assert "exp.tp_degree" not in naming_of(train(**{"exp.tp_degree": 2}), "exp.code_version")


def test_serving_runs_at_different_loads_are_different_configurations(logs: Any) -> None:
    """A serving run's key holds the load it offered and the served model (two rates in one
    history would average requests/s at 2/s with those at 8/s); not the port or the seed; a
    capacity search's start is not its configuration; the batch it never had is in no key,
    name or row."""
    from dlbs.db.history import naming_of
    from dlbs.db.records import row

    def serve(**extra: Any) -> dict[str, Any]:
        return logs.facts(**{"exp.phase": "serve", "serve.model": "m", "serve.request_rate": 2,
                             "serve.endpoint": "http://127.0.0.1:8000", "serve.seed": 0,
                             "exp.replica_batch": 16, **extra})

    two, eight = serve(), serve(**{"serve.request_rate": 8})
    assert comparability_key(two) != comparability_key(eight)
    assert comparability_key(two, "serve.request_rate") == comparability_key(
        eight, "serve.request_rate")
    assert comparability_key(two) == comparability_key(serve(**{
        "serve.endpoint": "http://127.0.0.1:9001", "serve.seed": 7, "exp.replica_batch": 32}))
    assert comparability_key(two) != comparability_key(serve(**{"serve.model": "other"}))
    assert comparability_key(two) != comparability_key(serve(**{"serve.slo_ttft_ms": 500}))
    search = serve(**{"serve.search": "rate"})
    assert comparability_key(search) == comparability_key(
        serve(**{"serve.search": "rate", "serve.request_rate": 8}))
    assert comparability_key(search) != comparability_key(two)
    # every token asked for is another load; off, the key of a run logged before the switch
    assert comparability_key(two) == comparability_key(serve(**{"serve.ignore_eos": False}))
    assert comparability_key(two) != comparability_key(serve(**{"serve.ignore_eos": True}))
    # as a plan may give it (-Pserve.ignore_eos=1 expands to an integer): one history
    assert comparability_key(serve(**{"serve.ignore_eos": 1})) == comparability_key(
        serve(**{"serve.ignore_eos": True}))
    assert comparability_key(serve(**{"serve.ignore_eos": 0})) == comparability_key(two)
    # a search's lead-in is what its capacity means (issue 55): another one is another
    # history; the default, or none logged (a search from before the parameter), the old key;
    # a one-load run sends no lead-in, so its value changes nothing there
    assert comparability_key(search) == comparability_key(
        serve(**{"serve.search": "rate", "serve.search_lead_in": 200}))
    assert comparability_key(search) != comparability_key(
        serve(**{"serve.search": "rate", "serve.search_lead_in": 0}))
    concurrency = serve(**{"serve.search": "concurrency", "serve.concurrency": 4})
    assert comparability_key(concurrency) != comparability_key(
        serve(**{"serve.search": "concurrency", "serve.concurrency": 4,
                 "serve.search_lead_in": 50}))
    assert comparability_key(two) == comparability_key(serve(**{"serve.search_lead_in": 0}))
    named = naming_of(eight, "exp.code_version")
    assert named["serve.request_rate"] == 8 and "exp.replica_batch" not in named
    assert row(eight)["batch"] is None


def test_a_database_error_names_the_url_without_its_password() -> None:
    with pytest.raises(DatabaseError, match=r"u:\*\*\*@"):
        open_store("mysql://u:topsecret@h/db")


def test_the_cli_lists_the_database_actions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in ("db", "history", "regressions"))


@pytest.mark.parametrize("planted", ["results.db", "results.db-wal", "results.db-journal"])
def test_a_database_file_planted_as_a_link_or_fifo_is_refused(tmp_path: Path,
                                                              planted: str) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    (tmp_path / planted).symlink_to(target)
    done = _dlbs("db", "query", "--db", f"sqlite:///{tmp_path / 'results.db'}")
    assert done.returncode == 2 and "symbolic link" in done.stderr
    assert target.read_text() == "keep"
    fifo_dir = tmp_path / "f"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "results.db")
    done = _dlbs("db", "query", "--db", f"sqlite:///{fifo_dir / 'results.db'}")
    assert done.returncode == 2 and "not a regular file" in done.stderr


def test_dlbs_own_logs_are_ingested_with_their_status(db_url: str, tmp_path: Path) -> None:
    """Logs as DLBS's pytorch.sh wrote them (no results.status; a skipped one; 2019 dates
    that are not ISO 8601) go in, judged as DLBS judged them."""
    def dlbs_log(name: str, extra: list[str]) -> None:
        lines = ["Running subprocess (['/opt/dlbs/scripts/launchers/pytorch.sh']) with log",
                 '__exp.framework__="pytorch"', f'__exp.model__="{name}"',
                 '__exp.phase__="training"', '__exp.replica_batch__=2', '__exp.dtype__="float32"',
                 '__exp.device_type__="cpu"', '__results.start_time__= "2019-01-02:12:00:00:123"',
                 *extra]
        (tmp_path / "dlbs").mkdir(exist_ok=True)
        (tmp_path / "dlbs" / f"{name}.log").write_text("\n".join(lines) + "\n")

    dlbs_log("alexnet", ["__results.time__=12.5", "__results.throughput__=160"])
    dlbs_log("vgg16", ['__exp.status__= "skipped"', "[FATAL] The replica batch is too large"])
    done = _dlbs("db", "ingest", "--db", db_url, str(tmp_path / "dlbs"))
    assert done.returncode == 0 and "2 new run(s)" in done.stderr, done.stderr
    rows = {r["model"]: r for r in json.loads(_dlbs("db", "query", "--db", db_url,
                                                    "--format", "json").stdout)}
    assert rows["alexnet"]["status"] == "ok" and rows["alexnet"]["throughput"] == 160
    assert rows["vgg16"]["status"] == "skipped" and rows["alexnet"]["date"] is None


def test_a_filter_takes_equal_numbers_as_equal_whatever_their_type() -> None:
    """PostgreSQL's jsonb returns a float written with an exponent (1e+16) as an integer: a
    filter on the float still finds it, as on SQLite."""
    from dlbs.db.queries import equal

    assert equal(10000000000000000, 1e16) and equal(1152921504606847000, 1.152921504606847e18)
    assert equal(16, "16") and not equal(16, 17) and not equal(None, 0)
    assert not equal(10 ** 400, 1.0)  # beyond a float's range: no crash, not equal


def test_some_facts_of_reads_only_the_named_facts_as_stored(logs: Any, db_url: str) -> None:
    """``Store.some_facts_of`` (what names a series and tells why an interval is missing): the
    named facts as ``runs`` gives them, a fact a run lacks or holds as null left out, on both
    engines (SQLite: one json_extract a run; PostgreSQL: one object a run)."""
    store = open_store(db_url)
    try:
        store.store_many([(logs.facts(repeat=r, **{
            "exp.queue": f"q{r}", "results.note": "é ✓" if r else None,
            "exp.model_config": {"layers": [2, r]}}), f"{r}.log")
            for r in range(3)])
        ids = [record.id for record in store.runs()]
        names = ["exp.queue", "results.note", "exp.model_config", "absent"]
        some = store.some_facts_of(ids, names)
        for record in store.runs():
            expected = {n: record.facts[n] for n in names
                        if n in record.facts and record.facts[n] is not None}
            assert some[record.id] == expected
        assert "results.note" not in some[ids[0]] and some[ids[1]]["results.note"] == "é ✓"
        assert store.some_facts_of(ids, []) == {i: {} for i in ids}
    finally:
        store.close()

"""Speed and size of the results database at a million runs, through the CLI (issue 34).

Every figure is a real ``dlbs`` process as a user starts it: wall time, CPU time (user +
system) and peak memory (max RSS) of that process, read with ``os.wait4``. The runs are
real-shaped: the benchmark itself makes a few logs first (``dlbs run`` of two small models on
this CPU), and every other log or run is one of those with the facts that vary between runs
rewritten (model config: batch and threads; host; code version; date; repeat; the measured
times scaled). Targets (2 cores, idle, both engines):

* ``dlbs db ingest`` of 20,000 real logs: < 15 s;
* ``dlbs history`` of one configuration (model + batch + host) in 1,000,000 runs: < 0.5 s;
* ``dlbs regressions --latest`` over 1,000,000 runs (3,500 configurations): < 2 s, < 300 MB;
* ``dlbs regressions --latest``, 3,500 newest runs against 350,000 stored: < 3 s;
* stored bytes per run (SQLite file, PostgreSQL relations): <= 3 KiB;
* ingest into one (series, version) of 4,000 runs: at most 1.5x the CPU a run at 400
  (``--only hot``; ``--baseline DIR`` measures an earlier release's checkout beside it).

    python benchmarks/bench_db.py [--db URL] [--runs 1000000] [--logs 20000]
    python benchmarks/bench_db.py --quick        # 2,000 logs, 100,000 runs

The database is a new SQLite file in a scratch folder unless ``--db`` names a PostgreSQL one
(e.g. the one ``.ci/postgres.sh`` starts; its tables are dropped first). The large databases
are filled through ``Store.store_many`` (not timed); what is timed goes through the CLI.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "python"))

from dlbs.db import open_store
from dlbs.logs.parser import parse_log

MODELS = ("deep_mnist", "sensor_net")
#: 2 models x 25 batches x 70 thread counts = 3,500 configurations (series); each thread
#: count runs on a host of its own, so that model + batch + host names one configuration.
BATCHES = tuple(range(1, 26))
THREADS = tuple(range(1, 71))
HOSTS = tuple(f"node{i:02d}" for i in range(len(THREADS)))


@dataclass
class Measured:
    wall: float
    cpu: float
    peak_mb: float
    code: int
    out: str
    err: str


def dlbs(*args: str) -> Measured:
    """One ``python -m dlbs`` process: its wall time, CPU time and peak memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dlbs", *args], stdout=out, stderr=err,
                                env={**os.environ, "DLBS_DB": ""}, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0,
                        proc.returncode, out.read().decode(), err.read().decode())


def real_logs(folder: Path) -> list[Path]:
    """Logs the benchmark itself writes: one run of each model on this CPU."""
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", f"-Vexp.model={json.dumps(list(MODELS))}",
         "-Pexp.num_batches=5", "-Pexp.num_warmup_batches=1", '-Pexp.gpus=""',
         "-Pexp.code_version=v0000", f"-Pexp.log_dir={folder}", "--progress-bar", "off"],
        capture_output=True, text=True, check=False, cwd=ROOT)
    logs = sorted(folder.glob("*.log"))
    if done.returncode != 0 or len(logs) != len(MODELS):
        raise SystemExit(f"making the real logs failed:\n{done.stdout}\n{done.stderr}")
    return logs


def varied(template: dict[str, Any], config: int, version: int, repeat: int,
           rng: random.Random) -> dict[str, Any]:
    """The template's facts as another run: another configuration, code version, date and
    repeat, its times scaled."""
    facts = dict(template)
    batch = BATCHES[config // len(MODELS) % len(BATCHES)]
    slot = config // (len(MODELS) * len(BATCHES)) % len(THREADS)
    scale = batch / float(template.get("exp.replica_batch") or 1) * (1 + 0.02 * rng.gauss(0, 1))
    for key in ("results.time", "results.time_mean"):
        if isinstance(facts.get(key), (int, float)):
            facts[key] = facts[key] * scale
    for key in ("results.throughput",):
        if isinstance(facts.get(key), (int, float)):
            facts[key] = facts[key] * batch / float(template.get("exp.replica_batch") or 1) / scale
    for key in ("results.time_data", "results.time_ci95"):
        if isinstance(facts.get(key), list):
            facts[key] = [round(float(x) * scale, 4) for x in facts[key]]
    day = 1 + version
    facts.update({
        "exp.replica_batch": batch, "exp.effective_batch": batch,
        "exp.num_threads": THREADS[slot], "hw.hostname": HOSTS[slot],
        "exp.code_version": f"c{version:05d}x",
        "exp.repeat_index": repeat,
        "exp.start_time": f"{2020 + day // 336}-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}"
                          f"T{repeat % 24:02d}:{config % 60:02d}:00+00:00",
    })
    facts.pop("exp.id", None)
    return facts


def write_logs(templates: list[Path], folder: Path, count: int) -> None:
    """``count`` logs: each a real log's text with the lines of the varied facts rewritten."""
    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    texts = [path.read_text() for path in templates]
    parsed = [parse_log(path).record or {} for path in templates]
    for i in range(count):
        which = i % len(templates)
        facts = varied(parsed[which], i % 3500, i // 3500, 0, rng)
        lines = []
        for line in texts[which].splitlines():
            key = line[2:line.find("__=")] if line.startswith("__") and "__=" in line else None
            if key in facts and key in ("exp.replica_batch", "exp.effective_batch",
                                        "exp.num_threads", "hw.hostname", "exp.code_version",
                                        "exp.repeat_index", "exp.start_time", "results.time",
                                        "results.throughput", "results.time_data",
                                        "results.time_ci95"):
                line = f"__{key}__={json.dumps(facts[key])}"
            lines.append(line)
        (folder / f"run_{i:06d}.log").write_text("\n".join(lines) + "\n")


def fill(url: str, templates: list[dict[str, Any]], configs: int, versions: int,
         repeats: int) -> int:
    """A database of ``configs x versions x repeats`` real-shaped runs (not timed)."""
    rng = random.Random(2)
    store = open_store(url)
    total, batch = configs * versions * repeats, []
    try:
        for version in range(versions):
            for config in range(configs):
                for repeat in range(repeats):
                    facts = varied(templates[config % len(templates)], config, version, repeat,
                                   rng)
                    batch.append((facts, f"run_{version}_{config}_{repeat}.log"))
                    if len(batch) == 5000:
                        store.store_many(batch)
                        batch.clear()
            if version % 20 == 0:
                print(f"  filled {(version + 1) * configs * repeats:,}/{total:,} runs",
                      flush=True)
        store.store_many(batch)
        store.analyze()  # as `dlbs db ingest` does after adding runs: the planner's statistics
        return store.count()
    finally:
        store.close()


def size_per_run(url: str, runs: int) -> float:
    """Stored bytes per run: the SQLite file (after a checkpoint), or PostgreSQL's
    relations with their indexes and TOAST."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                size = Path(url.removeprefix("sqlite:///")).stat().st_size
            else:
                size = sum(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar()
                           for t in ("runs", "run_times", "exclusions"))
    finally:
        engine.dispose()
    return size / max(runs, 1)


def reset(url: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS classes, points, series, exclusions, run_times, "
                          "runs, alembic_version CASCADE"))
    engine.dispose()


#: A child process that stores ``size`` runs of one (series, version) in batches of 500 (not
#: timed), then ``timed`` more in batches of 100, and prints the CPU seconds a run of those
#: (``time.process_time``: the machine may be shared, wall time would count the others).
HOT_CHILD = """
import json, sys, time
from dlbs.db import open_store
facts, url, size, timed = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3]), \\
    int(sys.argv[4])
def runs(lo, hi):
    return [({**facts, "exp.repeat_index": r, "exp.start_time":
              f"2026-11-{1 + r // 1440 % 28:02d}T{r // 60 % 24:02d}:{r % 60:02d}:00+00:00",
              "results.throughput": facts["results.throughput"] * (1 + 1e-3 * (r % 97))},
             f"hot{r}.log") for r in range(lo, hi)]
store = open_store(url)
for lo in range(0, size, 500):
    store.store_many(runs(lo, min(size, lo + 500)))
started = time.process_time()
for lo in range(size, size + timed, 100):
    store.store_many(runs(lo, lo + 100))
print((time.process_time() - started) / timed)
store.close()
"""


def hot_cpu(checkout: Path, facts_file: Path, url: str, size: int, timed: int) -> float:
    """CPU seconds a run of an ingest into one (series, version) that holds ``size`` runs,
    with the dlbs of ``checkout`` (this one or an earlier release's worktree)."""
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'python'}",
           "DLBS_DB": ""}
    done = subprocess.run([sys.executable, "-c", HOT_CHILD, str(facts_file), url, str(size),
                           str(timed)], capture_output=True, text=True, env=env, cwd=checkout,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"the hot ingest with {checkout} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def hot_section(facts: dict[str, Any], scratch: Path, baseline: Path | None,
                fresh: Any) -> None:
    """Ingest CPU a run at 400 and 4,000 runs of one hot (series, version), this checkout and
    ``baseline`` interleaved (the goal: at most 1.5x from 400 to 4,000)."""
    facts_file = scratch / "hot_facts.json"
    facts_file.write_text(json.dumps({**facts, "exp.code_version": "dev"}))
    trees = [("this", ROOT)] + ([("baseline", baseline)] if baseline else [])
    best: dict[tuple[str, int], float] = {}
    for attempt in range(2):
        for size in (400, 4000):
            for name, tree in trees:
                url = fresh(f"hot_{name}_{size}_{attempt}.db")
                cpu = hot_cpu(tree, facts_file, url, size, 500)
                best[name, size] = min(cpu, best.get((name, size), cpu))
    for name, tree in trees:
        low, high = best[name, 400], best[name, 4000]
        print(f"  {name} ({tree}): {low * 1e3:.2f} ms CPU a run at 400 runs, "
              f"{high * 1e3:.2f} ms at 4,000: {high / low:.2f}x (goal <= 1.5x)", flush=True)


def bytes_by_table(url: str, runs: int) -> str:
    """SQLite: the bytes a run of each table and index (``dbstat``), largest first."""
    import sqlite3
    with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
        rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name "
                           "ORDER BY 2 DESC").fetchall()
    return ", ".join(f"{name} {size / max(runs, 1):,.0f}" for name, size in rows[:8])


def show(what: str, m: Measured, target: str) -> None:
    ok = "" if m.code in (0, 1) else f"  EXIT {m.code}: {m.err.strip()[-300:]}"
    print(f"  {what}: wall {m.wall:.2f} s, CPU {m.cpu:.2f} s, peak {m.peak_mb:.0f} MB "
          f"(target {target}){ok}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="2,000 logs, 100,000 runs")
    parser.add_argument("--only", default="ingest,million,latest,hot",
                        help="sections: ingest, million, latest, hot")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="a checkout of an earlier release (e.g. git worktree add "
                             "/tmp/base 45fbb88) whose hot ingest is measured beside this one's")
    args = parser.parse_args()
    if args.quick:
        args.logs, args.runs = 2000, 100_000
    sections = set(args.only.split(","))
    # the bytecode an installed dlbs has (pip compiles what it installs): with
    # PYTHONDONTWRITEBYTECODE set, as on these machines, a checkout's every dlbs process would
    # compile its modules from source again (about 0.5 s a command here)
    # (the libraries too: an install made with `pip install --no-compile` has no bytecode of
    # SQLAlchemy, and each command would compile it again, about 0.7 s here)
    import numpy
    import sqlalchemy
    for folder in (ROOT / "dlbs", ROOT / "python", Path(sqlalchemy.__file__).parent,
                   Path(numpy.__file__).parent):
        compileall.compile_dir(str(folder), quiet=1, workers=0)
    scratch = Path(tempfile.mkdtemp(prefix="dlbs-bench-db-"))

    def fresh(name: str) -> str:
        if args.db:
            reset(args.db)
            return args.db
        return f"sqlite:///{scratch / name}"

    print("== real logs: the benchmark's own (dlbs run of "
          f"{', '.join(MODELS)} on this CPU)", flush=True)
    templates = real_logs(scratch / "real")
    facts = [parse_log(path).record or {} for path in templates]
    print(f"  {len(templates)} logs, {sum(len(f) for f in facts) // len(facts)} facts each, "
          f"{sum(p.stat().st_size for p in templates) // len(templates):,} bytes each")

    if "ingest" in sections:
        print(f"== dlbs db ingest of {args.logs:,} real-shaped logs (target < 15 s at 20,000)")
        write_logs(templates, scratch / "logs", args.logs)
        url = fresh("ingest.db")
        m = dlbs("db", "ingest", "--db", url, str(scratch / "logs"))
        show(f"{args.logs:,} logs", m, "< 15 s")
        print(f"  stored: {size_per_run(url, args.logs):,.0f} bytes per run (target <= 3,072)")
        if not args.db:
            print(f"  bytes a run by table and index: {bytes_by_table(url, args.logs)}")

    if "million" in sections:
        versions = max(args.runs // 3500 // 2, 1)
        print(f"== {3500 * versions * 2:,} runs: 3,500 configurations x {versions} code versions "
              "x 2 repeats", flush=True)
        url = fresh("million.db")
        started = time.perf_counter()
        count = fill(url, facts, 3500, versions, 2)
        print(f"  filled {count:,} runs in {time.perf_counter() - started:.0f} s; "
              f"{size_per_run(url, count):,.0f} bytes per run (target <= 3,072)")
        if not args.db:
            print(f"  bytes a run by table and index: {bytes_by_table(url, count)}")
        one = ["-Pexp.model=deep_mnist", "-Pexp.replica_batch=3", f"-Phw.hostname={HOSTS[4]}"]
        # config 204 (deep_mnist, batch 3, node04): one series of 2 runs a version
        for attempt in (1, 2):
            m = dlbs("history", "--db", url, *one, "--format", "json")
            points = len(json.loads(m.out)) if m.code == 0 else 0
            show(f"history of one configuration ({points} points), try {attempt}", m, "< 0.5 s")
        for attempt in (1, 2):
            m = dlbs("regressions", "--latest", "--db", url, "--format", "json")
            show(f"regressions --latest, try {attempt}", m, "< 2 s, < 300 MB")

    if "hot" in sections:
        print("== ingest into one hot (series, version): CPU a run (process_time), batches of "
              "100 runs", flush=True)
        hot_section(facts[0], scratch, args.baseline, fresh)

    if "latest" in sections:
        print("== regressions --latest: the newest runs of 3,500 configurations against "
              "350,000 stored", flush=True)
        url = fresh("latest.db")
        count = fill(url, facts, 3500, 101, 1)
        for attempt in (1, 2):
            m = dlbs("regressions", "--latest", "--db", url, "--format", "json")
            show(f"{count:,} runs, try {attempt}", m, "< 3 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the results database (issue 21's targets, on 2 cores):

* ingest 20,000 logs into SQLite in under 20 s (``dlbs db ingest``: parse + store);
* a history query over a database of 1,000,000 runs in under 1 s (one configuration's runs
  by its indexed facts, then its series);
* regressions over 1,000 series of 100 points in under 10 s (read every run, build the
  series, judge each);
* the newest run of 3,500 configurations against a history of 350,000 runs in under 5 s
  (``dlbs regressions --latest``: read, build the series, judge each newest point).

    python benchmarks/bench_db.py [--db URL] [--logs 20000] [--runs 1000000] [--series 1000]
    python benchmarks/bench_db.py --quick        # 2,000 logs, 100,000 runs

The database is a new SQLite file in a scratch folder unless ``--db`` names one (PostgreSQL:
an empty database, e.g. the one ``.ci/postgres.sh`` starts; its tables are dropped first).
The runs are synthetic facts shaped like the benchmark's (about 70 facts, 100 iteration
times). Prints each measurement beside its target.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "python"))

from dlbs.db import open_store
from dlbs.db.history import build_series, latest_changes, load_series, regressions

MODELS = ("resnet18", "resnet50", "alexnet_owt", "vgg11", "bert_base", "gpt2")


def facts(config: int, version: int, repeat: int, rng: np.random.Generator) -> dict[str, Any]:
    """One run's facts: configuration ``config`` (model x batch x threads), ``version``."""
    model = MODELS[config % len(MODELS)]
    batch = 2 ** (config // len(MODELS) % 8)
    threads = 1 + config // (len(MODELS) * 8)
    throughput = 100.0 * (1 + 0.01 * rng.standard_normal())
    time_ms = batch * 1000.0 / throughput
    record: dict[str, Any] = {
        "exp.framework": "pytorch", "exp.model": model, "exp.phase": "training",
        "exp.replica_batch": batch, "exp.dtype": "float32", "exp.device_type": "cpu",
        "exp.num_replicas": 1, "exp.world_size": 1, "exp.framework_version": "2.13.0+cpu",
        "exp.num_threads": threads, "hw.cpu_model": "AMD EPYC", "hw.num_cpus": 2,
        "hw.hostname": "vm", "exp.code_version": f"v{version:04d}", "exp.repeat_index": repeat,
        "exp.start_time": f"2026-{1 + version // 28 % 12:02d}-{1 + version % 28:02d}T"
                          f"{repeat % 24:02d}:00:00+00:00",
        "results.throughput": throughput, "results.time": time_ms,
        "results.time_ci95": [time_ms * 0.99, time_ms * 1.01], "results.status": "ok",
        "results.time_data": [round(float(x), 4) for x in
                              time_ms * (1 + 0.02 * rng.standard_normal(100))],
    }
    record.update({f"hw.extra_{i}": f"value {i}" for i in range(50)})
    return record


def write_logs(folder: Path, count: int) -> None:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        record = facts(i % 200, i // 200, 0, rng)
        (folder / f"run_{i:06d}.log").write_text(
            "".join(f"__{k}__={json.dumps(v)}\n" for k, v in record.items()))


def fill(store: Any, configs: int, versions: int, runs_each: int) -> None:
    rng = np.random.default_rng(2)
    batch: list[tuple[dict[str, Any], str | None]] = []
    total = configs * versions * runs_each
    for version in range(versions):
        for config in range(configs):
            for repeat in range(runs_each):
                batch.append((facts(config, version, repeat, rng), None))
                if len(batch) == 5000:
                    store.store_many(batch)
                    batch.clear()
        if version % 10 == 0:
            print(f"  filled {(version + 1) * configs * runs_each}/{total} runs", flush=True)
    store.store_many(batch)


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS exclusions, run_times, runs, "
                              "alembic_version CASCADE"))
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--logs", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--compare-history", dest="compare_history", type=int, default=350_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.logs, args.runs, args.compare_history = 2000, 100_000, 35_000
    scratch = Path(tempfile.mkdtemp(prefix="dlbs-bench-db-"))

    def fresh(name: str) -> str:
        if args.db:
            reset(args.db)
            return args.db
        return f"sqlite:///{scratch / name}"

    print(f"== ingest {args.logs} logs (target: 20,000 in < 20 s)")
    write_logs(scratch / "logs", args.logs)
    store = open_store(fresh("ingest.db"))
    start = time.perf_counter()
    result = store.ingest_paths([str(scratch / "logs")])
    took = time.perf_counter() - start
    print(f"  {result.added} runs in {took:.2f} s ({args.logs / took:.0f} logs/s; "
          f"20,000 at this rate: {20000 / (args.logs / took):.1f} s)")
    store.close()

    print(f"== history query over {args.runs} runs (target: 1,000,000 in < 1 s)")
    store = open_store(fresh("history.db"))
    configs = 1000
    fill(store, configs, args.runs // configs, 1)
    start = time.perf_counter()
    found = store.runs({"exp.model": "resnet50", "exp.replica_batch": 2, "exp.num_threads": 1})
    series = build_series(found, "results.throughput", "exp.code_version")
    took = time.perf_counter() - start
    print(f"  {len(found)} runs, {len(series)} series of {len(series[0].points)} points in "
          f"{took:.3f} s")
    store.close()

    print(f"== regressions over {args.series} series of 100 points (target: < 10 s)")
    store = open_store(fresh("regressions.db"))
    fill(store, args.series, 100, 1)
    start = time.perf_counter()
    runs = store.runs()
    series = build_series(runs, "results.throughput", "exp.code_version")
    judged = regressions(series, "results.throughput", "exp.code_version")
    took = time.perf_counter() - start
    print(f"  {len(runs)} runs, {len(series)} series, {judged.judged} judged, "
          f"{len(judged.changes)} changes in {took:.2f} s")
    start = time.perf_counter()
    series = load_series(store, {}, "results.throughput", "exp.code_version").series
    judged = regressions(series, "results.throughput", "exp.code_version")
    took = time.perf_counter() - start
    print(f"  the same through load_series (summary columns): {took:.2f} s")
    store.close()

    history = args.compare_history
    configs = history // 100
    print(f"== the newest run of {configs} configurations against a history of {history} "
          "(target: 3,500 against 350,000 in < 5 s)")
    store = open_store(fresh("latest.db"))
    fill(store, configs, 101, 1)  # 100 history points, then the newest run
    start = time.perf_counter()
    loaded = load_series(store, {}, "results.throughput", "exp.code_version")
    series, count = loaded.series, loaded.runs
    judged = latest_changes(series, "results.throughput", "exp.code_version")
    took = time.perf_counter() - start
    print(f"  {count} runs, {len(series)} series, {judged.judged} judged, "
          f"{len(judged.changes)} changes in {took:.2f} s")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

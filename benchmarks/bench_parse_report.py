"""Speed of the log parser and the report builder on a large synthetic sweep.

Writes N logs of about 300 lines each (a header of input parameters, benchmark noise with the
results facts interleaved, the runner's trailer) into a temporary folder, then times:

1. parsing them all (``dlbs.logs.sources.parse_log_files``, every CPU);
2. building and rendering a regular report over the records (targets: parse < 10 s for 10,000
   logs, report < 2 s);
3. the same report read back from a parsed ``.json`` file, as ``dlbs report results.json`` does.

Usage: ``python benchmarks/bench_parse_report.py [--logs 10000] [--jobs N] [--keep DIR]``.
Exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from pytorch_benchmarks.facts import format_fact

from dlbs.logs.pool import default_jobs
from dlbs.logs.sources import parse_log_files
from dlbs.logs.store import read_records, write_records
from dlbs.reports.build import build_report
from dlbs.reports.render import to_text

LINES_PER_LOG = 300
MODELS = [f"model{i:02d}" for i in range(20)]
PARSE_TARGET_S, REPORT_TARGET_S = 10.0, 2.0


def _header(n: int) -> dict[str, object]:
    model = MODELS[n % 20]
    batch = [8, 16, 32, 64, 128][(n // 20) % 5]
    devices = [1, 2, 4, 8][(n // 100) % 4]
    phase = ["training", "inference"][(n // 400) % 2]
    header: dict[str, object] = {
        "exp.framework": "pytorch", "exp.model": model, "exp.model_title": model.title(),
        "exp.phase": phase, "exp.dtype": "float32", "exp.device_type": "gpu",
        "exp.gpus": ",".join(map(str, range(devices))), "exp.num_gpus": devices,
        "exp.num_replicas": devices, "exp.num_nodes": 1, "exp.replica_batch": batch,
        "exp.effective_batch": batch * devices, "exp.docker": False, "exp.data": "synthetic",
        "exp.id": f"{n % 800:012x}", "exp.log_file": f"/logs/run_{n}.log",
    }
    header.update({f"pytorch.setting_{i}": i for i in range(20)})
    header.update({f"runtime.env.VAR_{i}": f"value {i}" for i in range(24)})
    return header


def _log_text(n: int, rng: random.Random) -> str:
    header = _header(n)
    lines = [format_fact(k, v) for k, v in header.items()]
    times = [rng.uniform(40, 60) for _ in range(50)]
    mean = sum(times) / len(times)
    results = [format_fact("results.time", mean),
               format_fact("results.throughput",
                           1000.0 * int(str(header["exp.effective_batch"])) / mean),
               format_fact("results.time_data", [round(t, 3) for t in times]),
               format_fact("results.time_std", 2.0), format_fact("results.status", "ok")]
    noise = LINES_PER_LOG - len(lines) - len(results) - 3
    body = [f"iteration {i}: loss=2.{i:04d} lr=0.1 time={times[i % 50]:.2f} ms"
            for i in range(noise)]
    step = max(1, noise // len(results))
    for i, fact in enumerate(results):
        body.insert(i * step + i, fact)
    trailer = [format_fact("results.exit_code", 0), format_fact("results.duration", 12.3),
               format_fact("results.status", "ok")]
    return "\n".join(lines + body + trailer) + "\n"


def write_logs(folder: Path, count: int) -> list[str]:
    """Write ``count`` synthetic logs into ``folder``; return their paths."""
    rng = random.Random(7)
    paths = []
    for n in range(count):
        path = folder / f"run_{n:05d}.log"
        path.write_text(_log_text(n, rng), encoding="utf-8")
        paths.append(str(path))
    return paths


def _timed(label: str, func, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = func(*args)
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {elapsed:7.2f} s")
    return value, elapsed


def _report(records: list[dict[str, object]]) -> str:
    return to_text(build_report(records, "regular"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--keep", default=None, help="write the logs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        paths, _ = _timed(f"write {args.logs} logs x {LINES_PER_LOG} lines", write_logs, folder,
                          args.logs)
        jobs = args.jobs or default_jobs()
        records, parse_s = _timed(f"parse ({jobs} processes)", parse_log_files, paths, jobs)
        _, report_s = _timed("regular report from records (build + text)", _report, records)
        parsed = folder / "results.json"
        write_records(records, parsed)
        loaded, _load_s = _timed("read parsed results.json", read_records, parsed)
        _timed("regular report from results.json", _report, loaded)
    ok = parse_s < PARSE_TARGET_S * args.logs / 10_000 and report_s < REPORT_TARGET_S
    print(f"{len(records)} records; targets: parse < {PARSE_TARGET_S:.0f} s per 10,000 logs, "
          f"report < {REPORT_TARGET_S:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

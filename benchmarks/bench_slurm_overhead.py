"""What the Slurm backend costs per experiment, and how fast ``experimenter status`` is.

1. **Overhead per experiment.** The same plan of ``--experiments`` tiny experiments
   (sensor_net, 2 batches) is run with ``exp.scheduler=local`` and with ``exp.scheduler=slurm``,
   alternating, ``--rounds`` times. For each experiment both logs give the time from the
   runner's start of the experiment to its end (``exp.runner_start_time`` ->
   ``exp.runner_end_time``, milliseconds) and the benchmark's own time inside it (the
   benchmark process's wall time, from the ``.sh`` run: ``results.duration`` of the local run).
   Overhead = Slurm span - local span of the same experiment: submission, scheduling, the
   batch script, ``srun``'s step start, polling and the trailer. It includes srun's step
   start, which is part of the job, so it is an upper bound of the figure asked for.
   Goal: under 1 s.
2. **status over 1,000 experiments.** A plan of 1,000 experiments whose logs are: 500 complete
   (copies of a real log), 250 ``.part`` files with a job record of a job Slurm does not know,
   250 missing. ``experimenter status`` is timed end to end (a new process). Goal: under 2 s.

    python benchmarks/bench_slurm_overhead.py [--experiments 5] [--rounds 2]

Needs a Slurm cluster (``eval "$(bash .ci/slurm-cluster.sh start /tmp/slurm)"``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

PY = sys.executable
BASE = ['-Pexp.gpus=""', "-Pexp.model=sensor_net", "-Pexp.num_batches=2",
        "-Pexp.num_warmup_batches=1", "--progress-bar", "off"]


def facts(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if line.startswith("__") and "__=" in line:
            key, _, value = line[2:].partition("__=")
            try:
                out[key] = json.loads(value)
            except ValueError:
                pass
    return out


def spans(log_dir: Path) -> dict[str, float]:
    """replica batch -> seconds from the runner's start of the experiment to its end."""
    result = {}
    for log in sorted(log_dir.glob("*.log")):
        f = facts(log)
        start = datetime.fromisoformat(f["exp.runner_start_time"])
        end = datetime.fromisoformat(f["exp.runner_end_time"])
        assert f["results.status"] == "ok", (log, f.get("results.error"))
        result[str(f["exp.replica_batch"])] = (end - start).total_seconds()
    return result


def run_plan(scheduler: str, log_dir: Path, batches: list[int]) -> float:
    argv = [PY, "-m", "dlbs", "run", f"-Pexp.scheduler={scheduler}", f"-Pexp.log_dir={log_dir}",
            f"-Vexp.replica_batch={json.dumps(batches)}", *BASE]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def overhead(experiments: int, rounds: int, work: Path) -> list[float]:
    batches = list(range(1, experiments + 1))
    diffs: list[float] = []
    for r in range(rounds):
        local_dir, slurm_dir = work / f"local{r}", work / f"slurm{r}"
        wall_local = run_plan("local", local_dir, batches)
        wall_slurm = run_plan("slurm", slurm_dir, batches)
        local, slurm = spans(local_dir), spans(slurm_dir)
        round_diffs = [slurm[name] - local[name] for name in local]
        diffs += round_diffs
        print(f"round {r}: sweep wall local {wall_local:.2f} s, slurm {wall_slurm:.2f} s; "
              f"per experiment slurm - local: median {statistics.median(round_diffs):.3f} s, "
              f"max {max(round_diffs):.3f} s", flush=True)
    return diffs


def status_time(work: Path, count: int = 1000) -> float:
    log_dir = work / "status"
    run_plan("local", log_dir, [1])
    (real,) = log_dir.glob("*.log")
    plan = [PY, "-m", "dlbs", "print", "--format", "jsonl", "-Pexp.scheduler=slurm",
            f"-Pexp.log_dir={log_dir}",
            f"-Vexp.replica_batch={json.dumps(list(range(1, count + 1)))}", *BASE[:-2]]
    lines = subprocess.run(plan, check=True, capture_output=True, text=True).stdout.splitlines()
    for i, line in enumerate(lines):
        log = Path(json.loads(line)["exp.log_file"])
        if log == real:
            continue
        if i % 4 in (0, 1):
            shutil.copy(real, log)
        elif i % 4 == 2:
            shutil.copy(real, f"{log}.part")
            Path(f"{log}.job").write_text(json.dumps({"job_id": str(900000 + i), "offset": 0}))
    argv = [PY, "-m", "dlbs", "status", "-Pexp.scheduler=slurm", f"-Pexp.log_dir={log_dir}",
            f"-Vexp.replica_batch={json.dumps(list(range(1, count + 1)))}", *BASE[:-2],
            "--format", "summary"]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        times.append(time.perf_counter() - t0)
    print(f"status over {count} experiments: {out.strip()}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF"):
        print("SLURM_CONF is not set: start a cluster first (.ci/slurm-cluster.sh start DIR)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        diffs = overhead(args.experiments, args.rounds, work)
        median = statistics.median(diffs)
        print(f"Slurm overhead per experiment over a local run ({len(diffs)} pairs): median "
              f"{median:.3f} s, mean {statistics.mean(diffs):.3f} s, max {max(diffs):.3f} s; "
              f"goal < 1 s: {'met' if median < 1 else 'NOT met'}")
        seconds = status_time(work)
        print(f"experimenter status, 1000 experiments: median of 3 {seconds:.2f} s; goal < 2 s: "
              f"{'met' if seconds < 2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

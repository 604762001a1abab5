"""Speed of plan expansion: ``experimenter print --format jsonl`` of a large sweep.

The sweep is 10 models x 10 replica batches x 10 ``exp.gpus`` layouts x N warm-up counts with
the default configs (N = 1, 5, 10: 1k, 5k and 10k experiments, to show that the cost grows
linearly), plus a one-experiment run that shows the fixed cost (start-up, imports, configs).
For each it measures, on the real console script in a child process:

- wall time until the process exits;
- time to the first experiment on stdout (the output must stream);
- peak resident memory of the process (``ru_maxrss`` from ``wait4``, which covers the child and
  any children it waited for).

Targets for 10k experiments: < 2 s wall, < 200 MB peak, first experiment in < 0.5 s.

    .venv/bin/python benchmarks/bench_expansion.py [--repeat 3] [--sizes 1 5 10]

This is a benchmark, not a test: it prints a table and exits 1 when a 10k target is missed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MODELS = ["alexnet", "alexnet_owt", "googlenet", "inception3", "inception4", "overfeat",
          "resnet18", "resnet50", "vgg16", "vgg19"]
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
GPU_LAYOUTS = ["0", "1", "0,1", "2,3", "0,1,2,3", "0,1,2,3,4,5,6,7", "0:1", "0:1,2:3",
               "0:1:2:3", ""]
TARGETS = {"wall_s": 2.0, "peak_mb": 200.0, "first_s": 0.5}


@dataclass
class Measurement:
    """One run of the command: what it printed and what it cost."""

    lines: int
    wall_s: float
    first_s: float
    peak_mb: float


def experimenter_command() -> list[str]:
    """Return the console script of this venv (or ``python -m dlbs.experimenter``)."""
    script = Path(sys.executable).parent / "experimenter"
    if script.exists():
        return [str(script)]
    found = shutil.which("experimenter")
    return [found] if found else [sys.executable, "-m", "dlbs.experimenter"]


def sweep_arguments(num_warmups: int) -> list[str]:
    """Return the ``-V`` options of a sweep of 1000 x ``num_warmups`` experiments."""
    variables = {"exp.model": MODELS, "exp.replica_batch": BATCHES, "exp.gpus": GPU_LAYOUTS,
                 "exp.num_warmup_batches": list(range(1, num_warmups + 1))}
    return [f"-V{name}={json.dumps(values)}" for name, values in variables.items()]


def measure(argv: list[str]) -> Measurement:
    """Run ``argv``, read its stdout line by line, and measure it."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    first_s = time.perf_counter() - started
    lines = 1 if first else 0
    while chunk := proc.stdout.read(1 << 20):
        lines += chunk.count(b"\n")
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} ... failed ({proc.returncode}): {stderr.strip()}")
    return Measurement(lines, wall_s, first_s, usage.ru_maxrss / 1024.0)


def best_of(argv: list[str], repeat: int) -> Measurement:
    """Run ``argv`` ``repeat`` times; return the median of each figure."""
    runs = [measure(argv) for _ in range(repeat)]
    return Measurement(runs[0].lines, statistics.median(r.wall_s for r in runs),
                       statistics.median(r.first_s for r in runs),
                       statistics.median(r.peak_mb for r in runs))


def main() -> int:
    """Run the sweeps and print the table; return 1 when a 10k target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10],
                        help="warm-up counts: N gives 1000 x N experiments")
    args = parser.parse_args()
    base = experimenter_command() + ["print", "--format", "jsonl"]
    measure(base + ["-Pexp.model=resnet50"])  # warm the file-system cache; not counted
    rows = [("1 (fixed cost)", best_of(base + ["-Pexp.model=resnet50"], args.repeat))]
    rows += [(f"{size}k", best_of(base + sweep_arguments(size), args.repeat))
             for size in args.sizes]
    print(f"command: {' '.join(base)} -V... (median of {args.repeat})")
    print(f"{'plan':<15} {'experiments':>11} {'wall s':>8} {'first s':>8} {'peak MB':>8} "
          f"{'us/exp':>8}")
    fixed = rows[0][1].wall_s
    for label, m in rows:
        per = (m.wall_s - fixed) / max(m.lines - 1, 1) * 1e6 if m.lines > 1 else 0.0
        print(f"{label:<15} {m.lines:>11} {m.wall_s:>8.2f} {m.first_s:>8.3f} {m.peak_mb:>8.1f} "
              f"{per:>8.0f}")
    return _check_targets(rows)


def _check_targets(rows: list[tuple[str, Measurement]]) -> int:
    ten_k = [m for label, m in rows if m.lines == 10_000]
    if not ten_k:
        return 0
    m = ten_k[0]
    missed = [f"{name} {getattr(m, name):.3f} > {limit}" for name, limit in TARGETS.items()
              if getattr(m, name) > limit]
    print("10k targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

"""What ``benchmarks.py --list_models`` and ``--help`` cost: CPU seconds of a fresh process.

Target (issue 61, "fast where users wait"): under 1 s of CPU on a shared 2-core machine, and
no torch imported.

    python benchmarks/bench_list_models.py [--reps 5]

Measured, each as the median of ``--reps`` runs (after one warm-up), user + system CPU of the
child (``RUSAGE_CHILDREN``; wall time moves with the other users of a shared machine, CPU time
much less):

- ``--list_models`` and ``--help``: the benchmark as a user starts it;
- ``zoo list``: the registry's ``list_models()`` in a fresh process (torch and every family
  imported), which is what ``--list_models`` did before issue 61.

2026-11-28, the shared 2-core development machine (load average about 1), torch CPU build,
median of 3:

    --list_models  0.13 s CPU   (before: 1.55 s here; 2.6 s idle and 25.6 s busy in the issue)
    --help         0.08 s CPU   (unchanged: it never imported torch)
    zoo list       1.41 s CPU   (the old --list_models path)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
#: Children run with bytecode caching on, as in any normal install.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ZOO_LIST = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from pytorch_benchmarks.models import list_models; print(list_models())")


def cpu_seconds(cmd: list[str]) -> float:
    """User + system CPU seconds of one child command (its output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu(cmd: list[str], reps: int) -> float:
    """Median CPU seconds of ``reps`` runs, after one warm-up run (caches, bytecode)."""
    cpu_seconds(cmd)
    return statistics.median(cpu_seconds(cmd) for _ in range(reps))


def main() -> None:
    """Print the median CPU seconds of each command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="runs per command (default 5)")
    reps = parser.parse_args().reps
    commands = {
        "--list_models": [sys.executable, str(SCRIPT), "--list_models"],
        "--help": [sys.executable, str(SCRIPT), "--help"],
        "zoo list": [sys.executable, "-c", ZOO_LIST, str(ROOT / "python")],
    }
    for label, cmd in commands.items():
        print(f"{label:<14} {median_cpu(cmd, reps):.2f} s CPU (median of {reps})")


if __name__ == "__main__":
    main()

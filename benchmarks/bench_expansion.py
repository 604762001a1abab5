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

Then the CPU time of the process (user + system, from ``wait4``: other programs on a busy
machine do not count) for the 1k and 10k grids of 10 models x 10 batches x 10 ``exp.gpus``
layouts x 1 or 10 ``exp.num_batches``, in both orders: ``exp.num_batches`` last (it changes
fastest) and ``exp.gpus`` last (every experiment re-resolves the many values computed from the
GPU list), side by side with the previous release (``--baseline REF``: a ``git worktree`` of
REF in a temporary folder, run interleaved with this tree, then removed) and with DLBS's own
code (``--dlbs DIR``: a DLBS checkout, e.g. ``git clone
https://github.com/HewlettPackard/dlcookbook-dlbs``; its ``experimenter.py build`` expands and
writes the same grid). Targets: < 1 s of CPU for 10k in both orders, >= 30x DLBS's code.

    .venv/bin/python benchmarks/bench_expansion.py [--repeat 3] [--sizes 1 5 10]
        [--baseline 45fbb88] [--dlbs ~/dlcookbook-dlbs] [--dlbs-sizes 1]

This is a benchmark, not a test: it prints tables and exits 1 when a 10k target is missed.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MODELS = ["alexnet", "alexnet_owt", "googlenet", "inception3", "inception4", "overfeat",
          "resnet18", "resnet50", "vgg16", "vgg19"]
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
GPU_LAYOUTS = ["0", "1", "0,1", "2,3", "0,1,2,3", "0,1,2,3,4,5,6,7", "0:1", "0:1,2:3",
               "0:1:2:3", ""]
TARGETS = {"wall_s": 2.0, "peak_mb": 200.0, "first_s": 0.5}
#: The release before this change (the expansion memo): its tree is measured beside this one.
PREVIOUS_RELEASE = "45fbb88"
#: CPU seconds the 10k grid may cost, in either order; the least speed-up over DLBS's code.
CPU_TARGET_S, DLBS_TARGET_X = 1.0, 30.0
ROOT = Path(__file__).resolve().parent.parent
#: The grid's orders: the variable that changes fastest comes last.
ORDERS = {"num_batches last": ["exp.model", "exp.replica_batch", "exp.gpus", "exp.num_batches"],
          "gpus last": ["exp.model", "exp.replica_batch", "exp.num_batches", "exp.gpus"]}


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
    parser.add_argument("--baseline", default=PREVIOUS_RELEASE, metavar="REF",
                        help="git revision measured beside this tree ('' for none; default "
                             f"{PREVIOUS_RELEASE}, the release before the expansion memo)")
    parser.add_argument("--dlbs", type=Path, metavar="DIR",
                        help="a checkout of DLBS (HewlettPackard/dlcookbook-dlbs): its own "
                             "experimenter.py build of the same grids, side by side")
    parser.add_argument("--dlbs-sizes", type=int, nargs="+", default=[1], choices=[1, 10],
                        help="grids DLBS's code expands (1: 1k; 10: 10k, about 2 minutes each)")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU comparison")
    args = parser.parse_args()
    # Byte-code as an installed package has it: compiled on the first (warm-up) run, then
    # loaded (a shell with PYTHONDONTWRITEBYTECODE=1 compiles every module every time: ~50 ms);
    # kept out of the trees in a folder of its own.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = cache = tempfile.mkdtemp(prefix="bench-expansion-pyc-")
    atexit.register(shutil.rmtree, cache, True)
    if args.cpu_only:
        return compare_cpu(args)
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
    status = _check_targets(rows)
    return compare_cpu(args) or status


def grid_arguments(order: str, size: int) -> list[str]:
    """``-V`` options of the 1000 x ``size`` grid of the CPU comparison, in ``order``."""
    values = {"exp.model": MODELS, "exp.replica_batch": BATCHES, "exp.gpus": GPU_LAYOUTS,
              "exp.num_batches": list(range(1, size + 1))}
    return [f"-V{name}={json.dumps(values[name])}" for name in ORDERS[order]]


def cpu_seconds(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run ``argv`` (its output thrown away); return its user + system CPU seconds."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed: {stderr.strip()[-300:]}")
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A ``git worktree`` of ``ref`` in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-expansion-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), ref],
                   check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
                       check=False, capture_output=True)
        shutil.rmtree(folder.parent, ignore_errors=True)


def dlbs_command(checkout: Path, order: str, size: int, plan: Path) -> list[str]:
    """DLBS's own ``experimenter.py build`` of the grid (it expands and writes the plan)."""
    return [sys.executable, str(checkout / "python" / "dlbs" / "experimenter.py"), "build",
            "--plan", str(plan), '-Pexp.framework="pytorch"', *grid_arguments(order, size)]


def compare_cpu(args: argparse.Namespace) -> int:
    """Print the CPU table (this tree, the baseline, DLBS); return 1 when a target is missed."""
    # ``python -m dlbs`` is the console script's path (``dlbs/__main__.py`` calls main);
    # ``-m dlbs.cli.main`` would compile main.py from source as ``__main__`` on every run
    # (about 20 ms more than ``experimenter`` costs a user).
    command = [sys.executable, "-m", "dlbs", "print", "--format", "jsonl"]
    trees = {"this tree": (ROOT, None)}
    with contextlib.ExitStack() as stack:
        if args.baseline:
            base = stack.enter_context(worktree(args.baseline))
            trees[args.baseline] = (base, {**os.environ, "PYTHONPATH": str(base)})
        plan = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "plan.json"
        dlbs_env = {**os.environ, "PYTHONPATH": str(args.dlbs / "python")} if args.dlbs else None
        print(f"\nCPU seconds (user + system) of {' '.join(command[1:])} -V... "
              f"(median of {args.repeat}, trees interleaved)")
        for cwd, env in trees.values():  # compile the byte-code, read the configs once
            cpu_seconds(command + ["-Pexp.model=resnet50"], cwd, env)
        if args.dlbs:
            cpu_seconds(dlbs_command(args.dlbs, "gpus last", 1, plan), args.dlbs, dlbs_env)
        header = f"{'grid':<6} {'order':<17}" + "".join(f" {name[:12]:>12}" for name in trees)
        print(header + (f" {'DLBS':>8} {'x DLBS':>7}" if args.dlbs else ""))
        missed = []
        for size in (1, 10):
            for order in ORDERS:
                runs: dict[str, list[float]] = {name: [] for name in trees}
                for _ in range(args.repeat):
                    for name, (cwd, env) in trees.items():
                        runs[name].append(cpu_seconds(command + grid_arguments(order, size),
                                                      cwd, env))
                ours = {name: statistics.median(values) for name, values in runs.items()}
                line = f"{f'{size}k':<6} {order:<17}" + "".join(f" {v:>12.2f}" for v in ours.values())
                if args.dlbs and size in args.dlbs_sizes:
                    theirs = cpu_seconds(dlbs_command(args.dlbs, order, size, plan), args.dlbs,
                                         dlbs_env)
                    ratio = theirs / ours["this tree"]
                    line += f" {theirs:>8.2f} {ratio:>7.1f}"
                    if ratio < DLBS_TARGET_X:
                        missed.append(f"{size}k {order}: {ratio:.1f}x DLBS < {DLBS_TARGET_X}x")
                print(line)
                if size == 10 and ours["this tree"] > CPU_TARGET_S:
                    missed.append(f"10k {order}: {ours['this tree']:.2f} s > {CPU_TARGET_S} s")
    print("CPU targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


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

"""Issue 37's goal for ``dlbs bisect``: on a repository of 64 commits where one adds a 5%
slowdown, the culprit is found in >= 95% of trials, in at most ceil(log2 n) + 2 steps (the
check of bad against good counts as a step).

1. **Simulated** (``--trials``): the real search and the real step verdict
   (``dlbs.bisect.simulate``: ``find_first_bad`` over ``judge_in_rounds``), run times drawn
   lognormal with the run CVs given (and a shared per-round effect with ``--round-cv``).
   Each case is run with the step's test of issue 56 (Yuen's t on 20%-trimmed log times, the
   check measured to within a third: ``new``) beside the one before it (Welch's t, the check
   to within a half: ``old``), on the same seeded trials.
   **Slow runs** (issue 56, ``--slow-share 0.05 --slow-range 1.2,1.5``): the same at run CV
   ``--slow-cv`` (2%) with that share of runs slowed by a factor uniform in that range.
   **Nothing changed** (``--null-trials N``): bad is good (no slowdown), clean and with slow
   runs; any culprit named is wrong.
2. **Real** (``--real K``): K bisections through the CLI (``dlbs bisect``) of a synthetic
   repository (``dlbs.bisect.synthetic``: a sleep-based benchmark, median of 10 iterations of
   5 ms, run-to-run noise ``--noise``), the culprit drawn at random, every run a process the
   runner starts; the wall time each took.

    python benchmarks/bench_bisect.py [--trials 1000] [--run-cv 0.01,0.02,0.03] [--real 3]
        [--commits 16 --slow-share 0.05] [--null-trials 3000]

A measurement, not a test: prints one line per case and exits 0.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlbs.bisect.simulate import Machine, simulate_bisect
from dlbs.bisect.synthetic import make_repo
from dlbs.bisect.verdict import CHECK_PRECISION, FIRST_ROUNDS, MAX_ROUNDS, TRIM, round_schedule

#: The step's test and the check's precision: issue 56's and the one before it.
#: ``half``: the trimmed test with the old check (the choice of ``CHECK_PRECISION``).
METHODS = {"new": (TRIM, CHECK_PRECISION), "old": (0.0, 0.5), "half": (TRIM, 0.5)}


def budget(commits: int) -> int:
    """The goal's steps: ceil(log2 n) + 2."""
    return math.ceil(math.log2(commits)) + 2


def simulated(args: argparse.Namespace, machine: Machine, paired: bool, method: str,
              trials: int | None = None, slowdown: float | None = None) -> str:
    rng = random.Random(args.seed)
    schedule = round_schedule(args.rounds, args.max_rounds)
    trim, precision = METHODS[method]
    slowdown = args.slowdown if slowdown is None else slowdown
    found = within = wrong = nothing = 0
    steps, rounds = [], []
    for _ in range(trials or args.trials):
        culprit = rng.randint(1, args.commits - 1)
        result, check = simulate_bisect(args.commits, culprit, slowdown, machine, rng,
                                        schedule, paired=paired, trim=trim,
                                        precision=precision)
        nothing += check is not None and check.judgement.verdict != "slower"
        used = 1 + len(result.steps)
        hit = slowdown > 0 and result.first_bad == str(culprit)
        found += hit
        wrong += result.found and not hit
        within += hit and used <= budget(args.commits)
        steps.append(used)
        rounds.append(sum(s.judgement.rounds for s in [check, *result.steps]))
    n = trials or args.trials
    test = (("trimmed mean of paired log ratios" if paired else f"Yuen's t, {trim:.0%} trimmed")
            if trim else ("paired t" if paired else "Welch's t"))
    slow = (f", {machine.slow_share:.0%} of runs {machine.slow_range[0]:g}-"
            f"{machine.slow_range[1]:g}x slow" if machine.slow_share else "")
    return (f"simulated {method} ({test}, check to "
            f"{precision:.2f}): {args.commits} commits, {slowdown:.0%} slowdown, run CV "
            f"{machine.run_cv:.1%}{slow}, round CV {machine.round_cv:.1%}, rounds {schedule}: "
            f"{n} trials; culprit found {found / n:.1%}, found within {budget(args.commits)} "
            f"steps {within / n:.1%}, wrong {wrong} ({wrong / n:.2%}), nothing to bisect "
            f"{nothing / n:.1%}; steps median {statistics.median(steps):g}, max {max(steps)}; "
            f"rounds per bisection mean {statistics.fmean(rounds):.1f}")


def real(args: argparse.Namespace, trial: int, folder: Path) -> tuple[bool, int, float]:
    rng = random.Random(args.seed + trial)
    culprit = rng.randint(1, args.commits - 1)
    repo = folder / f"repo{trial}"
    hashes = make_repo(repo, args.commits, culprit, args.slowdown, noise=args.noise)
    cmd = [sys.executable, "-m", "dlbs", "bisect", "--repo", str(repo), "--good", hashes[0],
           "--bad", hashes[-1], "--output", str(folder / f"out{trial}"), "--format", "json",
           "--rounds", str(args.rounds), "--max-rounds", str(args.max_rounds),
           '-Pexp.gpus=""', "-Pexp.model=resnet18", "-Pexp.phase=inference",
           "-Pexp.num_batches=10", "-Ppytorch.bench_path=${exp.bisect_checkout}"]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if done.returncode not in (0, 1) or not done.stdout.strip():
        print(f"  trial {trial}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
        return False, 0, seconds
    report = json.loads(done.stdout)
    hit = bool(report["first_bad"]) and report["first_bad"].startswith(hashes[culprit][:12])
    return hit, len(report["steps"]), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=64)
    parser.add_argument("--slowdown", type=float, default=0.05)
    parser.add_argument("--run-cv", default="0.01,0.02,0.03")
    parser.add_argument("--round-cv", type=float, default=0.0)
    parser.add_argument("--paired", action="store_true", help="also the paired t")
    parser.add_argument("--methods", default="old,new",
                        help="the tests, of old, new and half (comma-separated)")
    parser.add_argument("--slow-share", type=float, default=0.0,
                        help="also the case with this share of runs slow (issue 56: 0.05)")
    parser.add_argument("--slow-range", default="1.2,1.5", help="how slow a slow run is")
    parser.add_argument("--slow-cv", type=float, default=0.02, help="run CV of that case")
    parser.add_argument("--null-trials", type=int, default=0,
                        help="also this many bisections where nothing changed")
    parser.add_argument("--rounds", type=int, default=FIRST_ROUNDS)
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=int, default=0, help="real bisections through the CLI")
    parser.add_argument("--noise", type=float, default=0.01, help="run CV of the real ones")
    args = parser.parse_args()
    print(f"goal: culprit among {args.commits} commits ({args.slowdown:.0%} slowdown) found "
          f"in >= 95% of trials within ceil(log2 n) + 2 = {budget(args.commits)} steps")
    methods = [m for m in args.methods.split(",") if m]
    low, high = (float(v) for v in args.slow_range.split(","))
    machines = [Machine(float(v), args.round_cv) for v in args.run_cv.split(",") if v]
    slow = Machine(args.slow_cv, args.round_cv, slow_share=args.slow_share,
                   slow_range=(low, high))
    machines += [slow] if args.slow_share else []
    for machine in machines:
        for paired in ((False, True) if args.paired else (False,)):
            for method in methods:
                print(simulated(args, machine, paired, method), flush=True)
    if args.null_trials:
        for machine in [Machine(args.slow_cv, args.round_cv)] + ([slow] if args.slow_share
                                                                  else []):
            for method in methods:
                print(simulated(args, machine, False, method, args.null_trials, 0.0),
                      flush=True)
    if args.real:
        results = []
        with tempfile.TemporaryDirectory(prefix="dlbs-bench-bisect-") as tmp:
            for trial in range(args.real):
                hit, steps, seconds = real(args, trial, Path(tmp))
                results.append((hit, steps, seconds))
                print(f"  real trial {trial}: found {hit}, {steps} steps, {seconds:.0f} s",
                      flush=True)
        hits = sum(h for h, _, _ in results)
        inside = sum(h and s <= budget(args.commits) for h, s, _ in results)
        print(f"real: noise {args.noise:.1%}: {args.real} bisections; culprit found {hits}, "
              f"within {budget(args.commits)} steps {inside}; steps "
              f"{[s for _, s, _ in results]}; wall time median "
              f"{statistics.median(t for _, _, t in results):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adaptive iteration counts against DLBS's fixed count: timed work to reach one precision.

For each CPU configuration (model x phase x batch) and each round, two real experiments run
through ``experimenter run`` one after the other:

- **fixed**: ``exp.num_batches=100`` (DLBS's default count); its log gives the precision it
  achieved (``results.precision``: relative half-width of the batch-means 95% CI of the mean
  iteration time over the steady window) and its timed work (sum of ``results.time_data``);
- **adaptive**: ``exp.num_batches=--start`` and ``exp.target_precision`` = that precision, with
  ``exp.max_time`` = twice the fixed run's timed work, so it can never cost much more.

Reported per configuration: the median ratio of timed work (adaptive / fixed; the goal is
<= 0.5 on stable configurations), how often the adaptive run met its target, and whether every
run that stopped short of its target said so (``exp.warnings``). Also the two means, to show
that stopping earlier did not change the answer beyond the intervals.

    python benchmarks/bench_time_to_precision.py [--rounds 3] [--start 10] [--out results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from pytorch_benchmarks.facts import iter_facts

#: (model, phase, replica batch): stable CPU configurations of a few seconds each.
CONFIGS: list[tuple[str, str, int]] = [
    ("alexnet_owt", "inference", 8),
    ("alexnet_owt", "inference", 16),
    ("resnet18", "inference", 8),
    ("resnet18", "inference", 16),
    ("deep_mnist", "training", 64),
]
EXPERIMENTER = [sys.executable, "-m", "dlbs", "run"]


def facts_of(log: Path) -> dict[str, Any]:
    """The facts of one log (last occurrence wins)."""
    with log.open(encoding="utf-8", errors="replace") as stream:
        return dict(iter_facts(stream))


def run_one(model: str, phase: str, batch: int, name: str, folder: Path,
            params: list[str]) -> dict[str, Any]:
    """Run one experiment through ``experimenter run``; return its log's facts."""
    log = folder / f"{name}.log"
    cmd = [*EXPERIMENTER, "-Pexp.gpus=", f"-Pexp.model={model}", f"-Pexp.phase={phase}",
           f"-Pexp.replica_batch={batch}", "-Pexp.num_warmup_batches=2",
           f"-Pexp.log_dir={folder}", f"-Pexp.log_file={log}", "-Pexp.rerun=always",
           "-Pruntime.env.OMP_NUM_THREADS=2", *params]
    subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=dict(os.environ))
    facts = facts_of(log)
    if facts.get("results.status") != "ok":
        raise SystemExit(f"{name}: {facts.get('results.status')}: {facts.get('results.error')}")
    return facts


def work_s(facts: dict[str, Any]) -> float:
    """Seconds of timed work: the sum of every timed iteration."""
    return sum(facts["results.time_data"]) / 1000.0


def one_round(config: tuple[str, str, int], start: int, folder: Path, tag: str) -> dict[str, Any]:
    """A fixed run, then an adaptive run aiming at the fixed run's precision."""
    model, phase, batch = config
    fixed = run_one(model, phase, batch, f"{tag}_fixed", folder, ["-Pexp.num_batches=100"])
    target = float(fixed["results.precision"])
    budget = 2.0 * work_s(fixed)
    adaptive = run_one(model, phase, batch, f"{tag}_adaptive", folder, [
        f"-Pexp.num_batches={start}", f"-Pexp.target_precision={target:.6f}",
        f"-Pexp.max_time={budget:.3f}"])
    met = bool(adaptive.get("results.target_precision_met"))
    warned = any("precision" in w or "max_time" in w
                 for w in adaptive.get("exp.warnings") or [])
    return {
        "config": f"{model} {phase} b{batch}", "target": target,
        "fixed_work_s": work_s(fixed), "adaptive_work_s": work_s(adaptive),
        "ratio": work_s(adaptive) / work_s(fixed), "met": met, "silent_short": not met and not warned,
        "adaptive_batches": adaptive["results.num_batches_done"],
        "adaptive_precision": adaptive.get("results.precision"),
        "fixed_mean_ms": fixed["results.time"], "adaptive_mean_ms": adaptive["results.time"],
        "fixed_ci": fixed.get("results.time_ci95"), "adaptive_ci": adaptive.get("results.time_ci95"),
        "fixed_steady": fixed.get("results.steady_state"),
    }


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """A markdown table: per configuration, medians over rounds."""
    lines = [("| configuration | target precision (fixed run) | work fixed (s) | work adaptive "
             "(s) | ratio (median) | target met | stopped short silently |"),
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        lines.append(
            f"| {config} | {statistics.median(r['target'] for r in mine):.4f} | "
            f"{statistics.median(r['fixed_work_s'] for r in mine):.2f} | "
            f"{statistics.median(r['adaptive_work_s'] for r in mine):.2f} | "
            f"{statistics.median(r['ratio'] for r in mine):.2f} | "
            f"{sum(r['met'] for r in mine)}/{len(mine)} | "
            f"{sum(r['silent_short'] for r in mine)} |")
    ratios = [r["ratio"] for r in rows]
    lines.append(f"\nall: median ratio {statistics.median(ratios):.2f} over {len(rows)} pairs; "
                 f"target met {sum(r['met'] for r in rows)}/{len(rows)}; "
                 f"stopped short without saying so: {sum(r['silent_short'] for r in rows)}")
    return lines


def main() -> int:
    """Run the rounds (configurations interleaved), print the table, save the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=10,
                        help="exp.num_batches of the adaptive run (its minimum)")
    parser.add_argument("--out", default=None, help="write every pair as JSON here")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dlbs-ttp-") as tmp:
        for round_ in range(args.rounds):
            for i, config in enumerate(CONFIGS):
                row = one_round(config, args.start, Path(tmp), f"r{round_}_c{i}")
                rows.append(row)
                print(f"round {round_} {row['config']}: target {row['target']:.4f}, "
                      f"work {row['fixed_work_s']:.2f} s -> {row['adaptive_work_s']:.2f} s "
                      f"({row['adaptive_batches']} batches), met {row['met']}", flush=True)
    print("\n".join(summary(rows)))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much ``experimenter run`` adds to starting benchmarks.py directly, and simulate speed.

Targets (the issue): run overhead per experiment (plan, script, process start, log) < 0.3 s;
``exp.status=simulate`` of 1,000 experiments < 5 s.

    python benchmarks/bench_run_overhead.py [--reps 5] [--sweep 20] [--real]

Measured, each as the median of ``--reps`` wall times:

- ``direct``: ``python .../benchmarks.py --model ok`` where benchmarks.py is the runner tests'
  stand-in (prints a result, imports nothing heavy), so the difference below is the runner's
  own cost and not torch's import-time noise;
- ``run one``: ``python -m dlbs run`` of the same single experiment (CLI start, config load,
  plan, validation, script, log header and trailer, rename); overhead = run one - direct;
- ``run sweep``: one ``run`` of ``--sweep`` experiments vs as many direct starts: overhead
  per experiment inside a sweep;
- ``--real``: the same single-experiment comparison with the real benchmarks.py and deep_mnist,
  interleaved pairs, median of the differences (noisy: torch's import time varies by seconds
  on a shared 2-core machine, far more than the overhead);
- ``simulate``: ``run -Pexp.status=simulate`` of 1,000 experiments, output to /dev/null.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "runner" / "standin_benchmark.py"
TINY = ["-Pexp.replica_batch=2", "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1"]


#: Children run with bytecode caching on, as in any normal install (these machines export
#: PYTHONDONTWRITEBYTECODE=1, which would make every run recompile dlbs and jinja2).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one command (its output discarded); fails loudly when it fails."""
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def median_of(cmd: list[str], cwd: Path, reps: int) -> float:
    """Median wall time of ``reps`` runs (after one warm-up run)."""
    timed(cmd, cwd)
    return statistics.median(timed(cmd, cwd) for _ in range(reps))


def run_cmd(work: Path, *options: str) -> list[str]:
    """``python -m dlbs run`` on CPU, logs under ``work``, every experiment run again."""
    return [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={work / 'logs'}", '-Pexp.gpus=""',
            "-Pexp.rerun=always", "--progress-bar=off", *options]


def measure(reps: int, sweep: int, real: bool) -> dict[str, float]:
    """All figures, in seconds."""
    work = Path(tempfile.mkdtemp(prefix="dlbs-bench-"))
    try:
        bench = work / "bench" / "pytorch_benchmarks"
        bench.mkdir(parents=True)
        shutil.copy(STANDIN, bench / "benchmarks.py")
        direct_cmd = [sys.executable, str(bench / "benchmarks.py"), "--model", "ok"]
        standin = f"-Ppytorch.bench_path={bench.parent}"
        out: dict[str, float] = {"direct": median_of(direct_cmd, work, reps)}
        out["run_one"] = median_of(run_cmd(work, standin, "-Pexp.model=ok"), work, reps)
        out["overhead_one"] = out["run_one"] - out["direct"]
        models = json.dumps([f"ok{i}" for i in range(sweep)])
        sweep_time = median_of(run_cmd(work, standin, f"-Vexp.model={models}"), work, 1)
        out["overhead_per_exp_in_sweep"] = (sweep_time - sweep * out["direct"]) / sweep
        if real:
            script = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
            real_direct = [sys.executable, str(script), "--model", "deep_mnist", "--device", "cpu",
                           "--batch_size", "2", "--num_batches", "2", "--num_warmup_batches", "1"]
            real_run = run_cmd(work, "-Pexp.model=deep_mnist", *TINY)
            pairs = [(timed(real_direct, work), timed(real_run, work)) for _ in range(reps)]
            out["real_direct"] = statistics.median(d for d, _ in pairs)
            out["real_run_one"] = statistics.median(r for _, r in pairs)
            out["real_overhead_one"] = statistics.median(r - d for d, r in pairs)
        batches = json.dumps(list(range(1, 1001)))
        out["simulate_1000"] = median_of(run_cmd(work, "-Pexp.model=resnet50",
                                                 "-Pexp.status=simulate",
                                                 f"-Vexp.replica_batch={batches}"), work, 1)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sweep", type=int, default=20)
    parser.add_argument("--real", action="store_true", help="also time the real deep_mnist")
    args = parser.parse_args()
    figures = measure(args.reps, args.sweep, args.real)
    for name, value in figures.items():
        print(f"{name:28s} {value:8.3f} s")
    ok = figures["overhead_one"] < 0.3 and figures["simulate_1000"] < 5.0
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
    print("targets (overhead < 0.3 s, simulate 1000 < 5 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

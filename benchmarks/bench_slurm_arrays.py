"""Submission time of a sweep as one job array against one job per experiment (issue 22).

    python benchmarks/bench_slurm_arrays.py [--experiments 1000]

Needs a Slurm cluster of ours (``SLURM_CONF``, e.g. ``.ci/slurm-cluster.sh start DIR``): every
job of that cluster is cancelled at the end. For each way, it times what a user waits for:
``experimenter run --detach`` of a plan of N experiments (render N launch and batch scripts,
write N log headers, submit), with the jobs held (``slurm.extra_args=--hold``: nothing runs,
so the measurement is the submission alone), then cancels them. It also times ``sbatch``
itself: N ``sbatch --hold --wrap`` calls against one ``sbatch --array=0-(N-1) --hold``. Prints
a table; the figures depend on the controller (here: slurmctld on this machine).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cancel_all() -> None:
    """Cancel every job of the cluster and wait until the queue is empty."""
    subprocess.run(["scancel", "--user", subprocess.run(
        ["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()], check=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                             check=True).stdout
        if not out.strip():
            return
        time.sleep(0.5)
    raise SystemExit("the cluster's queue did not empty after scancel")


def run_detached(folder: Path, experiments: int, array: bool) -> tuple[float, int]:
    """Seconds ``experimenter run --detach`` took for the plan, and the Slurm jobs it made."""
    logs = folder / ("array" if array else "single")
    argv = [sys.executable, "-m", "dlbs", "run", "--detach", "--no-validation",
            "--progress-bar", "off", "-Pexp.scheduler=slurm", '-Pexp.gpus=""',
            "-Pexp.model=deep_mnist", "-Pexp.num_batches=2", f"-Pexp.log_dir={logs}",
            "-Pslurm.extra_args=--hold", f"-Pslurm.array={'true' if array else 'false'}",
            f"-Vexp.replica_batch={json.dumps(list(range(1, experiments + 1)))}"]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=folder)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or f"{experiments} submitted" not in done.stderr:
        raise SystemExit(f"the detached run failed: {done.stderr[-2000:]}")
    ids = {json.loads(p.read_text())["job_id"].split("_")[0] for p in logs.glob("*.log.job")}
    cancel_all()
    return seconds, len(ids)


def raw_sbatch(folder: Path, experiments: int, array: bool) -> float:
    """Seconds of ``sbatch`` alone: N held one-line jobs, or one held array of N tasks."""
    out = str(folder / "raw.out")
    start = time.perf_counter()
    if array:
        subprocess.run(["sbatch", "--parsable", "--hold", f"--output={out}",
                        f"--array=0-{experiments - 1}", "--wrap", "true"],
                       capture_output=True, check=True)
    else:
        for _ in range(experiments):
            subprocess.run(["sbatch", "--parsable", "--hold", f"--output={out}", "--wrap",
                            "true"], capture_output=True, check=True)
    seconds = time.perf_counter() - start
    cancel_all()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    args = parser.parse_args()
    n = args.experiments
    cancel_all()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for array in (False, True):
            seconds, jobs = run_detached(folder, n, array)
            rows.append((f"experimenter run --detach, slurm.array={str(array).lower()}",
                         seconds, jobs))
        for array in (False, True):
            rows.append((f"sbatch alone, {'one array' if array else f'{n} jobs'}",
                         raw_sbatch(folder, n, array), 1 if array else n))
    print(f"{n} experiments on the cluster of SLURM_CONF")
    print(f"{'what':<48} {'seconds':>9} {'sbatch jobs':>12}")
    for what, seconds, jobs in rows:
        print(f"{what:<48} {seconds:>9.2f} {jobs:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

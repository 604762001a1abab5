"""A/A and A/B check of ``dlbs report --compare`` on this machine, with real runs.

1. **A/A**: the same sweep (``SWEEP``: models x phases x batches on the CPU) is run twice with
   ``exp.repeat=3`` (runs interleaved), into folders ``A`` and ``A2``. Compared with
   ``dlbs report --compare A A2``, no cell may be called ``faster`` or ``slower``.
2. **A/B**: one configuration where threads matter (ResNet-18 inference) is run again with
   half the threads (``runtime.env.OMP_NUM_THREADS=1`` instead of 2) into ``B``;
   ``dlbs report --compare A B`` must call that cell ``slower``.
3. **One run per side**: the first run of each side alone (``exp.repeat_index == 0``) must
   give no verdict at all.

    python benchmarks/bench_aa_compare.py [--keep DIR] [--repeat 3] [--num_batches 30]

Prints each verdict and the counts; exits 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
#: The sweep compared with itself: short CPU experiments of two models, two phases.
SWEEP: dict[str, Any] = {
    "parameters": {"exp.gpus": "", "exp.num_warmup_batches": 2,
                   "runtime.env.OMP_NUM_THREADS": "2"},
    "variables": {"exp.model": ["alexnet_owt", "resnet18"],
                  "exp.phase": ["inference", "training"], "exp.replica_batch": [8]},
}
#: The one configuration run again with half the threads (a plan of its own: a -P value
#: cannot override a variable of the sweep).
THREADS_SWEEP: dict[str, Any] = {
    "parameters": {**SWEEP["parameters"], "exp.model": "resnet18", "exp.phase": "inference",
                   "exp.replica_batch": 8, "runtime.env.OMP_NUM_THREADS": "1",
                   "exp.cpu_threads": 1},
}


def experimenter(config: Path, folder: Path, *params: str) -> None:
    """``experimenter run`` of ``config`` into ``folder`` (progress on stderr)."""
    cmd = [PY, "-m", "dlbs", "run", "--config", str(config), f"-Pexp.log_dir={folder}", *params]
    subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)


def verdicts(base: Path, new: Path, *extra: str) -> list[tuple[str, Any, str]]:
    """(row, speedup, verdict) of each compared cell, from the JSON comparison."""
    cmd = [PY, "-m", "dlbs", "report", "--compare", str(base), str(new), "--format", "json",
           "--recursive", *extra]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    rows = []
    for table in report["tables"]:
        speedup, verdict = table["columns"].index("Speedup"), table["columns"].index("Verdict")
        for row in table["rows"]:
            key = " / ".join(str(k) for k in row["key"])
            rows.append((key, row["cells"][speedup], row["cells"][verdict]))
    return rows


def show(title: str, rows: list[tuple[str, Any, str]]) -> Counter[str]:
    """Print the verdicts and return their counts."""
    print(f"\n== {title}")
    for key, speedup, verdict in rows:
        shown = f"{speedup:.3f}" if isinstance(speedup, float) else speedup
        print(f"  {key}: speedup {shown}: {verdict}")
    counts = Counter(v for _, _, v in rows)
    print("  counts:", dict(counts))
    return counts


def main() -> int:
    """Run the three sides, compare, check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", default=None, help="keep the logs in this folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--num_batches", type=int, default=30)
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="dlbs-aa-"))
    root.mkdir(parents=True, exist_ok=True)
    config = root / "sweep.json"
    config.write_text(json.dumps(SWEEP), encoding="utf-8")
    common = [f"-Pexp.repeat={args.repeat}", f"-Pexp.num_batches={args.num_batches}"]
    experimenter(config, root / "A", *common)
    experimenter(config, root / "A2", *common)
    threads = root / "threads.json"
    threads.write_text(json.dumps(THREADS_SWEEP), encoding="utf-8")
    experimenter(threads, root / "B", *common)
    aa = show("A/A: same sweep twice", verdicts(root / "A", root / "A2"))
    ab = show("A/B: half the threads on one side", verdicts(
        root / "A", root / "B", "--filter_query", '{"exp.model": "resnet18", '
        '"exp.phase": "inference"}'))
    one = show("one run per side", verdicts(
        root / "A", root / "A2", "--filter_query", '{"exp.repeat_index": 0}'))
    failures = []
    if aa["faster"] or aa["slower"]:
        failures.append(f"A/A gave {aa['faster']} faster and {aa['slower']} slower cells")
    if ab["slower"] != 1:
        failures.append("halving the threads was not reported slower")
    if one["faster"] or one["slower"] or one["no significant change"]:
        failures.append("one run per side gave a verdict")
    print("\nlogs in", root)
    print("FAILED: " + "; ".join(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

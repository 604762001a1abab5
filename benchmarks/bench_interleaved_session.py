"""Interleaved sessions on this machine, compared with ``dlbs report --compare-by``.

1. **A/A**: one session of ResNet-18 inference on the CPU with ``exp.repeat=5`` and a
   parameter that changes nothing on a CPU (``pytorch.cudnn_fastest`` false/true: a cuDNN
   setting), runs interleaved by round. ``--compare-by pytorch.cudnn_fastest false true``
   should give no verdict (``inconclusive``).
2. **Threads**: one session with ``exp.cpu_threads`` 1 and 2 (the benchmark's
   ``--num_threads``, which sets torch's threads; ``config/base.json``), interleaved.
   ``--compare-by exp.cpu_threads 2 1`` should call 1 thread ``slower``.

    python benchmarks/bench_interleaved_session.py [--keep DIR] [--repeat 5] [--num_batches 20]

A measurement, not a test: on a busy machine the threads case may be inconclusive (the report
then says how many runs would settle it). Prints both reports' verdicts and exits 0.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BASE: dict[str, Any] = {"exp.gpus": "", "exp.model": "resnet18", "exp.phase": "inference",
                        "exp.replica_batch": 8, "exp.num_warmup_batches": 2}
SESSIONS: dict[str, tuple[str, list[Any], str, str]] = {
    # name: (parameter, values, base value, new value as the command line writes them)
    "aa": ("pytorch.cudnn_fastest", [False, True], "false", "true"),
    "threads": ("exp.cpu_threads", [2, 1], "2", "1"),
}


def run_session(folder: Path, param: str, values: list[Any], repeat: int, batches: int) -> None:
    """One session: both values of ``param``, ``repeat`` rounds interleaved by the runner."""
    plan = {"parameters": {**BASE, "exp.repeat": repeat, "exp.num_batches": batches},
            "variables": {param: values}}
    if param != "exp.cpu_threads":
        plan["parameters"]["exp.cpu_threads"] = 2
    config = folder / "plan.json"
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(plan))
    cmd = [PY, "-m", "dlbs", "run", "--config", str(config), f"-Pexp.log_dir={folder / 'logs'}"]
    subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)


def compare_by(folder: Path, param: str, base: str, new: str) -> dict[str, Any]:
    """The ``--compare-by`` report (JSON) of one session."""
    cmd = [PY, "-m", "dlbs", "report", str(folder / "logs"), "--recursive", "--compare-by",
           param, base, new, "--format", "json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def show(name: str, report: dict[str, Any]) -> list[str]:
    """Print each cell's figures; return the verdicts."""
    table = report["tables"][0]
    columns = table["columns"]
    verdicts = []
    for row in table["rows"]:
        cells = dict(zip(columns, row["cells"]))
        verdicts.append(str(cells["Verdict"]))
        print(f"{name}: {' / '.join(map(str, row['key']))}: speedup {cells['Speedup']:.3f} "
              f"[{cells['CI low']}, {cells['CI high']}] runs {cells['Runs base']}/"
              f"{cells['Runs new']} needed {cells['Runs needed (planning)']}: {cells['Verdict']}")
    for note in report["notes"]:
        if note.startswith(("error control", "one session", "compared")):
            print(f"  {note}")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", default=None, help="keep the logs in this folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--num_batches", type=int, default=20)
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="dlbs-interleaved-"))
    goals = {"aa": "no verdict", "threads": "slower"}
    for name, (param, values, base, new) in SESSIONS.items():
        start = time.monotonic()
        run_session(root / name, param, values, args.repeat, args.num_batches)
        verdicts = show(name, compare_by(root / name, param, base, new))
        print(f"  {name}: {time.monotonic() - start:.0f} s; goal: {goals[name]}; got: "
              f"{', '.join(verdicts)}")
    print(f"logs: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

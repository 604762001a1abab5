"""``scripts/gpu-check``: the command line. Picks the stages, says what the host lacks in
one line, runs the stages and writes ``stage_NAME.md``/``.json`` and ``summary.md``."""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from gpu_check import defects, energy, llm, matrix, timm_stage  # noqa: F401 - they register stages
from gpu_check.bench import Context
from gpu_check.facts import table
from gpu_check.stages import GROUPS, STAGES, StageResult

REQUIRED = {"torch": "the benchmark", "numpy": "the benchmark's statistics"}
OPTIONAL = {"pynvml": "NVML energy and clocks (pip install nvidia-ml-py)",
            "timm": "the timm stage"}
#: The order stages run in (cheap facts first; the timm pairs and energy last).
ORDER = ["env", "ceilings", "defects", "maxbatch-eager", "maxbatch-compile", "matrix-resnet50",
         "matrix-vit_b16", "matrix-gpt2", "matrix-llama3_1b", "matrix-options", "llm", "timm", "energy"]
DEFAULT_BUDGET = 480.0
#: The most ``--stage-budget`` takes: a day, past any stage (each is meant to end inside 10
#: minutes) and any session, and a deadline a timer still holds (``nan`` or ``1e400`` ran
#: without one; a negative budget read as a failed probe).
MAX_BUDGET = 86400.0
#: The shortest stage budget: under a second no stage can start a process (1e-320 was taken:
#: every stage then ran out of time at once).
MIN_BUDGET = 1.0
#: A dry run runs two stages at a time (CPU runs on a 2-core CI machine); a GPU run one.
DRY_WORKERS = 2  # seconds per stage: well inside a host's 10-minute command limit
EPILOG = """examples:
  scripts/gpu-check --list-stages
  scripts/gpu-check --stage env --stage ceilings --out gpu-check-h100
  scripts/gpu-check --stage defects --out gpu-check-h100     # one stage per command
  scripts/gpu-check --stage matrix-resnet50 --out gpu-check-h100
  scripts/gpu-check --dry-run --out /tmp/gpu-check            # tiny CPU runs, no GPU checks
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gpu-check", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A bounded first check of python/pytorch_benchmarks on a GPU host, in "
                    "stages that each end well inside 10 minutes; writes markdown tables and "
                    "logs into one folder.")
    parser.add_argument("--stage", action="append", default=[], metavar="NAME",
                        help="a stage (or group: matrix) to run; repeatable; default: all")
    parser.add_argument("--list-stages", action="store_true", help="list the stages and exit")
    parser.add_argument("--out", type=Path, help="the output folder (default: "
                        "gpu-check-<host> here); later stages add to it, a stage run again "
                        "replaces its own files")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny CPU runs of the same commands, GPU-only checks not run")
    parser.add_argument("--stage-budget", type=budget_seconds, default=DEFAULT_BUDGET,
                        metavar="S",
                        help=f"seconds a stage may take, from {MIN_BUDGET:.0f} to "
                             f"{MAX_BUDGET:.0f}; runs that would start later are listed as "
                             "not run (default: %(default)s)")
    parser.add_argument("--timm-benchmark", type=Path, metavar="PATH",
                        help="timm's benchmark.py (pytorch-image-models repository)")
    return parser.parse_args(argv)


def budget_seconds(text: str) -> float:
    """Parse ``--stage-budget``: a finite number of seconds from MIN_BUDGET to MAX_BUDGET."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got '{text}'") from None
    if not (math.isfinite(value) and MIN_BUDGET <= value <= MAX_BUDGET):
        raise argparse.ArgumentTypeError(f"expected seconds from {MIN_BUDGET:.0f} to "
                                         f"{MAX_BUDGET:.0f}, got '{text}'")
    return value


def out_folder(path: Path) -> Path:
    """``path`` made absolute (the benchmark runs from python/ and writes its facts by it);
    one line and exit 1 where the stages could not write in it: an existing file, a symbolic
    link (to a file or not: the stages would write through it), a folder holding one (as
    ``gpu-serving`` refuses). Nothing is made: :func:`make_out` does, once the host can run."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        what = "a symbolic link" if path.is_symlink() else "not a folder"
        raise SystemExit(f"gpu-check: --out {path} is {what}; name a new folder or one made "
                         "by gpu-check")
    if path.is_dir() and _holds_link(path):
        raise SystemExit(f"gpu-check: --out {path} holds a symbolic link (the stages would "
                         "write through it); name a new folder")
    return path.resolve()


def _holds_link(folder: Path) -> bool:
    """Whether anything below ``folder`` is a symbolic link (links are not followed)."""
    for root, dirs, files in os.walk(folder):
        if any(os.path.islink(os.path.join(root, name)) for name in [*dirs, *files]):
            return True
    return False


def make_out(out: Path) -> None:
    """Make ``out/logs``; one line and exit 1 where the system will not."""
    try:
        (out / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"gpu-check: cannot make the folder {out / 'logs'} "
                         f"({err.strerror or err}); name another folder with --out") from None


def stage_names(asked: list[str]) -> list[str]:
    """The stages asked for, groups expanded, in registry order; an unknown name raises."""
    if not asked:
        return list(ORDER)
    names: list[str] = []
    for name in asked:
        if name not in STAGES and name not in GROUPS:
            known = ", ".join([*STAGES, *GROUPS])
            raise SystemExit(f"gpu-check: unknown stage {name!r} (--stage takes one of: "
                             f"{known}; --list-stages describes them)")
        names += GROUPS.get(name, [name])
    return [n for n in ORDER if n in names]


def requirements() -> tuple[list[str], str]:
    """(missing required modules, one line saying what this host has and lacks)."""
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    lacking = [f"{m} ({why})" for m, why in OPTIONAL.items()
               if importlib.util.find_spec(m) is None]
    if shutil.which("nvidia-smi") is None:
        lacking.append("nvidia-smi (power and memory samples)")
    line = (f"gpu-check: {sys.executable} needs {', '.join(REQUIRED)}"
            f"{' - MISSING: ' + ', '.join(missing) if missing else ' (present)'}; "
            f"optional, missing here: {', '.join(lacking) or 'none'}")
    return missing, line


#: The project's venv (the README's install): a CPU host's dry run finds torch there.
VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"


def missing_said(missing: list[str], argv: list[str], venv: Path = VENV_PYTHON) -> str:
    """What to do when this Python lacks a required module: install it, or, where the
    project's venv has a Python and this is not it, the same command with that Python (the
    system ``python3`` of a CPU host has no torch; issue 58)."""
    said = (f"gpu-check: install {', '.join(missing)} into this Python (on a GPU host: its "
            "CUDA build of torch)")
    # not resolved: the venv's python is a link to the very Python that lacks torch
    if venv.exists() and os.path.abspath(sys.executable) != os.path.abspath(venv):
        shown = os.path.relpath(venv) if not os.path.relpath(venv).startswith("..") else venv
        said += f", or run it with the project's venv: {shown} {' '.join(argv)}"
    return said


def count_gpus() -> int:
    """The GPUs the runs may use: ``CUDA_VISIBLE_DEVICES``'s entries when it is set, else
    those ``nvidia-smi -L`` lists (else torch's count, read in a child process)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    if shutil.which("nvidia-smi"):
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=60, check=False).stdout
        return len(re.findall(r"^GPU \d+:", listing, re.MULTILINE))
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                           capture_output=True, text=True, timeout=120, check=False)
    return int(probe.stdout.strip()) if probe.stdout.strip().isdigit() else 0


def write_stage(ctx: Context, name: str, result: StageResult, seconds: float) -> None:
    mode = "dry run (CPU)" if ctx.dry_run else "GPU"
    text = [f"# Stage {name}", "", f"- status: {result.status}", f"- mode: {mode}",
            f"- seconds: {seconds:.0f}", f"- finished: {datetime.now().isoformat(timespec='seconds')}",
            "", *result.lines, ""]
    (ctx.out / f"stage_{name}.md").write_text("\n".join(text), encoding="utf-8")
    record = {"stage": name, "status": result.status, "seconds": round(seconds, 1),
              "mode": mode, "finished": datetime.now().isoformat(timespec="seconds")}
    (ctx.out / f"stage_{name}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def write_summary(out: Path, requirement_line: str) -> None:
    """``summary.md``: every stage in the folder (stages run one at a time add to it)."""
    rows = []
    for name in ORDER:
        path = out / f"stage_{name}.json"
        if path.is_file():
            r = json.loads(path.read_text())
            rows.append([name, r["status"], r["mode"], f"{r['seconds']:.0f}", r["finished"],
                         f"stage_{name}.md"])
        else:
            rows.append([name, "not run yet", "-", "-", "-", "-"])
    text = ["# gpu-check summary", "", f"Host: {socket.gethostname()}", "", requirement_line,
            "", *table(["stage", "status", "mode", "seconds", "finished", "details"], rows),
            "", ("Logs: logs/ (each benchmark run's command line and output `<run>.log`, its "
            "facts `<run>.facts`, nvidia-smi samples `<run>.smi.csv`)."), ""]
    (out / "summary.md").write_text("\n".join(text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_stages:
        for name in ORDER:
            print(f"{name:15} {STAGES[name][1]}")
        for group, members in GROUPS.items():
            print(f"{group:15} = {' + '.join(members)}")
        return 0
    names = stage_names(args.stage)
    out = out_folder(args.out or Path(f"gpu-check-{socket.gethostname()}"))
    missing, line = requirements()
    print(line, file=sys.stderr)
    if missing:
        print(missing_said(missing, sys.argv), file=sys.stderr)
        return 1
    gpus = 0 if args.dry_run else count_gpus()
    if not args.dry_run and gpus == 0:
        print("gpu-check: no GPU seen (nvidia-smi -L / torch.cuda list none); on a CPU run "
              "--dry-run", file=sys.stderr)
        return 1
    make_out(out)
    timm_stage.SCRIPT[:] = [args.timm_benchmark.resolve()] if args.timm_benchmark else []
    workers = DRY_WORKERS if args.dry_run else 1  # GPU stages never share the device
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(lambda n: run_stage(n, args, out, gpus, line), names))
    print(f"gpu-check: {out / 'summary.md'}", file=sys.stderr)
    return 1 if any(s.startswith("failed") for s in statuses) else 0


_written = threading.Lock()


def run_stage(name: str, args: argparse.Namespace, out: Path, gpus: int, line: str) -> str:
    """Run one stage, write its files and the summary; its status. A stage that raises is
    written as failed (with the error), never lost with the others."""
    ctx = Context(out=out, dry_run=args.dry_run, budget_s=args.stage_budget, num_gpus=gpus)
    print(f"gpu-check: stage {name} ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        result = STAGES[name][0](ctx)
    except Exception as exc:  # noqa: BLE001 - one stage's bug must not lose the others
        result = StageResult(f"failed: gpu-check raised {type(exc).__name__}: {exc}",
                             ["```", traceback.format_exc(), "```"])
    seconds = time.monotonic() - start
    with _written:
        write_stage(ctx, name, result, seconds)
        write_summary(out, line)
    print(f"gpu-check: stage {name}: {result.status} ({seconds:.0f} s)", file=sys.stderr,
          flush=True)
    return result.status

"""Running ``benchmarks.py`` (and the probes) as subprocesses of the host's Python.

Every run writes ``logs/<name>.log`` (its command line, stdout and stderr), its facts to
``logs/<name>.facts`` (``--log_file``), and on a GPU ``logs/<name>.smi.csv``."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_check.facts import read_facts
from gpu_check.smi import SmiSampler, SmiSummary

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
BENCHMARK = PYTHON_DIR / "pytorch_benchmarks" / "benchmarks.py"
PROBE = Path(__file__).resolve().parent / "probe.py"
#: A run's own limit (seconds) when the stage has more time left than that.
RUN_LIMIT = 240.0
#: Seconds a run stopped at its limit gets to write its partial results (SIGTERM) first.
GRACE = 20.0
NO_GPU = "not run (dry run: no GPU)"


#: How a run the stage's budget left out begins its reason.
BUDGET_SKIP = "not run (stage budget"


@dataclass
class Context:
    """What every stage needs: the output folder, the mode and the stage's time budget."""
    out: Path
    dry_run: bool
    budget_s: float
    num_gpus: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def left(self) -> float:
        """Seconds left of this stage's budget."""
        return self.budget_s - (time.monotonic() - self.started)

    def device_args(self) -> list[str]:
        return ["--device", "cpu"] if self.dry_run else ["--device", "cuda"]


@dataclass
class Run:
    """One benchmark run: its name, flags, facts, and how it ended."""
    name: str
    args: list[str]
    facts: dict[str, Any] = field(default_factory=dict)
    returncode: int | None = None
    seconds: float = 0.0
    skipped: str | None = None  # why it did not run
    timed_out: bool = False
    budget_stop: bool = False  # stopped because the stage's budget ran out, not at its own limit
    smi: SmiSummary | None = None

    @property
    def status(self) -> str:
        """``ok``/``failure``/``oom``/``interrupted`` as logged, or why there is none."""
        if self.skipped:
            return self.skipped
        logged = self.facts.get("results.status")
        if self.timed_out and self.budget_stop:
            return f"stopped when the stage's budget ran out ({logged or 'no status'})"
        if self.timed_out:
            return f"stopped at its time limit ({logged or 'no status'})"
        if logged:
            return str(logged)
        return f"no status logged (exit {self.returncode})"

    @property
    def ok(self) -> bool:
        return self.skipped is None and self.facts.get("results.status") == "ok"

    def get(self, key: str) -> Any:
        return self.facts.get(key)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the benchmark writes its partial results), then SIGKILL after the grace."""
    process.terminate()
    try:
        process.wait(GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _execute(command: list[str], log: Path, limit: float, cwd: Path,
             env: dict[str, str] | None = None) -> tuple[int, bool]:
    """Run ``command`` with its output in ``log`` (a rerun replaces it), with ``env`` added to
    the environment; (exit code, whether it was stopped)."""
    with log.open("wb") as out:
        shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        out.write(("$ " + (shown + " " if shown else "") + shlex.join(command) + "\n").encode())
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                   env={**os.environ, **env} if env else None)
        try:
            return process.wait(max(limit, 1.0)), False
        except subprocess.TimeoutExpired:
            _stop(process)
            return process.returncode, True


#: The fact naming the timed window's seconds: nvidia-smi's power and clock are read over the
#: last that many seconds of the run's process, the window NVML's energy covers (the first
#: GPU run showed 380 W for the whole process beside NVML's 612 W for the window).
WINDOW_KEY = "results.energy_window_s"
#: When that window ended (Unix time): the span is [end - seconds, end], not the last seconds
#: of the process (whose teardown, about a second, the first GPU run's smi W included).
WINDOW_END_KEY = "results.energy_window_end"


#: One process under torchrun (``--standalone``): FSDP2 at world size 1, NCCL on a GPU.
TORCHRUN_ONE = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]


def run_benchmark(ctx: Context, name: str, args: list[str], smi_period_ms: int = 500,
                  last_s_key: str | None = WINDOW_KEY, limit: float = RUN_LIMIT,
                  launcher: list[str] | None = None) -> Run:
    """Run ``benchmarks.py args`` on the stage's device unless the stage's budget is spent,
    for at most ``limit`` seconds; ``last_s_key``: a fact naming the seconds over which
    smi's power and clock are read (None: the whole process); ``launcher``: the host
    Python's arguments before the script (e.g. :data:`TORCHRUN_ONE`). A ``--compile`` run
    logs its recompilations (``TORCH_LOGS=recompiles``)."""
    run = Run(name=name, args=[*args, *ctx.device_args()])
    left = ctx.left()
    if left < 10:
        run.skipped = f"{BUDGET_SKIP} of {ctx.budget_s:.0f} s spent)"
        return run
    ctx.logs.mkdir(parents=True, exist_ok=True)
    facts_file = ctx.logs / f"{name}.facts"
    facts_file.unlink(missing_ok=True)
    command = [sys.executable, *(launcher or []), str(BENCHMARK), *run.args,
               "--log_file", str(facts_file), "--facts", "log"]
    start = time.monotonic()
    sampler = SmiSampler(ctx.logs / f"{name}.smi.csv", period_ms=smi_period_ms,
                         enabled=not ctx.dry_run)
    with sampler:
        env = {"TORCH_LOGS": "recompiles"} if "--compile" in args else None
        run.returncode, run.timed_out = _execute(command, ctx.logs / f"{name}.log",
                                                 min(left, limit), PYTHON_DIR, env)
    run.budget_stop = run.timed_out and left < limit
    run.seconds = time.monotonic() - start
    run.facts = read_facts(facts_file)
    last = run.facts.get(last_s_key) if last_s_key else None
    end = run.facts.get(WINDOW_END_KEY) if last_s_key == WINDOW_KEY else None
    run.smi = sampler.summary(last if isinstance(last, (int, float)) else None,
                              end if isinstance(end, (int, float)) else None)
    return run


def run_probe(ctx: Context, what: str, name: str, limit: float = 300.0) -> dict[str, Any]:
    """Run ``probe.py what`` (``--dry-run`` in a dry run); its JSON, or ``{"error": ...}``."""
    ctx.logs.mkdir(parents=True, exist_ok=True)
    out = ctx.logs / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(PROBE), what, "--out", str(out)]
    if ctx.dry_run:
        command.append("--dry-run")
    code, stopped = _execute(command, ctx.logs / f"{name}.log", min(limit, ctx.left()), ROOT)
    if not out.is_file():
        why = "stopped at its time limit" if stopped else f"exit {code}"
        return {"error": f"the probe wrote nothing ({why}; see logs/{name}.log)"}
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except ValueError as exc:
        return {"error": f"logs/{name}.json is not JSON ({exc})"}
    return result


def run_tool(ctx: Context, name: str, command: list[str], limit: float = 60.0,
             cwd: Path = ROOT) -> tuple[int, bool]:
    """Run any command (``nvidia-smi -q``, timm's benchmark) into ``logs/<name>.log``."""
    ctx.logs.mkdir(parents=True, exist_ok=True)
    return _execute(command, ctx.logs / f"{name}.log", min(limit, ctx.left()), cwd)

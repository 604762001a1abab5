"""One node's checks run on this host (``dlbs accept localhost``): the node checks program and
the plan's reference training run, as subprocesses; their facts turned into figures.

Starts processes (the checks' own: torch is never imported here) and reads their stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_benchmarks.facts as fact_format

from dlbs.accept.suite import CHECK_NAMES as suite_checks
from dlbs.accept.suite import Suite
from dlbs.accept.verdict import Reference
from dlbs.errors import ConfigError, RunError

#: check name -> (fact key, unit) of the figure each check is judged by (the matmul's other
#: precisions and the plan's named training runs: :func:`figure_key`).
FIGURES: dict[str, tuple[str, str]] = {
    "matmul_fp32": ("accept.matmul_fp32_gflops", "GFLOP/s"),
    "matmul_bf16": ("accept.matmul_bf16_gflops", "GFLOP/s"),
    "memcopy": ("accept.memcopy_gbs", "GB/s"),
    "allreduce_busbw": ("accept.busbw_gbs", "GB/s"),
    "pair_busbw": ("accept.pair_busbw_gbs", "GB/s"),
    "training": ("results.throughput", "samples/s"),
}
REFERENCES = Path(__file__).with_name("references.json")
#: The checks ``--checks`` takes: those of ``pytorch_benchmarks.measure.acceptance.CHECKS``
#: (named here so that a misspelt one is refused before any job: that module imports torch)
#: and the reference training run (:data:`dlbs.accept.suite.CHECK_NAMES`).
CHECK_NAMES = suite_checks
_PYTHON_DIR = Path(fact_format.__file__).resolve().parents[1]


def load_references(path: Path = REFERENCES, device: str = "cpu") -> dict[str, Reference]:
    """The reference ranges of one device model from a table file (a missing model: none)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["devices"].get(device, {})
        return {check: Reference(check, float(r["low"]), r["unit"], r["measured"],
                                 settings=_row_settings(path, r.get("settings", {})))
                for check, r in rows.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a reference table ({exc}); see docs/acceptance.md"
                          ) from None


def _row_settings(path: Path, given: Any) -> tuple[tuple[str, str], ...]:
    """A row's ``settings`` (parameter -> value it was measured at) in the one form the suite's
    are compared in (:func:`dlbs.accept.suite.setting_text`)."""
    from dlbs.accept.suite import setting_text

    if not isinstance(given, dict):
        raise TypeError(f"a row's settings must be an object parameter -> value, not {given!r}")
    return tuple(sorted((str(name), setting_text(str(path), str(name), value))
                        for name, value in given.items()))


#: The device model of a node without GPUs (NVML absent or no GPU): the table's CPU rows.
CPU = "cpu"


def device_model(facts: Mapping[str, Any]) -> str:
    """A node's device model for the reference table: its first GPU's name as NVML gives it
    (``accept.environment``), else :data:`CPU`."""
    env = facts.get("accept.environment")
    gpus = env.get("gpus") if isinstance(env, dict) else None
    name = gpus[0].get("name") if isinstance(gpus, list) and gpus and \
        isinstance(gpus[0], dict) else None
    return name if isinstance(name, str) and name.strip() else CPU


def fleet_device(facts: Mapping[str, Mapping[str, Any]]) -> tuple[str, str | None]:
    """The device model the fleet is judged as (the most nodes', the first on a tie) and,
    when nodes differ, one line naming each model's nodes."""
    models: dict[str, list[str]] = {}
    for node, node_facts in facts.items():
        models.setdefault(device_model(node_facts), []).append(node)
    if not models:
        return CPU, None
    device = max(models, key=lambda m: len(models[m]))
    if len(models) == 1:
        return device, None
    shown = "; ".join(f"{m}: {', '.join(nodes)}" for m, nodes in models.items())
    return device, (f"references: the nodes hold {len(models)} device models ({shown}): judged "
                    f"against {device}'s rows and against each other; accept one model at a "
                    "time (--nodelist)")


def _env() -> dict[str, str]:
    """This environment, the benchmark's package on ``PYTHONPATH``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(_PYTHON_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _run(args: list[str], what: str, gpus: str = "") -> dict[str, Any]:
    """Run one check program (``gpus``: its ``CUDA_VISIBLE_DEVICES``, '' for all); its facts,
    or a RunError naming it and its last line."""
    env = _env()
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RunError(f"dlbs accept: the {what} failed (exit {done.returncode}): {last}")
    return dict(fact_format.iter_facts(done.stdout.splitlines()))


def figure_key(check: str) -> tuple[str, str] | None:
    """The fact key and unit of a figure check: :data:`FIGURES`, a matmul precision's, a
    named training run's (``training_*``); None for no figure."""
    if check in FIGURES:
        return FIGURES[check]
    if check.startswith("matmul_"):
        return f"accept.{check}_gflops", "GFLOP/s"
    if check.startswith("training"):
        return "results.throughput", "samples/s"
    return None


def unit_of(check: str) -> str:
    """A figure check's unit ('' for none known)."""
    found = figure_key(check)
    return found[1] if found else ""


def _programs(suite: Suite, programs: list[str]) -> dict[str, Any]:
    return _run(["-m", "pytorch_benchmarks.measure.acceptance", *suite.program_options(),
                 *programs], "node checks")


def measure_localhost(suite: Suite, burn_in_minutes: float, repeat: int = 1
                      ) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """This host's figures (check -> runs) and its other facts (environment, dcgmi), for the
    suite's checks with its settings.

    ``repeat``: runs of the checks (each a figure of each check); ``burn_in_minutes`` repeats
    the reference training runs, in turn, until that long has passed (at least ``repeat``
    rounds)."""
    programs = [c for c in suite.checks if c != "training"]
    figures: dict[str, list[float]] = {}
    facts: dict[str, Any] = {}
    wanted = [c for c in suite.figure_checks() if not c.startswith("training")]
    for _ in range(max(1, repeat) if programs else 0):
        facts = _programs(suite, programs)
        for name in wanted:
            key = (figure_key(name) or ("", ""))[0]
            if facts.get(key) is not None:
                figures.setdefault(name, []).append(float(facts[key]))
    if "training" in suite.checks:
        watcher = XidWatcher() if burn_in_minutes > 0 else None
        try:
            rounds = _reference_runs(suite, burn_in_minutes, repeat, figures)
        finally:
            xid = watcher.stop() if watcher else {}
        if burn_in_minutes > 0:  # the counters again: what the burn-in did (dlbs.accept.burnin)
            after = _run(["-m", "pytorch_benchmarks.measure.acceptance", "environment"],
                         "node checks after the burn-in")
            facts["accept.burn_in"] = {
                "minutes": burn_in_minutes, "runs": rounds * len(suite.trainings),
                "before": {"accept.environment": facts.get("accept.environment")},
                "after": {**after, **xid}}
    return figures, facts


def _reference_runs(suite: Suite, burn_in_minutes: float, repeat: int,
                    figures: dict[str, list[float]]) -> int:
    """The suite's reference runs, in turn, ``repeat`` rounds and until ``burn_in_minutes``
    have passed; each figure added to ``figures``; the rounds run."""
    rounds, end = 0, time.monotonic() + 60.0 * burn_in_minutes
    while True:
        for run in suite.trainings:
            got = _run(list(run.args), f"reference training run {run.check} ({run.what})",
                       run.gpus)
            figures.setdefault(run.check, []).append(float(got["results.throughput"]))
        rounds += 1
        if time.monotonic() >= end and rounds >= repeat:
            return rounds


class XidWatcher:
    """``pytorch_benchmarks.measure.xid`` running beside the burn-in: started watching (its
    first line read), stopped by closing its stdin; its facts (``accept.xid`` or
    ``accept.xid_unavailable``, with ``accept.xid_watch``)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pytorch_benchmarks.measure.xid"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        assert self._process.stdout is not None
        self._first = self._process.stdout.readline()  # watching (or why not) from here on

    def stop(self) -> dict[str, Any]:
        """Its facts, once it has read the events already queued."""
        try:
            out, err = self._process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            out, err = self._process.communicate()
        facts = dict(fact_format.iter_facts([self._first, *out.splitlines()]))
        if not facts:
            last = (err.strip().splitlines() or ["(no output)"])[-1]
            facts["accept.xid_unavailable"] = (f"the Xid watcher ended (exit "
                                               f"{self._process.returncode}): {last}")
        return facts

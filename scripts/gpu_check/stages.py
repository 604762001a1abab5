"""The stages' registry, the result every stage returns, and the two probe stages (``env``,
``ceilings``)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpu_check.bench import Context, run_probe, run_tool
from gpu_check.facts import fmt, table
from gpu_check.smi import available as smi_available


@dataclass
class StageResult:
    """A stage's status line and its markdown body."""
    status: str
    lines: list[str] = field(default_factory=list)


Stage = Callable[[Context], StageResult]
STAGES: dict[str, tuple[Stage, str]] = {}
#: Names that stand for several stages, run in this order.
GROUPS: dict[str, list[str]] = {}


def register_stage(name: str, about: str) -> Callable[[Stage], Stage]:
    """Add a stage under ``name`` (a duplicate name is a programming error)."""
    def add(stage: Stage) -> Stage:
        if name in STAGES:
            raise ValueError(f"stage {name!r} registered twice")
        STAGES[name] = (stage, about)
        return stage
    return add


def _flatten(facts: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(facts, dict):
        rows: list[tuple[str, Any]] = []
        for key, value in facts.items():
            rows += _flatten(value, f"{prefix}{key}" if not prefix else f"{prefix} / {key}")
        return rows
    if isinstance(facts, list):
        rows = []
        for i, value in enumerate(facts):
            rows += _flatten(value, f"{prefix}[{i}]")
        return rows
    return [(prefix, json.dumps(facts) if not isinstance(facts, str) else facts)]


@register_stage("env", "the environment's facts: driver, CUDA, cuDNN, devices, torch's "
                       "defaults, SDP backends, NVML (UUID match, energy counter), nvidia-smi -q")
def env_stage(ctx: Context) -> StageResult:
    facts = run_probe(ctx, "env", "env", limit=120)
    lines = ["Read by `scripts/gpu_check/probe.py env` with this Python (logs/env.json)."]
    if not ctx.dry_run and smi_available():
        run_tool(ctx, "nvidia-smi-q", ["nvidia-smi", "-q"])
        run_tool(ctx, "nvidia-smi-csv", [
            "nvidia-smi", ("--query-gpu=index,name,driver_version,power.limit,clocks.max.sm,"
            "persistence_mode,mig.mode.current"), "--format=csv"])
        lines.append("`nvidia-smi -q` and its CSV query: logs/nvidia-smi-q.log, "
                     "logs/nvidia-smi-csv.log.")
    elif not ctx.dry_run:
        lines.append("nvidia-smi is not on the PATH: no `nvidia-smi -q`.")
    lines += ["", *table(["fact", "value"], _flatten(facts))]
    status = f"failed: {facts['error']}" if "error" in facts else "ok"
    return StageResult(status, lines)


#: Repeats of a ceiling measurement further apart than this (slowest / fastest) mark it
#: noisy: a busy host, not the device's ceiling.
NOISY_SPREAD = 1.5


def _spread(m: dict[str, Any]) -> str:
    return "-" if m.get("spread") is None else f"{m['spread']:.2f}x"


def _ceiling_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for label, m in result.get("matmul", {}).items():
        if "error" in m:
            rows.append([f"matmul {label}", "-", "-", "-", "-", m["error"]])
        else:
            rows.append([f"matmul {label} {m['size']}^3", fmt(m["seconds"] * 1e3),
                         fmt(m["tflops"]), "TFLOP/s", _spread(m), m["how"]])
    copy = result.get("copy", {})
    if "error" in copy:
        rows.append(["device copy", "-", "-", "-", "-", copy["error"]])
    elif copy:
        rows.append([f"copy {copy['bytes'] / 2**20:.0f} MiB", fmt(copy["seconds"] * 1e3),
                     fmt(copy["read_plus_write_gb_s"]), "GB/s (bytes read + written)",
                     _spread(copy), copy["how"]])
    return rows


def noisy_ceilings(result: dict[str, Any]) -> list[str]:
    """The measurements whose repeats spread more than :data:`NOISY_SPREAD`, as ``matmul
    fp32 (3.10x)``."""
    measured = [(f"matmul {label}", m) for label, m in result.get("matmul", {}).items()]
    measured.append(("copy", result.get("copy", {})))
    return [f"{name} ({m['spread']:.2f}x)" for name, m in measured
            if isinstance(m.get("spread"), (int, float)) and m["spread"] > NOISY_SPREAD]


@register_stage("ceilings", "matmul rates (bf16, fp16, tf32, fp32 at 8192^3) and a 4 GiB "
                            "device copy: the ceilings any run's figures must stay under")
def ceilings_stage(ctx: Context) -> StageResult:
    result = run_probe(ctx, "ceilings", "ceilings", limit=300)
    if "error" in result:
        return StageResult(f"failed: {result['error']}", [])
    lines = [f"Device: {result['device']}" + (" (dry run: tiny CPU sizes, not a GPU's "
                                               "ceilings)" if ctx.dry_run else ""), "",
             *table(["what", "median ms", "rate", "unit", "spread (slowest / fastest)", "how"],
                    _ceiling_rows(result))]
    bad = [r for r in _ceiling_rows(result) if r[1] == "-"]
    if bad:
        return StageResult(f"failed: {len(bad)} measurement(s) raised", lines)
    warnings = ceiling_warnings(result, ctx.dry_run)
    if not warnings:
        return StageResult("ok", lines)
    lines += ["", *(f"- {w[0].upper()}{w[1:]}." for w in warnings), "",
              ("Not the device's ceilings: measure on an idle host before holding runs "
               "against them.")]
    return StageResult(f"ok; {'; '.join(warnings)}", lines)


def ceiling_warnings(result: dict[str, Any], dry_run: bool) -> list[str]:
    """Why the rates may be the host's and not the device's: repeats spread wider than
    :data:`NOISY_SPREAD`, and more runnable threads than CPUs (the 1-minute load average
    before or after, above the CPU count) while they were measured."""
    said = []
    noisy = noisy_ceilings(result)
    if noisy:
        said.append(f"noisy: repeats more than {NOISY_SPREAD:g}x apart in {', '.join(noisy)}")
    cpus = result.get("cpus")
    loads = [x for x in (result.get("load_before"), result.get("load_after"))
             if isinstance(x, (int, float))]
    if isinstance(cpus, int) and loads and max(loads) > cpus:
        beside = " (a dry run runs other stages beside this one)" if dry_run else ""
        said.append(f"host busy: load {max(loads):.1f} on {cpus} CPUs while measured{beside}")
    return said

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


def _ceiling_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for label, m in result.get("matmul", {}).items():
        if "error" in m:
            rows.append([f"matmul {label}", "-", "-", "-", m["error"]])
        else:
            rows.append([f"matmul {label} {m['size']}^3", fmt(m["seconds"] * 1e3),
                         fmt(m["tflops"]), "TFLOP/s", m["how"]])
    copy = result.get("copy", {})
    if "error" in copy:
        rows.append(["device copy", "-", "-", "-", copy["error"]])
    elif copy:
        rows.append([f"copy {copy['bytes'] / 2**20:.0f} MiB", fmt(copy["seconds"] * 1e3),
                     fmt(copy["read_plus_write_gb_s"]), "GB/s (bytes read + written)",
                     copy["how"]])
    return rows


@register_stage("ceilings", "matmul rates (bf16, fp16, tf32, fp32 at 8192^3) and a 4 GiB "
                            "device copy: the ceilings any run's figures must stay under")
def ceilings_stage(ctx: Context) -> StageResult:
    result = run_probe(ctx, "ceilings", "ceilings", limit=300)
    if "error" in result:
        return StageResult(f"failed: {result['error']}", [])
    lines = [f"Device: {result['device']}" + (" (dry run: tiny CPU sizes, not a GPU's "
                                               "ceilings)" if ctx.dry_run else ""), "",
             *table(["what", "median ms", "rate", "unit", "how"], _ceiling_rows(result))]
    bad = [r for r in _ceiling_rows(result) if r[1] == "-"]
    return StageResult(f"failed: {len(bad)} measurement(s) raised" if bad else "ok", lines)

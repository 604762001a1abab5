"""One markdown row per benchmark run, from its logged facts only."""
from __future__ import annotations

import re
from typing import Any

from gpu_check.bench import Run
from gpu_check.facts import MISSING, fmt, number, pct

HEADER = ["run", "status", "samples/s", "ms/iter", "CI95", "GFLOP/sample", "TFLOP/s", "MFU",
          "peak (column)", "peak mem MiB", "reserved MiB", "smi mem MiB", "NVML W",
          "smi W", "J/sample", "SM MHz", "throttle", "run s", "log"]
LEGEND = (
    "Figures are the runs' own facts (`logs/<run>.facts`): samples/s and ms/iter of the "
    "steady window (`results.throughput`, `results.time`), CI95 the relative half-width "
    "of the mean time's interval (`n/a: why` when the run withheld it: `results.ci_withheld`), "
    "GFLOP/sample `results.flops_per_sample`, MFU `results.mfu` against `results.peak_tflops` "
    "(its datasheet column in brackets), peak mem `results.peak_memory_mb` (GPU: tensors "
    "allocated; CPU: resident set), reserved `results.peak_memory_reserved_mb` (GPU), "
    "NVML W `results.power_w` (withheld under a 5 s window); smi mem: the largest "
    "`memory.used` of `nvidia-smi`'s samples while the run's process lived (whole device, "
    "context included); smi W / SM MHz: the mean power and median SM clock of its samples "
    "in the run's timed window (`results.energy_window_s` seconds up to "
    "`results.energy_window_end`; the last that many seconds of the process without the end; "
    "the whole process when the run logged no window); J/sample: 1 / `results.samples_per_joule` "
    "(NVML); throttle: `results.throttle_reasons` (`none` when empty) and `power cap` when "
    "`results.power_capped`; run s: the process's wall seconds (start-up, FLOP count, "
    "warm-up and the timed window). `-`: not measured.")
COLUMN = re.compile(r"\((fp32|tf32|fp16|bf16)\)")


def peak_cell(facts: dict[str, Any]) -> str:
    """The peak and where it came from, shortly: ``989.5 (bf16)``."""
    peak = number(facts.get("results.peak_tflops"))
    if peak is None:
        return MISSING
    source = str(facts.get("results.peak_source") or "")
    column = COLUMN.search(source)
    kind = column[1] if column else source.split(":")[0]
    return f"{fmt(peak)} ({kind})"


def ci_cell(facts: dict[str, Any]) -> str:
    precision = number(facts.get("results.precision"))
    if precision is not None:
        return f"+-{pct(precision)}"
    withheld = facts.get("results.ci_withheld")
    return f"n/a: {withheld}" if withheld else MISSING


def joules_per_sample(facts: dict[str, Any]) -> float | None:
    """NVML's energy per sample (the inverse of ``results.samples_per_joule``)."""
    per_joule = number(facts.get("results.samples_per_joule"))
    return 1 / per_joule if per_joule else None


def throttle_cell(facts: dict[str, Any]) -> str:
    """The clock event reasons the run sampled, and whether the power cap held the clocks."""
    reasons = facts.get("results.throttle_reasons")
    if not isinstance(reasons, list):
        return MISSING
    text = ", ".join(str(r) for r in reasons) or "none"
    return text + ("; power cap" if facts.get("results.power_capped") is True else "")


def run_row(run: Run) -> list[Any]:
    """The run's table row."""
    f = run.facts
    flops = number(f.get("results.flops_per_sample"))
    smi = run.smi
    status = run.status
    if isinstance(f.get("results.max_batch"), int):  # --batch_size max: the batch it found
        status += f" (max batch {f['results.max_batch']})"
    return [run.name, status, fmt(f.get("results.throughput")), fmt(f.get("results.time")),
            ci_cell(f), fmt(flops / 1e9 if flops is not None else None),
            fmt(f.get("results.tflops")), pct(f.get("results.mfu")), peak_cell(f),
            fmt(f.get("results.peak_memory_mb")), fmt(f.get("results.peak_memory_reserved_mb")),
            fmt(smi.memory_mib if smi else None), fmt(f.get("results.power_w")),
            fmt(smi.power_w if smi else None), fmt(joules_per_sample(f), 3),
            fmt(smi.sm_clock_mhz if smi else None), throttle_cell(f),
            fmt(run.seconds, 3) if run.skipped is None else MISSING,
            f"logs/{run.name}.log" if run.skipped is None else MISSING]

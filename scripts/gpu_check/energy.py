"""NVML energy (the benchmark's ``results.power_w``) beside ``nvidia-smi``'s own power
samples (every 200 ms, ``power.draw.average`` where the driver has it), over a short window
(10 iterations: the benchmark withholds energy, D4) and a long one (20 s)."""
from __future__ import annotations

from gpu_check.bench import NO_GPU, Context, run_benchmark
from gpu_check.facts import fmt, number, table
from gpu_check.smi import available
from gpu_check.stages import StageResult, register_stage

RUNS = {
    "energy-r50-short": ["--num_batches", "10"],
    "energy-r50-long": ["--num_batches", "1000000", "--max_time", "20"],
}
BASE = ["--model", "resnet50", "--batch_size", "256", "--dtype", "bfloat16",
        "--channels_last", "true", "--num_warmup_batches", "5"]


@register_stage("energy", "NVML energy over a short and a 20 s window beside nvidia-smi's "
                          "power samples")
def energy_stage(ctx: Context) -> StageResult:
    if ctx.dry_run:
        return StageResult(NO_GPU, [f"{NO_GPU}: NVML and nvidia-smi are GPU figures."])
    rows = []
    for name, extra in RUNS.items():
        run = run_benchmark(ctx, name, [*BASE, *extra], smi_period_ms=200,
                            last_s_key="results.energy_window_s")
        nvml, smi = number(run.get("results.power_w")), run.smi.power_w if run.smi else None
        diff = (nvml / smi - 1) if nvml is not None and smi else None
        rows.append([name, run.status, fmt(run.get("results.energy_window_s")),
                     fmt(run.get("results.energy_j")), fmt(nvml), fmt(smi),
                     f"{100 * diff:+.1f}%" if diff is not None else "-",
                     fmt(run.get("results.samples_per_joule")),
                     run.get("results.energy_unavailable") or "-",
                     f"{run.smi.samples} ({run.smi.power_field})" if run.smi else "-"])
    long_ok = rows[1][4] != "-"
    status = ("ok" if long_ok and available() else
              "failed: the long window logged no NVML power" if not long_ok else
              "ok: NVML only (nvidia-smi not on the PATH)")
    lines = [("smi W: the mean of nvidia-smi's samples in the run's timed window "
             "(`results.energy_window_s` seconds up to `results.energy_window_end`; without "
             "the end, the last that many seconds of the process, which hold its teardown); "
             "the whole run when the window is unknown. Samples every 200 ms: a window of a "
             "few samples is no average."), "",
             *table(["run", "status", "window s", "NVML J", "NVML W", "smi W", "NVML vs smi",
                     "samples/J", "energy withheld because", "smi samples (field)"], rows)]
    return StageResult(status, lines)

"""Figures a benchmark logs besides time and samples/s, and how reports show them.

Token models log ``results.tokens_per_second``; every run may log FLOPs, MFU, peak memory and
energy; generation runs (``exp.generate`` > 0) their latencies (see docs/log-format.md). Each
``Figure`` names its log key, its heading (with the unit), the factor from the logged unit to
the shown one (MFU 0.123 -> 12.3 %), its decimals and the table it belongs to: ``tokens`` (a
pivot like the throughput's), ``resources`` or ``latency`` (one row per experiment). A report
shows a figure only when a record has it: logs without these keys give the reports they gave
before. Pure data; nothing here reads records.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One logged figure: log key, heading with its unit, scale to the shown unit, decimals,
    and the group (table) it is shown in."""

    key: str
    heading: str
    group: str
    scale: float = 1.0
    digits: int = 2


TOKENS = "results.tokens_per_second"
FIGURES: tuple[Figure, ...] = (
    Figure(TOKENS, "Tokens/s", "tokens"),
    Figure("results.max_batch", "Max batch found", "resources", 1.0, 0),
    Figure("results.flops_per_sample", "GFLOP/sample", "resources", 1e-9, 2),
    Figure("results.tflops", "TFLOP/s", "resources", 1.0, 2),
    Figure("results.mfu", "MFU (%)", "resources", 100.0, 1),
    Figure("results.peak_memory_mb", "Peak memory (MiB)", "resources", 1.0, 0),
    Figure("results.peak_memory_mb_max", "Peak memory, largest rank (MiB)", "resources", 1.0, 0),
    Figure("results.peak_memory_reserved_mb", "Peak reserved (MiB)", "resources", 1.0, 0),
    Figure("exp.memory_plan_mb", "Planned peak (MiB)", "resources", 1.0, 1),
    Figure("results.communication_share", "Comm. share (%)", "resources", 100.0, 1),
    Figure("results.energy_j", "Energy (J)", "resources", 1.0, 1),
    Figure("results.samples_per_joule", "Samples/J", "resources", 1.0, 3),
    Figure("results.output_tokens_per_second", "Output tokens/s", "latency", 1.0, 2),
    Figure("results.ttft_p50", "TTFT p50 (ms)", "latency", 1.0, 2),
    Figure("results.ttft_p99", "TTFT p99 (ms)", "latency", 1.0, 2),
    Figure("results.tpot_p50", "TPOT p50 (ms)", "latency", 1.0, 2),
    Figure("results.tpot_p99", "TPOT p99 (ms)", "latency", 1.0, 2),
)
#: Every figure's log key (the frame keeps them as numeric per-run columns).
FIGURE_KEYS: tuple[str, ...] = tuple(f.key for f in FIGURES)
#: Table name -> title of the per-experiment tables.
GROUP_TITLES: dict[str, str] = {
    "resources": "Hardware efficiency: FLOPs, MFU, memory, energy (mean of successful runs)",
    "latency": "Generation latency (mean of successful runs)",
}
#: Notes explaining each group, shown under a report that has it.
GROUP_NOTES: dict[str, str] = {
    "tokens": "tokens/s: token models only (results.tokens_per_second = samples/s x exp.seq_len);"
              " '-' where a run logs none (image models, generation runs): never samples/s",
    "resources": "",  # made of RESOURCE_NOTES, for the columns a table has
    "latency": "generation (exp.generate > 0): TTFT time to first token (prefill + first "
               "token), TPOT time per output token; p50/p99 over a run's iterations, "
               "mean over runs",
}


#: What each column of the resources table means, by its heading: a report's legend explains
#: only the columns its tables have (a CPU report's legend explained max batch, largest rank,
#: planned peak, comm. share and energy, none of which it showed).
RESOURCE_NOTES: dict[str, str] = {
    "Max batch found": "max batch found: the largest replica batch that fit "
                       "(exp.replica_batch=max; the figures of that row are at it)",
    "GFLOP/sample": "GFLOP/sample: matmuls, convolutions, attention of one sample's step",
    "MFU (%)": "MFU: model FLOPs utilisation, achieved TFLOP/s / (peak TFLOP/s of a device x "
               "devices, exp.num_devices), in %",
    "Peak memory (MiB)": "peak memory: {gpu}{cpu}, MiB, of the process that wrote the log "
                         "(rank 0 under torchrun)",
    "Peak reserved (MiB)": "peak reserved, GPU runs: the caching allocator's reserve, "
                           "torch.cuda.max_memory_reserved, closer to what nvidia-smi shows",
    "Peak memory, largest rank (MiB)": "largest rank: the largest of every rank's "
                                       "(results.peak_memory_mb_max)",
    "Planned peak (MiB)": "planned peak: a Llama training step's memory plan of one rank, made "
                          "before the run (exp.memory_plan_mb: tensors only, like a GPU's peak "
                          "memory; a CPU's peak RSS adds the process's own ~300 MiB)",
    "Comm. share (%)": "comm. share: the share of --profile's iterations with a collective in "
                       "flight (results.communication_share)",
    "Energy (J)": "energy over the timed window, where a counter was readable",
    "Samples/J": "samples/J: samples over the energy of the timed window",
}


#: What peak memory is on each kind of device: a CPU report's legend explained a GPU's first.
PEAK_MEMORY: dict[str, str] = {
    "gpu": "largest GPU allocation of tensors over the timed window "
           "(torch.cuda.max_memory_allocated: not the allocator's cache nor the CUDA context)",
    "cpu": "peak RSS over the timed window (over the whole process where "
           "results.peak_memory_scope=process)",
}


def _peak_memory(devices: Iterable[str] | None) -> dict[str, str]:
    """The ``{gpu}{cpu}`` words of the peak memory note for the ``devices`` (both: None or
    neither named): ``GPU: ...; CPU: ...`` when both, the one alone otherwise."""
    kinds = [k for k in PEAK_MEMORY if devices is not None and k in set(devices)] or \
        list(PEAK_MEMORY)
    if len(kinds) == 1:
        return {k: PEAK_MEMORY[k] if k in kinds else "" for k in PEAK_MEMORY}
    return {"gpu": f"GPU runs: {PEAK_MEMORY['gpu']}", "cpu": f"; CPU runs: {PEAK_MEMORY['cpu']}"}


def resources_note(headings: Iterable[str] | None = None,
                   devices: Iterable[str] | None = None) -> str:
    """The resources table's legend: the notes of the ``headings`` it has (all: None), peak
    memory said for the kinds of ``devices`` the runs used (``gpu``, ``cpu``; both: None)."""
    shown = None if headings is None else set(headings)
    return "; ".join(note.format(**_peak_memory(devices)) if "{gpu}" in note else note
                     for heading, note in RESOURCE_NOTES.items()
                     if shown is None or heading in shown)


def of_group(group: str) -> tuple[Figure, ...]:
    """The figures of one group, in their order."""
    return tuple(f for f in FIGURES if f.group == group)

"""The innermost command: ``python benchmarks.py`` with its flags mapped from the experiment.

The mapping is a table (parameter -> flag), not a space-joined string, so every value stays one
argument and is shell-quoted when the script is written.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from dlbs.launchers.command import Command, as_arg, as_bool, as_int

#: (flag, parameter) pairs passed through as they are.
FLAG_PARAMS: tuple[tuple[str, str], ...] = (
    ("--model", "exp.model"),
    ("--batch_size", "exp.replica_batch"),
    ("--num_batches", "exp.num_batches"),
    ("--num_warmup_batches", "exp.num_warmup_batches"),
    ("--dtype", "exp.dtype"),
    ("--data", "exp.data"),
    ("--data_backend", "pytorch.data_backend"),
    ("--data_shuffle", "pytorch.data_shuffle"),
    ("--num_loader_threads", "pytorch.num_loader_threads"),
    ("--cudnn_benchmark", "pytorch.cudnn_benchmark"),
    ("--cudnn_fastest", "pytorch.cudnn_fastest"),
    ("--data_loader_only", "pytorch.data_loader_only"),
    ("--channels_last", "pytorch.channels_last"),
    ("--compile", "pytorch.compile"),
    ("--seed", "pytorch.seed"),
)

#: (flag, parameter) pairs passed only when the value is non-zero or non-empty (the benchmark's
#: own default), so launch scripts of experiments that do not use them stay as they were.
NONZERO_FLAG_PARAMS: tuple[tuple[str, str], ...] = (
    ("--target_precision", "exp.target_precision"),
    ("--max_time", "exp.max_time"),
    ("--seq_len", "exp.seq_len"),
    ("--generate", "exp.generate"),
    ("--peak_tflops", "exp.peak_tflops"),
    ("--profile", "exp.profile"),
    ("--model_config", "pytorch.model_config"),
)

#: Flags that only concern a real data set (left out when ``exp.data`` is ``synthetic``).
REAL_DATA_FLAGS = frozenset({"--data_backend", "--data_shuffle"})

SCRIPT = "pytorch_benchmarks/benchmarks.py"
#: ``exp.replica_batch`` asking for the largest batch that fits: only then is the search's time
#: limit (``exp.max_batch_time``) passed, so other experiments' launch scripts stay as they were.
MAX_BATCH = "max"


def num_replicas(exp: Mapping[str, Any]) -> int:
    """Processes to start on this node: GPU replicas (``exp.gpus`` groups) or CPU replicas."""
    if device_type(exp) == "gpu":
        return max(1, as_int(exp.get("exp.num_local_replicas"), 1))
    return max(1, as_int(exp.get("exp.cpu_replicas"), 1))


def device_type(exp: Mapping[str, Any]) -> str:
    """``gpu`` or ``cpu``, from ``exp.device_type`` (or from ``exp.gpus`` when it is missing)."""
    declared = exp.get("exp.device_type")
    if declared in ("gpu", "cpu"):
        return str(declared)
    return "gpu" if str(exp.get("exp.gpus", "")).strip() else "cpu"


def gpus_per_process(exp: Mapping[str, Any]) -> int:
    """GPUs each benchmark process drives (all local GPUs, or one group under torchrun)."""
    if device_type(exp) != "gpu":
        return 0
    local = as_int(exp.get("exp.num_local_gpus"), 1)
    return max(1, local // num_replicas(exp))


def cpu_threads(exp: Mapping[str, Any]) -> int:
    """CPU threads per replica (``exp.cpu_threads``; 0: the benchmark decides). Passed on GPU
    experiments too: it is never silently ignored."""
    return max(0, as_int(exp.get("exp.cpu_threads"), 0))


def python_for(exp: Mapping[str, Any]) -> str:
    """The interpreter: ``runtime.docker_python`` in a container, else ``runtime.python``."""
    if as_bool(exp.get("exp.docker", False)):
        return as_arg(exp.get("runtime.docker_python") or "python3")
    return as_arg(exp.get("runtime.python") or "python3")


def script_path(exp: Mapping[str, Any]) -> str:
    """Path of ``benchmarks.py`` as the launched process sees it (``pytorch.bench_path``)."""
    base = as_arg(exp.get("pytorch.bench_path") or "").rstrip("/")
    return f"{base}/{SCRIPT}" if base else SCRIPT


def benchmark_flags(exp: Mapping[str, Any]) -> list[str]:
    """The ``benchmarks.py`` flags of ``exp``; parameters absent from ``exp`` are left out."""
    flags: list[str] = []
    special: dict[str, Callable[[], str]] = {
        "--forward_only": lambda: as_arg(exp.get("exp.phase") == "inference"),
        "--num_gpus": lambda: str(gpus_per_process(exp)),
        "--device": lambda: device_type(exp),
    }
    for flag, produce in special.items():
        flags += [flag, produce()]
    synthetic = exp.get("exp.data") == "synthetic"
    for flag, name in FLAG_PARAMS:
        if synthetic and flag in REAL_DATA_FLAGS:
            continue  # the benchmark warns that these mean nothing with synthetic data
        if name in exp and exp[name] is not None:
            flags += [flag, as_arg(exp[name])]
    for flag, name in NONZERO_FLAG_PARAMS:
        value = exp.get(name)
        if value:  # a JSON value (pytorch.model_config) stays JSON, never a Python repr
            flags += [flag, json.dumps(value) if isinstance(value, (dict, list)) else as_arg(value)]
    if exp.get("exp.replica_batch") == MAX_BATCH and exp.get("exp.max_batch_time") is not None:
        flags += ["--max_batch_time", as_arg(exp["exp.max_batch_time"])]
    threads = cpu_threads(exp)
    if threads:
        flags += ["--num_threads", str(threads)]
    data_dir = as_arg(exp.get("exp.data_dir"))
    if data_dir:
        flags += ["--data_dir", data_dir]
    return flags


class BenchmarkLayer:
    """Builds ``python benchmarks.py FLAGS``; it ignores the command it is given."""

    name = "benchmark"

    def applies(self, exp: Mapping[str, Any]) -> bool:
        """Always: every experiment runs the benchmark."""
        return True

    def wrap(self, exp: Mapping[str, Any], cmd: Command) -> Command:
        """Return the benchmark command (keeping ``cmd.env``)."""
        argv = (python_for(exp), script_path(exp), *benchmark_flags(exp))
        return replace(cmd, argv=tuple(argv))

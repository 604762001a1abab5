"""The type of every well-known fact, as ``docs/log-format.md`` gives it (a test keeps the two
equal), and the check the parser makes with it.

A fact of the wrong type (``results.time="abc"``, ``results.throughput=[1]``,
``exp.model=123``) is dropped by the parser with a warning naming the file and line, as any
other damaged fact: a report must never carry a string where a number is expected. ``null``
is accepted for every key (the fact writer writes it for a number it could not give); keys not
listed here (the runner's header holds every input parameter) are not checked. This module
only answers questions about values; it reads no file.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from dlbs.params import catalogue, identity

#: The facts that are no parameter -> type, in the words of docs/log-format.md: ``str``, ``int``, ``int >= 1`` (a count: a
#: batch of -5 or 0 samples is no batch), ``float`` (an integer is a number too), ``bool``, ``dict``, ``null``, ``list[T]``, ``[T, T]`` (a list of that length),
#: a JSON string literal (``"max"``), alternatives joined by ``or`` or ``/``.
LOGGED_FACT_TYPES: dict[str, str] = {
    # written by the benchmark
    "results.status": "str",
    "results.error": "str",
    "results.stop_signal": "str",
    "results.partial": "bool",
    "results.time": "float",
    "results.throughput": "float",
    "results.time_data": "list[float]",
    "results.time_std": "float",
    "results.time_p50": "float",
    "results.time_p90": "float",
    "results.time_p99": "float",
    "results.warmup_detected": "int",
    "results.steady_state": "bool or null",
    "results.steady_state_untested": "str or null",
    "results.time_ci95": "[float, float] or null",
    "results.precision": "float or null",
    "results.ci_note": "str or null",
    "results.ci_withheld": "str or null",
    "results.ess": "float or null",
    "results.autocorr_time": "float or null",
    "results.time_p50_ci95": "[float, float] or null",
    "results.outliers": "int",
    "results.num_batches_done": "int",
    "results.target_precision": "float",
    "results.target_precision_met": "bool",
    "results.max_time": "float",
    "exp.model_title": "str",
    "exp.model_config": "dict",
    "exp.input_shape": "list[int]",
    "exp.num_classes": "int",
    "exp.num_devices": "int",
    "exp.memory_plan_mb": "float",
    "exp.memory_limit_gb": "float",
    "exp.memory_limit_source": "str",
    "exp.world_size": "int",
    "exp.num_threads": "int",
    "exp.usable_cores": "int",
    "exp.ranks_above_cores": "bool",
    "exp.device": "str",
    "exp.dtype_used": "str",
    "exp.backend_flags": "dict",
    "exp.warnings": "list[str]",
    "exp.runner_warnings": "list[str]",
    "hw.sys_info_missing": "dict",
    "exp.data_backend": "str",
    "exp.dataset_size": "int",
    "exp.start_time": "str",
    "exp.end_time": "str",
    "exp.framework_version": "str",
    "exp.python_version": "str",
    "hw.hostname": "str",
    "hw.cpu_model": "str",
    "hw.num_cpus": "int",
    "hw.num_threads": "int",
    "hw.cuda_version": "str/null",
    "hw.cudnn_version": "int/null",
    "hw.devices": "list[str]",
    # token models
    "results.tokens_per_second": "float",
    "results.tokens_per_second_per_device": "float",
    "results.ttft_p50": "float",
    "results.ttft_p99": "float",
    "results.tpot_p50": "float",
    "results.tpot_p99": "float",
    "results.output_tokens_per_second": "float",
    # the serving workload (exp.phase=serve, python/serving): ms, with 95% intervals
    "results.ttft_mean": "float or null",
    "results.ttft_mean_ci95": "list[float] or null",
    "results.ttft_p50_ci95": "list[float] or null",
    "results.ttft_p90": "float or null",
    "results.ttft_p90_ci95": "list[float] or null",
    "results.ttft_p99_ci95": "list[float] or null",
    "results.itl_mean": "float or null",
    "results.itl_mean_ci95": "list[float] or null",
    "results.itl_p50": "float or null",
    "results.itl_p50_ci95": "list[float] or null",
    "results.itl_p90": "float or null",
    "results.itl_p90_ci95": "list[float] or null",
    "results.itl_p99": "float or null",
    "results.itl_p99_ci95": "list[float] or null",
    "results.tpot_mean": "float or null",
    "results.tpot_mean_ci95": "list[float] or null",
    "results.tpot_p50_ci95": "list[float] or null",
    "results.tpot_p90": "float or null",
    "results.tpot_p90_ci95": "list[float] or null",
    "results.tpot_p99_ci95": "list[float] or null",
    "results.e2e_mean": "float or null",
    "results.e2e_mean_ci95": "list[float] or null",
    "results.e2e_p50": "float or null",
    "results.e2e_p50_ci95": "list[float] or null",
    "results.e2e_p90": "float or null",
    "results.e2e_p90_ci95": "list[float] or null",
    "results.e2e_p99": "float or null",
    "results.e2e_p99_ci95": "list[float] or null",
    "results.requests": "int",
    "results.completed_requests": "int",
    "results.failed_requests": "int",
    "results.errors": "dict",
    "results.first_error": "str",
    "results.warmup_requests": "int",
    "results.warmup_failed_requests": "int",
    "results.warmup_error": "str",
    "results.duration_s": "float",
    "results.request_throughput": "float",
    "results.output_tokens": "int",
    "results.prompt_tokens": "int",
    "results.tokens_counted_by": "list[str] or null",
    "results.slo_attainment": "float or null",
    "results.goodput": "float",
    "results.goodput_tokens_per_second": "float",
    "results.slo": "dict",
    "results.client_lag_ms": "float or null",
    "results.client_lag_max_ms": "float or null",
    "results.latency_ci95_withheld": "str",
    "results.offered_rate": "float or null",
    "results.achieved_share": "float or null",
    "results.window_share": "float or null",
    "results.late_window_share": "float or null",
    "results.ttft_growth": "float or null",
    "results.saturated": "bool or null",
    "results.saturated_why": "str or null",
    "results.capacity_warning": "str",
    "results.search_lead_in_requests": "int",
    "results.client_lagged": "bool",
    "results.client_loop": "str",
    # the server's own /metrics over a serving run (serving/metrics.py)
    "results.server_metrics": "dict",
    "results.server_metrics_unavailable": "str",
    "results.send_delay_p99_ms": "float or null",
    "results.requests_file": "str",
    # a serving run's capacity search (serve.search)
    "results.capacity": "float or null",
    "results.capacity_ci95": "list[float] or null",
    "results.capacity_unit": "str",
    "results.capacity_trials": "list",
    "results.capacity_brackets": "list[list]",
    "results.capacity_converged": "bool",
    "results.capacity_steps": "int",
    "results.capacity_max_steps": "int",
    "results.capacity_note": "str",
    "results.capacity_trials_left_out": "int",
    "results.slo_percentile": "float",
    "results.search_steps": "list[dict]",
    # training and sharding (torchrun)
    "results.loss_last": "float",
    "results.loss_first": "float",
    "results.loss_finite": "bool",
    "results.loss_decreasing": "bool or null",
    "results.output_norm": "float",
    "results.output_sum": "float",
    "results.output_finite": "bool",
    "results.numerics": "str",
    "results.numerics_error": "float or null",
    "results.numerics_tolerance": "float",
    "results.numerics_basis": "str",
    "results.numerics_seconds": "float",
    "results.numerics_note": "str",
    "exp.mesh_shape": "list[int]",
    "exp.compiled_blocks": "int",
    "exp.mixed_precision": "str",
    "exp.model_materialised": "str",
    "exp.checkpointed_blocks": "int",
    # the largest batch
    "results.max_batch": "int",
    "results.max_batch_timed_out": "bool",
    "results.max_batch_confirmed": "bool",
    "results.max_batch_dynamic": "int",
    "results.max_batch_capped": "bool",
    "results.max_batch_probes": "list[dict]",
    "results.max_batch_seconds": "float",
    "exp.max_batch_limit": "int",
    "exp.max_batch_budget_mb": "float/null",
    "exp.max_batch_memory_limit": "str",
    # measurements besides time
    "results.flops_per_sample": "float",
    "results.tflops": "float",
    "results.peak_tflops": "float",
    "results.peak_source": "str",
    "results.mfu": "float or null",
    "results.mfu_note": "str",
    "results.matmul_peak_measured": "float or null",
    "results.matmul_peak_source": "str",
    "results.matmul_peak_load": "dict",
    "results.peak_memory_mb": "float",
    "results.communication_share": "float",
    "results.communication_ms": "float",
    "results.communication_source": "str",
    "results.peak_memory_mb_ranks": "list[float]",
    "results.peak_memory_mb_max": "float",
    "results.peak_memory_reserved_mb_ranks": "list[float]",
    "results.peak_memory_scope": "str",
    "results.peak_memory_reserved_mb": "float",
    "results.num_alloc_retries": "int",
    "results.energy_j": "float",
    "results.energy_source": "str",
    "results.samples_per_joule": "float",
    "results.power_w": "float",
    "results.energy_unavailable": "str",
    "results.energy_note": "str",
    "results.energy_window_s": "float",
    "results.energy_window_end": "float",
    "results.throttle_reasons": "list[str]",
    "results.power_capped": "bool",
    "results.profile_path": "str",
    # the machine's state around the timed window
    "results.load_avg_before": "[float, float, float] or null",
    "results.load_avg_after": "[float, float, float] or null",
    "results.other_cpu_seconds": "float or null",
    "results.other_cpu_share": "float or null",
    "results.steal_cpu_seconds": "float or null",
    "results.machine_state_note": "str",
    "hw.cpu_governor": "str or null",
    "hw.cpu_turbo": "bool or null",
    # written by dlbs accept's node checks (pytorch_benchmarks/measure/acceptance.py)
    "accept.matmul_fp32_gflops": "float",
    "accept.matmul_bf16_gflops": "float",
    "accept.matmul_fp16_gflops": "float",
    "accept.matmul_fp64_gflops": "float",
    "accept.memcopy_gbs": "float",
    "accept.allreduce": "dict",
    "accept.busbw_gbs": "float",
    "accept.pair": "dict",
    "accept.pair_busbw_gbs": "float",
    "accept.torch_cuda": "str or null",
    "accept.environment": "dict",
    "accept.environment_unavailable": "str",
    "accept.dcgmi_output": "str",
    "accept.dcgmi_unavailable": "str",
    "accept.xid_watch": "dict",
    "accept.xid": "dict",
    "accept.xid_unavailable": "str",
    # written by dlbs accept --db: a run a node x check (dlbs/accept/records.py)
    "accept.node": "str",
    "accept.check": "str",
    "accept.value": "float",
    "accept.runs": "list[float]",
    "accept.unit": "str",
    "accept.verdict": "str",
    "accept.why": "str",
    "accept.target": "str",
    "accept.job_id": "str",
    "accept.device": "str",
    "accept.settings": "dict",
    # written by the runner
    "results.exit_code": "int",
    "results.duration": "float",
    "exp.runner_start_time": "str",
    "exp.runner_end_time": "str",
    "hw.os": "str",
    "hw.kernel": "str",
    "hw.memory_gb": "float",
    "hw.nvidia_driver": "str",
    "exp.runner_python": "str",
    "exp.runner_python_path": "str",
    "exp.dlbs_version": "str",
    "exp.dlbs_commit": "str",
    "exp.docker_image_id": "str",
    "results.slurm_job_id": "int or str",
    "results.nodes": "list[str]",
    "results.slurm_state": "str",
    "results.slurm_restarts": "int",
    "results.slurm_start_time": "str",
    "results.slurm_end_time": "str",
    "slurm.sacct.state": "str",
    "slurm.sacct.exit_code": "str",
    "slurm.sacct.elapsed_s": "int",
    "slurm.sacct.node_list": "str",
    "slurm.sacct.alloc_tres": "str",
    "slurm.sacct.consumed_energy_j": "int",
    "slurm.sacct.max_rss_mb": "float",
    "slurm.sacct_note": "str",
    "results.use.interval": "float",
    "results.use.samples": "int",
    "results.use.time": "list[float]",
    "results.use.cpu": "list[float]",
    "results.use.cpu_peak": "float",
    "results.use.rss_mb": "list[float]",
    "results.use.rss_mb_peak": "float",
    "results.use.gpu_util": "list[float]",
    "results.use.gpu_util_peak": "float",
    "results.use.gpu_mem_mb": "list[float]",
    "results.use.gpu_mem_mb_peak": "float",
    "results.use.gpu_power_w": "list[float]",
    "results.use.gpu_power_w_peak": "float",
    # added by the parser
    "results.truncated": "bool",
    "exp.log_file_written": "str",
}
#: Every well-known fact -> its type: a parameter's from its declaration in config/*.json
#: (``fact_type``: ``dlbs.params.catalogue``), the facts that are no parameter's above.
FACT_TYPES: dict[str, str] = {**catalogue.fact_types(), **LOGGED_FACT_TYPES}

Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    """An integer (``2.0`` too: it means 2); never a bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_BASIC: dict[str, Check] = {
    "str": lambda value: isinstance(value, str),
    "int": _is_int,
    "int >= 1": lambda value: _is_int(value) and value >= 1,
    "float": _is_number,
    "bool": lambda value: isinstance(value, bool),
    "dict": lambda value: isinstance(value, dict),
    "list": lambda value: isinstance(value, list),  # items of mixed types (numbers and nulls)
    "null": lambda value: value is None,
}
_LIST = re.compile(r"list\[(.+)\]")
_TUPLE = re.compile(r"\[(.+)\]")
_ALTERNATIVES = re.compile(r"\s+or\s+|\s*/\s*")


@cache
def compile_type(text: str) -> Check:
    """The check of a type written as in :data:`FACT_TYPES`; ``ValueError`` when unknown."""
    checks = [_one(part) for part in _ALTERNATIVES.split(text.strip())]
    return lambda value: any(check(value) for check in checks)


def _one(text: str) -> Check:
    """The check of one alternative (no ``or``)."""
    if text in _BASIC:
        return _BASIC[text]
    if text.startswith('"'):
        literal = json.loads(text)
        return lambda value: value == literal
    match = _LIST.fullmatch(text)
    if match:
        item = compile_type(match.group(1))
        return lambda value: isinstance(value, list) and all(item(v) for v in value)
    match = _TUPLE.fullmatch(text)
    if match:
        items = [compile_type(part) for part in match.group(1).split(",")]
        return lambda value: (isinstance(value, list) and len(value) == len(items)
                              and all(check(v) for check, v in zip(items, value)))
    raise ValueError(f"unknown fact type {text!r}")


def _kind(value: Any) -> str:
    """What a JSON value is, in words: ``a string``, ``a list``, ``true``..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


#: key -> its check, compiled once (the parser asks for every fact line).
CHECKS: dict[str, Check] = {key: compile_type(text) for key, text in FACT_TYPES.items()}


def type_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the fact ``key`` (one phrase), or ``None`` when it can.
    ``null`` and keys not in :data:`FACT_TYPES` are always accepted."""
    check = CHECKS.get(key)
    if check is None or value is None or check(value):
        return None
    expected = FACT_TYPES[key]
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > 60:
        text = text[:57] + "..."
    return (f"value of '{key}' is {_kind(value)} ({text}), not {expected} "
            "(docs/log-format.md)")


#: A serving run's configuration, the switches read as booleans and how they are read: the one
#: definition of what identifies a run (``dlbs.params.identity``), named here for its callers.
SERVE_CONFIG_FACTS = identity.SERVE_CONFIG_FACTS
SWITCH_FACTS = identity.SWITCH_FACTS
config_value = identity.config_value


#: The facts that are a run's measurement. A run is measured only when each is a finite number
#: above 0: a zero, negative, NaN or infinite one is no measurement. One rule for every reader:
#: the reports leave such a run logged ``ok`` out of every statistic (and name it), the
#: database refuses to store it (``dlbs.db.records.refusal``).
#: Other processes above this share of a run's CPUs during its timed window
#: (``results.other_cpu_share``) make it a run on a busy machine, in the reports and the
#: console alike: a tenth is well above the accounting's resolution (+-0.02 at the shortest
#: window given, 1 s) and already takes a tenth of the cores a CPU benchmark uses.
BUSY_THRESHOLD = 0.10
MEASUREMENTS: tuple[str, ...] = ("results.throughput", "results.time")


def is_measurement(value: Any) -> bool:
    """True for a usable measurement (:data:`MEASUREMENTS`): a finite number > 0, not a bool."""
    if not _is_number(value):
        return False
    return value > 0 if isinstance(value, int) else math.isfinite(value) and value > 0


#: A run's machine state as the reports and the console judge it (:func:`machine_state`):
#: busy, quiet, or not judged, and why not, in the words the counts give.
BUSY, QUIET = "busy", "quiet"
SHORT_WINDOW, NOT_READABLE, NOT_LOGGED = "short", "unreadable", "unlogged"
NOT_JUDGED_WHY: dict[str, str] = {
    SHORT_WINDOW: "a timed window under 1 s",
    NOT_READABLE: "/proc not readable",
    NOT_LOGGED: "no machine state logged",
}


def machine_state(facts: Any) -> str:
    """:data:`BUSY` or :data:`QUIET` by ``results.other_cpu_share`` against
    :data:`BUSY_THRESHOLD`; where the share is null although logged, :data:`SHORT_WINDOW` (the
    other processes' CPU seconds were read: the window was too short to divide by) or
    :data:`NOT_READABLE`; :data:`NOT_LOGGED` where the log has no such key (older logs, DLBS's):
    a run not judged is neither busy nor quiet, and a count says so."""
    if "results.other_cpu_share" not in facts:
        return NOT_LOGGED
    share = facts["results.other_cpu_share"]
    if _is_number(share):
        return BUSY if share > BUSY_THRESHOLD else QUIET
    return SHORT_WINDOW if _is_number(facts.get("results.other_cpu_seconds")) else NOT_READABLE


def not_judged_words(counted: dict[str, int]) -> str:
    """`` (2 not judged: a timed window under 1 s; 1 not judged: no machine state logged)``
    for the counts of runs by :func:`machine_state`; ``""`` when every run was judged."""
    parts = [f"{counted[k]} not judged: {why}" for k, why in NOT_JUDGED_WHY.items()
             if counted.get(k)]
    return f" ({'; '.join(parts)})" if parts else ""

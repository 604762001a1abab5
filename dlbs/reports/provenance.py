"""Where and how a report's numbers were measured: a summary of the records' own facts.

What was measured (the models, the phase, the precision, the device: a table drops a column
that does not vary, so a report says them here), hosts, CPU and GPU models, torch/CUDA versions, the dlbs commits the logs were measured with,
the date range, the inputs and log folders read and the iteration settings (iterations, warm-up, runs per
experiment, precision targets, steady states). The report-maker's own version and commit are
given by the caller (the CLI asks git), so this stays pure: records in, a dict out.
"""
from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dlbs.logs.fact_types import BUSY, NOT_LOGGED, machine_state, not_judged_words
from dlbs.params import catalogue
from dlbs.reports.model import BUSY_THRESHOLD
from dlbs.reports.serving import search_lagged

Records = Sequence[Mapping[str, Any]]
#: Values of one entry shown in a footer line at most (JSON keeps them all).
SHOWN = 10

#: Provenance entry -> the logged facts that are no parameter it collects, first (what ran:
#: ``exp.dtype_used`` before the plan's ``exp.dtype``; ``hw.num_threads``: logs older than
#: ``exp.num_threads``).
LOGGED_DISTINCT: dict[str, tuple[str, ...]] = {
    "precisions": ("exp.dtype_used",), "hosts": ("hw.hostname",),
    "cpu_models": ("hw.cpu_model",), "torch": ("exp.framework_version",),
    "cuda": ("hw.cuda_version",), "measured_with_dlbs": ("exp.dlbs_commit",),
    "threads_per_replica": ("exp.num_threads", "hw.num_threads"),
    "cpu_governor": ("hw.cpu_governor",)}
#: Provenance entry -> the log keys it collects: distinct values in order of appearance, of the
#: first key a record has: :data:`LOGGED_DISTINCT`'s, then the parameters that declare the
#: entry (``roles.provenance`` in config/*.json). Shown in :data:`LABELS`' order.
DISTINCT: dict[str, tuple[str, ...]] = {
    entry: (*LOGGED_DISTINCT.get(entry, ()), *catalogue.provenance().get(entry, ()))
    for entry in dict.fromkeys([*catalogue.provenance(), *LOGGED_DISTINCT])}
#: Entries that describe a benchmark's iterations: not collected from serving runs.
ITERATION_ENTRIES = ("num_batches", "num_warmup_batches", "target_precision",
                     "threads_per_replica")
#: Display names of the entries, in the order they are shown (text, markdown, HTML, JSON).
LABELS: dict[str, str] = {
    "models": "models", "phases": "phase", "precisions": "precision", "device_types": "device",
    "hosts": "hosts", "cpu_models": "CPU", "gpu_models": "GPU", "torch": "torch",
    "cuda": "CUDA", "measured_with_dlbs": "measured with dlbs commit", "dates": "runs from/to",
    "inputs": "inputs read", "log_folders": "log folders", "records": "records",
    "num_batches": "timed iterations (exp.num_batches)", "num_warmup_batches": "warm-up iterations",
    "num_batches_done": "timed iterations done", "runs_per_experiment": "runs per experiment",
    "threads_per_replica": "threads per replica", "target_precision": "target precision",
    "target_met": "runs that met the target precision",
    "steady_state": "runs with a steady state",
    "cpu_governor": "CPU governor", "cpu_turbo": "CPU turbo",
    "busy_runs": f"runs on a busy machine (other processes > {BUSY_THRESHOLD:.0%} of the CPUs)",
    "above_cores_runs": "runs with ranks x threads above their node's usable cores "
                        "(exp.ranks_above_cores)",
    "serve_requests": "requests per serving run or search step (serve.num_requests)",
    "serve_lagged": "serving runs whose load client lagged",
    "report_by": "report by dlbs",
}


def _first(record: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((record[k] for k in keys if record.get(k) is not None), None)


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in (None, "", []) and value not in seen:
            seen.append(value)
    return seen


def _gpu_models(records: Records) -> list[Any]:
    names = (name for r in records if r.get("exp.device_type") == "gpu"
             and isinstance(r.get("hw.devices"), list) for name in r["hw.devices"])
    return _distinct(names)


def _dates(records: Records) -> list[str]:
    starts = [str(v) for r in records for v in
              (r.get("exp.start_time") or r.get("exp.runner_start_time"),) if v]
    ends = [str(v) for r in records for v in
            (r.get("exp.end_time") or r.get("exp.runner_end_time"),) if v]
    return [min(starts), max(ends or starts)] if starts else []


def _runs(records: Records) -> list[int]:
    """Fewest and most runs of one experiment, per log folder (the two sides of a comparison
    share experiments but not folders): experiments told apart as the report's tables tell
    them (``frame.to_frame``'s identity), so the count is the tables' runs a cell. (An own key
    of ``exp.id`` or a few settings made two single-run experiments of a DLBS summary file
    that differ in another setting one experiment of 2 runs.)"""
    if not records:
        return []
    from dlbs.reports.frame import to_frame

    identity = to_frame(list(records))["identity"].tolist()
    folders = [posixpath.dirname(str(r.get("exp.log_file") or "")) for r in records]
    counts = Counter(zip(identity, folders))
    return sorted({min(counts.values()), max(counts.values())})


def _log_folders(records: Records, inputs: Sequence[str]) -> list[str]:
    """The folders of the records' logs (``exp.log_file``), when the inputs do not name them
    all already (a parsed file read, or sub-folders of a ``--recursive`` input)."""
    folders = _distinct(posixpath.dirname(str(r["exp.log_file"])) for r in records
                        if r.get("exp.log_file"))
    return [] if set(folders) <= set(inputs) else folders


def _count_true(records: Records, key: str) -> str | None:
    """``k of n``: the records whose boolean ``key`` is true, of those that have it."""
    known = [r[key] for r in records if isinstance(r.get(key), bool)]
    return f"{sum(known)} of {len(known)}" if known else None


def _steady(records: Records) -> str | None:
    """``k of n``: the runs whose steady state was found and tested, of those that said, with
    the runs not tested and why (``0 of 12 (12 not tested: too few iterations)``): a run too
    short for the test was counted steady on the warm-up search alone (issue 58)."""
    said = [r for r in records if isinstance(r.get("results.steady_state"), bool)
            or isinstance(r.get("results.steady_state_untested"), str)]
    if not said:
        return None
    steady = sum(r.get("results.steady_state") is True for r in said)
    untested = Counter(r["results.steady_state_untested"] for r in said
                       if isinstance(r.get("results.steady_state_untested"), str))
    why = "; ".join(f"{n} not tested: {reason}" for reason, n in untested.most_common())
    return f"{steady} of {len(said)}" + (f" ({why})" if why else "")


def _turbo(records: Records) -> list[str]:
    words = {True: "on", False: "off"}
    return _distinct(words[r["hw.cpu_turbo"]] for r in records
                     if isinstance(r.get("hw.cpu_turbo"), bool))


def _busy(records: Records) -> str | None:
    """``k of n``: runs whose ``results.other_cpu_share`` is above ``BUSY_THRESHOLD``, of every
    run that ran (``results.status`` ok), with those not judged and why (``4 of 6 (2 not
    judged: a timed window under 1 s)``): a count over the judged runs only said ``4 of 4``
    for 6 runs (issue 56). None when no run logged the key (older logs, DLBS's: nothing said)."""
    ran = [r for r in records if r.get("results.status") == "ok"]
    states = Counter(machine_state(r) for r in ran)
    if len(ran) == states[NOT_LOGGED]:
        return None
    return f"{states[BUSY]} of {len(ran)}{not_judged_words(states)}"


def _above_cores(records: Records) -> str | None:
    """``k of n``: runs whose threads exceeded their node's cores (``exp.ranks_above_cores``
    true), of those that said; None when none did (the line is shown only where one is)."""
    said = [r["exp.ranks_above_cores"] for r in records
            if isinstance(r.get("exp.ranks_above_cores"), bool)]
    return f"{sum(said)} of {len(said)}" if any(said) else None


def _done(records: Records) -> list[int]:
    done = [r["results.num_batches_done"] for r in records
            if isinstance(r.get("results.num_batches_done"), int)]
    return sorted({min(done), max(done)}) if done else []


def provenance(records: Records, inputs: Sequence[str] = (),
               report_by: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provenance of a report over ``records`` read from ``inputs``; empty entries left out."""
    out: dict[str, Any] = {}
    # A serving run has no iterations: its exp.num_batches is the plan's default, unused.
    benchmark = [r for r in records if r.get("exp.phase") != "serve"]
    served = [r for r in records if r.get("exp.phase") == "serve"]
    for name, keys in DISTINCT.items():
        among = benchmark if name in ITERATION_ENTRIES else records
        out[name] = _distinct(_first(r, keys) for r in among)
    out["serve_requests"] = _distinct(r.get("serve.num_requests") for r in served)
    known = [search_lagged(r) for r in served  # a search: any of its steps
             if isinstance(r.get("results.client_lagged"), bool) or r.get("results.search_steps")]
    out["serve_lagged"] = f"{sum(known)} of {len(known)}" if known else None
    out["gpu_models"] = _gpu_models(records)
    out["target_precision"] = [p for p in out["target_precision"] if p]
    out["dates"] = _dates(records)
    out["runs_per_experiment"] = _runs(records)
    out["steady_state"] = _steady(records)
    out["target_met"] = _count_true(records, "results.target_precision_met")
    out["num_batches_done"] = _done(records)
    out["cpu_turbo"] = _turbo(records)
    out["busy_runs"] = _busy(records)
    out["above_cores_runs"] = _above_cores(records)
    out["inputs"] = list(inputs)
    out["log_folders"] = _log_folders(records, inputs)
    out["records"] = len(records)
    if report_by:
        out["report_by"] = dict(report_by)
    return {k: out[k] for k in LABELS if out.get(k) not in (None, [], {})}


def provenance_lines(info: Mapping[str, Any]) -> list[str]:
    """``label: value`` lines for the text, markdown and HTML footers."""
    lines = []
    for key, value in info.items():
        if key == "report_by":
            dirty = " (uncommitted changes)" if value.get("dirty") else ""
            text = f"{value.get('version')} commit {value.get('commit') or 'unknown'}{dirty}"
        elif key in ("dates", "runs_per_experiment", "num_batches_done") and len(value) == 2:
            text = f"{value[0]} .. {value[1]}"
        elif isinstance(value, list):
            more = f" ... ({len(value) - SHOWN} more)" if len(value) > SHOWN else ""
            text = ", ".join(str(v) for v in value[:SHOWN]) + more
        else:
            text = str(value)
        lines.append(f"{LABELS.get(key, key)}: {text}")
    return lines

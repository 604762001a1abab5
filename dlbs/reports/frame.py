"""Records (parsed logs) to one pandas DataFrame with the columns reports use.

Short column names (``model``, ``replica_batch``, ``devices``...) stand for the log keys in
``ALIASES``; any other log key can be used by its dotted name. Each row gets an ``identity``:
a number shared by the records whose input parameters that define an experiment
(``identity_keys``) are equal, i.e. by repeated runs of one experiment. Pure: records in,
frame out.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from dlbs.errors import ReportError

#: short name -> log key.
ALIASES: dict[str, str] = {
    "framework": "exp.framework", "model": "exp.model", "model_title": "exp.model_title",
    "device_type": "exp.device_type", "gpus": "exp.gpus", "devices": "exp.num_replicas",
    "replica_batch": "exp.replica_batch", "effective_batch": "exp.effective_batch",
    "phase": "exp.phase", "dtype": "exp.dtype", "id": "exp.id",
    "time": "results.time", "throughput": "results.throughput", "status": "results.status",
    "error": "results.error", "time_std": "results.time_std", "time_data": "results.time_data",
    "steady_state": "results.steady_state",
}
#: Derived columns (not log keys): a device label like ``2x gpu``.
DERIVED: tuple[str, ...] = ("device",)

#: Input parameters that define an experiment (besides every ``pytorch.*`` key).
IDENTITY_KEYS: tuple[str, ...] = (
    "exp.framework", "exp.model", "exp.phase", "exp.dtype", "exp.device_type", "exp.gpus",
    "exp.num_nodes", "exp.num_replicas", "exp.replica_batch", "exp.effective_batch",
    "exp.data", "exp.docker", "exp.docker_image", "exp.num_batches", "exp.num_warmup_batches",
)
#: Framework keys that name a place or how the launch was plumbed, not a setting of the
#: benchmark: they never split experiments (DLBS logs carry ``pytorch.args``, ``pytorch.env``...,
#: which differ between a 1- and a 2-GPU run of one weak-scaling row).
NOT_IDENTITY: frozenset[str] = frozenset({
    "pytorch.bench_path", "pytorch.launcher", "pytorch.env", "pytorch.args",
    "pytorch.docker_args", "pytorch.docker_image", "pytorch.host_python_path",
    "pytorch.host_libpath", "pytorch.distributed_rank", "pytorch.distributed_rendezvous",
    "pytorch.__master_addr", "pytorch.__master_port",
})

#: Column headings of known columns.
LABELS: dict[str, str] = {
    "model_title": "Model", "model": "Model", "device": "Device", "device_type": "Device",
    "devices": "Devices", "gpus": "GPUs", "replica_batch": "Replica batch",
    "effective_batch": "Effective batch", "phase": "Phase", "dtype": "Precision",
    "framework": "Framework", "id": "Experiment",
}

#: Status of a record without one (the parser marks truncated logs the same way).
MISSING_STATUS = "failure"


def column_of(name: str) -> str:
    """Return the frame column for a user-given name (short or dotted)."""
    for short, key in ALIASES.items():
        if name == key:
            return short
    return name


def label_of(column: str) -> str:
    """Heading of a column in a table."""
    return LABELS.get(column, column)


def identity_keys(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The identity keys present in any record: ``IDENTITY_KEYS`` plus framework settings."""
    present: set[str] = set().union(*records)
    keys = {k for k in present if k.startswith("pytorch.") or k in IDENTITY_KEYS}
    return sorted(keys - NOT_IDENTITY)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _column(records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """One key's values over all records (lists and objects as JSON text, to be hashable)."""
    values = [record.get(key) for record in records]
    if any(type(v) in (list, dict) for v in values):
        values = [_hashable(v) for v in values]
    return values


def _count(*candidates: Any) -> int:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def _derive(columns: dict[str, list[Any]], records: Sequence[Mapping[str, Any]]) -> None:
    """Fill the derived and defaulted columns in place."""
    columns["time_data"] = [r.get("results.time_data") for r in records]
    gpus = [r.get("exp.num_gpus") for r in records]
    columns["devices"] = devices = [_count(a, b) for a, b in zip(columns["devices"], gpus)]
    columns["model_title"] = [t if t is not None else m
                              for t, m in zip(columns["model_title"], columns["model"])]
    columns["device_type"] = types = [t or "unknown" for t in columns["device_type"]]
    columns["device"] = [f"{n}x {t}" for n, t in zip(devices, types)]
    columns["effective_batch"] = [
        e if e is not None or not isinstance(b, int) else b * n
        for e, b, n in zip(columns["effective_batch"], columns["replica_batch"], devices)]
    columns["status"] = [s or MISSING_STATUS for s in columns["status"]]


def known_columns(records: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every name a user may give: short names, derived columns and log keys present."""
    keys = {key for record in records for key in record}
    return set(ALIASES) | set(DERIVED) | keys


def check_columns(names: Iterable[str], records: Sequence[Mapping[str, Any]], option: str) -> None:
    """Raise ``ReportError`` naming the first unknown column."""
    known = known_columns(records)
    for name in names:
        if name not in known:
            shorts = ", ".join(sorted(set(ALIASES) | set(DERIVED)))
            raise ReportError(f"{option}: unknown column '{name}'; use a log key present in the "
                              f"records or one of: {shorts}")




def to_frame(records: Sequence[Mapping[str, Any]], extra: Sequence[str] = (),
             identity: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per record: the ``ALIASES`` columns, ``device``, ``extra`` keys and ``identity``.

    ``identity`` numbers the distinct combinations of the identity keys' values: runs with the
    same number are repeats of one experiment.
    """
    if not records:
        raise ReportError("no benchmark records to report on (check the inputs and the filter)")
    keys = identity_keys(records) if identity is None else list(identity)
    columns = {short: _column(records, key) for short, key in ALIASES.items()
               if short != "time_data"}
    _derive(columns, records)
    for name in [column_of(n) for n in [*keys, *extra]]:
        if name not in columns:
            columns[name] = _column(records, name)
    frame = pd.DataFrame(columns)
    for column in ("time", "throughput", "time_std"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    by = [column_of(k) for k in keys]
    frame["identity"] = frame.groupby(by, dropna=False, sort=False).ngroup() if by else 0
    return frame


def is_number(value: Any) -> bool:
    """True for a finite int or float (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))

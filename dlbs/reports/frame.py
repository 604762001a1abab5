"""Records (parsed logs) to one pandas DataFrame with the columns reports use.

Short column names (``model``, ``replica_batch``, ``devices``...) stand for the log keys in
``ALIASES``; any other log key can be used by its dotted name. Each row gets an ``identity``:
a number shared by the records whose input parameters that define an experiment
(``identity_keys``) are equal, i.e. by repeated runs of one experiment.

Records that lack a fact reports need are completed from the facts they have, as DLBS's own
configs derive them: the number of devices from ``exp.gpus`` (DLBS's replicas: its
comma-separated groups, ``0:1,2:3`` is 2), the device type from ``exp.device``,
``exp.num_gpus`` or ``exp.gpus``, the replica batch from the effective batch, and the
throughput from the batch time (``effective batch x 1000 / results.time``) where it is missing
or was logged as a whole number (DLBS's benchmarks truncated it to an int). A record that
still lacks one of the facts that tell experiments apart (``CORE_KEYS``; ``exp.model_title``
stands in for ``exp.model``) is never merged with another record: it is an experiment of its
own, told apart by its log file (or its position) as a last resort. (``exp.dtype_used``, the
precision a run fell back to, is no stand-in for the precision asked for: it is a fact of the
run that scaling notes compare.) Pure: records in, frame out.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from dlbs.errors import ReportError
from dlbs.logs.fact_types import (
    MEASUREMENTS,
    NOT_JUDGED_WHY,
    NOT_LOGGED,
    is_measurement,
    machine_state,
)
from dlbs.logs.parser import RUNNER_HEADER_KEY
from dlbs.params import catalogue, identity
from dlbs.reports.figures import FIGURE_KEYS

#: short name -> log key, of the logged facts that are no parameter (outcomes, the title).
LOGGED_ALIASES: dict[str, str] = {
    "model_title": "exp.model_title",
    "time": "results.time", "throughput": "results.throughput", "status": "results.status",
    "error": "results.error", "time_std": "results.time_std", "time_data": "results.time_data",
    "steady_state": "results.steady_state", "other_cpu_share": "results.other_cpu_share",
    "loss_finite": "results.loss_finite", "output_finite": "results.output_finite",
    "numerics": "results.numerics",
}
#: short name -> log key: each parameter's ``short`` in config/*.json, then
#: :data:`LOGGED_ALIASES`.
ALIASES: dict[str, str] = {**{short: name for name, short in catalogue.shorts().items()},
                           **LOGGED_ALIASES}
#: The batch ``--batch_size max`` found, and the per-run column saying it is not the edge.
MAX_BATCH_KEY, MAX_BATCH_BOUND = "results.max_batch", "max_batch_bound"
#: The log key that says a run's ranks x threads exceeded its node's usable cores, and the
#: per-run column that carries it (True, False, or None where the run did not say).
ABOVE_CORES_KEY, ABOVE_CORES = "exp.ranks_above_cores", "ranks_above_cores"
#: The per-run column saying its machine state was not judged: ``results.other_cpu_share``
#: logged null (a timed window under 1 s, or /proc not readable): True, False where judged,
#: None where the run logged no such key (older logs, DLBS's: nothing was claimed).
NOT_JUDGED = "machine_not_judged"
#: A run's interval of its batch time over iterations (``results.time_ci95``, a pair or None):
#: a configuration of one run shows it, as ``dlbs history`` does.
TIME_CI = "time_ci95"
#: Derived columns (not log keys): a device label like ``2x gpu``.
DERIVED: tuple[str, ...] = ("device",)

#: The facts that tell experiments apart: the one definition of ``dlbs.params.identity``
#: (the database's comparability key reads it too), with the code version (a series axis of
#: the database, a cell of its own here). Three are derived from facts (``device_model``,
#: ``host_class``, ``container_image``).
IDENTITY_KEYS: tuple[str, ...] = (
    *identity.IDENTITY_FIELDS, *identity.ADDED_WHEN_NOT, *identity.SERVE_CONFIG_FACTS,
    identity.CODE_VERSION)
#: Identity keys whose values mean "not used", or what every run did before the key was
#: logged (the runner's header writes them for every experiment): read as missing, so an
#: image model's ``exp.seq_len`` 0 is no sequence length and logs older than these keys make
#: the same experiments as newer ones (DDP, SGD, every activation kept, no ``--compile``...).
OFF_VALUES: dict[str, tuple[Any, ...]] = {**identity.REPORT_OFF_VALUES,
                                          **identity.ADDED_WHEN_NOT}

#: Column headings of the known columns that are no parameter's.
OTHER_LABELS: dict[str, str] = {
    "model_title": "Model", "device": "Device", "code_version": "Code version",
    "exp.num_threads": "Threads", "exp.framework_version": "Framework version",
    "device_model": "Device model", "host_class": "Host class", "container_image": "Image",
    "log": "Log",
}

#: Status of a record without one (the parser marks truncated logs the same way).
MISSING_STATUS = "failure"
#: Status of a run logged as ``ok`` without a usable measurement: its ``results.throughput``
#: or ``results.time`` missing, zero, negative, NaN or infinite (``fact_types.is_measurement``).
INVALID_STATUS = "invalid"
#: Columns naming, per run logged ``ok`` that is left out for an unusable measurement, the
#: measurements (``results.throughput and results.time``) and why, with its log (else None).
UNUSABLE, UNUSABLE_WHY = "unusable", "unusable_why"
#: Frame column -> the log key that stands in for it when its own key is missing.
STAND_INS: dict[str, str] = {"model": "exp.model_title"}
#: Facts a log holds that are no parameter -> the core key a report fills from each.
LOGGED_FILLS: dict[str, str] = {"exp.model_title": "exp.model", "exp.device": "exp.device_type"}
#: Core key -> the keys it is filled from or derived from (``STAND_INS``, ``_derive``): a
#: record set with one of them tells experiments apart by the core key's column (the
#: parameters' ``roles.fills`` in config/*.json, and :data:`LOGGED_FILLS`).
FILLED_FROM: dict[str, tuple[str, ...]] = {
    core: (*(fact for fact, filled in LOGGED_FILLS.items() if filled == core),
           *catalogue.fills().get(core, ()))
    for core in dict.fromkeys([*LOGGED_FILLS.values(), *catalogue.fills()])}
#: The device type of a record that does not say it.
UNKNOWN_DEVICE = "unknown"
#: Column that tells apart the records lacking a core key: their log file, else their position.
SOURCE = "log"
#: Column holding, per record, the core keys it lacks (``None`` when it has them all).
MISSING_KEYS = "missing_identity"


def column_of(name: str) -> str:
    """Return the frame column for a user-given name (short or dotted)."""
    for short, key in ALIASES.items():
        if name == key:
            return short
    return name


#: The facts without which two different experiments may look alike (a training and an
#: inference run of one model): log key -> frame column (each parameter's
#: ``roles.report_core`` in config/*.json, in its place). A record that lacks one, with no
#: stand-in (``STAND_INS``, or a value derived in ``_derive``), is an experiment of its own.
CORE_KEYS: dict[str, str] = {key: column_of(key) for key in catalogue.report_core()}


#: Column headings of known columns: a parameter's its ``label`` in config/*.json
#: (``dlbs.params.catalogue``), under its column's name.
LABELS: dict[str, str] = {**{column_of(name): label
                             for name, label in catalogue.labels().items()}, **OTHER_LABELS}


def label_of(column: str) -> str:
    """Heading of a column in a table."""
    return LABELS.get(column, column)


def identity_keys(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The identity keys some record has a fact for (``dlbs.params.identity.report_fields``),
    and the core keys that some record's other facts fill in (``FILLED_FROM``)."""
    present: set[str] = set().union(*records)
    keys = set(identity.report_fields(present))
    keys |= {k for k, sources in FILLED_FROM.items() if present.intersection(sources)}
    return sorted(keys)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def identity_value(key: str, value: Any) -> Any:
    """A key's value as experiments are told apart: ``None`` for a setting's "off" value
    (``OFF_VALUES``: ``exp.seq_len`` 0, ``exp.generate`` 0)."""
    return None if identity.is_usual(value, OFF_VALUES.get(key, ())) else value


def record_value(record: Mapping[str, Any], key: str) -> Any:
    """A record's value of ``key`` as experiments are told apart: an identity key as
    ``dlbs.params.identity.report_value`` reads it (derived fields computed, a training-only
    setting of an inference run as not logged), any other as :func:`identity_value`."""
    if key in IDENTITY_KEYS:
        return identity.report_value(record, key)
    return identity_value(key, record.get(key))


def _column(records: Sequence[Mapping[str, Any]], key: str, logged: bool = False) -> list[Any]:
    """One key's values over all records (lists and objects as JSON text, to be hashable);
    ``logged``: as the records logged them, "off" values read as missing (the ``ALIASES``
    columns, which the frame completes from other facts itself)."""
    values = [identity_value(key, record.get(key)) if logged else record_value(record, key)
              for record in records]
    if any(type(v) in (list, dict) for v in values):
        values = [_hashable(v) for v in values]
    return values


def _count(*candidates: Any) -> int:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _device_type(record: Mapping[str, Any], logged: Any) -> str:
    """``exp.device_type``, else what the record's other facts say, as DLBS derives it: the
    benchmark's ``exp.device`` (``cuda:0`` is a gpu), ``exp.num_gpus`` > 0, a non-empty
    ``exp.gpus``; ``unknown`` when none is there."""
    if logged:
        return str(logged)
    device = record.get("exp.device")
    if isinstance(device, str) and device:
        kind = device.split(":")[0]
        return "gpu" if kind == "cuda" else kind
    gpus = record.get("exp.num_gpus")
    if _positive_int(gpus) or gpus == 0 and not isinstance(gpus, bool):
        return "gpu" if gpus else "cpu"
    names = record.get("exp.gpus")
    if isinstance(names, str):
        return "gpu" if names.strip() else "cpu"
    return UNKNOWN_DEVICE


def _throughput(logged: Any, time: Any, effective: Any, as_logged: bool) -> Any:
    """The logged throughput, or ``effective batch x 1000 / time (ms)`` where it is missing or
    a whole number >= 0 (``int``: DLBS's benchmarks logged ``int(throughput)``, 0 for a slow
    model) while the time and the effective batch are known. Our benchmark logs floats: kept.
    A record ``as_logged`` (written by our runner) is never completed: its benchmark writes
    both measurements, so a missing or unreadable one is no measurement (``_unusable``)."""
    if as_logged:
        return logged
    known = is_number(time) and time > 0 and is_number(effective) and effective > 0
    whole = isinstance(logged, int) and not isinstance(logged, bool) and logged >= 0
    if known and (logged is None or whole or not is_number(logged)):
        return float(effective) * 1000.0 / float(time)
    return logged


def _derive(columns: dict[str, list[Any]], records: Sequence[Mapping[str, Any]]) -> None:
    """Fill the derived and defaulted columns in place."""
    columns["time_data"] = [r.get("results.time_data") for r in records]
    gpus = [r.get("exp.num_gpus") for r in records]
    named = [identity.gpu_groups(r.get("exp.gpus"), r.get("exp.num_nodes")) for r in records]
    implied = [identity.batch_ratio(e, b)
               for e, b in zip(columns["effective_batch"], columns["replica_batch"])]
    # the devices the run computed on: exp.num_devices where the benchmark logged it (more
    # than its replicas under fsdp_tp, whose tensor-parallel group is one replica)
    logged = [r.get("exp.num_devices") for r in records]
    columns["devices"] = devices = [_count(d, a, g, b, c) for d, a, g, b, c
                                    in zip(logged, columns["devices"], named, gpus, implied)]
    # a run that never started (a Slurm job cancelled in the queue) has no title: it takes the
    # one its model's other runs have, so that one model stays one row
    titles = {m: t for t, m in zip(columns["model_title"], columns["model"]) if t is not None}
    columns["model_title"] = [t if t is not None else titles.get(m, m)
                              for t, m in zip(columns["model_title"], columns["model"])]
    columns["device_type"] = types = [_device_type(r, t)
                                      for r, t in zip(records, columns["device_type"])]
    columns["device"] = [f"{n}x {t}" for n, t in zip(devices, types)]
    columns["effective_batch"] = [
        e if e is not None or not isinstance(b, int) else b * n
        for e, b, n in zip(columns["effective_batch"], columns["replica_batch"], devices)]
    columns["replica_batch"] = [
        b if b is not None or not _positive_int(e) or e % n else e // n
        for b, e, n in zip(columns["replica_batch"], columns["effective_batch"], devices)]
    columns["throughput"] = [_throughput(p, t, e, RUNNER_HEADER_KEY in r) for p, t, e, r in zip(
        columns["throughput"], columns["time"], columns["effective_batch"], records)]
    columns["status"] = [s or MISSING_STATUS for s in columns["status"]]
    found = [_unusable(t, p) if s == "ok" else None
             for s, t, p in zip(columns["status"], columns["time"], columns["throughput"])]
    columns[UNUSABLE] = [None if f is None else f[0] for f in found]
    columns[UNUSABLE_WHY] = [
        None if f is None else f"{r.get('exp.log_file') or f'record {i}'}: {f[1]}"
        for i, (f, r) in enumerate(zip(found, records), start=1)]
    columns["status"] = [INVALID_STATUS if f is not None else s
                         for s, f in zip(columns["status"], found)]


def _unusable(time: Any, throughput: Any) -> tuple[str, str] | None:
    """The measurements of a run logged ``ok`` that are no measurement (missing, zero,
    negative, NaN, infinite: ``fact_types.is_measurement``) and why, in words; ``None`` when
    both are usable. Such a run is left out of every statistic, never averaged or counted."""
    values = {"results.throughput": throughput, "results.time": time}
    bad = [key for key in MEASUREMENTS if not is_measurement(values[key])]
    if not bad:
        return None
    why = ["no " + key if values[key] is None else f"{key} is {values[key]!r}" for key in bad]
    return " and ".join(bad), (", ".join(why) + " (a finite number > 0 is a measurement): "
                               "the run is left out of every statistic")


def left_out(frame: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The note on the runs logged ``ok`` that were left out for an unusable measurement
    (``"1 run without a usable results.throughput left out ..."``, ``None`` when none was),
    and one warning per run naming its log and why. ``frame``: runs (``to_frame``) or
    experiments (``aggregate``, which keeps the runs' as tuples)."""
    keys, whys = [], []
    for found, why in zip(frame.get(UNUSABLE, ()), frame.get(UNUSABLE_WHY, ())):
        if isinstance(found, tuple):
            keys += list(found)
            whys += list(why)
        elif isinstance(found, str):
            keys.append(found)
            whys.append(why)
    if not keys:
        return None, []
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} run{'' if n == 1 else 's'} without a usable {key}"
             for key, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    note = (f"{', '.join(parts)} left out of every statistic (a run logged ok enters one only "
            "with a finite results.throughput and results.time > 0; their logs are named on "
            "stderr)")
    return note, whys


def _stand_in(columns: dict[str, list[Any]], records: Sequence[Mapping[str, Any]]) -> None:
    """Fill a core column a record has no key for from its stand-in (``STAND_INS``)."""
    for column, key in STAND_INS.items():
        columns[column] = [v if v is not None else r.get(key)
                           for v, r in zip(columns[column], records)]


def _missing(columns: dict[str, list[Any]], count: int) -> list[str | None]:
    """Per record, the core keys it lacks with no stand-in (comma-separated), or ``None``."""
    gaps: list[list[str]] = [[] for _ in range(count)]
    for key, column in CORE_KEYS.items():
        unknown = UNKNOWN_DEVICE if column == "device_type" else None
        for gap, value in zip(gaps, columns[column]):
            if value is None or value == "" or value == unknown:
                gap.append(key)
    return [", ".join(gap) if gap else None for gap in gaps]


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
             identity: Sequence[str] | None = None, split_unidentified: bool = True
             ) -> pd.DataFrame:
    """One row per record: the ``ALIASES`` columns, ``device``, ``extra`` keys and ``identity``.

    ``identity`` numbers the distinct combinations of the identity keys' values (stand-ins
    and derived values filled in): runs with the same number are repeats of one experiment.
    With ``split_unidentified`` a record that lacks a core key is an experiment of its own
    (column ``SOURCE``: its log file, or ``record N``); ``MISSING_KEYS`` names what it lacks
    either way.
    """
    if not records:
        raise ReportError("no benchmark records to report on (check the inputs and the filter)")
    keys = identity_keys(records) if identity is None else list(identity)
    columns = {short: _column(records, key, logged=True) for short, key in ALIASES.items()
               if short != "time_data"}
    _derive(columns, records)
    _stand_in(columns, records)
    for name in [column_of(n) for n in [*keys, *extra]]:
        if name not in columns:
            columns[name] = _column(records, name)
    by = [column_of(k) for k in keys]
    columns[MISSING_KEYS] = missing = _missing(columns, len(records))
    if split_unidentified and any(missing):
        columns[SOURCE] = [None if gap is None else str(r.get("exp.log_file") or f"record {i}")
                           for i, (gap, r) in enumerate(zip(missing, records), start=1)]
        by.append(SOURCE)
    _adopt_seq_len(columns, by)
    for key in FIGURE_KEYS:
        if any(key in record for record in records):
            columns[key] = [record.get(key) for record in records]
    columns[TIME_CI] = [_time_interval(record.get("results.time_ci95")) for record in records]
    if any(ABOVE_CORES_KEY in record for record in records):
        columns[ABOVE_CORES] = [_flag(record.get(ABOVE_CORES_KEY)) for record in records]
    if any("results.other_cpu_share" in record for record in records):
        states = [machine_state(record) for record in records]
        columns[NOT_JUDGED] = [None if st == NOT_LOGGED else st in NOT_JUDGED_WHY
                               for st in states]
    if any(MAX_BATCH_KEY in record for record in records):
        columns[MAX_BATCH_BOUND] = [max_batch_bound(record) for record in records]
    frame = pd.DataFrame(columns)
    for column in ("time", "throughput", "time_std", *FIGURE_KEYS):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["identity"] = frame.groupby(by, dropna=False, sort=False).ngroup() if by else 0
    return frame


def _flag(logged: Any) -> bool | None:
    """A logged boolean as it is; anything else (missing, a string) as not said."""
    return logged if isinstance(logged, bool) else None


def _time_interval(logged: Any) -> tuple[float, float] | None:
    """A run's logged interval of its mean batch time over iterations (``results.time_ci95``:
    two positive numbers, low first), else None."""
    if isinstance(logged, (list, tuple)) and len(logged) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf
            for x in logged) and logged[0] <= logged[1]:
        return float(logged[0]), float(logged[1])
    return None


def max_batch_bound(record: Mapping[str, Any]) -> bool | None:
    """Whether a run's ``results.max_batch`` is not the largest batch that fits: capped at
    ``--max_batch_limit``, cut by ``--max_batch_time``, or (``--compile`` on a GPU) not probed
    with the timed run's own graph; None without a search."""
    if MAX_BATCH_KEY not in record:
        return None
    return (record.get("results.max_batch_capped") is True
            or record.get("results.max_batch_timed_out") is True
            or record.get("results.max_batch_confirmed") is False)


def identity_columns(keys: Sequence[str], frame: pd.DataFrame) -> list[str]:
    """The frame columns that tell its experiments apart: the identity keys' columns, and
    ``SOURCE`` where records lacking a core key needed it."""
    columns = [column_of(k) for k in keys]
    return columns + ([SOURCE] if SOURCE in frame.columns else [])


def unidentified_note(frame: pd.DataFrame, split: bool = True) -> str | None:
    """What the records lacking a core key lack, how many they are and how they were treated
    (``None`` when every record has them all)."""
    missing = frame[MISSING_KEYS].dropna() if MISSING_KEYS in frame.columns else []
    if not len(missing):
        return None
    counts: dict[str, int] = {}
    for gap in missing:
        for key in str(gap).split(", "):
            counts[key] = counts.get(key, 0) + 1
    lacking = ", ".join(f"{key} ({n})" for key, n in counts.items())
    records = f"{len(missing)} records lack" if len(missing) > 1 else "1 record lacks"
    what = (f"{records} facts that tell experiments apart: {lacking} (a parsed file without them in --output_params, "
            "logs of benchmarks.py --log_file alone, or a value left out as invalid: a "
            "warning names it, e.g. a batch of -5)")
    if split:
        return (f"{what}; each is an experiment of its own, never averaged with another (rows "
                "split by Log where two would share a cell)")
    return f"{what}; they are matched by the facts they have, which may not tell runs apart"


def _adopt_seq_len(columns: dict[str, list[Any]], by: Sequence[str]) -> None:
    """A failed run without a sequence length (it stopped before the benchmark resolved the
    model's own length, so its log keeps the header's 0) is a run of the experiment that the
    runs alike in every other identity key resolved, when they resolved one length: otherwise
    it would make a row of its own, and the successful runs would not be marked ``!``."""
    if "seq_len" not in by:
        return
    lengths, others = columns["seq_len"], [columns[c] for c in by if c != "seq_len"]
    keys = list(zip(*others)) if others else [()] * len(lengths)
    found: dict[tuple[Any, ...], set[Any]] = {}
    for key, length in zip(keys, lengths):
        if length is not None:
            found.setdefault(key, set()).add(length)
    columns["seq_len"] = [
        next(iter(found[key])) if length is None and status != "ok"
        and len(found.get(key, ())) == 1 else length
        for key, length, status in zip(keys, lengths, columns["status"])]


def is_number(value: Any) -> bool:
    """True for a finite int or float (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))

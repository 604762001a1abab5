"""From one run's facts to its database row: identity, comparability key, indexed columns and
summary. Pure functions (no database)."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any

from dlbs.logs.fact_types import MEASUREMENTS as FACT_MEASUREMENTS
from dlbs.logs.fact_types import is_measurement
from dlbs.params import identity as ident
from dlbs.params.identity import SERVE_CONFIG_FACTS

#: What must be equal for two runs to be compared (Conbench's "history fingerprint"): the
#: identity of ``dlbs.params.identity``, the one definition the reports read too. The code
#: version and the date are never in it (they are what a history runs along); an axis given to
#: :func:`comparability_key` is left out too. The names below are that module's, kept for
#: their callers.
KEY_FACTS = ident.IDENTITY_FIELDS
KEY_FACTS_WHEN_NOT = ident.ADDED_WHEN_NOT
TRAINING_ONLY_KEY_FACTS = ident.TRAINING_ONLY
KEY_FACTS_UNDER = ident.UNDER_PARALLELISM
NOT_SERVED = ident.NOT_SERVED
SEARCH_START = ident.SEARCH_START
container_image, device_model = ident.container_image, ident.device_model
host_class, is_serving = ident.host_class, ident.is_serving
#: The facts the comparability fields are read from (:func:`key_value`, and the fields added
#: later): what names a series (``dlbs.db.series.naming_of``) without reading the whole run.
KEY_SOURCE_FACTS = (*(name for name in KEY_FACTS
                      if name not in ("container_image", "device_model", "host_class")),
                    "exp.docker_image", "exp.docker", "hw.devices", "hw.cpu_model",
                    "hw.num_cpus", *KEY_FACTS_WHEN_NOT, *SERVE_CONFIG_FACTS)
#: Facts that name where a log lies, not what it holds: left out of a run's identity, so a
#: copy of a log in another folder is the same run (the parser sets ``exp.log_file`` to the
#: path when the log does not carry it).
WHERE_FACTS = ("exp.log_file", "exp.log_file_written")
DATE_FACTS = ("exp.start_time", "exp.runner_start_time", "exp.end_time")
#: Facts that are measurements when present: a number that is finite and > 0, else the run
#: is refused (a zero, negative, NaN or infinite throughput is no measurement: stored, it
#: would be dropped from every statistic later). The rule is the reports' (``fact_types``).
MEASUREMENTS = FACT_MEASUREMENTS


def canonical(value: Any) -> str:
    """Canonical JSON of a value (sorted keys, no spaces): equal facts give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                      allow_nan=True)


def identity(facts: dict[str, Any]) -> str:
    """SHA-256 of the run's facts: a log's identity is its content, not its path."""
    content = {k: v for k, v in facts.items() if k not in WHERE_FACTS}
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def key_value(facts: dict[str, Any], name: str) -> Any:
    """The value of one comparability field (``dlbs.params.identity.field_value``)."""
    return ident.field_value(facts, name)


def key_fields(axis: str | None = None) -> tuple[str, ...]:
    """The comparability fields, without ``axis`` (and without what the axis implies)."""
    return ident.key_fields(axis)


def comparability_key(facts: dict[str, Any], axis: str | None = None) -> str:
    """SHA-256 (hex) of the comparability fields of a run, ``axis`` left out."""
    return hashlib.sha256(canonical(ident.identity_of(facts, axis)).encode()).hexdigest()


def added_key_fields(facts: dict[str, Any], axis: str | None = None) -> dict[str, Any]:
    """The comparability fields of ``KEY_FACTS_WHEN_NOT`` this run has, and a serving run's
    configuration, ``SERVE_CONFIG_FACTS`` (``axis`` left out)."""
    return ident.added_fields(facts, axis)


def run_date(facts: dict[str, Any]) -> datetime | None:
    """When the run started (UTC, naive), from its ISO 8601 facts."""
    for name in DATE_FACTS:
        text = facts.get(name)
        if isinstance(text, str) and text:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
            return moment
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else canonical(value)
    return text[:limit]


def _interval(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list) and len(value) == 2:
        return _float(value[0]), _float(value[1])
    return None, None


def refusal(facts: dict[str, Any]) -> str | None:
    """Why a run cannot be stored (one line), or None: a measurement of
    :data:`MEASUREMENTS` that is not a finite number > 0, or a text holding a lone surrogate
    (an escape such as ``"\\ud800"``: no database stores it as text, and no terminal prints
    it) or a NUL character (PostgreSQL's jsonb holds none; refused on SQLite too, so that the
    engines keep the same runs)."""
    for name in MEASUREMENTS:
        value = facts.get(name)
        if value is None:
            continue
        if not is_measurement(value):
            return (f"{name} is {value!r}, not a finite number > 0: no measurement, the run "
                    "is not stored")
    try:  # one pass in C over every text; the slow search only for a damaged run
        text = json.dumps(facts, ensure_ascii=False, default=str)
        text.encode("utf-8")
    except UnicodeEncodeError:
        for key, value in facts.items():
            bad = _surrogate_in(key) or _surrogate_in(value)
            if bad:
                return (f"fact {ascii(key)[1:-1]} holds a lone surrogate ({bad}), text no "
                        "database stores: the run is not stored")
        return None
    if "\\u0000" in text:  # json.dumps writes a NUL as this escape (or a text that says it)
        for key, value in facts.items():
            if _nul_in(key) or _nul_in(value):
                return (f"fact {ascii(key)[1:-1]} holds a NUL character (\\x00), text "
                        "PostgreSQL does not store: the run is not stored (on either engine)")
    return None


def _nul_in(value: Any) -> bool:
    """Whether a text, or a key or value of ``value``, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(k) or _nul_in(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_nul_in(v) for v in value)
    return False


def _surrogate_in(value: Any) -> str | None:
    """The first lone surrogate in a text, or a key or value of ``value`` (escaped), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return ascii(value[err.start])[1:-1]
        return None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return None
    return next((found for item in items if (found := _surrogate_in(item))), None)


def times_of(facts: dict[str, Any]) -> list[float] | None:
    """The run's raw iteration times (ms), or None."""
    data = facts.get("results.time_data")
    if isinstance(data, list) and data and all(_float(x) is not None for x in data):
        return [float(x) for x in data]
    return None


def keyed_columns(facts: dict[str, Any]) -> dict[str, Any]:
    """The ``runs`` columns drawn from a run's identity (what a change of the identity rules
    can move: ``dlbs db rekey``)."""
    return {
        "comparability_key": comparability_key(facts),
        "precision": _text(key_value(facts, "exp.dtype"), 40),
        "batch": _int(key_value(facts, "exp.replica_batch")),
        "device_model": _text(device_model(facts), 200),
        "device_count": _int(facts.get("exp.num_replicas")),
        "container_image": _text(container_image(facts), 400),
    }


def row(facts: dict[str, Any]) -> dict[str, Any]:
    """The ``runs`` columns of a run (all but ``id``, ``source`` and ``ingested_at``); the
    iteration times are left out of ``facts`` here (they go to ``run_times``)."""
    steady = facts.get("results.steady_state")
    # an interval of a window that was not steady (logs before issue 30) is none to read
    low, high = (None, None) if steady is False else _interval(facts.get("results.time_ci95"))
    kept = {k: v for k, v in facts.items() if k != "results.time_data"}
    keyed = keyed_columns(facts)
    return {
        "identity": identity(facts),
        "comparability_key": keyed["comparability_key"],
        "model": _text(facts.get("exp.model"), 200),
        "phase": _text(facts.get("exp.phase"), 40),
        "precision": keyed["precision"],
        "batch": keyed["batch"],
        "device": _text(facts.get("exp.device_type"), 40),
        "device_model": keyed["device_model"],
        "device_count": keyed["device_count"],
        "host": _text(facts.get("hw.hostname"), 200),
        "framework": _text(facts.get("exp.framework"), 40),
        "framework_version": _text(facts.get("exp.framework_version"), 80),
        "container_image": keyed["container_image"],
        "code_version": _text(facts.get("exp.code_version"), 200),
        "date": run_date(facts),
        "repeat": _int(facts.get("exp.repeat_index")),
        "status": _text(stored_status(facts), 40),
        "throughput": _float(facts.get("results.throughput")),
        "time_mean": _float(facts.get("results.time")),
        "time_ci_low": low,
        "time_ci_high": high,
        "ess": _float(facts.get("results.ess")),
        "steady_state": steady if isinstance(steady, bool) else None,
        "facts": finite(kept),
    }


#: The status a run is stored with when it ended ``ok`` but its training loss or inference
#: outputs were not finite: a speed of a broken computation enters no history (the history
#: counts it, "1 not_finite run left out"); its facts keep what it logged.
NOT_FINITE_STATUS = "not_finite"
#: The status of an ``ok`` run whose ``--check_numerics`` found its output off its float32
#: eager reference (``results.numerics`` ``off``): fast, perhaps for computing something
#: else; kept out of every history like a not finite one.
NUMERICS_OFF_STATUS = "numerics_off"


def stored_status(facts: dict[str, Any]) -> Any:
    """``results.status``, or for an ``ok`` run :data:`NOT_FINITE_STATUS` when its
    ``results.loss_finite`` or ``results.output_finite`` is false or ``results.numerics`` is
    ``not_finite``, :data:`NUMERICS_OFF_STATUS` when ``results.numerics`` is ``off``."""
    status = facts.get("results.status")
    if status != "ok":
        return status
    if (facts.get("results.loss_finite") is False or facts.get("results.output_finite") is False
            or facts.get("results.numerics") == "not_finite"):
        return NOT_FINITE_STATUS
    if facts.get("results.numerics") == "off":
        return NUMERICS_OFF_STATUS
    return status


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON columns hold no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):  # most facts are texts and integers: no call for them
        return {str(k): v if type(v) in _PLAIN else finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _PLAIN else finite(v) for v in value]
    return value


#: Types :func:`finite` returns as they are (exact types: a subclass goes through it).
_PLAIN = frozenset((str, int, bool, type(None)))

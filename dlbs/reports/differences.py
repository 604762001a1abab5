"""The parameters whose values differ between the two sides of a comparison.

A reader of ``report --compare`` must see everything that changed besides the code under
test: the settings (``exp.*``, ``pytorch.*``, ``runtime.*``...) and the environment the logs
record (``hw.*``, the torch and Python versions, the host). A key with one value on each side
is a wholesale difference (``exp.dtype: float32 -> float16``); a key whose set of values
differs otherwise is summarised by its count of values per side. Results and per-run
bookkeeping (``RUN_BOOKKEEPING``) are left out: they differ between any two runs by design.
Pure: records in, plain data out.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dlbs.params import identity
from dlbs.reports.frame import identity_value

Records = Sequence[Mapping[str, Any]]
#: Keys that differ between runs by design, whatever the sides measure (a run's place, names,
#: paths, clock, plumbing, raw tool outputs): the bookkeeping of ``dlbs.params.identity``, the
#: one definition the progress lines read too. Results (``results.*``) are outcomes, not
#: parameters: left out too.
RUN_BOOKKEEPING: frozenset[str] = identity.BOOKKEEPING
#: Namespaces whose keys are outcomes of a run, never compared as parameters.
OUTCOMES: tuple[str, ...] = ("results.",)
#: Values of a key shown per side in a summary line; more are counted only (JSON has all).
SHOWN = 4
#: How a side without the key shows it.
NOT_LOGGED = "(not logged)"


def _text(key: str, value: Any) -> str:
    """A value as the command line gives it (``float32``, ``2``, ``true``); an "off" value
    (``exp.seq_len`` 0) or a missing one as ``NOT_LOGGED``."""
    value = identity_value(key, value)
    if value is None:
        return NOT_LOGGED
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _order(text: str) -> tuple[int, float, str]:
    """Numbers first, by value (2 before 10), then text."""
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _values(records: Records, key: str) -> list[str]:
    """A key's distinct values on one side, sorted (the order the logs were read in is no
    order a reader can rely on)."""
    return sorted({_text(key, record.get(key)) for record in records}, key=_order)


def _compared(key: str) -> bool:
    return "." in key and not key.startswith(OUTCOMES) and key not in RUN_BOOKKEEPING


def differences(base: Records, new: Records, axis: str | None = None) -> list[dict[str, Any]]:
    """Every parameter whose set of values differs between ``base`` and ``new``, sorted by key:
    ``{"key", "base": [values], "new": [values]}`` (a side without it: ``NOT_LOGGED``).
    ``axis`` is the parameter compared (``--compare-by``), not listed."""
    keys = sorted({k for record in [*base, *new] for k in record if _compared(k)} - {axis})
    out = []
    for key in keys:
        in_base, in_new = _values(base, key), _values(new, key)
        if set(in_base) != set(in_new):
            out.append({"key": key, "base": in_base, "new": in_new})
    return out


def _shown(values: list[str]) -> str:
    more = f", ... ({len(values) - SHOWN} more)" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def difference_line(difference: Mapping[str, Any]) -> str:
    """One difference as a line: ``KEY: a -> b``, or ``KEY: 3 values in base (...), 2 in new
    (...)`` when a side has several."""
    key, base, new = difference["key"], difference["base"], difference["new"]
    if len(base) == 1 and len(new) == 1:
        return f"{key}: {base[0]} -> {new[0]}"
    return (f"{key}: {len(base)} value{'s' * (len(base) != 1)} in base ({_shown(base)}), "
            f"{len(new)} in new ({_shown(new)})")


def difference_lines(found: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The lines shown above a comparison's tables (none for other reports)."""
    if found is None:
        return []
    if not found:
        return ["none (results and per-run bookkeeping left out)"]
    return [difference_line(d) for d in found]

"""The plan file: a built (unexpanded) plan written by ``build`` and read back by ``--plan``.

A plan file is one JSON object::

    {"format": "dlbs-plan", "version": 1,
     "specs": {"exp.replica_batch": {"type": "int"}, "exp.phase": {"type": "str",
               "val_domain": ["training", "inference"]}, ...},
     "experiments": [{...}, {...}]}

``specs`` carries every parameter's declared type and domain, so that expanding the plan later
casts and checks exactly as expanding it at build time would. A plain JSON list of experiments
(a DLBS plan) is read too; its specs then come from the configs the caller supplies.

This module only reads and writes the format; building and expanding are the engine's job.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from dlbs.config import parse_json, read_text_capped
from dlbs.engine import ParamSpec
from dlbs.engine.model import shown
from dlbs.engine.names import BadName, renamed
from dlbs.errors import ConfigError

PLAN_FORMAT = "dlbs-plan"
PLAN_VERSION = 1
#: Largest plan file read (10,000 experiments of 120 parameters take about 35 MiB; a device such
#: as ``/dev/zero`` never ends).
MAX_PLAN_BYTES = 256 << 20


def spec_to_json(spec: ParamSpec) -> dict[str, Any]:
    """Return the JSON form of a parameter's declaration (type, domain; no description)."""
    data: dict[str, Any] = {"type": spec.type}
    if spec.domain is not None:
        data["val_domain"] = list(spec.domain)
    return data


def spec_from_json(name: str, data: Any, origin: str) -> ParamSpec:
    """Rebuild a :class:`ParamSpec` from its JSON form; raise ConfigError when malformed."""
    if not isinstance(data, dict) or data.get("type") not in (None, "int", "str", "float", "bool"):
        raise ConfigError(f"{origin}: the spec of parameter '{name}' must be an object with "
                          "'type' one of int, str, float, bool or null")
    domain = data.get("val_domain")
    if domain is not None and not isinstance(domain, list):
        raise ConfigError(f"{origin}: 'val_domain' of parameter '{name}' must be a list")
    return ParamSpec(name=name, type=data.get("type"),
                     domain=tuple(domain) if domain is not None else None)


def write_plan(stream: IO[str], experiments: Iterable[Mapping[str, Any]],
               specs: Mapping[str, ParamSpec]) -> int:
    """Write a plan file to ``stream``, one experiment at a time; return how many were written."""
    stream.write(f'{{"format": "{PLAN_FORMAT}", "version": {PLAN_VERSION},\n "specs": {{')
    _write_items(stream, ((json.dumps(name) + ": " + json.dumps(spec_to_json(spec)))
                          for name, spec in specs.items()))
    stream.write('},\n "experiments": [')
    count = _write_items(stream, (json.dumps(experiment) for experiment in experiments))
    stream.write("]\n}\n")
    return count


def _write_items(stream: IO[str], items: Iterable[str]) -> int:
    """Write JSON items one a line, comma-separated; return how many."""
    count = 0
    for item in items:
        stream.write(",\n  " if count else "\n  ")
        stream.write(item)
        count += 1
    if count:
        stream.write("\n ")
    return count


def read_plan(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, ParamSpec] | None]:
    """Read a plan file; return its experiments and its specs (None for a DLBS list plan)."""
    path = Path(path)
    text = read_text_capped(path, "plan file", MAX_PLAN_BYTES)
    data = parse_json(text, str(path))
    if isinstance(data, list):
        return _experiments(data, str(path)), None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ConfigError(f"{path}: not a plan file (expected a list of experiments or an "
                          f"object with \"format\": \"{PLAN_FORMAT}\" written by 'build')")
    if data.get("version") != PLAN_VERSION:
        raise ConfigError(f"{path}: plan file version {data.get('version')!r} is not supported "
                          f"(this dlbs reads version {PLAN_VERSION}); rebuild it with 'build'")
    specs_data = data.get("specs") or {}
    if not isinstance(specs_data, dict):
        raise ConfigError(f"{path}: 'specs' must be an object")
    specs_data = _normal_names(specs_data, f"{path}: specs", set())
    specs = {name: spec_from_json(name, spec, str(path)) for name, spec in specs_data.items()}
    return _experiments(data.get("experiments"), str(path)), specs


def _experiments(data: Any, origin: str) -> list[dict[str, Any]]:
    """The experiments of a plan, each name in its NFKC form (``ｅｘｐ.model`` is
    ``exp.model``); a name that is not a parameter name is a ``ConfigError`` naming it.
    (Values holding a NUL or a lone surrogate are refused when they are expanded.)"""
    if not isinstance(data, list):
        raise ConfigError(f"{origin}: 'experiments' must be a list of objects")
    good: set[str] = set()  # the names already checked (a plan repeats the same names)
    for index, experiment in enumerate(data):
        if not isinstance(experiment, dict):
            raise ConfigError(f"{origin}: experiment {index} is a {type(experiment).__name__}, "
                              "not an object")
        if not good.issuperset(experiment):
            data[index] = _normal_names(experiment, f"{origin}: experiment {index}", good)
    return data


def _normal_names(values: dict[str, Any], where: str, good: set[str]) -> dict[str, Any]:
    """``values`` with its names in NFKC form; add its names to ``good`` when none changed."""
    try:
        changed = renamed(values, values.keys())
    except BadName as err:
        raise ConfigError(f"{where}: parameter name {shown(err.name)} {err}") from None
    if not changed:
        good.update(values)
        return values
    return {changed.get(name, name): value for name, value in values.items()}

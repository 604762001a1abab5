"""Merge raw configuration dicts and command-line values into one ``Config`` (spec §1).

Precedence, low to high: default configs < user configs (``--config``, in order) < ``-P``/``-V``
< ``-E``-extensions (appended last). This module validates the shape of each raw config and
reports problems as ``ConfigError`` naming the source and the parameter. It reads no files.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dlbs.engine.bounded_re import RegexError, compile_regex
from dlbs.engine.model import PARAM_TYPES, Config, ParamSpec, infer_type, shown
from dlbs.engine.names import BadName, LookAlikeName, first_bad_value, renamed
from dlbs.errors import ConfigError, UsageError

_TOP_KEYS = ("parameters", "variables", "extensions")
_DEFINITION_KEYS = ("val", "type", "desc", "val_domain")
#: Keys of DLBS's definitions that are accepted and ignored. DLBS never checked them either:
#: its configs write ``val_regex`` (``exp.gpus``, ``runtime.visible_gpus`` in ``base.json``) and
#: ``var_domain`` (``mxnet.kv_store``), but its code reads only ``val_domain`` and
#: ``val_regexp``; ``val_regexp`` (a regex the value must match), which no DLBS config sets, is
#: ignored too: the declared type and ``val_domain`` are checked, and ``validate`` checks the
#: values a run needs (``exp.gpus`` included).
IGNORED_DEFINITION_KEYS = ("val_regex", "val_regexp", "var_domain")
#: The accepted range of a number (``"min": 1, "max": 2147483647``), declared in the default
#: configs only and checked by ``validate`` and ``run`` (``dlbs.cli.param_ranges``), not here.
RANGE_KEYS = ("min", "max")
#: What else a default config declares of a parameter, for the catalogue
#: (``dlbs.params.catalogue``) and not for merging: its group, roles, benchmark flag, fact type
#: unit, label, the field of the typed Experiment that reads it, the flags computed from it and
#: the form of value it takes, its database column and its short name in a report. Accepted
#: in the default configs only, like the range.
CATALOGUE_KEYS = ("group", "roles", "flag", "fact_type", "unit", "label", "field",
                  "computed_flags", "form", "db_column", "short")
_EXTENSION_KEYS = ("condition", "parameters", "cases")
_SCALARS = (str, int, float, bool, type(None))


def merge_configs(
    sources: Sequence[tuple[str, Mapping]],
    params: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    extensions: Sequence[Mapping] = (),
    *,
    defaults: Sequence[tuple[str, Mapping]] = (),
) -> Config:
    """Merge configs and command-line values into one ``Config``.

    ``defaults`` are the project's default configs (``(origin, raw dict)``, merged first; a
    parameter or variable defined in two of them is an error). ``sources`` are the user configs,
    low to high precedence. ``params`` (``-P``), ``variables`` (``-V``) and ``extensions``
    (``-E``) come last. Raises ``ConfigError`` naming the source and the parameter.
    """
    config = Config()
    owners: dict[str, str] = {}
    for origin, raw in defaults:
        _check_default_duplicates(origin, raw, owners)
        _merge_source(config, origin, raw, default=True)
    for origin, raw in sources:
        _merge_source(config, origin, raw)
    for name, value in _names("-P", params or {}, "parameter", config.specs).items():
        _set_plain(config, "-P", name, value)
    for name, value in _names("-V", variables or {}, "variable", config.specs).items():
        config.variables[name] = _variable_values("-V", name, value)
    for ext in extensions:
        where = f"-E: extension #{len(config.extensions) + 1}"
        config.extensions.append(_normalise_extension(where, ext, config.specs))
    return config


def _check_default_duplicates(origin: str, raw: Mapping, owners: dict[str, str]) -> None:
    """Raise when ``raw`` defines a name that an earlier default config already defined."""
    if not isinstance(raw, Mapping):
        return
    for section in ("parameters", "variables"):
        names = raw.get(section)
        if not isinstance(names, Mapping):
            continue
        for name in names:
            if owners.get(name, origin) != origin:
                raise ConfigError(
                    f"{origin}: parameter '{name}' is also defined in default config "
                    f"{owners[name]}; define it in only one default config")
            owners[name] = origin


def _merge_source(config: Config, origin: str, raw: Mapping, *, default: bool = False) -> None:
    """Merge one raw config dict into ``config`` (``default``: one of dlbs's default configs)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: a config must be an object with keys {', '.join(_TOP_KEYS)}"
                          f", not {type(raw).__name__}")
    for key in raw:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{origin}: unknown key '{key}'; a config has only the keys "
                              f"{', '.join(_TOP_KEYS)}")
    for name, value in _section(origin, raw, "parameters", config.specs).items():
        if isinstance(value, Mapping):
            _set_definition(config, origin, name, value, default)
        else:
            _set_plain(config, origin, name, value)
    for name, value in _section(origin, raw, "variables", config.specs).items():
        config.variables[name] = _variable_values(origin, name, value)
    exts = raw.get("extensions", [])
    if not isinstance(exts, list):
        raise ConfigError(f"{origin}: 'extensions' must be a list of objects")
    first = len(config.extensions) + 1
    for offset, ext in enumerate(exts):
        config.extensions.append(_normalise_extension(f"{origin}: extension #{first + offset}",
                                                      ext, config.specs))


def _section(origin: str, raw: Mapping, key: str, known: Mapping[str, Any]) -> Mapping:
    """Return ``raw[key]`` (``{}`` when absent), checking that it is an object."""
    section = raw.get(key, {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{origin}: '{key}' must be an object (name -> value)")
    return _names(origin, section, key.rstrip("s"), known)


def _names(origin: str, values: Mapping, what: str,
           known: Mapping[str, Any] | None = None) -> Mapping:
    """Return ``values`` with every name in its NFKC form (``names.renamed``); a name that
    is not a string, not a parameter name, or the same as another once normalised is a
    ``ConfigError`` (``known``: the names to suggest)."""
    for name in values:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{origin}: {what} name {shown(name)} must be a non-empty string")
    try:
        changed = renamed(values, known or ())
    except BadName as err:
        # a known name typed with a look-alike letter is a typo: a usage error (exit 2)
        error = UsageError if isinstance(err, LookAlikeName) else ConfigError
        raise error(f"{origin}: {what} name {shown(err.name)} {err}") from None
    if not changed:
        return values
    return {changed.get(name, name): value for name, value in values.items()}


def _check_text(origin: str, what: str, name: str, value: Any) -> None:
    """Raise when a string in ``value`` holds a NUL or a lone surrogate (``names``)."""
    reason = first_bad_value(value)
    if reason is not None:
        raise ConfigError(f"{origin}: {what} '{name}': its value {reason}")


def _set_plain(config: Config, origin: str, name: str, value: Any) -> None:
    """Set a plain value; an existing parameter keeps its declaration (only ``val`` changes)."""
    _check_value(origin, name, value, allow_dict=origin == "-P")
    config.parameters[name] = value
    if name not in config.specs:
        config.specs[name] = ParamSpec(name, infer_type(value))


def _set_definition(config: Config, origin: str, name: str, definition: Mapping,
                    default: bool = False) -> None:
    """Merge a definition (``val``/``type``/``desc``/``val_domain``) key by key; a default
    config may also declare the accepted range (``min``/``max``)."""
    for key in definition:
        if default and key in RANGE_KEYS:
            _check_bound(origin, name, key, definition[key])
        elif default and key in CATALOGUE_KEYS:
            continue
        elif key not in _DEFINITION_KEYS and key not in IGNORED_DEFINITION_KEYS:
            raise ConfigError(f"{origin}: parameter '{name}': unknown key '{key}' in its "
                              f"definition; allowed keys: {', '.join(_DEFINITION_KEYS)} (and "
                              f"DLBS's {', '.join(IGNORED_DEFINITION_KEYS)}, ignored)")
    old = config.specs.get(name)
    if "val" not in definition and old is None:
        raise ConfigError(f"{origin}: parameter '{name}': a definition needs a 'val' key")
    spec = old or ParamSpec(name, None)
    if "val" in definition:
        _check_value(origin, name, definition["val"], allow_dict=False)
        config.parameters[name] = definition["val"]
        if old is None:
            spec = ParamSpec(name, infer_type(definition["val"]))
    if "type" in definition:
        spec = replace(spec, type=_declared_type(origin, name, definition["type"]))
    if "desc" in definition:
        spec = replace(spec, desc=_description(origin, name, definition["desc"]))
    if "val_domain" in definition:
        spec = replace(spec, domain=_domain(origin, name, definition["val_domain"]))
    config.specs[name] = spec


def _check_bound(origin: str, name: str, key: str, value: Any) -> None:
    """Raise unless a declared ``min``/``max`` is a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{origin}: parameter '{name}': '{key}' must be a finite number, not "
                          f"{shown(value)}")


def _declared_type(origin: str, name: str, value: Any) -> str:
    """Return a valid declared type or raise."""
    if value not in PARAM_TYPES:
        raise ConfigError(f"{origin}: parameter '{name}': type {shown(value)} is not one of "
                          f"{', '.join(PARAM_TYPES)}")
    return str(value)


def _description(origin: str, name: str, value: Any) -> str:
    """Return a description; a list of lines is joined with newlines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    raise ConfigError(f"{origin}: parameter '{name}': 'desc' must be a string or a list of lines")


def _domain(origin: str, name: str, value: Any) -> tuple | None:
    """Return ``val_domain`` as a tuple (``None`` stays "no domain")."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, _SCALARS) for v in value):
        raise ConfigError(f"{origin}: parameter '{name}': 'val_domain' must be a list of "
                          f"allowed values")
    return tuple(value)


def _check_value(origin: str, name: str, value: Any, *, allow_dict: bool) -> None:
    """Raise unless ``value`` is a scalar, a list of scalars, or (from ``-P``) a dict, free
    of NUL and lone surrogates."""
    _check_text(origin, "parameter", name, value)
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return
    if allow_dict and isinstance(value, Mapping):
        return
    raise ConfigError(f"{origin}: parameter '{name}': value {shown(value)} must be a string, number, "
                      f"bool, null or a list of those")


def _variable_values(origin: str, name: str, value: Any) -> list[Any]:
    """Return a variable's values as a list (a non-list value becomes a one-element list)."""
    values = value if isinstance(value, list) else [value]
    _check_text(origin, "variable", name, values)
    for item in values:
        if not isinstance(item, (*_SCALARS, list)):
            raise ConfigError(f"{origin}: variable '{name}': value {shown(item)} must be a string, "
                              f"number, bool, null or a list")
    return list(values)


def _normalise_extension(where: str, ext: Any,
                         known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate one extension and return it with all three keys present (``known``: the
    names to suggest for a name that is not one)."""
    if not isinstance(ext, Mapping):
        raise ConfigError(f"{where}: an extension must be an object with keys "
                          f"{', '.join(_EXTENSION_KEYS)}")
    for key in ext:
        if key not in _EXTENSION_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'; an extension has only the keys "
                              f"{', '.join(_EXTENSION_KEYS)}")
    condition = _mapping(where, ext, "condition", known)
    for name, cond in condition.items():
        _check_condition(where, name, cond)
    parameters = _mapping(where, ext, "parameters", known)
    cases = ext.get("cases", [])
    if not isinstance(cases, list) or not all(isinstance(case, Mapping) for case in cases):
        raise ConfigError(f"{where}: 'cases' must be a list of objects (name -> value)")
    cases = [_names(where, case, "parameter", known) for case in cases]
    for values in (parameters, *cases):
        for name, value in values.items():
            _check_value(where, name, value, allow_dict=False)
    return {"condition": dict(condition), "parameters": dict(parameters),
            "cases": [dict(case) for case in cases]}


def _mapping(where: str, ext: Mapping, key: str,
             known: Mapping[str, Any] | None = None) -> Mapping:
    """Return ``ext[key]`` (``{}`` when absent), checking that it is an object."""
    value = ext.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: '{key}' must be an object (name -> value)")
    return _names(where, value, "parameter", known)


def _check_condition(where: str, name: str, cond: Any) -> None:
    """Raise unless a condition is a scalar or list of scalars; check that a regex compiles."""
    items = cond if isinstance(cond, list) else [cond]
    _check_text(where, "condition on", name, items)
    if not all(isinstance(item, _SCALARS) for item in items):
        raise ConfigError(f"{where}: condition on '{name}' must be a value, a regular expression "
                          f"or a list of values")
    if isinstance(cond, str) and cond:
        try:
            compile_regex(cond)
        except RegexError as err:
            raise ConfigError(f"{where}: condition on '{name}': invalid regular expression "
                              f"{shown(cond)}: {err}") from None

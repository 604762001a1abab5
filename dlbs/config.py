"""Configuration I/O: find and load config files, parse ``-P``/``-V``/``-E`` arguments.

This module reads files and turns command-line strings into Python values; it hands the
results to :func:`dlbs.engine.merge_configs`. It does no merging, building or expansion itself
(that is the pure engine's job) and never reads the process environment.

Every failure is a :class:`~dlbs.errors.ConfigError` (exit code 1) whose one-line message
names the file with line and column, or the malformed ``-P``/``-V``/``-E`` argument.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dlbs
from dlbs.errors import ConfigError

#: File-name suffixes read as YAML; anything else is read as JSON.
YAML_SUFFIXES = (".yaml", ".yml")


def default_config_dir() -> Path:
    """Return the folder that holds the default configs (``<project root>/config``)."""
    return dlbs.PROJECT_ROOT / "config"


def default_config_files(folder: Path | None = None) -> list[Path]:
    """Return the default config files, ``config/*.json``, sorted by file name."""
    folder = default_config_dir() if folder is None else folder
    return sorted(folder.glob("*.json"), key=lambda path: path.name)


def load_default_configs(folder: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Load every default config, in file-name order, as ``(file name, config)`` pairs.

    (``merge_configs(..., defaults=...)`` rejects a parameter defined in two of them.)
    """
    return [(str(path), load_config_file(path)) for path in default_config_files(folder)]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read one JSON or YAML config file (YAML when it ends in ``.yaml``/``.yml``).

    Raises ConfigError naming the file (with line and column for a syntax error) when the file
    is missing, malformed or not a mapping at the top level.
    """
    path = Path(path)
    text = _read_text(path)
    data = parse_yaml(text, str(path)) if path.suffix.lower() in YAML_SUFFIXES \
        else parse_json(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be an object with keys 'parameters', "
                          f"'variables', 'extensions'; got {type(data).__name__}")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file '{path}' is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file '{path}': {err}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def strict_json_loads(text: str) -> Any:
    """``json.loads`` as the JSON standard has it: no ``NaN``/``Infinity``, no number that
    overflows to infinity (they would be written back as invalid JSON)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(text: str, origin: str) -> Any:
    """Parse JSON text; a syntax error becomes ``ORIGIN:LINE:COLUMN: malformed JSON: why``."""
    try:
        return strict_json_loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{origin}:{err.lineno}:{err.colno}: malformed JSON: {err.msg}") \
            from None
    except ValueError as err:
        raise ConfigError(f"{origin}: malformed JSON: {err}") from None


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML text (safe loader); a syntax error names the origin, line and column."""
    import yaml  # imported here: most runs read only JSON and should not pay for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = " ".join(str(part) for part in (err.context, err.problem) if part)
        raise ConfigError(f"{where}: malformed YAML: {problem or 'syntax error'}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: malformed YAML: {' '.join(str(err).split())}") from None
    if _has_non_finite(data):
        raise ConfigError(f"{origin}: malformed YAML: .nan and .inf are not valid values "
                          "(they have no JSON form)")
    return data


def _has_non_finite(data: Any) -> bool:
    """True when ``data`` holds a NaN or infinite float (YAML's ``.nan``, ``.inf``)."""
    stack, seen = [data], set()
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, (dict, list)) and id(item) not in seen:  # YAML aliases share
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False


def parse_value(text: str) -> Any:
    """Parse a command-line value: JSON when it parses, else the plain string.

    ``64`` is the int 64, ``false`` the bool, ``"0"`` the string ``0``, ``resnet50`` the
    string (DEVIATION from DLBS, which required JSON).
    """
    try:
        return strict_json_loads(text)
    except ValueError:
        return text


def split_assignment(arg: str, option: str) -> tuple[str, str]:
    """Split ``NAME=VALUE`` at the first ``=``; raise ConfigError naming ``arg`` otherwise.

    The issue's contract: a malformed ``-P``/``-V``/``-E`` is an input error like a malformed
    config file (exit code 1), not an argparse usage error (exit code 2).
    """
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep:
        raise ConfigError(f"{option} '{arg}': expected NAME=VALUE (e.g. {option}exp.model=resnet50)")
    if not name:
        raise ConfigError(f"{option} '{arg}': the parameter name before '=' is empty")
    return name, value


def parse_param_args(args: Iterable[str] | None) -> dict[str, Any]:
    """Turn ``-P`` arguments into ``{name: value}``; a later one for the same name wins."""
    params: dict[str, Any] = {}
    for arg in args or ():
        name, value = split_assignment(arg, "-P")
        params[name] = parse_value(value)
    return params


def parse_variable_args(args: Iterable[str] | None) -> dict[str, list[Any]]:
    """Turn ``-V`` arguments into ``{name: [values]}``; a scalar becomes a one-element list."""
    variables: dict[str, list[Any]] = {}
    for arg in args or ():
        name, text = split_assignment(arg, "-V")
        value = parse_value(text)
        if isinstance(value, str) and value.lstrip().startswith("["):
            # Looks like a list but is not JSON (e.g. [a, b]): one experiment named "[a, b]"
            # is never what was meant.
            raise ConfigError(f"-V '{arg}': the value is not a valid JSON list; quote the "
                              f"strings, e.g. -V{name}='[\"a\", \"b\"]'")
        variables[name] = list(value) if isinstance(value, list) else [value]
    return variables


def parse_extension_args(args: Iterable[str] | None) -> list[dict[str, Any]]:
    """Turn ``-E`` arguments (each one JSON object) into a list of extensions."""
    extensions: list[dict[str, Any]] = []
    for arg in args or ():
        try:
            value = strict_json_loads(arg)
        except json.JSONDecodeError as err:
            raise ConfigError(f"-E '{arg}': malformed JSON at column {err.colno}: {err.msg}") \
                from None
        except ValueError as err:
            raise ConfigError(f"-E '{arg}': malformed JSON: {err}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"-E '{arg}': an extension must be a JSON object "
                             "such as {\"condition\": {...}, \"parameters\": {...}}")
        extensions.append(value)
    return extensions

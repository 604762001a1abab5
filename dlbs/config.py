"""Configuration I/O: find and load config files, parse ``-P``/``-V``/``-E`` arguments.

This module reads files and turns command-line strings into Python values; it hands the
results to :func:`dlbs.engine.merge_configs`. It does no merging, building or expansion itself
(that is the pure engine's job) and never reads the process environment.

Every failure is a :class:`~dlbs.errors.ConfigError` (exit code 1) whose one-line message
names the file with line and column, or the malformed ``-P``/``-V``/``-E`` argument.

Hostile input is bounded before it can hang or crash the interpreter: a file is read up to
``MAX_CONFIG_BYTES`` (``--config /dev/zero`` ends), lists and objects may nest
``MAX_NESTING`` deep (YAML is checked on its event stream *before* it is composed, since the C
loader recurses without a limit and crashes the interpreter thousands of levels deep; aliases are
counted expanded), and an integer longer than Python's int-string limit is named with its line.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from safeio import UnsafeFileError, file_kind, read_capped

import dlbs
from dlbs.duplicates import DuplicateKey, load_yaml_unique, unique_object
from dlbs.engine.names import BadName, normal_name
from dlbs.errors import ConfigError

#: File-name suffixes read as YAML; anything else is read as JSON.
YAML_SUFFIXES = (".yaml", ".yml")
#: Largest config file read (configs are kilobytes; a device such as ``/dev/zero`` never ends).
MAX_CONFIG_BYTES = 64 << 20
#: Deepest nesting of lists and objects in a config, a plan or a ``-P``/``-V``/``-E`` value
#: (real ones nest fewer than ten levels).
MAX_NESTING = 100
#: Most nodes a YAML document may have with its aliases expanded (``&a [*b, *b]`` doubles).
MAX_YAML_NODES = 10_000_000
#: Longest command-line argument shown in a message.
_SHOWN_ARG = 100


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
    return read_text_capped(path, "config file", MAX_CONFIG_BYTES)


def read_text_capped(path: Path, what: str, limit: int) -> str:
    """Read a UTF-8 text file of at most ``limit`` bytes; ``what`` names it in the messages.

    A thin wrapper over :func:`safeio.read_capped`: a regular file is measured before it is
    read (one over ``limit`` is refused unread); anything else (a FIFO, a socket, a device such
    as ``/dev/zero``, a directory) is refused at once, never opened for a blocking read.
    """
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise ConfigError(f"{what} '{path}' is {info.st_size >> 20} MiB, over the limit of "
                              f"{limit >> 20} MiB")
        data = read_capped(path, limit)
    except FileNotFoundError:
        raise ConfigError(f"{what} '{path}' not found") from None
    except UnsafeFileError as err:
        raise ConfigError(_unsafe_message(path, what, limit, err)) from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} '{path}': {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read {what} '{path}': {err}") from None


def _unsafe_message(path: Path, what: str, limit: int, err: UnsafeFileError) -> str:
    """What :func:`read_text_capped` says of a file :mod:`safeio` refused."""
    if err.errno == errno.EISDIR:
        return f"{what} '{path}' is a directory, not a file"
    if err.errno == errno.EFBIG:  # grew past the limit after it was measured
        return f"{what} '{path}' holds more than {limit >> 20} MiB, the limit"
    if err.errno == errno.EAGAIN:  # "regular" to the kernel, but its reads wait (/proc/kmsg)
        return f"{what} '{path}' {err.strerror}"
    try:
        kind = file_kind(os.stat(path).st_mode)
    except OSError:
        return f"{what} '{path}' {err.strerror}"
    return (f"{what} '{path}' is {kind}, not a regular file: give a regular file (a FIFO, a "
            "socket or a device may never end or never answer; it is not read)")


def check_nesting(data: Any, origin: str) -> Any:
    """Return ``data`` unless its lists and objects nest deeper than ``MAX_NESTING``."""
    if data.__class__ is not dict and data.__class__ is not list:
        return data
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise _too_deep(origin)
        stack.extend((child, depth + 1) for child in (item.values() if item.__class__ is dict
                                                      else item)
                     if child.__class__ is dict or child.__class__ is list)
    return data


def _too_deep(origin: str) -> ConfigError:
    return ConfigError(f"{origin}: lists and objects nested deeper than {MAX_NESTING} levels; "
                       "a config or value nests only a few")


def _int_digits_limit() -> int:
    """Python's int-string conversion limit (``sys.get_int_max_str_digits``; 0: none)."""
    return int(getattr(sys, "get_int_max_str_digits", lambda: 0)())


def _long_integer_in_json(origin: str, text: str) -> ConfigError | None:
    """The error for the first decimal integer of ``text`` too long for Python, if any."""
    limit = _int_digits_limit()
    found = re.search(rf"(?<![\w.])-?\d{{{limit + 1},}}", text) if limit else None
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    return _long_integer(f"{origin}:{line}:{column}", len(found.group().lstrip("-")))


def _long_integer(where: str, digits: int) -> ConfigError:
    return ConfigError(f"{where}: an integer of {digits} digits (Python reads at most "
                       f"{_int_digits_limit()}); write it as a string")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def strict_json_loads(text: str) -> Any:
    """``json.loads`` as the JSON standard has it: no ``NaN``/``Infinity``, no number that
    overflows to infinity (they would be written back as invalid JSON), and no key given twice
    in one object (``DuplicateKey``)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                      object_pairs_hook=unique_object)


def parse_json(text: str, origin: str) -> Any:
    """Parse JSON text; a syntax error becomes ``ORIGIN:LINE:COLUMN: malformed JSON: why``.

    Lists and objects nested deeper than ``MAX_NESTING`` and integers longer than Python's
    int-string limit are ``ConfigError`` too.
    """
    try:
        return check_nesting(strict_json_loads(text), origin)
    except DuplicateKey as err:
        raise ConfigError(f"{origin}: {err}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{origin}:{err.lineno}:{err.colno}: malformed JSON: {err.msg}") \
            from None
    except RecursionError:
        raise _too_deep(origin) from None
    except ValueError as err:
        raise (_long_integer_in_json(origin, text)
               or ConfigError(f"{origin}: malformed JSON: {err}")) from None


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML text (safe loader); a syntax error names the origin, line and column."""
    import yaml  # imported here: most runs read only JSON and should not pay for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_yaml_events(yaml, yaml.parse(text, Loader=loader), origin)
        data = load_yaml_unique(yaml, loader(text), origin)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = " ".join(str(part) for part in (err.context, err.problem) if part)
        if "maximum nesting depth" in problem:  # PyYAML >= 6.0.3 has its own (deeper) limit
            raise _too_deep(where) from None
        raise ConfigError(f"{where}: malformed YAML: {problem or 'syntax error'}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: malformed YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise _too_deep(origin) from None
    except (ValueError, TypeError, OverflowError) as err:  # a value that does not construct
        raise ConfigError(f"{origin}: malformed YAML: {' '.join(str(err).split())}") from None
    if _has_non_finite(data):
        raise ConfigError(f"{origin}: malformed YAML: .nan and .inf are not valid values "
                          "(they have no JSON form)")
    return data


#: A YAML 1.1 decimal integer once its ``_`` are removed (``int()`` converts it).
_YAML_DECIMAL = re.compile(r"[-+]?[1-9][0-9]*")


def _check_yaml_events(yaml: Any, events: Iterable[Any], origin: str) -> None:
    """Refuse, from the parser's events and before anything is composed, a YAML document
    nested deeper than ``MAX_NESTING``, larger than ``MAX_YAML_NODES`` with its aliases
    expanded, or holding an integer too long for Python."""
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    stack: list[list[Any]] = [[None, 0, 0, None]]  # [anchor, nodes, child height, start event]
    limit = _int_digits_limit() or sys.maxsize

    def where(event: Any) -> str:
        mark = event.start_mark
        return f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin

    def add(event: Any, nodes: int, height: int) -> None:
        top = stack[-1]
        top[1] += nodes
        top[2] = max(top[2], height)
        if top[1] > MAX_YAML_NODES:
            raise ConfigError(f"{where(event)}: more than {MAX_YAML_NODES} values with its "
                              "aliases expanded (aliases of aliases multiply)")
        if len(stack) - 1 + height > MAX_NESTING:
            raise _too_deep(where(event))

    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1, 1, event])
            if len(stack) - 1 > MAX_NESTING:
                raise _too_deep(where(event))
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes, height, start = stack.pop()
            if anchor is not None:
                anchors[anchor] = (nodes, height + 1)
            add(start, nodes, height + 1)
        elif isinstance(event, yaml.ScalarEvent):
            if event.implicit[0] and len(event.value) > limit:  # plain: may be an integer
                digits = event.value.replace("_", "")
                if _YAML_DECIMAL.fullmatch(digits) and len(digits.lstrip("+-")) > limit:
                    raise _long_integer(where(event), len(digits.lstrip("+-")))
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
            add(event, 1, 0)
        elif isinstance(event, yaml.AliasEvent):
            nodes, height = anchors.get(event.anchor, (1, 0))
            add(event, nodes, height)


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


def parse_value(text: str, origin: str = "value") -> Any:
    """Parse a command-line value: JSON when it parses, else the plain string.

    ``64`` is the int 64, ``false`` the bool, ``"0"`` the string ``0``, ``resnet50`` the
    string (DEVIATION from DLBS, which required JSON). JSON nested deeper than ``MAX_NESTING``
    is a ``ConfigError`` starting with ``origin``.
    """
    try:
        value = strict_json_loads(text)
    except DuplicateKey as err:
        raise ConfigError(f"{origin}: {err}") from None
    except RecursionError:
        raise _too_deep(origin) from None
    except ValueError:
        return text
    return check_nesting(value, origin)


def _arg(option: str, arg: str) -> str:
    """``-P 'name=value'`` for a message, the argument cut to ``_SHOWN_ARG`` characters."""
    if len(arg) > _SHOWN_ARG:
        arg = f"{arg[:_SHOWN_ARG - 3]}..."
    return f"{option} '{arg}'"


def split_assignment(arg: str, option: str) -> tuple[str, str]:
    """Split ``NAME=VALUE`` at the first ``=``; raise ConfigError naming ``arg`` otherwise.

    The issue's contract: a malformed ``-P``/``-V``/``-E`` is an input error like a malformed
    config file (exit code 1), not an argparse usage error (exit code 2).
    """
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep:
        raise ConfigError(f"{_arg(option, arg)}: expected NAME=VALUE (e.g. "
                          f"{option}exp.model=resnet50)")
    if not name:
        raise ConfigError(f"{_arg(option, arg)}: the parameter name before '=' is empty")
    try:  # NFKC here, so that a later -P of the same name wins, whatever its spelling
        name = normal_name(name)
    except BadName:
        pass  # merge_configs refuses it, with the closest known name
    return name, value


def parse_param_args(args: Iterable[str] | None) -> dict[str, Any]:
    """Turn ``-P`` arguments into ``{name: value}``; a later one for the same name wins."""
    params: dict[str, Any] = {}
    for arg in args or ():
        name, value = split_assignment(arg, "-P")
        params[name] = parse_value(value, _arg("-P", arg))
    return params


def parse_variable_args(args: Iterable[str] | None) -> dict[str, list[Any]]:
    """Turn ``-V`` arguments into ``{name: [values]}``; a scalar becomes a one-element list."""
    variables: dict[str, list[Any]] = {}
    for arg in args or ():
        name, text = split_assignment(arg, "-V")
        value = parse_value(text, _arg("-V", arg))
        if isinstance(value, str) and value.lstrip().startswith("["):
            # Looks like a list but is not JSON (e.g. [a, b]): one experiment named "[a, b]"
            # is never what was meant.
            raise ConfigError(f"{_arg('-V', arg)}: the value is not a valid JSON list; quote the "
                              f"strings, e.g. -V{name}='[\"a\", \"b\"]'")
        variables[name] = list(value) if isinstance(value, list) else [value]
    return variables


def parse_extension_args(args: Iterable[str] | None) -> list[dict[str, Any]]:
    """Turn ``-E`` arguments (each one JSON object) into a list of extensions."""
    extensions: list[dict[str, Any]] = []
    for arg in args or ():
        where = _arg("-E", arg)
        try:
            value = check_nesting(strict_json_loads(arg), where)
        except DuplicateKey as err:
            raise ConfigError(f"{where}: {err}") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{where}: malformed JSON at column {err.colno}: {err.msg}") \
                from None
        except RecursionError:
            raise _too_deep(where) from None
        except ValueError as err:
            raise (_long_integer_in_json(where, arg)
                   or ConfigError(f"{where}: malformed JSON: {err}")) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: an extension must be a JSON object "
                             "such as {\"condition\": {...}, \"parameters\": {...}}")
        extensions.append(value)
    return extensions

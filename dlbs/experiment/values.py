"""The readers of a parameter value that may still be a string (a plan written by hand, a
``-P`` value): one rule each, used by the :class:`~dlbs.experiment.view.Experiment` view and
by whatever reads a value the view has no field for."""
from __future__ import annotations

import shlex
from typing import Any

from dlbs.errors import ValidationError


def as_arg(value: Any) -> str:
    """Turn a parameter value into one command-line argument (bools as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def as_bool(value: Any) -> bool:
    """Read a boolean parameter that may still be a string (``"true"``, ``"0"``...)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def as_int(value: Any, default: int = 0) -> int:
    """Read an integer parameter; an empty or missing value gives ``default``."""
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"expected an integer, got {value!r}") from None


def as_float(value: Any) -> float:
    """Read a number of seconds or a rate (``exp.timeout``, ``monitor.frequency``); an empty
    or None value is 0."""
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {value!r}") from None


def split_words(name: str, value: Any) -> list[str]:
    """Split a command-line parameter (``runtime.launcher``, ``exp.docker_args``) into words."""
    try:
        return shlex.split(as_arg(value))
    except ValueError as err:
        raise ValidationError(f"parameter '{name}' is not a valid command line ({err}): "
                              f"{value!r}") from None

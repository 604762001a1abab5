"""The engine's data model: parameter declarations (``ParamSpec``) and merged configs (``Config``).

This module only defines data and the small rules about values (allowed types, type inference,
names reserved for condition captures). It does no I/O and imports nothing outside the standard
library.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The types a parameter may declare (spec §1).
PARAM_TYPES: tuple[str, ...] = ("int", "str", "float", "bool")

#: Prefix of the helper names that hold regex captures of extension conditions (spec §2.3).
CAPTURE_PREFIX = "__condition."

#: The parameter that orders variables (spec §2.1).
VAR_ORDER_PARAM = "sys.plan_builder.var_order"

#: Most characters of a value shown in a message (values may be megabytes long).
SHOWN = 80


def shown(value: Any) -> str:
    """``repr`` of ``value`` cut to :data:`SHOWN` characters, for a one-line message."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN - 3]}..."


@dataclass(frozen=True)
class ParamSpec:
    """A parameter's declaration: its declared type (``None`` = none), description and domain."""

    name: str
    type: str | None
    desc: str = ""
    domain: tuple | None = None


@dataclass
class Config:
    """A normalised, merged configuration (see ``merge_configs``).

    ``parameters`` holds plain values (definitions reduced to their ``val``); ``specs`` has one
    declaration per parameter; ``variables`` keeps insertion order; every extension is a dict with
    the keys ``condition`` (dict), ``parameters`` (dict) and ``cases`` (list of dicts).
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, ParamSpec] = field(default_factory=dict)
    variables: dict[str, list[Any]] = field(default_factory=dict)
    extensions: list[dict[str, Any]] = field(default_factory=list)


def infer_type(value: Any) -> str | None:
    """Return the type a plain value implies: str and list -> ``str``, else its Python type.

    ``bool`` is tested before ``int`` (``True`` is an ``int`` in Python). ``None`` and any other
    value (a dict given with ``-P``) have no declared type.
    """
    if isinstance(value, (str, list)):
        return "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return None

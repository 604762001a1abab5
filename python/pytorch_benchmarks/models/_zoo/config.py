"""``--model_config JSON``: settings that override a model's own, parsed from the command line.

Responsibility: turn the flag's text into a dict (a JSON object) or say in one line what is
wrong with it, and write settings back as text (:func:`config_label` for a model's title,
``exp.model_config``). It does not check the keys: the registry does, against the model's
config (``hf:`` models) or its builder's keyword arguments (zoo models). Imports no torch.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

EXAMPLE = '\'{"n_layer": 2}\''


class ModelConfigError(ValueError):
    """``--model_config`` is not a JSON object of finite settings (the message says why)."""


def parse_model_config(text: str) -> dict[str, Any]:
    """Parse a JSON object; anything else raises :class:`ModelConfigError`."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise ModelConfigError(f"{err}; give each key once") from None
    except json.JSONDecodeError as err:
        raise ModelConfigError(
            f"not JSON ({err.msg} at column {err.colno}): {text!r}; give a JSON object, e.g. "
            f"{EXAMPLE}") from None
    if not isinstance(value, dict):
        raise ModelConfigError(f"expected a JSON object, e.g. {EXAMPLE}; got {text!r}")
    bad = _non_finite(value)
    if bad is not None:
        raise ModelConfigError(f"{bad} is not a finite number (NaN and Infinity are "
                               "not settings a model can be measured with)")
    return value


class _DuplicateKey(ValueError):
    """A key given twice in one JSON object (``json.loads`` would keep the last silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: the object as a dict; a key given twice raises
    :class:`_DuplicateKey` naming the key and both values."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise _DuplicateKey(f"key {key!r} given twice ({compact_json(value[key])} and "
                                f"{compact_json(item)})")
        value[key] = item
    return value


def _non_finite(value: Any, path: str = "") -> str | None:
    """The first setting (``key``, ``key[0]``...) holding NaN or +-Infinity, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the value"
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path and isinstance(key, str)
                            else f"{path}[{key}]" if path else str(key))
        if found is not None:
            return found
    return None


def compact_json(value: Any) -> str:
    """``value`` as JSON without blanks: ``2``, ``0.5``, ``"gelu"``, ``[1,2]``."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def config_label(config: Mapping[str, Any]) -> str:
    """The settings of a modified model for its title, keys sorted and values compact:
    ``heads=4, layers=2`` (as in ``GPT-2 small (heads=4, layers=2)``)."""
    return ", ".join(f"{key}={compact_json(config[key])}" for key in sorted(config))

"""Keys given twice: in a JSON object (config, plan, ``-P``/``-E`` value) or a YAML mapping.

``json`` and PyYAML keep the last of two equal keys in silence, so a config that sets
``exp.model`` twice would run what its reader did not see. Here a JSON object is built by
``unique_object`` (an ``object_pairs_hook``) and a YAML document is composed, checked mapping by
mapping (nested, anchored and merged mappings included), then constructed. Either names the key
and both values.
"""
from __future__ import annotations

import json
from typing import Any

from dlbs.errors import ConfigError

#: Longest value shown in a message.
_SHOWN_VALUE = 80


class DuplicateKey(Exception):
    """A key given twice in one JSON object or YAML mapping (not a ``ValueError``: a ``-P``
    value that is not JSON is a plain string, but one with a duplicate key is an error)."""

    def __init__(self, key: Any, first: Any, second: Any, where: str = "") -> None:
        self.key, self.first, self.second = key, first, second
        super().__init__(f"key {shown_json(key)} is given twice in one {where or 'object'} "
                         f"({shown_json(first)}, then {shown_json(second)}); only one can "
                         f"hold: remove the other")


def shown_json(value: Any) -> str:
    """``value`` as JSON text (cut to ``_SHOWN_VALUE`` characters) for a message."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except (ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else f"{text[:_SHOWN_VALUE - 3]}..."


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: the object, or ``DuplicateKey`` for a key given twice (``json``
    would keep the last in silence)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise DuplicateKey(key, seen[key], value)
            seen[key] = value
    return result


def load_yaml_unique(yaml: Any, loader: Any, origin: str) -> Any:
    """Compose the document, refuse a key given twice in one mapping, then construct it."""
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_keys(yaml, loader, node, origin)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_yaml_keys(yaml: Any, loader: Any, root: Any, origin: str) -> None:
    """Refuse a key given twice in any mapping of the document (nested, anchored and merged
    mappings included; ``<<`` twice in one mapping too). A key that a merge (``<<: *base``)
    brings is not a duplicate: the mapping's own key overrides it, as YAML's merge key says,
    and of several merged mappings the first that has the key gives it."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # an alias: checked once
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_mapping_keys(yaml, loader, node, origin)
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _check_mapping_keys(yaml: Any, loader: Any, node: Any, origin: str) -> None:
    """Raise ``ConfigError`` naming the first key given twice in the mapping ``node``."""
    seen: dict[Any, tuple[Any, Any]] = {}
    for key_node, value_node in node.value:
        key = _yaml_key(yaml, loader, key_node)
        if key is None:
            continue
        if key in seen:
            mark = key_node.start_mark
            where = f"{origin}:{mark.line + 1}:{mark.column + 1}"
            first_key, first = seen[key]
            raise ConfigError(
                f"{where}: key {shown_json(key[1])} is given twice in one mapping (line "
                f"{first_key.start_mark.line + 1}: {_yaml_text(yaml, first)}, line "
                f"{mark.line + 1}: {_yaml_text(yaml, value_node)}); only one can hold: "
                "remove the other")
        seen[key] = (key_node, value_node)


def _yaml_key(yaml: Any, loader: Any, key_node: Any) -> tuple[str, Any] | None:
    """A scalar key as its constructed value (``yes`` and ``true`` are one key), ``<<`` as
    itself; None for a key that is a list or a mapping (not compared)."""
    if not isinstance(key_node, yaml.ScalarNode):
        return None
    if key_node.tag == _MERGE_TAG:
        return ("<<", "<<")
    try:
        value = loader.construct_object(key_node)
        hash(value)
    except (TypeError, ValueError, yaml.YAMLError):
        value = key_node.value
    return (type(value).__name__, value)


def _yaml_text(yaml: Any, node: Any) -> str:
    """A value for a message: a scalar's text (cut), else ``[...]`` or ``{...}``."""
    if isinstance(node, yaml.ScalarNode):
        return shown_json(node.value)
    return "[...]" if isinstance(node, yaml.SequenceNode) else "{...}"

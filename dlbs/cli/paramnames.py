"""Names a user sets in dlbs's namespaces that no config declares: a typo, or a variable of
their own.

DLBS lets configs add parameters, and its users pass variables of their own (``-Vexp.greeting``
read by a custom launcher), so an unknown name is not wrong in itself. But a name that no
config declares, that nothing refers to (no ``${name}``, ``param('name')`` or extension
condition in the loaded configs, plan or extensions) and that is a small edit away from a
declared name (``exp.replica_bacth``) is a typo: the value the user meant is silently not used
(``-V`` even doubles the grid). That is an error with "did you mean" (exit 2, a usage error like
a mistyped option), unless ``--allow-unknown``; any other unknown name is a warning, as before.

"A small edit away" is the optimal-string-alignment distance (Levenshtein plus the swap of two
neighbours, Damerau 1964, Commun. ACM 7(3)) between the names in lower case (``exp.MODEL`` and
``Exp.model`` are typos of ``exp.model``), within one namespace: at most 2,
and at most 1 where the last part of the name is 4 characters or fewer (``exp.env`` is not a
typo of ``exp.gpus``). ``tests/cli/test_unknown_names.py`` checks the rule on typos of every
declared name and on the names DLBS's own tutorials, recipes and docs set.

This module only reads names and values; it prints warnings and raises ``UsageError``.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from dlbs.engine import Config
from dlbs.errors import UsageError

#: Namespaces whose names dlbs declares (the first parts of the names of ``config/*.json``; a
#: test keeps the two alike): a name there that no config declares is a typo or a name of the
#: user's own. ``runtime.env.<NAME>`` names are the benchmark's environment, the user's own.
OWN_NAMESPACES = ("exp.", "pytorch.", "runtime.", "monitor.", "slurm.", "serve.", "sys.",
                  "accept.")
ENV_PREFIX = "runtime.env."
#: Most edits between a typo and the name meant, and the most for a short last part.
MAX_EDITS, MAX_EDITS_SHORT, SHORT = 2, 1, 4
#: ``${name}`` (a static reference: the innermost of ``${${a}.b}``) and ``param('name')``.
_REFERENCE = re.compile(r"\$\{([^${}]+)\}|\bparam\(\s*(['\"])([^'\"]+)\2\s*\)")

Origins = Sequence[tuple[str, Mapping[str, Any]]]


def edit_distance(a: str, b: str) -> int:
    """The optimal-string-alignment distance: insertions, deletions, substitutions and swaps
    of two neighbours (``bacth`` -> ``batch`` is 1) needed to turn ``a`` into ``b``."""
    previous: list[int] = []
    current = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[len(b)]


def closest_declared(name: str, declared: Iterable[str]) -> str | None:
    """The declared name ``name`` is likely a typo of (fewest edits, then the first in
    order), or None when none is close (:data:`MAX_EDITS`, in the same namespace) or
    ``name`` is a declared name with a suffix (``exp.model_2``, ``exp.greeting.extension``)."""
    # letter case is no edit: exp.MODEL and exp.Replica_Batch are exp.model and
    # exp.replica_batch typed with the wrong case (a declared name differing only in case
    # from another would still be told apart: the exact name is known, never judged)
    name = name.lower()
    namespace = name.split(".", 1)[0]
    limit = MAX_EDITS_SHORT if len(name.rsplit(".", 1)[-1]) <= SHORT else MAX_EDITS
    best: tuple[int, str] | None = None
    for other in declared:
        if other.split(".", 1)[0].lower() != namespace or abs(len(other) - len(name)) > limit:
            continue
        edits = edit_distance(name, other.lower())
        if edits <= limit and (best is None or edits < best[0]):
            best = (edits, other)
    if best is None or name.startswith((f"{best[1].lower()}_", f"{best[1].lower()}.")):
        return None  # a name built on the declared one (exp.model_2): made, not mistyped
    return best[1]


def referenced_names(values: Iterable[Any]) -> set[str]:
    """The names that ``${name}`` and ``param('name')`` refer to in ``values`` (strings, and
    lists and dicts of them, nested; dict keys too: an extension's condition names)."""
    found: set[str] = set()
    stack = list(values)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            for match in _REFERENCE.finditer(item):
                found.add(match.group(1) or match.group(3))
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def config_references(config: Config) -> set[str]:
    """Every name that something in the merged ``config`` refers to: references in values and
    the names extension conditions test."""
    names = referenced_names([config.parameters, config.variables])
    for ext in config.extensions:
        names |= set(ext["condition"])
        names |= referenced_names([ext["condition"], ext["parameters"], ext["cases"]])
    return names


def set_names(origins: Origins) -> Iterator[tuple[str, str]]:
    """``(origin, name)`` for every name each source sets: its parameters and variables, and
    its extensions' parameters and cases (a config file, ``-P``, ``-V``, ``-E``)."""
    for origin, raw in origins:
        for section in ("parameters", "variables"):
            for name in _mapping(raw.get(section)):
                yield origin, _nfkc(name)
        exts = raw.get("extensions")
        for index, ext in enumerate(exts if isinstance(exts, list) else []):
            if not isinstance(ext, Mapping):
                continue
            where = f"{origin}: extension #{index + 1}"
            cases = ext.get("cases")
            for values in [ext.get("parameters"), *(cases if isinstance(cases, list) else [])]:
                for name in _mapping(values):
                    yield where, _nfkc(name)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _nfkc(name: Any) -> str:
    """The name as the engine reads it (``dlbs.engine.names``: NFKC)."""
    return unicodedata.normalize("NFKC", name) if isinstance(name, str) else str(name)


def is_own(name: str) -> bool:
    """Whether ``name`` is in dlbs's namespaces, in any letter case (``Exp.model``), and not a
    ``runtime.env.`` variable (the benchmark's environment, in the case the user gives)."""
    return name.lower().startswith(OWN_NAMESPACES) and not name.startswith(ENV_PREFIX)


def check_unknown_names(config: Config, origins: Origins, *, allow_unknown: bool = False,
                        strict: bool = False, offers_allow: bool = True) -> None:
    """Raise ``UsageError`` on the first name ``origins`` set that looks like a typo of a
    declared one (unless ``allow_unknown``; with ``strict`` on any unknown name); warn on
    every other unknown name, once each. ``offers_allow``: whether the command has
    ``--allow-unknown`` for its error to name (``dlbs accept`` has not)."""
    declared = [n for n, spec in config.specs.items() if spec.desc]
    known = set(declared)
    referenced = config_references(config)
    seen: set[str] = set()
    for origin, name in set_names(origins):
        if name in seen or name in known or not is_own(name):
            continue
        seen.add(name)
        _judge(origin, name, declared, name in referenced, allow_unknown, strict,
               offers_allow)


def _judge(origin: str, name: str, declared: list[str], referenced: bool,
           allow_unknown: bool, strict: bool, offers_allow: bool = True) -> None:
    """Raise or warn about one unknown name (``check_unknown_names``)."""
    close = None if referenced else closest_declared(name, declared)
    where = f"{origin}: parameter '{name}' is not one dlbs knows"
    if close and not allow_unknown:
        keep = " (--allow-unknown keeps it as a name of your own)" if offers_allow else ""
        raise UsageError(f"{where} and nothing refers to it; did you mean '{close}'?{keep}")
    if strict:
        raise UsageError(f"{where} (--strict)")
    if close:
        why = f"; did you mean '{close}'? (kept: --allow-unknown)"
    elif referenced:
        why = " (something refers to it: kept as a variable of your own)"
    else:
        why = " (DLBS lets configs add parameters: it only matters if something refers to it)"
    print(f"warning: {where}{why}", file=sys.stderr)

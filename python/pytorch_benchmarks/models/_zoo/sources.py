"""The zoo's model sources read with ``ast``, without importing torch or any family.

Responsibility: parse the family modules of ``models/`` once and give, for each model a module
registers, its name, its ``register_model`` keywords and its builder's keyword settings, as
literals (module-level constants such as ``GPT2_VOCAB`` substituted). Two forms register a
model and both are read the same way:

* ``@register_model(title=..., ...)`` on a builder: its keywords, and the builder's keyword-only
  defaults as the settings;
* ``register_sizes(builder, SIZES, **shared)``: one builder registered under each name of a
  module-level table (torchtitan's flavours): a row's keywords, the shared ones, and the
  builder's keyword-only settings with the row's ``settings`` in place of its defaults, in the
  builder's order (the registry's own order: :func:`~.registry.register_sizes`).

:mod:`pytorch_benchmarks.models.names` (the names, for dlbs) and :mod:`.metadata` (the checked
metadata) both stand on it: the machinery below the models' modules, so that neither imports
the other. Standard library only.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

#: The models package (the families' folder).
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: The modules of ``models/`` that register no model.
NOT_FAMILIES = ("__init__.py", "names.py")
#: The registry's function that registers one builder under each size of a table.
SIZES_FUNCTION = "register_sizes"


def literal(node: ast.expr) -> Any:
    """The value of a literal expression; ``None`` for anything else."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None


def register_calls(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef,
                                                       ast.Call]]:
    """Every ``@register_model(...)`` decorator of a module, with the function it decorates."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and \
                        getattr(deco.func, "id", None) == "register_model":
                    yield node, deco


@lru_cache(maxsize=8)
def zoo_sources(models_dir: Path = PACKAGE_DIR) -> tuple[ast.Module, ...]:
    """The parsed model modules of the zoo in ``models_dir``, read once (a module that cannot
    be read or parsed is left out: the registry says what is wrong when it imports it)."""
    trees = []
    for path in sorted(Path(models_dir).glob("*.py")):
        if path.name in NOT_FAMILIES:
            continue
        try:
            trees.append(ast.parse(path.read_text(encoding="utf-8")))
        except (OSError, SyntaxError):
            continue
    return tuple(trees)


class _Constants(ast.NodeTransformer):
    """Replace names bound to module-level constants by their values."""

    def __init__(self, constants: Mapping[str, Any]) -> None:
        self.constants = constants

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.constants:
            return ast.copy_location(ast.Constant(self.constants[node.id]), node)
        return node


def constant_value(node: ast.expr, constants: Mapping[str, Any]) -> Any:
    """The literal value of ``node`` with the ``constants`` substituted; ``None`` otherwise."""
    return literal(_Constants(constants).visit(node))


def constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level ``NAME = literal`` and ``A, B = lit, lit`` (later ones see earlier)."""
    found: dict[str, Any] = {}
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, source = node.target, node.value  # ``NAME: type = literal``
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, source = node.targets[0], node.value
        else:
            continue
        value = constant_value(source, found)
        if value is None:
            continue
        if isinstance(target, ast.Name):
            found[target.id] = value
        elif isinstance(target, ast.Tuple) and isinstance(value, tuple) and \
                len(value) == len(target.elts):
            found.update({t.id: v for t, v in zip(target.elts, value)
                          if isinstance(t, ast.Name)})
    return found


@dataclass(frozen=True)
class Registration:
    """One model a module registers, as its source says (``name``: the decorator's ``name=``
    when it is a literal string, else the builder's name)."""

    name: str
    #: The ``register_model`` keywords that are literals (``None`` for one that is not).
    keywords: Mapping[str, Any] = field(default_factory=dict)
    #: The builder's keyword-only settings that are literals, in its order.
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def aliases(self) -> tuple[str, ...]:
        aliases = self.keywords.get("aliases")
        return tuple(a for a in aliases if isinstance(a, str)) if isinstance(aliases, tuple) \
            else ()


def _keywords(call: ast.Call, known: Mapping[str, Any]) -> dict[str, Any]:
    """A call's keywords as literals; ``**SHARED`` (a module-level dict literal) adds its own."""
    keywords: dict[str, Any] = {}
    for k in call.keywords:
        value = constant_value(k.value, known)
        if k.arg:
            keywords[k.arg] = value
        elif isinstance(value, dict):
            keywords.update(value)
    return keywords


def _defaults(node: ast.FunctionDef | ast.AsyncFunctionDef, known: Mapping[str, Any],
              given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The builder's keyword-only settings, in its order: ``given``'s value where it has one,
    else the default when that is a literal of constants."""
    given = given or {}
    found: dict[str, Any] = {}
    for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults):
        if arg.arg in given:
            found[arg.arg] = given[arg.arg]
        elif default is not None:
            value = constant_value(default, known)
            if value is not None:
                found[arg.arg] = value
    return found


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _size_calls(tree: ast.Module) -> Iterator[ast.Call]:
    """Every module-level ``register_sizes(...)`` call."""
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", None) == SIZES_FUNCTION:
            yield node.value


def _sized(call: ast.Call, known: Mapping[str, Any],
           functions: Mapping[str, ast.FunctionDef | ast.AsyncFunctionDef]
           ) -> Iterator[Registration]:
    """The models one ``register_sizes(builder, SIZES, **shared)`` registers."""
    if len(call.args) != 2:
        return
    builder = functions.get(getattr(call.args[0], "id", ""))
    table = constant_value(call.args[1], known)
    if not isinstance(table, dict):
        return
    shared = _keywords(call, known)
    for name, row in table.items():
        if not isinstance(name, str) or not isinstance(row, dict):
            continue
        own = dict(row)
        given = own.pop("settings", None)
        settings = _defaults(builder, known, given if isinstance(given, dict) else {}) \
            if builder is not None else {}
        yield Registration(name, {**shared, **own, "name": name}, settings)


def registrations(tree: ast.Module) -> list[Registration]:
    """Every model the module ``tree`` registers, in either form, in source order."""
    known = constants(tree)
    found: list[Registration] = []
    for node, deco in register_calls(tree):
        keywords = _keywords(deco, known)
        name = keywords.get("name")
        found.append(Registration(name if isinstance(name, str) else node.name, keywords,
                                  _defaults(node, known)))
    functions = _functions(tree)
    for call in _size_calls(tree):
        found += _sized(call, known, functions)
    return found

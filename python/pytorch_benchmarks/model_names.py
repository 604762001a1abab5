"""The zoo's model names without importing torch: read from the sources of ``models/``.

Every ``@register_model(...)`` decorator in ``pytorch_benchmarks/models/*.py`` is found with
``ast`` (standard library only, a few milliseconds): the name is the decorated function's name
or the decorator's ``name=``, plus its ``aliases=``. So ``validate`` and ``benchmarks.py`` can
refuse an unknown model, with "did you mean", before torch is imported, and the list can never
drift from the registry (a test compares the two).
"""
from __future__ import annotations

import ast
import difflib
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent / "models"


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _registered(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) ==
                    "register_model"):
                continue
            keywords = {k.arg: _literal(k.value) for k in deco.keywords if k.arg}
            name = keywords.get("name")
            names.append(name if isinstance(name, str) else node.name)
            aliases = keywords.get("aliases") or ()
            names += [a for a in aliases if isinstance(a, str)] if isinstance(aliases, tuple) \
                else []
    return names


@lru_cache(maxsize=8)
def model_names(models_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """Every registered name and alias of the zoo in ``models_dir`` (this package's by
    default), sorted."""
    found: list[str] = []
    for path in sorted(Path(models_dir).glob("*.py")):
        if path.name in ("__init__.py", "registry.py", "names.py"):
            continue
        try:
            found += _registered(ast.parse(path.read_text(encoding="utf-8")))
        except (OSError, SyntaxError):
            continue  # the registry will say what is wrong when it imports the module
    return tuple(sorted(set(found)))


def suggest(name: str, models_dir: Path = PACKAGE_DIR, limit: int = 3) -> list[str]:
    """The known names closest to ``name`` (for "did you mean")."""
    return difflib.get_close_matches(name.lower(), model_names(models_dir), n=limit, cutoff=0.5)


def unknown_model_message(name: str, models_dir: Path = PACKAGE_DIR) -> str | None:
    """``None`` when ``name`` is a model of the zoo in ``models_dir``; else one line saying
    what to do."""
    if name in model_names(models_dir):
        return None
    close = suggest(name, models_dir)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown model '{name}'; {hint}(benchmarks.py --list_models lists them)"

"""The zoo's model names without importing torch: read from the sources of ``models/``.

Every model registered in ``pytorch_benchmarks/models/*.py`` (an ``@register_model(...)``
decorator, or a ``register_sizes`` table) is found with ``ast`` by
:mod:`pytorch_benchmarks.models._zoo.sources` (standard library only, a few milliseconds): the
name is the decorated function's name or the decorator's ``name=`` (a table's key), plus its
``aliases=``. So ``validate`` and ``benchmarks.py`` can refuse an unknown model, with "did you
mean", before torch is imported, and the list can never drift from the registry (a test
compares the two).

Two more kinds of names are known without importing anything heavy:

* the models of other packages (``dlbs.models`` entry points,
  :mod:`pytorch_benchmarks.models._zoo.plugins`): the same scan of each entry point's module
  source, found without importing it; a module whose source shows no ``@register_model`` (a
  callable plugin, compiled code) gives the entry point's own name;
* ``hf:<model_type>``: the model types of the installed ``transformers`` read from its
  ``models/auto`` sources (the keys of ``CONFIG_MAPPING_NAMES``); when transformers is not
  installed here (it may be where the benchmark runs) every ``hf:`` name is accepted.
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
from functools import lru_cache
from pathlib import Path

from pytorch_benchmarks.models._zoo.plugins import entry_points
from pytorch_benchmarks.models._zoo.sources import PACKAGE_DIR, registrations, zoo_sources

HF_PREFIX = "hf:"
#: The transformers sources that define ``CONFIG_MAPPING_NAMES`` (4.x: the first; 5.x: both).
HF_MAPPING_FILES = ("configuration_auto.py", "auto_mappings.py")


def _registered(tree: ast.Module) -> list[str]:
    """The names and aliases the module ``tree`` registers."""
    return [name for reg in registrations(tree) for name in (reg.name, *reg.aliases)]


@lru_cache(maxsize=8)
def model_names(models_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """Every registered name and alias of the zoo in ``models_dir`` (this package's by
    default), sorted."""
    return tuple(sorted({name for tree in zoo_sources(models_dir) for name in _registered(tree)}))


@lru_cache(maxsize=8)
def zoo_model_names(models_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The registered names of the zoo in ``models_dir``, without aliases, sorted: what the
    registry's ``list_models()`` returns for the zoo (a test compares the two)."""
    return tuple(sorted({reg.name for tree in zoo_sources(models_dir)
                         for reg in registrations(tree)}))


def _module_source(module: str) -> Path | None:
    """The source file of ``module`` (``pkg.sub``), found without importing ``pkg``."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for folder in spec.submodule_search_locations or ():
        base = Path(folder, *rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@lru_cache(maxsize=1)
def plugin_names() -> tuple[str, ...]:
    """The names the ``dlbs.models`` entry points register, read from their modules' sources;
    an entry point whose source shows none gives its own name. Sorted."""
    found: list[str] = []
    for ep in entry_points():
        source = _module_source(ep.module)
        names: list[str] = []
        if source is not None:
            try:
                names = _registered(ast.parse(source.read_text(encoding="utf-8")))
            except (OSError, SyntaxError, ValueError):
                names = []
        found += names or [ep.name]
    return tuple(sorted(set(found)))


def _mapping_keys(tree: ast.Module, target: str) -> set[str]:
    """String keys given to ``target`` (``X = OrderedDict([("k", "v"), ...])``, ``{"k": ...}``,
    ``X.update({...})``) anywhere in ``tree``."""
    values: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == target
                                                for t in node.targets):
            values.append(node.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "update" and getattr(node.func.value, "id", None) == target):
            values += node.args
    keys: set[str] = set()
    for value in values:
        for node in ast.walk(value):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                keys |= {c.value for c in node.elts[:1]
                         if isinstance(c, ast.Constant) and isinstance(c.value, str)}
            elif isinstance(node, ast.Dict):
                keys |= {k.value for k in node.keys
                         if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys


@lru_cache(maxsize=1)
def hf_model_types() -> frozenset[str]:
    """The model types of the installed ``transformers``, from its sources (empty when it is
    not installed or its sources cannot be read: then nothing is refused)."""
    try:
        spec = importlib.util.find_spec("transformers")
    except (ImportError, ValueError):
        return frozenset()
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    auto = Path(next(iter(spec.submodule_search_locations))) / "models" / "auto"
    types: set[str] = set()
    for name in HF_MAPPING_FILES:
        try:
            types |= _mapping_keys(ast.parse((auto / name).read_text(encoding="utf-8")),
                                   "CONFIG_MAPPING_NAMES")
        except (OSError, SyntaxError, ValueError):
            continue
    return frozenset(types)


def known_names(models_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The zoo's names and aliases (:func:`model_names`) and the plugins' names, sorted."""
    return tuple(sorted({*model_names(models_dir), *plugin_names()}))


def suggest(name: str, models_dir: Path = PACKAGE_DIR, limit: int = 3) -> list[str]:
    """The known names closest to ``name`` (for "did you mean")."""
    return difflib.get_close_matches(name.lower(), known_names(models_dir), n=limit, cutoff=0.5)


def _unknown_hf_message(name: str) -> str | None:
    """``None`` for ``hf:<a model type of transformers>`` (any type when transformers is not
    installed here); else one line saying what to do."""
    model_type = name[len(HF_PREFIX):]
    if not model_type:
        return f"'{name}' names no model type; e.g. {HF_PREFIX}gpt2 or {HF_PREFIX}bert"
    types = hf_model_types()
    if not types or model_type in types:
        return None
    close = difflib.get_close_matches(model_type.lower(), sorted(types), n=3)
    hint = f"; did you mean {' or '.join(repr(HF_PREFIX + c) for c in close)}?" if close else ""
    return (f"unknown Hugging Face model type '{model_type}' in '{name}'{hint} (the types are "
            "the keys of transformers' CONFIG_MAPPING_NAMES, in lower case)")


def unknown_model_message(name: str, models_dir: Path = PACKAGE_DIR) -> str | None:
    """``None`` when ``name`` is a model of the zoo in ``models_dir``, of a plugin, or
    ``hf:<model_type>``; else one line saying what to do."""
    if name.startswith(HF_PREFIX):
        return _unknown_hf_message(name)
    if name in known_names(models_dir):
        return None
    close = suggest(name, models_dir)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (f"unknown model '{name}'; {hint}(benchmarks.py --list_models lists them; "
            f"{HF_PREFIX}<model_type> makes a Hugging Face model)")

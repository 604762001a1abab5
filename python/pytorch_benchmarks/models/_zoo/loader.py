"""The whole zoo, loaded: every family module of :mod:`pytorch_benchmarks.models`, then the
models of other packages (the ``dlbs.models`` entry points, :mod:`.plugins`).

Responsibility: importing this module registers every model, once. It imports every module of
the models package but its machinery (``_zoo``, found with :mod:`pkgutil`), so a new family
module registers its models just by existing: adding a model is a builder and a decorator. The
models package's ``__init__`` loads it on the first call of ``create_model``,
``get_model_info`` or ``list_models``.
"""
from __future__ import annotations

import importlib
import pkgutil

from pytorch_benchmarks.models._zoo.plugins import load_plugins
from pytorch_benchmarks.models._zoo.sources import PACKAGE_DIR

#: The models package, whose modules are the families (``_zoo`` is below them: it names the
#: package rather than import it, and imports the families only by name, here).
MODELS_PACKAGE = __name__.rsplit(".", 2)[0]


def _import_families() -> None:
    """Import every module of the models package (not its machinery, ``_zoo``) so that the
    builders in it register."""
    for module in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        if not module.name.startswith("_"):
            importlib.import_module(f"{MODELS_PACKAGE}.{module.name}")


_import_families()
load_plugins()  # models of other packages: the dlbs.models entry points (plugins.py)

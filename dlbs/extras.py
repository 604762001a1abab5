"""The optional parts of the install (``pyproject.toml``'s extras) and the one line a command
says when the part it needs is not installed.

The default install (``pip install -e .``) runs, reports and parses; the results database
(``--db``, ``dlbs db``, ``history``, ``regressions``) needs the ``db`` extra and the serving
client (``exp.phase=serve``) the ``client`` extra (sizes and times: docs/install.md). The CLI
turns a missing module of an extra into ``error: dlbs db: needs the database extra (sqlalchemy
is not installed): pip install -e '.[db]'`` (``.venv/bin/pip`` where that venv is not the
active one) and exit 1, never a traceback (:func:`dlbs.cli.main.dispatch`). This module
imports nothing but the standard library.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: top-level module -> the extra that installs it.
MODULES: dict[str, str] = {
    "sqlalchemy": "db",
    "alembic": "db",
    "psycopg": "db",
    "psycopg_binary": "db",
    "aiohttp": "client",
    "uvloop": "client",
}

#: extra -> what it is, as a message names it.
NAMES: dict[str, str] = {
    "db": "the database extra",
    "client": "the serving-client extra",
}


def extra_of(err: BaseException) -> str | None:
    """The extra whose module ``err`` (an ``ImportError``) failed to find, or None when it is
    not one of an extra's (then it is a real fault, and its traceback stands)."""
    if not isinstance(err, ModuleNotFoundError):
        return None
    return MODULES.get((err.name or "").split(".")[0])


def install_command(extra: str) -> str:
    """``pip install -e '.[db]'`` from this clone's root, else with the clone's path (``pip
    install 'dlbs[db]'`` where dlbs is not installed from a clone); the pip of the venv dlbs
    runs from (``.venv/bin/pip``) where that venv is not the active one."""
    root = Path(__file__).resolve().parents[1]
    try:
        cwd: Path | None = Path(os.getcwd()).resolve()
    except OSError:
        cwd = None
    pip = _pip(cwd)
    if not (root / "pyproject.toml").is_file():
        return f"{pip} install 'dlbs[{extra}]'"
    where = "." if cwd == root else str(root)
    return f"{pip} install -e '{where}[{extra}]'"


def _pip(cwd: Path | None) -> str:
    """``pip`` in the active venv (or outside any); else the path of this venv's pip,
    relative to ``cwd`` when under it (``.venv/bin/pip``)."""
    if sys.prefix == sys.base_prefix or os.environ.get("VIRTUAL_ENV") == sys.prefix:
        return "pip"
    pip = Path(sys.prefix) / "bin" / "pip"
    if not pip.is_file():
        return "pip"
    if cwd is not None and pip.is_relative_to(cwd):
        return str(pip.relative_to(cwd))
    return str(pip)


def missing_line(err: BaseException) -> str | None:
    """``needs the database extra (sqlalchemy is not installed): pip install -e '.[db]'``
    for a module of an extra that is missing; None for any other error."""
    extra = extra_of(err)
    if extra is None:
        return None
    module = (getattr(err, "name", "") or "").split(".")[0]
    return (f"needs {NAMES[extra]} ({module} is not installed): {install_command(extra)}")

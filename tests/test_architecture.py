"""The design's dependency boundaries (STYLE.md), checked on the source with ``ast``.

- ``dlbs/engine`` is pure: it imports only the standard library, ``dlbs.errors`` and ``regex``
  (a pure computation library: user regular expressions with a timeout), and it never
  touches files, the environment, processes or stdout.
- ``pytorch_benchmarks`` never imports ``dlbs`` (it runs in containers that only have torch).
- ``benchstats`` (the statistics of both programs) imports only the standard library and numpy;
  ``dlbs`` and the benchmark both may import it and ``safeio``, and ``dlbs`` takes from the
  benchmark only what needs no torch and is no statistics (the fact format, the model names).
- Dependencies point one way: ``cli -> runner, reports, logs, launchers -> engine``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)
IMPURE_MODULES = {"subprocess", "socket", "shutil", "io", "tempfile", "pathlib", "glob"}
IMPURE_CALLS = {"open", "print", "input", "exec", "eval", "compile", "__import__"}
#: Third-party packages the engine may import: ``regex`` (in ``bounded_re`` only) matches user
#: regular expressions with a timeout; it is a pure computation library, no I/O (issue 10).
ENGINE_THIRD_PARTY = {"regex"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _py_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _py_files("dlbs/engine"), ids=lambda p: p.name)
def test_engine_imports_only_stdlib_and_errors(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "dlbs":
            assert name == "dlbs.errors" or name.startswith("dlbs.engine"), f"{path}: {name}"
        else:
            allowed = (top in STDLIB and top not in IMPURE_MODULES) or top in ENGINE_THIRD_PARTY
            assert allowed, f"{path} imports {name}"


@pytest.mark.parametrize("path", _py_files("dlbs/engine"), ids=lambda p: p.name)
def test_engine_does_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IMPURE_CALLS, f"{path}:{node.lineno} calls {node.func.id}"
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "system"}:
            assert False, f"{path}:{node.lineno} uses os.{node.attr}"


@pytest.mark.parametrize("path", _py_files("python/pytorch_benchmarks"), ids=lambda p: p.name)
def test_benchmark_never_imports_dlbs(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] != "dlbs", f"{path} imports {name}"


LAYERS = {  # package -> dlbs packages it must not import
    "dlbs/engine": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.logs", "dlbs.launchers"),
    "dlbs/launchers": ("dlbs.cli", "dlbs.runner", "dlbs.reports"),
    "dlbs/logs": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.launchers"),
    "dlbs/reports": ("dlbs.cli", "dlbs.runner", "dlbs.launchers"),
    "dlbs/runner": ("dlbs.cli", "dlbs.reports"),
}


@pytest.mark.parametrize(
    "path,forbidden",
    [(p, forbidden) for folder, forbidden in LAYERS.items() for p in _py_files(folder)],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_dependencies_point_one_way(path: Path, forbidden: tuple[str, ...]) -> None:
    for name in _imports(path):
        assert not name.startswith(forbidden), f"{path} imports {name} (layering)"


@pytest.mark.parametrize("path", _py_files("dlbs/runner"), ids=lambda p: p.name)
def test_only_the_sweep_core_writes_run_logs(path: Path) -> None:
    """Executors are small pieces over one core: the header, trailer and rename are written
    once, in ``dlbs/runner/core.py`` (``runlog`` defines them)."""
    if path.name in ("core.py", "runlog.py"):
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"write_facts_to", "finish_log"}, \
                f"{path}:{node.lineno} writes a run log ({node.attr})"


@pytest.mark.parametrize("path", _py_files("python/safeio"), ids=lambda p: p.name)
def test_safeio_imports_only_the_standard_library(path: Path) -> None:
    """``safeio`` runs in the benchmark's bare containers and in ``dlbs``: stdlib only."""
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB, f"{path} imports {name}"


@pytest.mark.parametrize("path", _py_files("python/benchstats"), ids=lambda p: p.name)
def test_benchstats_imports_only_the_standard_library_and_numpy(path: Path) -> None:
    """``benchstats`` runs in the benchmark's containers and in ``dlbs``: it imports neither
    program, nor torch."""
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in STDLIB or top in {"numpy", "benchstats"}, f"{path} imports {name}"


#: What ``dlbs`` may take from the benchmark's package: modules that import no torch and hold
#: no statistics (those are ``benchstats``'s).
DLBS_MAY_IMPORT_FROM_BENCHMARK = {"pytorch_benchmarks.facts", "pytorch_benchmarks.models.names"}


@pytest.mark.parametrize("path", _py_files("dlbs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_dlbs_takes_only_the_fact_format_and_model_names_from_the_benchmark(path: Path) -> None:
    for name in _imports(path):
        if name.split(".")[0] == "pytorch_benchmarks":
            assert name in DLBS_MAY_IMPORT_FROM_BENCHMARK, f"{path} imports {name}"


#: The benchmark's command lines: the flags, parsed once into the typed spec (``options``), and
#: ``python -m pytorch_benchmarks.prepare``, a program of its own.
ARGPARSE_MODULES = {"options.py", "data/prepare.py"}


def _uses_argparse(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            found.append(f"line {node.lineno}: import argparse")
        elif isinstance(node, ast.ImportFrom) and node.module == "argparse":
            found.append(f"line {node.lineno}: from argparse import ...")
        elif isinstance(node, ast.Attribute) and node.attr == "Namespace" and \
                isinstance(node.value, ast.Name) and node.value.id == "argparse":
            found.append(f"line {node.lineno}: argparse.Namespace")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                "argparse.Namespace" in node.value and "\n" not in node.value:
            found.append(f"line {node.lineno}: a string annotation of argparse.Namespace")
    return found


@pytest.mark.parametrize("path", _py_files("python/pytorch_benchmarks"),
                         ids=lambda p: str(p.relative_to(ROOT / "python")))
def test_only_the_command_line_sees_argparse(path: Path) -> None:
    """Every module but the command line takes the part of the typed spec it needs (or plain
    values), never the parsed flag namespace."""
    if path.relative_to(ROOT / "python/pytorch_benchmarks").as_posix() in ARGPARSE_MODULES:
        return
    found = _uses_argparse(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{path}: {found}"

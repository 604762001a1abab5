"""The design's dependency boundaries (STYLE.md), checked on the source with ``ast``.

- ``dlbs/engine`` is pure: it imports only the standard library, ``dlbs.errors``, ``regex``
  (a pure computation library: user regular expressions with a timeout) and the parameter
  catalogue (``dlbs.params.catalogue``: the project's own declarations, standard library only),
  and it never touches files, the environment, processes or stdout.
- ``pytorch_benchmarks`` never imports ``dlbs`` (it runs in containers that only have torch).
- ``benchstats`` (the statistics of both programs) imports only the standard library and numpy;
  ``dlbs`` and the benchmark both may import it and ``safeio``, and ``dlbs`` takes from the
  benchmark only what needs no torch and is no statistics (the fact format, the model names).
- Dependencies point one way: ``cli -> runner, reports, logs, launchers -> experiment ->
  engine`` (``experiment`` imports only ``dlbs.errors`` and the catalogue); ``slurm``
  stands on ``launchers`` and the runner's contract (``job``, ``runlog``), and the runner reaches
  it only through ``executors`` (the factory) and ``status``.
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
#: The one module of dlbs outside the engine that the engine reads: the parameter catalogue,
#: which imports the standard library alone (issue 57).
CATALOGUE = "dlbs.params.catalogue"


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
            assert name in ("dlbs.errors", CATALOGUE) or name.startswith("dlbs.engine"), \
                f"{path}: {name}"
        else:
            allowed = (top in STDLIB and top not in IMPURE_MODULES) or top in ENGINE_THIRD_PARTY
            assert allowed, f"{path} imports {name}"


def test_the_catalogue_imports_only_the_standard_library() -> None:
    path = ROOT / (CATALOGUE.replace(".", "/") + ".py")
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB, f"{path} imports {name}"


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
    "dlbs/engine": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.logs", "dlbs.launchers",
                    "dlbs.slurm", "dlbs.experiment"),
    # the experiment view stands on dlbs.errors, the catalogue and the standard library alone
    "dlbs/experiment": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.logs", "dlbs.launchers",
                        "dlbs.slurm", "dlbs.engine", "dlbs.db", "dlbs.web", "dlbs.config",
                        "dlbs.planfile", "dlbs.redact", "dlbs.duplicates"),
    "dlbs/launchers": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.slurm"),
    "dlbs/logs": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.launchers", "dlbs.slurm"),
    "dlbs/reports": ("dlbs.cli", "dlbs.runner", "dlbs.launchers", "dlbs.slurm"),
    "dlbs/runner": ("dlbs.cli", "dlbs.reports", "dlbs.slurm", "dlbs.dispatch"),
    "dlbs/slurm": ("dlbs.cli", "dlbs.reports", "dlbs.db", "dlbs.web", "dlbs.dispatch"),
    # what identifies a run: read by the database, the reports and the runner alike
    "dlbs/params": ("dlbs.cli", "dlbs.runner", "dlbs.reports", "dlbs.logs", "dlbs.launchers",
                    "dlbs.slurm", "dlbs.engine", "dlbs.db", "dlbs.web", "dlbs.config",
                    "dlbs.dispatch", "dlbs.bisect", "dlbs.accept", "dlbs.planfile"),
}
#: What ``dlbs/slurm`` may take from the runner: the executor contract and the run log's files.
SLURM_MAY_IMPORT_FROM_RUNNER = {"dlbs.runner.job", "dlbs.runner.runlog"}
#: The runner's modules that may import ``dlbs/slurm``: none. The factory that makes its
#: executor and ``status`` (a job's record, Slurm's answer) live above both, in
#: ``dlbs/dispatch``; the sweep core reaches the executor only through the ``Executor`` protocol.
RUNNER_MAY_IMPORT_SLURM: set[str] = set()


@pytest.mark.parametrize(
    "path,forbidden",
    [(p, forbidden) for folder, forbidden in LAYERS.items() for p in _py_files(folder)],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_dependencies_point_one_way(path: Path, forbidden: tuple[str, ...]) -> None:
    for name in _imports(path):
        assert not name.startswith(forbidden), f"{path} imports {name} (layering)"


@pytest.mark.parametrize("path", _py_files("dlbs/slurm"), ids=lambda p: p.name)
def test_slurm_takes_only_the_contract_from_the_runner(path: Path) -> None:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for imported in _imported_modules(name, path, _module_files()):
        if imported.startswith("dlbs.runner"):
            assert imported in SLURM_MAY_IMPORT_FROM_RUNNER, f"{path} imports {imported}"


@pytest.mark.parametrize("path", _py_files("dlbs/runner"), ids=lambda p: p.name)
def test_the_runner_reaches_slurm_only_through_the_factory(path: Path) -> None:
    if path.name in RUNNER_MAY_IMPORT_SLURM:
        return
    for name in _imports(path):
        assert not name.startswith("dlbs.slurm"), \
            f"{path} imports {name} (use dlbs.dispatch.executors)"


@pytest.mark.parametrize("path", _py_files("dlbs/runner") + _py_files("dlbs/slurm"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_sweep_core_writes_run_logs(path: Path) -> None:
    """Executors are small pieces over one core: the header, trailer and rename are written
    once, in ``dlbs/runner/core.py`` (``runlog`` defines them)."""
    if path.relative_to(ROOT).as_posix() in ("dlbs/runner/core.py", "dlbs/runner/runlog.py"):
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"write_facts_to", "finish_log"}, \
                f"{path}:{node.lineno} writes a run log ({node.attr})"


#: The readers of a parameter value that may still be a string: one home, imported from it.
VALUE_READERS = frozenset({"as_arg", "as_bool", "as_int", "as_float", "split_words"})


@pytest.mark.parametrize("path", _py_files("dlbs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_value_readers_come_from_their_one_home(path: Path) -> None:
    """``as_bool``, ``as_int``... are imported from ``dlbs.experiment.values`` only (not from
    ``dlbs.launchers.command`` or the package, as before issue 33): the runner, Slurm and the
    launchers read the Experiment view, and a value the view has no field for with these."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "dlbs.experiment.values":
            readers = VALUE_READERS & {alias.name for alias in node.names}
            assert not readers, (f"{path}:{node.lineno} imports {', '.join(sorted(readers))} "
                                 f"from {node.module}; use dlbs.experiment.values")


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
#: ``preflight`` (issue 20): validate asks the benchmark's own torch-free checks what it would
#: refuse, rather than keep a copy of them (tests/cli/test_validate_asks_the_benchmark.py
#: proves it imports no torch).
DLBS_MAY_IMPORT_FROM_BENCHMARK = {"pytorch_benchmarks.facts", "pytorch_benchmarks.models.names",
                                  "pytorch_benchmarks.preflight"}


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


# --- no import circles ---------------------------------------------------------------------------

def _module_files() -> dict[str, Path]:
    """Every module of ``dlbs`` and of ``python/`` (the benchmark, benchstats, safeio), by its
    dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for base, folder in ((ROOT, ROOT / "dlbs"), (ROOT / "python", ROOT / "python")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports anywhere in its body (at module level, in
    functions, under ``TYPE_CHECKING``): ``from pkg import sub`` is an import of ``pkg.sub``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] +
                                ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            out.update(subs)
            if base in modules and len(subs) < len(node.names):
                out.add(base)
    out.discard(name)
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_module_imports_itself_through_others() -> None:
    """No two modules import each other, directly or in a ring, anywhere in ``dlbs`` or
    ``python/``: a function-level import is an import too (it only hides the circle)."""
    modules = _module_files()
    graph = {name: _imported_modules(name, path, modules) for name, path in modules.items()}
    circles = _circles(graph)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_circle_check_finds_a_ring() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


#: The benchmark's folders, each with the folders (and entry modules) it must not import:
#: layers (what the model families share) lie under the models; models, data and runtime are
#: the ground floor; measure stands on runtime; the run on all three; only the entry point
#: (``benchmarks.py``) wires the measurements to the run. The output side (reporter, display,
#: stdout guard) stands apart: it takes plain facts, imports none of the floors, and none of
#: them imports it.
BENCHMARK_LAYERS = {
    "layers": ("models", "run", "runtime", "data", "measure", "benchmarks", "options",
               "output"),
    "models": ("run", "runtime", "data", "measure", "benchmarks", "options", "output"),
    "data": ("run", "runtime", "models", "layers", "measure", "benchmarks", "options",
             "output"),
    "runtime": ("run", "models", "layers", "data", "measure", "benchmarks", "options",
                "output"),
    "measure": ("run", "models", "layers", "data", "benchmarks", "options", "output"),
    "run": ("measure", "benchmarks", "options", "output"),
    # torch-free plans (the memory plan): on the spec only; checks, preflight and run use it
    "plan": ("run", "runtime", "models", "layers", "data", "measure", "benchmarks", "options",
             "output", "checks", "preflight"),
    "output": ("run", "runtime", "models", "layers", "data", "measure", "benchmarks", "options",
               "checks", "preflight"),
}


@pytest.mark.parametrize(
    "path,forbidden",
    [(p, forbidden) for folder, forbidden in BENCHMARK_LAYERS.items()
     for p in _py_files(f"python/pytorch_benchmarks/{folder}")],
    ids=lambda v: str(v.relative_to(ROOT / "python")) if isinstance(v, Path) else "")
def test_the_benchmark_folders_import_downwards(path: Path, forbidden: tuple[str, ...]) -> None:
    banned = tuple(f"pytorch_benchmarks.{name}" for name in forbidden)
    for name in _imports(path):
        assert not (name in banned or name.startswith(tuple(b + "." for b in banned))), \
            f"{path} imports {name} (layering)"


@pytest.mark.parametrize("path", _py_files("python/pytorch_benchmarks/output"),
                         ids=lambda p: p.name)
def test_the_output_side_imports_no_torch(path: Path) -> None:
    """The reporter, the display and the stdout guard take plain facts: the standard library,
    ``safeio``, the fact format and each other only (a failure is reported with torch half
    imported, or before it is)."""
    allowed = ("pytorch_benchmarks.facts", "pytorch_benchmarks.output")
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB | {"safeio"} or name.startswith(allowed), \
            f"{path} imports {name}"


#: The zoo's machinery (``models/_zoo``) lies under the models' own modules (the families and
#: ``names``, which stand on it): it may import only itself (issue 57: ``_zoo/metadata`` read the
#: sources through ``names``, which imports ``_zoo/plugins``, a circle between the two floors).
ZOO_MACHINERY = "pytorch_benchmarks.models._zoo"


def _zoo_imports_above(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """The modules of ``models/`` outside ``_zoo`` that the ``_zoo`` module ``name`` imports."""
    return sorted(m for m in _imported_modules(name, path, modules)
                  if (m + ".").startswith("pytorch_benchmarks.models.")
                  and not (m + ".").startswith(ZOO_MACHINERY + "."))


def test_the_zoo_machinery_imports_nothing_of_the_models_above_it() -> None:
    modules = _module_files()
    zoo = {name: path for name, path in modules.items()
           if (name + ".").startswith(ZOO_MACHINERY + ".")}
    assert len(zoo) >= 7, sorted(zoo)
    for name, path in zoo.items():
        assert not _zoo_imports_above(name, path, modules), \
            f"{path} imports {_zoo_imports_above(name, path, modules)} (layering: _zoo is under " \
            "models/; move what both need into _zoo)"


@pytest.mark.parametrize("line, found", [
    ("from pytorch_benchmarks.models.names import zoo_sources", "pytorch_benchmarks.models.names"),
    ("from pytorch_benchmarks import models", "pytorch_benchmarks.models"),
    ("from .. import names", "pytorch_benchmarks.models.names"),
    ("from . import sources", None),
])
def test_the_zoo_layer_check_refuses_an_import_from_above(tmp_path: Path, line: str,
                                                          found: str | None) -> None:
    path = tmp_path / "metadata.py"
    path.write_text(line + "\n", encoding="utf-8")
    above = _zoo_imports_above(f"{ZOO_MACHINERY}.metadata", path, _module_files())
    assert above == ([found] if found else [])


#: The most loose modules the benchmark's package root may hold besides ``__init__.py`` (issue
#: 33): the rest live in the folders, each one concern.
MAX_LOOSE_BENCHMARK_MODULES = 8


def test_the_benchmark_root_holds_few_loose_modules() -> None:
    loose = sorted(p.stem for p in (ROOT / "python" / "pytorch_benchmarks").glob("*.py")
                   if p.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE_BENCHMARK_MODULES, (
        f"python/pytorch_benchmarks holds {len(loose)} loose modules ({', '.join(loose)}); "
        f"at most {MAX_LOOSE_BENCHMARK_MODULES}: put the new one in the folder of its concern")


@pytest.mark.parametrize("name", ["spec.py", "errors.py", "facts.py"])
def test_the_spec_the_error_and_the_fact_format_import_only_the_standard_library(
        name: str) -> None:
    for imported in _imports(ROOT / "python" / "pytorch_benchmarks" / name):
        assert imported.split(".")[0] in STDLIB, f"{name} imports {imported}"


def test_the_max_batch_search_is_pure() -> None:
    """Which batch to probe next is arithmetic over a prober (issue 57): ``searches`` imports
    only the pure standard library (no torch, no ``/proc`` reader, no process), calls no
    ``open``, and the probers and limits it stands apart from are not its imports."""
    path = ROOT / "python" / "pytorch_benchmarks" / "run" / "maxbatch" / "searches.py"
    impure = IMPURE_MODULES | {"os", "resource", "mmap", "signal", "select", "ctypes", "gc"}
    for imported in _imports(path):
        top = imported.split(".")[0]
        assert top in STDLIB and top not in impure, f"{path.name} imports {imported}"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IMPURE_CALLS, \
                f"{path.name}:{node.lineno} calls {node.func.id}"


# --- the document describes the code as it is ------------------------------------------------

#: Folders whose every module ``docs/architecture.md`` must name (the others are named as a
#: package: their modules are described in their own docstrings).
NAMED_MODULES = ("dlbs", "dlbs/runner", "dlbs/slurm", "dlbs/dispatch", "dlbs/web",
                 "python/pytorch_benchmarks",
                 "python/pytorch_benchmarks/output", "python/pytorch_benchmarks/layers",
                 "python/pytorch_benchmarks/models/_zoo", "python/benchstats", "dlbs/db")


def _architecture_words() -> set[str]:
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_./]*", text)) | set(
        re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _packages() -> list[str]:
    return sorted(str(init.parent.relative_to(ROOT)) for top in ("dlbs", "python")
                  for init in (ROOT / top).rglob("__init__.py"))


@pytest.mark.parametrize("package", _packages())
def test_the_architecture_document_names_every_package(package: str) -> None:
    """A package the document does not name is code nobody described (issue 33)."""
    words = _architecture_words()
    name = package.removeprefix("python/")
    assert {name, f"{name}/", package, f"{package}/"} & words or \
        name.rsplit("/", 1)[-1] + "/" in words, (
        f"docs/architecture.md does not name the package {package}: add it to 'The rooms'")


@pytest.mark.parametrize("folder", NAMED_MODULES)
def test_the_architecture_document_names_every_module_of_the_core_folders(folder: str) -> None:
    words = _architecture_words()
    missing = [p.stem for p in sorted((ROOT / folder).glob("*.py"))
               if p.stem != "__init__" and p.stem not in words and p.name not in words]
    assert not missing, f"docs/architecture.md does not name {folder}: {', '.join(missing)}"


SERVING_ALLOWED = {"aiohttp", "uvloop", "benchstats", "safeio", "serving"}


@pytest.mark.parametrize("path", _py_files("python/serving"), ids=lambda p: p.name)
def test_the_serving_client_imports_neither_torch_nor_dlbs_nor_the_benchmark(path: Path) -> None:
    """The load client runs where only a client is installed: the standard library, aiohttp
    (uvloop where installed), benchstats and safeio (the tiny model maker alone builds a model, for the test server)."""
    extra = {"torch", "transformers", "tokenizers"} if path.name == "tinymodel.py" else set()
    if path.name == "arrivals.py":  # numpy inside one function, for serve.arrivals vllm only
        extra = {"numpy"}           # (vllm bench serve's generator); without it, one line
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in STDLIB or top in SERVING_ALLOWED | extra, f"{path} imports {name}"


#: Folders of the launch side: their functions take the typed ``Experiment``, never its dict
#: (and ``dlbs/dispatch``, which decides a plan's executor and reads its status above them).
LAUNCH_SIDE = ("dlbs/launchers", "dlbs/runner", "dlbs/slurm", "dlbs/dispatch")
#: The modules that may name ``ExperimentLike`` (an experiment's dict or its view): its
#: definition and ``Experiment.of``, and the runner's sweep (``Runner.run``, which the CLI and
#: tests hand dicts). Anywhere else a function takes ``Experiment``, made where the dict enters.
EXPERIMENT_LIKE_MAY_BE_NAMED = {"dlbs/experiment/view.py", "dlbs/experiment/__init__.py",
                                "dlbs/runner/core.py"}
#: Names a launch-side parameter holding one experiment, or several, goes by.
EXPERIMENT_PARAMETERS = frozenset({"exp", "source", "experiment", "view", "experiments", "views"})
#: The boundaries where a plan's experiment dicts enter the launch side (each made an
#: ``Experiment`` there, once): the runner's sweep, which the CLI and tests hand dicts; and
#: ``dispatch/device``, which rewrites the plan's dicts before they are built (``exp.gpus`` ''
#: on a host without a GPU) and returns dicts.
DICT_BOUNDARIES = {("dlbs/runner/core.py", "Runner.run"),
                   ("dlbs/dispatch/device.py", "falls_back"),
                   ("dlbs/dispatch/device.py", "on_this_host")}


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function of a module by qualified name (``Class.method``)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
    visit(tree, "")
    return found


def _dict_experiment_parameters(path: Path, relative: str) -> list[str]:
    """``relative:line name(parameter: annotation)`` of each parameter of ``path`` annotated
    ExperimentLike, or one holding experiments (by its name) annotated as a Mapping or dict."""
    found = []
    for name, function in _functions(ast.parse(path.read_text(encoding="utf-8"))):
        if (relative, name) in DICT_BOUNDARIES:
            continue
        arguments = function.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            if argument.annotation is None:
                continue
            text = ast.unparse(argument.annotation)
            words = {node.id for node in ast.walk(argument.annotation) if isinstance(node, ast.Name)}
            words |= {node.attr for node in ast.walk(argument.annotation)
                      if isinstance(node, ast.Attribute)}
            if isinstance(argument.annotation, ast.Constant):  # a string annotation
                words |= set(str(argument.annotation.value).replace("[", " ").replace("]", " ")
                             .replace("|", " ").replace(",", " ").split())
            dict_like = {"Mapping", "MutableMapping", "dict", "Dict"} & words
            if "ExperimentLike" in words or (argument.arg in EXPERIMENT_PARAMETERS and dict_like):
                found.append(f"{relative}:{function.lineno} {name}({argument.arg}: {text})")
    return found


@pytest.mark.parametrize("folder", LAUNCH_SIDE)
def test_the_launch_side_takes_only_the_experiment(folder: str) -> None:
    """Issue 57 item 1: a launch-side function takes ``Experiment``, not ``ExperimentLike`` nor
    an experiment's dict; the dict becomes an Experiment once, where a plan enters (the
    runner's sweep, ``DICT_BOUNDARIES``; the CLI and ``dlbs.dispatch`` outside these folders)."""
    found = [line for path in _py_files(folder)
             for line in _dict_experiment_parameters(path, str(path.relative_to(ROOT)))]
    assert not found, "take Experiment (make it with Experiment.of where the dict enters):\n" + \
        "\n".join(found)


def _names_experiment_like(path: Path) -> list[int]:
    """The lines of ``path`` that name ``ExperimentLike``: a name, an attribute, an import,
    or a string annotation (a docstring that mentions it is no use of it)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        annotation = isinstance(node, ast.arg) and isinstance(node.annotation, ast.Constant)
        named = (isinstance(node, ast.Name) and node.id == "ExperimentLike"
                 or isinstance(node, ast.Attribute) and node.attr == "ExperimentLike"
                 or isinstance(node, ast.alias) and node.name == "ExperimentLike"
                 or annotation and "ExperimentLike" in str(node.annotation.value))  # type: ignore
        if named:
            lines.append(getattr(node, "lineno", 0))
    return lines


def test_experiment_like_is_named_only_where_a_plan_enters() -> None:
    """Issue 57 item 1: ``ExperimentLike`` left ``dlbs/dispatch`` and ``cli/validate``; it may
    not come back anywhere in ``dlbs/`` but :data:`EXPERIMENT_LIKE_MAY_BE_NAMED`."""
    found = [f"{path.relative_to(ROOT)}:{line}" for path in _py_files("dlbs")
             if str(path.relative_to(ROOT)) not in EXPERIMENT_LIKE_MAY_BE_NAMED
             for line in _names_experiment_like(path)]
    assert not found, "take Experiment (Experiment.of where the dict enters):\n" + \
        "\n".join(found)


def test_the_experiment_like_scan_finds_each_form(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from dlbs.experiment import ExperimentLike\n"
                     "import dlbs.experiment as e\n"
                     "def a(x: e.ExperimentLike) -> None: ...\n"
                     "def b(x: 'ExperimentLike') -> None: ...\n"
                     'def c(x: Experiment) -> None:\n    """Not an ExperimentLike."""\n',
                     encoding="utf-8")
    assert sorted(set(_names_experiment_like(probe))) == [1, 3, 4]


def test_the_launch_side_check_finds_a_dict_parameter(tmp_path: Path) -> None:
    """The scan above sees each form it refuses (and not an Experiment, nor other mappings)."""
    text = ("from collections.abc import Mapping, Sequence\n"
            "def a(exp: ExperimentLike) -> None: ...\n"
            "class B:\n    def b(self, source: 'Mapping[str, Any]') -> None: ...\n"
            "def c(experiments: Sequence[dict[str, Any]]) -> None: ...\n"
            "def d(exp: Experiment, env: Mapping[str, str]) -> None: ...\n")
    probe = tmp_path / "probe.py"
    probe.write_text(text, encoding="utf-8")
    found = [line.split(" ", 1)[1] for line in _dict_experiment_parameters(probe, "probe.py")]
    assert found == ["a(exp: ExperimentLike)", "B.b(source: 'Mapping[str, Any]')",
                     "c(experiments: Sequence[dict[str, Any]])"]

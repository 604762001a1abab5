"""Parameter names are declared once, in config/*.json, and their tables computed by
``dlbs.params.catalogue`` (issue 57): no new module-level table of parameter names outside
``dlbs/params/``, and the launch side's parameter-name literals counted.

Every table that was left outside (14 on 2026-11-29) is now computed from a role or an
attribute declared in config/*.json (tests/params/test_derived_tables.py shows each equals the
table it replaced); what a module still declares beside one is the facts a run logs that are
no parameter (``hw.*``, ``results.*``...), which this rule does not count. The ceiling records
today's count honestly: a count that falls lowers it (the test says so). Run as a script
(``.venv/bin/python tests/params/test_tables.py``) it prints the tables and the count.
"""
from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A module-level table is a tuple, list, set, dict (or a call over one) holding at least this
#: many string literals that are parameter names.
TABLE_SIZE = 3
#: The launch side: where an experiment becomes a command and a run.
LAUNCH_SIDE = ("dlbs/launchers", "dlbs/runner", "dlbs/slurm", "dlbs/experiment")
#: Parameter-name literals on the launch side today (issue 57 counted 299 with dlbs/slurm/,
#: 191 before the catalogue, 151 with its flags, 126 with its memory kind and load series, 122
#: with the device choosers, 110 with SlurmSettings read by its fields, 27 with the
#: Experiment's typed groups read from the parameters the catalogue declares for their fields,
#: 22 with preflight's computed flags declared with their parameters, 4 with Slurm's checks
#: and the progress lines naming a field's parameter from the catalogue, 0 with sbatch's value
#: forms read from each slurm.* parameter's declared ``form``);
#: the goal is at most GOAL. Only falls.
LITERAL_CEILING = 0
GOAL = 150


def parameter_names() -> set[str]:
    """Every parameter config/*.json declares (read here as data: the test's own reading)."""
    names: set[str] = set()
    for path in (ROOT / "config").glob("*.json"):
        names |= set(json.loads(path.read_text(encoding="utf-8"))["parameters"])
    return names


def _name_literals(node: ast.AST, names: set[str]) -> int:
    return sum(1 for n in ast.walk(node)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names)


def tables_in(source: str, names: set[str]) -> Iterator[str]:
    """The names of ``source``'s module-level tables of parameter names."""
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else \
            node.target if isinstance(node, ast.AnnAssign) else None
        if not isinstance(target, ast.Name) or node.value is None:  # type: ignore[union-attr]
            continue
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, (ast.Constant, ast.Name, ast.Attribute, ast.JoinedStr)):
            continue
        if _name_literals(value, names) >= TABLE_SIZE:
            yield target.id


def module_tables(names: set[str]) -> Iterator[str]:
    """``module:NAME`` of every module-level table of parameter names outside dlbs/params/."""
    for path in sorted((ROOT / "dlbs").rglob("*.py")):
        if path.relative_to(ROOT).parts[:2] == ("dlbs", "params"):
            continue
        for table in tables_in(path.read_text(encoding="utf-8"), names):
            yield f"{path.relative_to(ROOT).as_posix()}:{table}"


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, kinds) and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}


def launch_side_literals(names: set[str]) -> dict[str, int]:
    """Module -> its string literals that are parameter names (docstrings not counted)."""
    counts: dict[str, int] = {}
    for folder in LAUNCH_SIDE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docs = _docstrings(tree)
            count = sum(1 for n in ast.walk(tree)
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)
                        and n.value in names and id(n) not in docs)
            if count:
                counts[path.relative_to(ROOT).as_posix()] = count
    return counts


def test_no_module_level_table_of_parameter_names_outside_the_catalogue() -> None:
    found = sorted(module_tables(parameter_names()))
    assert not found, (f"module-level tables of parameter names outside dlbs/params/: {found}; "
                       "declare the role in config/*.json and compute the table in "
                       "dlbs.params.catalogue (facts that are no parameter may stay)")


def test_the_scan_finds_each_form_of_table_and_not_logged_facts() -> None:
    names = {"exp.model", "exp.phase", "exp.dtype"}
    source = """
A = ("exp.model", "exp.phase", "exp.dtype")
B: dict[str, str] = {"exp.model": "model", "exp.phase": "phase", "exp.dtype": "precision"}
C = frozenset({"exp.model", "exp.phase", *("exp.dtype",)})
D = {"models": ("exp.model",), "phases": ("exp.phase",), "dtypes": ("exp.dtype",)}
LOGGED = {"hw.hostname": "host", "results.status": "status", "exp.model": "model"}
DERIVED = tuple(catalogue.layout())
ONE = "exp.model"
"""
    assert list(tables_in(source, names)) == ["A", "B", "C", "D"]


def test_launch_side_parameter_literals_do_not_grow() -> None:
    total = sum(launch_side_literals(parameter_names()).values())
    print(f"launch-side parameter-name literals: {total} (goal {GOAL})")
    assert total <= LITERAL_CEILING, f"{total} parameter-name literals on the launch side, " \
        f"over {LITERAL_CEILING}: read the name from the catalogue or the Experiment"
    assert total == LITERAL_CEILING, f"{total} now: lower LITERAL_CEILING to it"


if __name__ == "__main__":
    NAMES = parameter_names()
    for found in module_tables(NAMES):
        print("table", found)
    COUNTS = launch_side_literals(NAMES)
    for module, n in sorted(COUNTS.items(), key=lambda item: -item[1]):
        print(f"{n:4d} {module}")
    print(f"launch-side parameter-name literals: {sum(COUNTS.values())} (goal {GOAL})")

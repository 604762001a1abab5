"""dlbs.logs must not import dlbs.reports (parsing never depends on reporting)."""
from __future__ import annotations

import ast
from pathlib import Path

import dlbs.logs

LOGS = Path(dlbs.logs.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_logs_does_not_import_reports_or_pandas() -> None:
    for path in sorted(LOGS.glob("*.py")):
        bad = {n for n in _imports(path) if n.startswith(("dlbs.reports", "dlbs.cli", "pandas"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"

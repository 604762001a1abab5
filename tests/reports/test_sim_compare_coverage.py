"""``scripts/sim_compare.py --coverage`` (the table of docs/measurements/report-statistics.md on
the compare interval)
measures the report's own intervals: with sessions 2% apart the interval shown covers the true
ratio 1 in every cell, the runs' own interval (no session variance) in far fewer."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import dlbs


def _script() -> ModuleType:
    path = dlbs.PROJECT_ROOT / "scripts" / "sim_compare.py"
    spec = importlib.util.spec_from_file_location("sim_compare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_interval_shown_covers_a_fixed_session_offset_the_runs_own_does_not() -> None:
    sim = _script()
    case = next(c for c in sim.COVERAGE_CASES
                if c.session_fixed == 0.02 and c.run_cv == 0.01)
    without, shown = sim.coverage(case, tables=10, seed=3)
    assert shown == 1.0
    assert without < 0.9

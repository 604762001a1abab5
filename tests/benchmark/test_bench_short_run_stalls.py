"""The pure parts of ``benchmarks/bench_short_run_stalls.py`` (issue 56): one interval cell
counts what it says, and the report puts old and new side by side. Seeded and small; the
tables come from the script itself (docs/reliability.md)."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_short_run_stalls.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_short_run_stalls", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_an_interval_cell_counts_given_covered_and_why_not(bench: ModuleType) -> None:
    rows = 100.0 + np.random.default_rng(0).normal(0, 5, (30, 120))
    rows[:5, :] = 100.0 + np.linspace(0, 30, 120)  # five drifting runs: not steady
    cell = bench.interval_cell("mixed", rows, 100.0)
    withheld = sum(cell["reasons"].values())
    assert cell["count"] == 30 and cell["given"] + withheld == 30
    assert cell["reasons"].get("not steady", 0) >= 5 and cell["covered"] <= cell["given"]
    low, high = cell["coverage_ci"]
    assert low <= cell["covered"] / cell["given"] <= high


def _cell(case: str, given: int, covered: int) -> dict[str, object]:
    return {"case": case, "n": 100, "count": 100, "given": given, "covered": covered,
            "coverage_ci": (0.5, 0.9), "reasons": {"heavy tails": 100 - given}}


def test_the_report_puts_old_and_new_side_by_side(bench: ModuleType) -> None:
    quiet = {"target": 0.05, "fixed": 120, "adaptive_mean": 118.0, "ratio": 118 / 120}
    stop = {"met": 10, "covered": 9, "coverage_ci": (0.6, 0.98), "median_n": 1200}
    new = {"intervals": [_cell("t3", 80, 76)], "quiet": [quiet],
           "stalls": stop, "sweep": {"fixed_count": 380, "ratio": 0.35}}
    old = {"intervals": [_cell("t3", 10, 3)], "quiet": [{**quiet, "ratio": 1.5}],
           "stalls": stop, "sweep": {"fixed_count": 380, "ratio": 0.56}}
    text = bench.report(new, old)
    assert "| t3 | 100 | 10.0% / 30.0% [50.0%, 90.0%] | 80.0% / 95.0% [50.0%, 90.0%] |" in text
    assert "| 1.50 (118 / 120) | 0.98 (118 / 120) |" in text
    assert "| 0.560 (fixed count 380) | 0.350 (fixed count 380) |" in text
    assert not math.isnan(bench.wilson(9, 10)[0])


def test_the_holes_processes_have_the_truth_they_say(bench: ModuleType) -> None:
    """``hole_rows``: the mean of many long series is the truth each process states (stalls
    in bursts and fading stalls included), 2% of iterations start a stall or lie in a burst,
    and a burst is 4 stalled iterations in a row; the drift's truth is its end level."""
    for kind in ("stalls", "bursts", "decaying"):
        rows, truth = bench.hole_rows(kind, 0.05, 2000, 100, seed=7)
        assert abs(rows.mean() / truth - 1.0) < 0.01, (kind, rows.mean(), truth)
    rows, _ = bench.hole_rows("bursts", 0.05, 2000, 100, seed=8)
    slow = rows > 200.0
    assert abs(slow.mean() - 0.02) < 0.003
    starts = slow[:, 1:] & ~slow[:, :-1]
    ends = ~slow[:, 1:] & slow[:, :-1]
    assert 3.5 < slow[:, 1:-1].sum() / max(starts.sum(), ends.sum()) < 4.5
    rows, truth = bench.hole_rows("drift", 0.03, 400, 200, seed=9)
    assert truth == 105.0 and abs(rows[:, -40:].mean() - 104.5) < 0.5

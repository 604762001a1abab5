"""The pure parts of ``benchmarks/bench_time_to_precision.py``: the fixed count from a pilot
(block bootstrap, required count, the sweep's one count) and the simulation mode.

Seeded and small (a few dozen series); the tables come from the script itself.
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_time_to_precision.py"


@pytest.fixture(scope="module")
def ttp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_time_to_precision", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_block_bootstrap_draws_wrapped_runs_of_consecutive_pilot_values(ttp: ModuleType) -> None:
    pilot = np.arange(10.0)
    rows = ttp.block_bootstrap(pilot, block=3)(7, 50, np.random.default_rng(1))
    assert rows.shape == (50, 7)
    for row in rows:  # within a block each value follows its predecessor, wrapping 9 -> 0
        for start in (0, 3):
            assert all((row[start + k] - row[start]) % 10 == k for k in range(3))


@pytest.mark.parametrize(("required", "count"), [
    pytest.param([15, 350, 22], 350, id="the-noisiest-sets-the-count"),
    pytest.param([10], 10, id="one-configuration"),
    pytest.param([15, None, 22], None, id="one-beyond-the-search-limit"),
])
def test_fixed_count_is_the_largest_required_count(ttp: ModuleType, required: list[int | None],
                                                   count: int | None) -> None:
    assert ttp.fixed_count(required) == count


def test_required_count_grows_with_the_noise(ttp: ModuleType) -> None:
    counts = [ttp.required_count(ttp.ar1_draw(0.01, cv, 0.0), 0.05, draws=100, seed=3)
              for cv in (0.2, 0.3, 0.4)]
    # quieter ones sit at 200 iterations: under it the short-window rules withhold the
    # interval from 5-20% of normal runs (issue 56 item 2), so 95% meet the target only there
    assert counts[0] < counts[1] < counts[2]
    # iid CV 30%, 5% target: (t * 0.3 / 0.05)^2 ~ 144 on average; 95% of runs need more
    assert 144 < counts[1] < 600


def test_required_count_from_a_pilot_agrees_with_the_known_process(ttp: ModuleType) -> None:
    """A long pilot of a known AR(1) process, resampled in blocks, needs about the count that
    fresh series of the process need (within the bootstrap's error: a factor of 1.6)."""
    process = ttp.ar1_draw(0.01, 0.15, 0.5)
    pilot = process(2000, 1, np.random.default_rng(5))[0]
    known = ttp.required_count(process, 0.05, draws=100, seed=6)
    from_pilot = ttp.required_count(ttp.block_bootstrap(pilot), 0.05, draws=100, seed=6)
    assert known / 1.6 < from_pilot < known * 1.6


def test_required_count_is_none_beyond_the_search_limit(ttp: ModuleType) -> None:
    noisy = ttp.ar1_draw(0.01, 0.5, 0.9)
    assert ttp.required_count(noisy, 0.01, draws=20, seed=0, limit=80) is None


def test_wilson_interval_of_95_in_100(ttp: ModuleType) -> None:
    low, high = ttp.wilson(95, 100)
    assert (round(low, 3), round(high, 3)) == (0.888, 0.978)


def test_simulation_mode_reports_coverage_at_the_stop_and_the_work_ratio(
        ttp: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.json"
    assert ttp.main(["--simulate", "--series", "12", "--draws", "30", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert [row["phi"] for row in result["coverage"]] == [0.0, 0.5, 0.9]
    for row in result["coverage"]:
        assert row["series"] == 12 and 0 <= row["covered"] <= 12
        low, high = row["coverage_ci95"]
        assert low <= row["coverage"] <= high
        assert row["met"] > 0.9  # no practical time cap: runs stop on the target
    sweep = result["sweep"]
    assert sweep["fixed_count"] == max(row["required"] for row in sweep["rows"])
    assert math.isclose(sweep["fixed_work_s"],
                        sum(sweep["fixed_count"] * row["mean"] for row in sweep["rows"]))
    # six configurations whose CV differs 8x: the adaptive sweep needs less work than the one
    # fixed count that serves the noisiest (0.56 at 500 series since the stop's 200-iteration
    # minimum, issue 30: the script reports the <= 0.5 goal as not met,
    # docs/measurements/report-statistics.md)
    assert 0 < sweep["ratio"] < 1
    assert "coverage at stop" in capsys.readouterr().out

"""``benchmarks/sim_run_order.py``: the A/A simulation behind the default order (seeded).

Bounds: 2000 sessions give a standard error of the mean offset of about 1.3% / sqrt(2000) =
0.03%; each bound below is at least 5 standard errors from what the script measures.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_run_order.py"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_run_order", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("effect", ["none", "drift 5%", "step +5%", "period 2, +-2%"])
def test_random_rounds_leave_no_bias(sim: ModuleType, effect: str) -> None:
    assert abs(sim.offsets("random", effect, sessions=2000).mean()) < 0.15


@pytest.mark.parametrize("order,low,high", [
    pytest.param("sequential", -2.8, -2.0, id="sequential"),  # the drift between the halves
    pytest.param("fixed", -0.65, -0.3, id="fixed"),  # one run's worth of drift, every session
])
def test_a_drift_biases_the_orders_that_are_not_random(sim: ModuleType, order: str,
                                                       low: float, high: float) -> None:
    assert low < sim.offsets(order, "drift 5%", sessions=2000).mean() < high


def test_a_period_of_one_round_hits_fixed_interleaving_hardest(sim: ModuleType) -> None:
    """Abedi & Brecht's case: a disturbance with the period of a round puts all of it on one
    configuration in every round of the fixed order (SD of the offset near 4%); random rounds
    spread it over both (about 4% / sqrt(5 rounds))."""
    fixed = sim.offsets("fixed", "period 2, +-2%", sessions=2000).std()
    random = sim.offsets("random", "period 2, +-2%", sessions=2000).std()
    assert fixed > 3.5 and random < 2.6

"""The ``environment`` check judged from recorded NVML readings (issue 60): a GPU throttled by
the hardware, a node left on another driver or short of a GPU fail in one line; a power cap
and old ECC counts are said; NVML's absence leaves the check not judged."""
from __future__ import annotations

from typing import Any

import pytest

from dlbs.accept.environment import environment_verdicts
from dlbs.cli.main import main

H100 = "NVIDIA H100 80GB HBM3"


def _node(driver: str = "550.54.15", gpus: int = 8, throttle: int = 0x1, ecc: int = 0,
          clock: int = 1980) -> dict[str, Any]:
    """One node's facts as the environment check writes them (NVML's readings: throttle
    reasons a bit mask of nvmlClocksThrottleReason*, 0x1 GPU idle)."""
    return {"accept.environment": {"driver": driver, "gpus": [
        {"name": H100, "sm_clock_mhz": clock, "ecc_uncorrected": ecc if i == 0 else 0,
         "throttle_reasons": throttle if i == 1 else 0x1} for i in range(gpus)]}}


def test_each_node_is_judged_on_its_reading_and_against_most_nodes() -> None:
    facts = {"gpu01": _node(), "gpu02": _node(driver="535.104.05"), "gpu03": _node(gpus=7),
             "gpu04": _node(throttle=0x40, clock=1410), "gpu05": _node(throttle=0x4, ecc=2),
             "cpu01": {"accept.environment_unavailable": "NVML Shared Library Not Found"}}
    why = {v.node: (v.failed, v.judged, v.why) for v in environment_verdicts(facts)}
    head = f"environment driver 550.54.15, 8 GPU(s) {H100}"
    expected = {
        "gpu01": (False, True, f"{head}: ok"),
        "gpu02": (True, True, (f"environment driver 535.104.05, 8 GPU(s) {H100}: driver "
                              "535.104.05 while 4 of 5 nodes have 550.54.15")),
        "gpu03": (True, True, (f"environment driver 550.54.15, 7 GPU(s) {H100}: GPU count 7 "
                              "while 4 of 5 nodes have 8")),
        "gpu04": (True, True, (f"{head}: GPU 1 throttled (SM clock 1,410 MHz): hardware thermal "
                              "slowdown")),
        "gpu05": (False, True, (f"{head}: ok (GPU 0: 2 uncorrected ECC error(s) counted before "
                               "(aggregate); GPU 1 at its power limit (SM clock 1,980 MHz): "
                               "software power cap)")),
    }
    assert {node: why[node] for node in expected} == expected
    assert why["cpu01"] == (False, False, "environment: not read: NVML Shared Library Not Found")


def test_two_nodes_that_differ_are_not_told_apart() -> None:
    """With two nodes on two drivers neither is the odd one: nothing is failed for it."""
    verdicts = environment_verdicts({"a": _node(), "b": _node(driver="535.104.05")})
    assert [v.failed for v in verdicts] == [False, False]


@pytest.mark.parametrize("throttle,code,line", [
    pytest.param(0x40, 1, f"localhost: FAIL: environment driver 550.54.15, 8 GPU(s) {H100}: GPU 1 "
                 "throttled (SM clock 1,410 MHz): hardware thermal slowdown",
                 id="a-throttled-gpu-fails-the-node"),
    pytest.param(0x1, 0, "localhost: PASS", id="an-idle-gpu-passes"),
])
def test_a_throttled_gpu_fails_the_node_with_its_reason(
        throttle: int, code: int, line: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before, the environment reading was judged only by --burn-in: a node whose GPU was
    held by the hardware passed."""
    from dlbs.accept import node

    monkeypatch.setattr(node, "measure_localhost", lambda suite, burn_in, repeat: (
        {"matmul_fp32": [20.0]}, _node(throttle=throttle, clock=1410)))
    assert main(["accept", "localhost", "--checks", "matmul,environment", "--device",
                 "cpu"]) == code
    assert line in capsys.readouterr().out.splitlines()

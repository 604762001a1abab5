"""``dlbs accept --burn-in``: the GPUs' counters read again after the repeated reference runs
(issue 60 item 1); NVML's readings recorded, as no GPU is here."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.accept.burnin import burn_in_verdict, findings
from dlbs.cli.main import main


def _reading(*gpus: dict[str, Any]) -> dict[str, Any]:
    return {"accept.environment": {"driver": "570.86", "gpus": list(gpus)}}


QUIET = {"name": "NVIDIA H100", "sm_clock_mhz": 1980, "ecc_uncorrected": 0,
         "throttle_reasons": 0}


def test_a_quiet_burn_in_passes_and_says_what_it_read() -> None:
    verdict = burn_in_verdict("n1", 30, 12, _reading(QUIET), _reading(QUIET))
    assert not verdict.failed
    assert verdict.why == ("burn_in 30 min, 12 reference run(s): ok (ECC and throttle reasons "
                           "unchanged; Xid errors not read)")


def test_new_ecc_errors_and_a_hardware_throttle_fail_the_node() -> None:
    after = _reading({**QUIET, "ecc_uncorrected": 2}, {**QUIET, "throttle_reasons": 0x40 | 0x4})
    failures, said = findings(_reading(QUIET, QUIET), after)
    assert failures == ["GPU 0: 2 uncorrected ECC error(s) during the burn-in",
                        "GPU 1 throttled at the end: hardware thermal slowdown"]
    assert said == ["GPU 1 at its power limit at the end (software power cap)"]
    verdict = burn_in_verdict("n1", 5, 3, _reading(QUIET, QUIET), after)
    assert verdict.failed and verdict.check == "burn_in"


def test_a_power_cap_alone_does_not_fail() -> None:
    verdict = burn_in_verdict("n1", 5, 3, _reading(QUIET),
                              _reading({**QUIET, "throttle_reasons": 0x4}))
    assert not verdict.failed and "power limit" in verdict.why


def test_errors_counted_before_the_burn_in_are_not_its_own() -> None:
    before = _reading({**QUIET, "ecc_uncorrected": 7})
    assert findings(before, _reading({**QUIET, "ecc_uncorrected": 7})) == ([], [])


def test_without_nvml_the_verdict_says_no_counters_were_read() -> None:
    absent = {"accept.environment_unavailable": "NVML Shared Library Not Found"}
    verdict = burn_in_verdict("n1", 1, 2, absent, absent)
    assert not verdict.failed and "no GPU counters (NVML absent)" in verdict.why


def test_burn_in_on_this_host_runs_the_reference_again_and_reads_the_counters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"parameters": {"exp.model": "deep_mnist", "exp.num_batches": 5,
                                               "exp.num_warmup_batches": 1}}))
    junit = tmp_path / "a.xml"
    code = main(["accept", "localhost", "--checks", "training,environment", "--plan", str(plan),
                 "--burn-in", "0.001", "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "localhost: PASS" in out
    assert 'name="burn_in"' in junit.read_text()


def test_burn_in_needs_the_reference_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accept", "localhost", "--checks", "matmul", "--burn-in", "1"]) == 2
    assert "--burn-in repeats the reference training run" in capsys.readouterr().err

"""The load client's flags (``serving.loadgen``): every numeric one within the range that
``config/serve.json`` declares for its ``serve.*`` parameter (NaN and infinities refused, as
``validate`` refuses them), and only the requests a run can send are built."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from serving import loadgen

CONFIG = Path(__file__).resolve().parents[2] / "config" / "serve.json"
BASE = ["--endpoint", "http://127.0.0.1:9", "--model", "m", "--output_len", "4"]
FLOATS = [action.dest for action in loadgen.parser()._actions if action.type is float]


def test_the_flags_ranges_are_the_configs_ranges() -> None:
    declared = json.loads(CONFIG.read_text())["parameters"]
    numeric = {name.removeprefix("serve."): (spec["min"], spec["max"])
               for name, spec in declared.items() if "min" in spec}
    assert loadgen.LIMITS == numeric


@pytest.mark.parametrize("flag", FLOATS)
@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_a_float_flag_that_is_not_a_finite_number_is_refused_in_one_line(
        flag: str, value: str) -> None:
    problems = loadgen.refusals([*BASE, "--request_rate", "1", f"--{flag}", value])
    assert len(problems) == 1 and "\n" not in problems[0]
    assert problems[0].startswith(f"serve.{flag}")
    assert ("nan" if value == "nan" else "inf") in problems[0]


def test_a_nan_slo_is_refused_not_taken_as_no_slo() -> None:
    assert loadgen.refusals([*BASE, "--request_rate", "1", "--slo_ttft_ms", "nan"]) == [
        "serve.slo_ttft_ms is nan; it must be a number >= 0 (at most 86400000)"]


def test_a_rate_whose_first_request_is_due_in_10_to_the_300_s_is_refused() -> None:
    problems = loadgen.refusals([*BASE, "--request_rate", "1e-300"])
    assert len(problems) == 1
    assert problems[0].startswith("serve.request_rate is 1e-300: its first request is due "
                                  "after 1e+300 s")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many requests each call asked ``make_requests`` for (none are made)."""
    counts: list[int] = []

    def spy(count: int, *_: Any) -> list[Any]:
        counts.append(count)
        return []
    monkeypatch.setattr(loadgen, "make_requests", spy)
    return counts


def test_a_run_builds_only_the_requests_its_duration_holds(built: list[int]) -> None:
    args = loadgen.parser().parse_args([*BASE, "--request_rate", "4", "--arrivals",
                                        "constant", "--num_requests", "100000000",
                                        "--duration", "2", "--warmup_requests", "3"])
    times, _ = loadgen.prepared(args)
    assert times == [0.25 * k for k in range(1, 9)]
    assert built == [8 + 3]


def test_validate_builds_one_request_not_every_one(built: list[int]) -> None:
    assert loadgen.refusals([*BASE, "--request_rate", "100", "--num_requests",
                             "100000000"]) == []
    assert built == [1]


def test_a_search_checks_its_flags_building_one_request(
        built: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "run_search", lambda args: 0)
    args = loadgen.parser().parse_args([*BASE, "--request_rate", "100", "--num_requests",
                                        "100000000", "--search", "rate", "--slo_ttft_ms", "50"])
    assert loadgen.run(args) == 0
    assert built == [1]

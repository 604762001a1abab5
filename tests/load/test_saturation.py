"""Saturation is found and said (issue 55, item 5): the realised offered rate against the
answered rate, and a queue that grows through the run."""
from __future__ import annotations

import pytest
from serving import machine
from serving.client import Record
from serving.saturation import saturation_facts


def _records(rate: float, service: float, n: int = 40) -> tuple[list[Record], float]:
    """A one-at-a-time server taking ``service`` s a request, offered ``rate`` requests/s."""
    out, free = [], 0.0
    for i in range(n):
        sent = i / rate
        start = max(sent, free)
        free = start + service
        out.append(Record(i, sent, sent, chunks=[start - sent + service / 2],
                          end=free - sent))
    span = max(r.sent + r.end for r in out)
    return out, n / span


@pytest.mark.parametrize("rate, service, saturated", [
    pytest.param(2.0, 0.1, False, id="keeps-up"),
    pytest.param(8.0, 1 / 0.24, True, id="new-user-3-percent"),
    pytest.param(10.0, 0.125, True, id="80-percent"),
])
def test_a_rate_the_server_cannot_keep_up_with_is_saturated(rate: float, service: float,
                                                            saturated: bool) -> None:
    records, achieved = _records(rate, service)
    facts = saturation_facts(records, achieved)
    assert facts["results.saturated"] is saturated
    assert (facts["results.saturated_why"] is not None) is saturated


def test_the_new_user_case_says_how_much_of_the_offered_load_was_answered() -> None:
    records, achieved = _records(8.0, 1 / 0.24)
    why = saturation_facts(records, achieved)["results.saturated_why"]
    assert "answered 0.24" in why and "queue growing" in why


def test_too_few_requests_are_not_judged_on_growth_only() -> None:
    records, achieved = _records(2.0, 0.1, n=1)
    assert saturation_facts(records, achieved)["results.saturated"] is None


def test_machine_window_counts_others_cpu_time_with_the_training_keys() -> None:
    before = machine.Snapshot(0.0, [1.0, 1.0, 1.0], 100.0, 2, 5.0)
    after = machine.Snapshot(10.0, [2.0, 1.0, 1.0], 112.0, 2, 7.0)
    facts = machine.window_facts(before, after)
    assert facts["results.other_cpu_seconds"] == pytest.approx(10.0)
    assert facts["results.other_cpu_share"] == pytest.approx(0.5)
    assert facts["results.load_avg_after"] == [2.0, 1.0, 1.0]

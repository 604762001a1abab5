"""Honest scaling reports: superlinear efficiency flagged with its cause, one device count."""
from __future__ import annotations

from typing import Any

import pytest

from dlbs.reports.build import build_report
from dlbs.reports.render import to_text

from .test_tables import run


def replicas(n: int, time: float, **facts: Any) -> dict[str, Any]:
    """A weak-scaling run on ``n`` CPU replicas, replica batch 8."""
    return run(batch=8, time=time, **{"exp.num_replicas": n, "exp.effective_batch": 8 * n,
                                      "results.throughput": 8 * n * 1000.0 / time,
                                      "hw.cpu_model": "Xeon", "hw.hostname": "h1", **facts})


def repeated(n: int, time: float, **facts: Any) -> list[dict[str, Any]]:
    """Three runs of one cell, 1% apart (issue 19: "^" needs the efficiency's interval over
    runs above 100%, so the superlinear cases below are repeated runs)."""
    return [replicas(n, time * f, **facts) for f in (0.99, 1.0, 1.01)]


@pytest.mark.parametrize("kind", ["weak", "strong"])
def test_one_device_count_says_there_is_nothing_to_scale(kind: str) -> None:
    report = build_report([replicas(1, 10.0), replicas(1, 20.0, **{"exp.model": "vgg16"})], kind)
    assert [t.name for t in report.tables] == ["time", "throughput"]
    assert any(note.startswith("nothing to scale") for note in report.notes)
    assert "1.00" not in to_text(report).split("nothing to scale")[0].split("Throughput")[0]


@pytest.mark.parametrize("facts_1,facts_2,cause", [
    pytest.param({"exp.num_threads": 2}, {"exp.num_threads": 1},
                 "threads per replica differ: 2 (1 device), 1 (2 devices)", id="threads"),
    pytest.param({"hw.num_threads": 2}, {"hw.num_threads": 1},
                 "threads per replica differ: 2 (1 device), 1 (2 devices)", id="old-log-threads"),
    pytest.param({"exp.dtype_used": "float32"}, {"exp.dtype_used": "bfloat16"},
                 "precision differ: float32 (1 device), bfloat16 (2 devices)", id="precision"),
    pytest.param({"hw.hostname": "big"}, {"hw.hostname": "small"},
                 "host differ: big (1 device), small (2 devices)", id="host"),
    pytest.param({}, {}, "no difference in threads", id="none-seen"),
])
def test_superlinear_efficiency_is_marked_and_explained(facts_1: dict[str, Any],
                                                        facts_2: dict[str, Any],
                                                        cause: str) -> None:
    # Two replicas, each iteration twice as fast as one replica's: 400% of one's throughput.
    records = [*repeated(1, 20.0, **facts_1), *repeated(2, 10.0, **facts_2)]
    report = build_report(records, "weak")
    efficiency = next(t for t in report.tables if t.name == "efficiency")
    assert efficiency.data.iat[0, 1] == pytest.approx(200.0)  # 4x throughput on 2 devices
    assert efficiency.mark(0, 1) == "^" and efficiency.mark(0, 0) == ""
    note = next(n for n in report.notes if n.startswith("efficiency above 100%"))
    assert cause in note + "\n"
    assert any(n.startswith("^ efficiency above 100%") for n in report.notes)


@pytest.mark.parametrize("facts_1,facts_2", [
    pytest.param({"hw.devices": ["A100", "A100"]}, {"hw.devices": ["H100"]}, id="gpu-names"),
    pytest.param({"hw.cpu_model": "Xeon 6", "hw.devices": ["Xeon 6"]},
                 {"hw.cpu_model": "Xeon 4", "hw.devices": ["Xeon 4"]}, id="cpu-model"),
])
def test_runs_on_another_device_model_scale_nothing(facts_1: dict[str, Any],
                                                    facts_2: dict[str, Any]) -> None:
    """The device model and the host class are identity (``dlbs.params.identity``, issue 57):
    1 device of one model and 2 of another are two rows, no efficiency across them."""
    report = build_report([*repeated(1, 20.0, **facts_1), *repeated(2, 10.0, **facts_2)], "weak")
    assert "efficiency" not in [t.name for t in report.tables]
    assert len(report.tables[0].data) == 2


def test_strong_scaling_names_the_smaller_replica_batch() -> None:
    # Effective batch 16 on 1 and 2 replicas: each of two replicas runs a batch of 8.
    records = [*[replicas(1, 20.0 * f, **{"exp.replica_batch": 16, "exp.effective_batch": 16,
                                          "results.throughput": 800.0 / f})
                 for f in (0.99, 1.0, 1.01)],
               *[replicas(2, 4.0 * f, **{"exp.effective_batch": 16, "results.throughput": 4000.0 / f})
                 for f in (0.99, 1.0, 1.01)]]
    report = build_report(records, "strong")
    note = next(n for n in report.notes if n.startswith("efficiency above 100%"))
    assert "replica batch differ: 16 (1 device), 8 (2 devices)" in note


def test_linear_or_worse_scaling_has_no_flag() -> None:
    report = build_report([replicas(1, 10.0), replicas(2, 12.0)], "weak")
    assert not any("above 100%" in note for note in report.notes)


def test_a_run_without_steady_state_is_marked() -> None:
    records = [run(time=10.0, **{"results.steady_state": False}),
               run(time=10.0, batch=32, **{"results.steady_state": True}), run(batch=64)]
    report = build_report(records, "regular")
    assert [report.tables[0].mark(0, c) for c in range(3)] == ["~", "", ""]
    assert any(note.startswith("~ no steady state") for note in report.notes)


def test_threads_are_named_once_when_old_and_new_keys_agree() -> None:
    records = [*repeated(1, 20.0, **{"exp.num_threads": 2, "hw.num_threads": 2}),
               *repeated(2, 10.0, **{"exp.num_threads": 1, "hw.num_threads": 1})]
    note = next(n for n in build_report(records, "weak").notes if n.startswith("efficiency"))
    assert note.count("threads") == 1


@pytest.mark.parametrize("devices,failed,where", [
    pytest.param((1, 1), False, "every experiment ran on the same number of devices (1)",
                 id="one-count"),
    pytest.param((1, 2), False, "each row ran on one number of devices (1, 2 across rows)",
                 id="one-count-per-row"),
    pytest.param((1, 2), True, "no row succeeded on two numbers of devices", id="others-failed"),
])
def test_rows_without_two_device_counts_have_nothing_to_scale(devices: tuple[int, int],
                                                              failed: bool, where: str) -> None:
    records = [replicas(devices[0], 10.0), replicas(devices[1], 10.0, **{"exp.model": "vgg16"})]
    if failed:  # each model also ran on the other count, and failed there
        records += [replicas(devices[1], 10.0, status="oom"),
                    replicas(devices[0], 10.0, status="failure", **{"exp.model": "vgg16"})]
    report = build_report(records, "weak")
    assert [t.name for t in report.tables] == ["time", "throughput"]
    assert any(n.startswith(f"nothing to scale: {where}") for n in report.notes)


def test_rows_on_one_device_count_are_left_out_of_speedup_and_efficiency() -> None:
    records = [replicas(1, 10.0), replicas(2, 10.0), replicas(4, 10.0, **{"exp.model": "vgg16"})]
    report = build_report(records, "weak")
    efficiency = next(t for t in report.tables if t.name == "efficiency")
    assert [k[0] for k in efficiency.data.index] == ["alexnet"]
    assert ("speedup and efficiency leave out the rows with results on fewer than two numbers "
            "of devices: vgg16 / cpu / 8") in report.notes


@pytest.mark.parametrize("steady, mark, counted", [
    pytest.param([True, True], "", 2, id="all-steady"),
    pytest.param([True, False], "~", 1, id="one-unsteady"),
    pytest.param([None, None], "", None, id="older-logs-say-nothing"),
])
def test_steady_runs_are_marked_and_counted(steady: list[bool | None], mark: str,
                                            counted: int | None) -> None:
    records = [run(**({} if s is None else {"results.steady_state": s})) for s in steady]
    assert build_report(records, "regular").tables[0].mark(0, 0) == mark
    summary = build_report(records, "summary").tables[0].data
    assert summary["Steady"].iat[0] == counted
    pivot = build_report(records, pivot=(["model"], ["replica_batch"], "runs_steady"))
    assert pivot.tables[0].data.iat[0, 0] == counted


@pytest.mark.parametrize("records", [
    pytest.param([replicas(1, 20.0), replicas(2, 10.0)], id="one-run-a-cell"),
    pytest.param([*[replicas(1, 20.0 * f) for f in (0.6, 1.0, 1.4)],
                  *[replicas(2, 19.0 * f) for f in (0.6, 1.0, 1.4)]], id="interval-reaches-100"),
])
def test_superlinear_only_when_the_interval_of_the_efficiency_is_above_100(
        records: list[dict[str, Any]]) -> None:
    report = build_report(records, "weak")
    efficiency = next(t for t in report.tables if t.name == "efficiency")
    assert efficiency.data.iat[0, 1] > 100.0 and "^" not in efficiency.mark(0, 1)
    assert not any(n.startswith("efficiency above 100% (^)") for n in report.notes)
    assert any(n.startswith("efficiency above 100% but not established") for n in report.notes)


def test_the_efficiency_interval_is_the_tables_and_surrounds_the_value() -> None:
    report = build_report([*repeated(1, 20.0), *repeated(2, 10.0)], "weak")
    efficiency = next(t for t in report.tables if t.name == "efficiency")
    assert efficiency.ci is not None
    low, high = efficiency.ci[0].iat[0, 1], efficiency.ci[1].iat[0, 1]
    assert 100.0 < low < efficiency.data.iat[0, 1] < high

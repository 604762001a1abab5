"""Every report format says where and how it was measured."""
from __future__ import annotations

import json
from typing import Any

import pytest

from dlbs.reports.build import build_report
from dlbs.reports.html import to_html
from dlbs.reports.provenance import provenance
from dlbs.reports.render import to_json, to_markdown, to_text

from .test_tables import run

FACTS: dict[str, Any] = {"hw.hostname": "node1", "hw.cpu_model": "Xeon 8480",
                         "exp.framework_version": "2.13.0", "hw.cuda_version": "12.8",
                         "exp.device_type": "gpu", "hw.devices": ["NVIDIA H100", "NVIDIA H100"],
                         "exp.dlbs_commit": "abc123", "exp.num_batches": 100,
                         "exp.num_warmup_batches": 2, "exp.num_threads": 4}
MAKER = {"version": "0.1.0", "commit": "def456", "dirty": True}


def records() -> list[dict[str, Any]]:
    return [run(time=10.0 + i, **FACTS, **{"exp.id": "e1", "exp.repeat_index": i,
                                           "exp.start_time": f"2026-11-2{i}T10:00:00+00:00",
                                           "results.steady_state": i != 1,
                                           "results.num_batches_done": 100 + i})
            for i in range(3)]


def test_provenance_summarises_the_records() -> None:
    info = provenance(records(), ["/logs/a"], MAKER)
    assert info["hosts"] == ["node1"] and info["gpu_models"] == ["NVIDIA H100"]
    assert info["torch"] == ["2.13.0"] and info["cuda"] == ["12.8"]
    assert info["measured_with_dlbs"] == ["abc123"] and info["report_by"] == MAKER
    assert info["dates"] == ["2026-11-20T10:00:00+00:00", "2026-11-22T10:00:00+00:00"]
    assert info["runs_per_experiment"] == [3] and info["steady_state"] == "2 of 3"
    assert info["num_batches_done"] == [100, 102] and info["inputs"] == ["/logs/a"]
    assert "target_precision" not in info  # 0/absent: not shown


@pytest.mark.parametrize("render", [to_text, to_markdown, lambda r: to_html(r)],
                         ids=["text", "markdown", "html"])
def test_every_format_shows_it(render: Any) -> None:
    report = build_report(records(), "regular")
    report.provenance = provenance(records(), ["/logs/a"], MAKER)
    text = render(report)
    for needle in ("node1", "Xeon 8480", "NVIDIA H100", "2.13.0", "12.8", "abc123", "def456",
                   "uncommitted changes", "/logs/a", "2026-11-20"):
        assert needle in text


def test_json_carries_it_as_an_object() -> None:
    report = build_report(records(), "regular")
    report.provenance = provenance(records(), ["/logs/a"], MAKER)
    assert json.loads(to_json(report))["provenance"]["report_by"]["commit"] == "def456"


def test_odd_or_many_values_stay_readable() -> None:
    from dlbs.reports.provenance import provenance_lines

    many = [run(**{"hw.hostname": f"n{i}", "exp.device_type": "gpu", "hw.devices": "H100"})
            for i in range(25)]
    info = provenance(many)
    assert "gpu_models" not in info  # a string is not a device list
    line = next(x for x in provenance_lines(info) if x.startswith("hosts"))
    assert line.endswith("... (15 more)") and len(info["hosts"]) == 25


@pytest.mark.parametrize("facts, entry, expected", [
    pytest.param({"hw.num_threads": 8}, "threads_per_replica", [8], id="old-log-threads"),
    pytest.param({"exp.num_threads": 2, "hw.num_threads": 2}, "threads_per_replica", [2],
                 id="threads-once"),
    pytest.param({"results.target_precision_met": True}, "target_met", "1 of 1", id="target-met"),
    pytest.param({"exp.target_precision": 0.01}, "target_precision", [0.01], id="target"),
    pytest.param({"exp.runner_start_time": "2026-01-02T00:00:00+00:00"}, "dates",
                 ["2026-01-02T00:00:00+00:00", "2026-01-02T00:00:00+00:00"], id="runner-dates"),
])
def test_entry_from_the_logs_facts(facts: dict[str, Any], entry: str, expected: Any) -> None:
    assert provenance([run(**facts)])[entry] == expected


@pytest.mark.parametrize("inputs, log_files, folders", [
    pytest.param(["/runs/results.json"], ["/runs/sweep1/a.log", "/runs/sweep2/b.log"],
                 ["/runs/sweep1", "/runs/sweep2"], id="parsed-file-names-its-log-folders"),
    pytest.param(["/runs/sweep1"], ["/runs/sweep1/a.log", "/runs/sweep1/b.log"], None,
                 id="input-folder-already-says-it"),
    pytest.param(["/runs"], ["/runs/sweep1/a.log"], ["/runs/sweep1"], id="recursive-sub-folder"),
    pytest.param(["/runs/results.json"], [None], None, id="no-log-file-fact"),
])
def test_log_folders_are_named_when_the_inputs_do_not_name_them(
        inputs: list[str], log_files: list[str | None], folders: list[str] | None) -> None:
    info = provenance([run(**{"exp.log_file": f}) for f in log_files], inputs)
    assert info.get("log_folders") == folders


def test_runs_per_experiment_count_each_log_folder_apart() -> None:
    side = [run(**{"exp.id": "e1", "exp.log_file": f"/logs/{where}/e1_{i}.log"})
            for where in ("base", "new") for i in range(3)]
    assert provenance(side)["runs_per_experiment"] == [3]


def test_entries_come_in_reading_order() -> None:
    info = provenance(records(), ["/logs/a"], MAKER)
    keys = list(info)
    # what was measured first (a table drops the columns that do not vary), then where
    assert keys[:4] == ["models", "phases", "precisions", "device_types"]
    assert keys[4:7] == ["hosts", "cpu_models", "gpu_models"] and keys[-1] == "report_by"


def test_runs_per_experiment_count_the_tables_cells() -> None:
    """Issue 56: a DLBS summary file of two single-run experiments (no exp.id, one folder)
    that differ only in a setting the report tells experiments apart by said 'runs per
    experiment: 2'; the report's tables show two cells of one run each."""
    two = [run(**{"exp.num_threads": threads}) for threads in (2, 5)]
    for record in two:
        record.pop("exp.id", None)
        record.pop("exp.log_file", None)
    assert provenance(two)["runs_per_experiment"] == [1]
    table = build_report(two, "summary").tables[0].data
    assert list(table["Runs"]) == [1, 1]


@pytest.mark.parametrize("states, expected", [
    pytest.param([(None, "too few iterations")] * 3, "0 of 3 (3 not tested: too few iterations)",
                 id="all-too-short-to-test"),
    pytest.param([(True, None), (False, None), (None, "too few iterations")],
                 "1 of 3 (1 not tested: too few iterations)", id="steady-unsteady-untested"),
])
def test_runs_too_short_to_test_are_not_counted_steady(
        states: list[tuple[bool | None, str | None]], expected: str) -> None:
    """Issue 58: "runs with a steady state: 12 of 12" for 30-iteration runs that no test
    looked at (one doubled its times after the warm-up search); a run not tested is counted
    in the total, not as steady, and named with its reason."""
    logs = [{**r, "results.steady_state": steady, "results.steady_state_untested": why}
            for r, (steady, why) in zip(records(), states, strict=True)]
    assert provenance(logs)["steady_state"] == expected

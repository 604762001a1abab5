"""Runs made on a busy machine are flagged: a ``#`` mark on their cells (with its legend and an
HTML class), a note under the summary, and a provenance line; runs that logged no share (older
logs, windows under a second) are neither busy nor quiet."""
from __future__ import annotations

import math
from typing import Any

import pytest

from dlbs.reports.aggregate import aggregate
from dlbs.reports.build import build_report, compare_by_records, compare_records
from dlbs.reports.frame import identity_keys, to_frame
from dlbs.reports.html import to_html
from dlbs.reports.model import BUSY_THRESHOLD, MARK_BUSY, MARK_NOT_JUDGED
from dlbs.reports.provenance import provenance, provenance_lines
from dlbs.reports.render import to_text

from .test_tables import run


def _share(value: float | None, **extra: Any) -> dict[str, Any]:
    facts = {} if value is None else {"results.other_cpu_share": value}
    return run(**facts, **extra)


@pytest.mark.parametrize("shares, busy, runs_busy", [
    pytest.param([0.01, 0.02, 0.05], False, 0, id="quiet"),
    pytest.param([0.01, 0.5, 0.02], True, 1, id="one-busy-run"),
    pytest.param([BUSY_THRESHOLD, 0.0], False, 0, id="at-the-threshold-is-not-above"),
    pytest.param([None, None], False, None, id="older-logs-say-nothing"),
    pytest.param([None, 0.3], True, 1, id="one-run-said"),
])
def test_an_experiment_with_a_busy_run_is_busy(shares: list[float | None], busy: bool,
                                               runs_busy: int | None) -> None:
    records = [_share(s) for s in shares]
    agg = aggregate(to_frame(records, identity=identity_keys(records)))
    assert bool(agg["busy"].iat[0]) is busy
    found = agg["runs_busy"].iat[0]
    assert math.isnan(found) if runs_busy is None else found == runs_busy  # NaN: not said


def test_a_failed_run_on_a_busy_machine_does_not_flag_the_experiment() -> None:
    records = [_share(0.01), run(status="failure", **{"results.other_cpu_share": 0.9})]
    agg = aggregate(to_frame(records, identity=identity_keys(records)))
    assert not agg["busy"].iat[0]


def test_busy_cells_are_marked_and_the_legend_says_why() -> None:
    records = [_share(0.4), _share(0.01, batch=32)]
    report = build_report(records, "regular")
    assert [report.tables[0].mark(0, c) for c in range(2)] == [MARK_BUSY, ""]
    [legend] = [n for n in report.notes if n.startswith(f"{MARK_BUSY} ")]
    assert "busy machine" in legend and "results.other_cpu_share" in legend
    assert 'class="num busy"' in to_html(report)


def test_a_quiet_report_has_no_busy_mark_nor_legend() -> None:
    report = build_report([_share(0.01), _share(None, batch=32)], "regular")
    assert not any(MARK_BUSY in str(report.tables[0].mark(0, c)) for c in range(2))
    assert not any("busy" in note for note in report.notes)


def test_the_summary_names_the_busy_experiments() -> None:
    records = [_share(0.3), _share(0.01), _share(0.01, batch=32)]
    notes = build_report(records, "summary").notes
    [note] = [n for n in notes if n.startswith("busy machine")]
    assert "in 1 experiment(s)" in note and "(1 of 2 runs)" in note


def test_provenance_counts_busy_runs_and_names_governor_and_turbo() -> None:
    records = [_share(0.3, **{"hw.cpu_governor": "performance", "hw.cpu_turbo": True}),
               _share(0.01, **{"hw.cpu_governor": "powersave", "hw.cpu_turbo": False}),
               _share(None)]
    info = provenance(records)
    # every run that ran is counted, the one without the key named (issue 56 item 7)
    assert info["busy_runs"] == "1 of 3 (1 not judged: no machine state logged)"
    assert info["cpu_governor"] == ["performance", "powersave"]
    assert info["cpu_turbo"] == ["on", "off"]
    lines = provenance_lines(info)
    assert any(line.startswith("runs on a busy machine (other processes > 10% of the CPUs): "
                               "1 of 3 (1 not judged") for line in lines)


def test_provenance_says_nothing_of_busy_runs_when_no_log_says() -> None:
    assert "busy_runs" not in provenance([run(), run(batch=32)])


def _sides(base_share: float, new_share: float) -> tuple[list[dict[str, Any]], ...]:
    base = [_share(base_share if n == 0 else 0.01, time=10.0 + n * 0.1) for n in range(3)]
    new = [_share(new_share if n == 0 else 0.01, time=9.0 + n * 0.1) for n in range(3)]
    return base, new


@pytest.mark.parametrize("base_share, new_share, marks", [
    pytest.param(0.5, 0.01, [MARK_BUSY, "", MARK_BUSY], id="base-busy"),
    pytest.param(0.01, 0.5, ["", MARK_BUSY, MARK_BUSY], id="new-busy"),
    pytest.param(0.01, 0.01, ["", "", ""], id="quiet"),
])
def test_a_comparison_marks_the_busy_side_and_its_verdict(base_share: float, new_share: float,
                                                          marks: list[str]) -> None:
    base, new = _sides(base_share, new_share)
    table = compare_records(base, new).tables[0]
    columns = list(table.data.columns)
    shown = [table.mark(0, columns.index(c))
             for c in ("Base (samples/s)", "New (samples/s)", "Verdict")]
    assert shown == marks
    text = to_text(compare_records(base, new))
    assert (f"{MARK_BUSY} busy machine" in text) is bool(marks[2])
    assert ("rests on runs made on a busy machine" in text) is bool(marks[2])


def test_compare_by_marks_a_verdict_from_a_busy_machine() -> None:
    base, new = _sides(0.01, 0.5)
    records = [{**r, "exp.docker_image": "a"} for r in base] + \
        [{**r, "exp.docker_image": "b"} for r in new]
    report = compare_by_records(records, "exp.docker_image", "a", "b")
    verdict = list(report.tables[0].data.columns).index("Verdict")
    assert report.tables[0].mark(0, verdict) == MARK_BUSY
    assert f"faster{MARK_BUSY}" in to_text(report)


def test_a_verdict_on_a_side_whose_machine_state_was_not_judged_carries_its_mark() -> None:
    """Issue 56 item 7: a run too short to judge (share null, other CPU seconds read) marks
    its side's throughput and the verdict with ``=``, and a note says what it means."""
    base, new = _sides(0.01, 0.01)
    new[0] = {**new[0], "results.other_cpu_share": None, "results.other_cpu_seconds": 0.01}
    report = compare_records(base, new)
    table = report.tables[0]
    columns = list(table.data.columns)
    shown = [table.mark(0, columns.index(c))
             for c in ("Base (samples/s)", "New (samples/s)", "Verdict")]
    assert shown == ["", MARK_NOT_JUDGED, MARK_NOT_JUDGED]
    assert "rests on runs whose machine state was not judged" in to_text(report)


def test_a_comparison_with_no_cell_on_both_sides_says_so_and_marks_no_verdict() -> None:
    """Review of issue 56: a --compare-by whose sides share no cell said 'none has 3
    successful runs a side' (each side had 3) and '2 verdicts marked # rest on ...' with no
    verdict at all."""
    base = [_share(0.5, time=10.0 + n * 0.1, model="alexnet") for n in range(3)]
    new = [_share(0.5, time=9.0 + n * 0.1, model="vgg16") for n in range(3)]
    records = [{**r, "exp.docker_image": "a"} for r in base] + \
        [{**r, "exp.docker_image": "b"} for r in new]
    report = compare_by_records(records, "exp.docker_image", "a", "b")
    table = report.tables[0]
    assert "no cell was measured on both sides" in table.title
    verdict = list(table.data.columns).index("Verdict")
    assert all(table.mark(r, verdict) == "" for r in range(len(table.data)))
    text = to_text(report)
    assert "none has 3 successful runs" not in text and "rest on runs made on a busy" not in text
    assert "no cell judged: no cell was measured on both sides" in text


def test_runs_of_two_code_versions_in_one_folder_are_two_rows() -> None:
    """A newcomer's review (issue 58): the README's versions command wrote into command 1's
    folder and the report pooled both versions' runs into one mean of 6 runs."""
    records = [_share(0.01, time=10.0 + n * 0.1, **{"exp.code_version": "a1"}) for n in range(3)]
    records += [_share(0.01, time=5.0 + n * 0.1, **{"exp.code_version": "b2"}) for n in range(3)]
    agg = aggregate(to_frame(records, identity=identity_keys(records)))
    assert len(agg) == 2 and sorted(agg["runs"]) == [3, 3]
    one = [_share(0.01, time=10.0 + n * 0.1, **{"exp.code_version": "a1"}) for n in range(3)]
    assert len(aggregate(to_frame(one, identity=identity_keys(one)))) == 1

"""Runs whose machine state could not be judged (``results.other_cpu_share`` logged null: a
timed window under 1 s) are counted as such and marked ``=`` (issue 56 item 7: a report said
'runs on a busy machine: 4 of 4' for 6 runs, the 2 unjudged ones dropped without a word and
unmarked); runs of logs without the key (older logs, DLBS's) get no mark: nothing was claimed."""
from __future__ import annotations

from typing import Any

from dlbs.reports.build import build_report
from dlbs.reports.html import to_html
from dlbs.reports.model import MARK_NOT_JUDGED
from dlbs.reports.plots import _state_words
from dlbs.reports.provenance import provenance, provenance_lines
from dlbs.reports.render import to_text

from .test_tables import run


def _run(share: float | None, batch: int, **extra: Any) -> dict[str, Any]:
    """A run that logged its machine state: ``share`` None is a window too short to judge."""
    return run(batch=batch, **{"results.other_cpu_share": share,
                               "results.other_cpu_seconds": 0.05}, **extra)


def test_the_busy_count_names_every_run_and_those_not_judged() -> None:
    shares = [0.5, 0.4, 0.3, 0.2, None, None]  # the 4 busy of 6, 2 too short
    records = [_run(s, batch=16 * 2 ** i) for i, s in enumerate(shares)]
    info = provenance(records)
    assert info["busy_runs"] == "4 of 6 (2 not judged: a timed window under 1 s)"
    assert ("runs on a busy machine (other processes > 10% of the CPUs): 4 of 6 (2 not judged:"
            " a timed window under 1 s)") in provenance_lines(info)
    words = "busy machine in 4 of 6 runs (2 not judged: a timed window under 1 s)"
    assert _state_words(info) == [words]


def test_runs_without_the_key_are_named_apart_and_failed_runs_are_not_counted() -> None:
    records = [_run(0.5, 16), _run(0.01, 32), run(batch=64), run(batch=128, status="failure")]
    assert provenance(records)["busy_runs"] == "1 of 3 (1 not judged: no machine state logged)"


def test_when_every_run_was_judged_the_count_is_as_before() -> None:
    assert provenance([_run(0.5, 16), _run(0.01, 32)])["busy_runs"] == "1 of 2"
    assert "busy_runs" not in provenance([run(batch=16), run(batch=32)])  # a DLBS folder


def test_unjudged_cells_are_marked_with_a_legend_only_when_shown() -> None:
    report = build_report([_run(None, 16), _run(0.01, 32), run(batch=64)], "regular")
    assert [report.tables[0].mark(0, c) for c in range(3)] == [MARK_NOT_JUDGED, "", ""]
    [legend] = [n for n in report.notes if n.startswith(f"{MARK_NOT_JUDGED} ")]
    assert "not judged" in legend and "results.other_cpu_share null" in legend
    assert f"10.00{MARK_NOT_JUDGED}" in to_text(report)
    assert 'class="num not-judged"' in to_html(report)
    quiet = build_report([_run(0.01, 16), run(batch=32)], "regular")
    assert not any(n.startswith(f"{MARK_NOT_JUDGED} ") for n in quiet.notes)
    assert MARK_NOT_JUDGED not in quiet.tables[0].mark(0, 0) + quiet.tables[0].mark(0, 1)

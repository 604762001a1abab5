"""A comparison shows the flags of the regular report: each side's throughput carries its marks
(``*`` noisy, ``!`` failed repeats, ``~`` no steady state, ``#`` busy machine) and the verdict
those that bias it beyond its interval (``~``, ``#``), in text, markdown, HTML, JSON (the
cells' marks), CSV (columns of marks) and the comparison chart, each with its legend entry."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from markdown_it import MarkdownIt

from dlbs.reports.build import compare_by_records, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.model import MARK_BUSY, MARK_LEGEND, MARK_NOISY, MARK_PARTIAL, MARK_UNSTEADY
from dlbs.reports.render import to_csv, to_json, to_markdown, to_text

from .test_tables import run

SIDES = ("Base (samples/s)", "New (samples/s)", "Verdict")


def _side(time: float, unsteady: bool = False, noisy: bool = False,
          failed: bool = False) -> list[dict[str, Any]]:
    """Three runs of one experiment; the first without a steady state when ``unsteady``."""
    spread = 0.2 if noisy else 0.01
    records = [run(time=time * (1 + spread * n),
                   **{"results.steady_state": not (unsteady and n == 0)}) for n in range(3)]
    return records + ([run(status="failure")] if failed else [])


def _marks(report: Any) -> list[str]:
    table = report.tables[0]
    columns = list(table.data.columns)
    return [table.mark(0, columns.index(c)) for c in SIDES]


@pytest.mark.parametrize("base, new, marks", [
    pytest.param(_side(10.0, unsteady=True), _side(9.0), [MARK_UNSTEADY, "", MARK_UNSTEADY],
                 id="base-not-steady"),
    pytest.param(_side(10.0), _side(9.0, unsteady=True), ["", MARK_UNSTEADY, MARK_UNSTEADY],
                 id="new-not-steady"),
    pytest.param(_side(10.0, noisy=True), _side(9.0), [MARK_NOISY, "", ""],
                 id="noisy-base-on-its-throughput-only"),
    pytest.param(_side(10.0), _side(9.0, failed=True), ["", MARK_PARTIAL, ""],
                 id="failed-repeat-on-its-throughput-only"),
    pytest.param(_side(10.0), _side(9.0), ["", "", ""], id="steady"),
])
def test_a_comparison_marks_each_side_and_the_verdict_as_the_report_does(
        base: list[dict[str, Any]], new: list[dict[str, Any]], marks: list[str]) -> None:
    report = compare_records(base, new)
    assert _marks(report) == marks
    for mark in {MARK_NOISY, MARK_PARTIAL, MARK_UNSTEADY} - set("".join(marks)):
        assert not any(n.startswith(f"{mark} ") for n in report.notes)
    for mark in set("".join(marks)):
        assert f"{mark} {MARK_LEGEND[mark]}" in report.notes


def test_a_verdict_on_a_run_without_steady_state_says_so_in_every_format() -> None:
    report = compare_records(_side(10.0), _side(9.0, unsteady=True))
    assert f"faster{MARK_UNSTEADY}" in to_text(report)
    assert "rests on runs that found no steady state" in to_text(report)
    tokens = MarkdownIt("commonmark").enable("table").parse(to_markdown(report))
    cells = ["".join(c.content for c in tokens[at + 1].children or [])
             for at, t in enumerate(tokens) if t.type == "td_open"]
    assert f"faster{MARK_UNSTEADY}" in cells  # rendered: ``\~`` in the source
    assert f"faster{MARK_UNSTEADY}" in to_html(report)
    row = json.loads(to_json(report))["tables"][0]["rows"][0]
    assert row["marks"][-1] == MARK_UNSTEADY
    block = to_csv(report).split("\n\n")[0].splitlines()[1:]
    [record] = list(csv.DictReader(io.StringIO("\n".join(block))))
    assert (record["Base marks"], record["New marks"], record["Verdict marks"]) == \
        ("", MARK_UNSTEADY, MARK_UNSTEADY)
    assert record["Verdict"] == "faster"  # the cell stays plain data


def test_a_verdict_both_busy_and_not_steady_carries_both_marks() -> None:
    base = [{**r, "results.other_cpu_share": 0.5} for r in _side(10.0)]
    report = compare_records(base, _side(9.0, unsteady=True))
    assert _marks(report) == [MARK_BUSY, MARK_UNSTEADY, MARK_UNSTEADY + MARK_BUSY]


def test_compare_by_marks_a_verdict_on_runs_without_steady_state() -> None:
    records = [{**r, "exp.docker_image": "a"} for r in _side(10.0, unsteady=True)] + \
        [{**r, "exp.docker_image": "b"} for r in _side(9.0)]
    report = compare_by_records(records, "exp.docker_image", "a", "b")
    assert _marks(report) == [MARK_UNSTEADY, "", MARK_UNSTEADY]


def test_the_comparison_chart_marks_a_verdict_without_steady_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.reports import plots

    figures: list[Any] = []
    monkeypatch.setattr(plots, "_images", lambda figure, formats: figures.append(figure)
                        or {fmt: b"" for fmt in formats})
    plots.charts(compare_records(_side(10.0, unsteady=True), _side(9.0)))
    axes = figures[0].axes[0]
    assert axes.get_yticklabels()[0].get_text().endswith(f" {MARK_UNSTEADY}")
    assert any(t.get_text().startswith(f"{MARK_UNSTEADY} no steady state")
               for t in axes.get_legend().get_texts())

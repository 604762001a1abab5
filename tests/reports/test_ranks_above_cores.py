"""Runs whose ranks x threads exceeded their node's usable cores (``exp.ranks_above_cores``,
issue 58) are flagged in the report as busy runs are: a ``>`` mark on their cells, with its
legend line only where a marked cell is shown, in text, markdown and HTML, and on the verdict
of a comparison that rests on them. Runs that did not say (logs before the fact) are
neither."""
from __future__ import annotations

import math
from typing import Any

import pytest

from dlbs.reports.aggregate import aggregate
from dlbs.reports.build import build_report, compare_records
from dlbs.reports.frame import identity_keys, to_frame
from dlbs.reports.html import to_html
from dlbs.reports.render import to_markdown, to_text

from .test_tables import run

#: The mark (``dlbs.reports.model.MARK_ABOVE_CORES``) and the legend's first words.
MARK = ">"
LEGEND = "ranks above cores: a run's ranks x threads exceeded its node's usable cores"


def _run(above: bool | None, **extra: Any) -> dict[str, Any]:
    facts = {} if above is None else {"exp.ranks_above_cores": above}
    return run(**facts, **extra)


@pytest.mark.parametrize("said, flagged, counted", [
    pytest.param([False, False], False, 0, id="fit"),
    pytest.param([False, True, False], True, 1, id="one-run-above"),
    pytest.param([None, None], False, None, id="older-logs-say-nothing"),
    pytest.param([None, True], True, 1, id="one-run-said"),
])
def test_an_experiment_with_a_run_above_cores_is_flagged(said: list[bool | None], flagged: bool,
                                                         counted: int | None) -> None:
    records = [_run(s) for s in said]
    agg = aggregate(to_frame(records, identity=identity_keys(records)))
    assert bool(agg["above_cores"].iat[0]) is flagged
    found = agg["runs_above_cores"].iat[0]
    assert math.isnan(found) if counted is None else found == counted  # NaN: not said


def test_a_failed_run_above_cores_does_not_flag_the_experiment() -> None:
    records = [_run(False), _run(True, status="failure")]
    agg = aggregate(to_frame(records, identity=identity_keys(records)))
    assert not agg["above_cores"].iat[0]


def test_marked_cells_and_one_legend_line_in_text_markdown_and_html_only_when_marked() -> None:
    from dlbs.reports.model import MARK_ABOVE_CORES

    assert MARK_ABOVE_CORES == MARK
    report = build_report([_run(True), _run(False, batch=32)], "regular")
    assert [report.tables[0].mark(0, c) for c in range(2)] == [MARK, ""]
    text = to_text(report)
    assert "10.00>  10.00" in text and "1600.00>  3200.00" in text, text
    assert sum(line.startswith(f"{MARK} {LEGEND}") for line in text.splitlines()) == 1
    markdown = to_markdown(report)
    assert f"- \\{MARK} {LEGEND}" in markdown  # escaped: no quote block
    assert markdown.count(LEGEND) == 1
    html = to_html(report)
    assert html.count('class="num above-cores">1600.00&gt;') == 1
    assert html.count(f"<li>&gt; {LEGEND.replace(chr(39), '&#39;')}") == 1
    # runs that fit, or did not say: no mark, no legend line
    quiet = build_report([_run(False), _run(None, batch=32)], "regular")
    assert not any(quiet.tables[0].mark(0, c) for c in range(2))
    for rendered in (to_text(quiet), to_markdown(quiet), to_html(quiet)):
        assert "ranks above cores" not in rendered


def test_a_comparison_marks_the_side_above_cores_and_its_verdict() -> None:
    base = [_run(False, time=10.0 + n * 0.1) for n in range(3)]
    new = [_run(n == 0, time=9.0 + n * 0.1) for n in range(3)]
    report = compare_records(base, new)
    table = report.tables[0]
    columns = list(table.data.columns)
    assert [table.mark(0, columns.index(c))
            for c in ("Base (samples/s)", "New (samples/s)", "Verdict")] == ["", MARK, MARK]
    text = to_text(report)
    assert "1 verdict marked > rests on runs whose ranks x threads exceeded" in text


def test_the_measured_block_and_a_charts_footer_count_them_only_when_present() -> None:
    """A chart has no cell to mark: its footer says it, as it says busy runs; the Measured
    block counts the runs that said; neither says anything when every run fit."""
    from dlbs.reports.plots import footer
    from dlbs.reports.provenance import provenance, provenance_lines

    records = [_run(True), _run(False), _run(None, batch=32)]
    info = provenance(records)
    assert info["above_cores_runs"] == "1 of 2"
    assert "runs with ranks x threads above their node's usable cores " \
           "(exp.ranks_above_cores): 1 of 2" in provenance_lines(info)
    report = build_report(records, "regular")
    report.provenance = info  # as dlbs report sets it
    assert "ranks above cores in 1 of 2 runs" in footer(report)
    quiet = [_run(False), _run(None, batch=32)]
    report = build_report(quiet, "regular")
    report.provenance = provenance(quiet)
    assert "above_cores_runs" not in report.provenance
    assert "ranks above cores" not in footer(report)

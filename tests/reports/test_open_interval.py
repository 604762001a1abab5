"""Issue 56 item 1 (review of 2026-11-29): an interval's end more than ``OPEN_FACTOR`` x its
value is shown open in every output of ``dlbs report``, never as a number. A configuration of
one run took its interval from the run's time interval over iterations, inverted: a run of
6.64 samples/s whose time interval reached near 0 printed ``3.33 - 829.19`` in its table while
its chart drew an arrow. And every CSV names the estimator (``# Notes``), as the other formats
do; JSON gives each interval's ends as numbers (``ci``)."""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import pytest
from benchstats import OPEN_FACTOR, shown_ends

from dlbs.reports.build import build_report, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.render import to_csv, to_json, to_markdown, to_text

#: The reviewer's run: 6.64 samples/s at batch 8, its time's t interval over 50 heavy-tailed
#: iterations [9.6, 2399] ms around 1204 ms: its throughput's upper end 6.64 * 1204 / 9.6.
VALUE, BATCH = 6.642855, 8
TIME = BATCH * 1000.0 / VALUE
TIME_CI = [9.6477, 2398.95488]
HIGH = VALUE * TIME / TIME_CI[0]  # 829.19..., 125x the value


def _record(batch: int, repeat: int, throughput: float, **results: Any) -> dict[str, Any]:
    """One successful run's record (a CPU run of AlexNet), as the parser gives it."""
    time = batch * 1000.0 / throughput
    return {"exp.framework": "pytorch", "exp.model": "alexnet", "exp.model_title": "AlexNet",
            "exp.phase": "inference", "exp.dtype": "float32", "exp.device_type": "cpu",
            "exp.num_replicas": 1, "exp.replica_batch": batch, "exp.effective_batch": batch,
            "exp.num_nodes": 1, "exp.id": f"alexnet-{batch}-{repeat}",
            "exp.log_file": f"/logs/alexnet_{batch}_{repeat}.log", "results.status": "ok",
            "results.time": time, "results.throughput": throughput,
            "results.time_std": time * 0.01, "results.time_ci95": [time * 0.99, time * 1.01],
            **results}


def _runs() -> list[dict[str, Any]]:
    """Batch 8: the reviewer's one run; batch 16: three quiet runs."""
    return [_record(BATCH, 0, VALUE, **{"results.time_ci95": TIME_CI}),
            *(_record(16, r, 12.0 * f) for r, f in enumerate((1.0, 1.01, 0.99)))]


@pytest.mark.parametrize("value,low,high,shown", [
    pytest.param(6.64, 3.33, 829.19, (3.33, None), id="upper-end-125x"),
    pytest.param(6.6, 6.3, 6.9, (6.3, 6.9), id="tight"),
    pytest.param(10.0, 10.0 / OPEN_FACTOR, 10.0 * OPEN_FACTOR, (10.0 / OPEN_FACTOR, 30.0),
                 id="at-the-factor"),
    pytest.param(1204.3, 9.6, 2399.0, (None, 2399.0), id="time-lower-end-near-0"),
    pytest.param(1204.3, -40.0, 2399.0, (None, 2399.0), id="time-lower-end-below-0"),
    pytest.param(5.0, 2.0, math.nan, (2.0, None), id="no-upper-end"),
    pytest.param(5.0, 0.1, 100.0, (None, None), id="both-open"),
    pytest.param(5.0, math.nan, math.nan, None, id="no-interval"),
])
def test_one_rule_shows_an_end_beyond_the_factor_as_open(
        value: float, low: float, high: float,
        shown: tuple[float | None, float | None] | None) -> None:
    assert shown_ends(value, low, high) == shown


def test_the_throughput_interval_of_one_run_has_no_implausible_upper_end() -> None:
    text = to_text(build_report(_runs(), "regular"))
    assert "829" not in text
    rows = [line.split() for line in text.splitlines() if line.startswith("AlexNet  1x cpu")]
    assert rows[-1] == ["AlexNet", "1x", "cpu", ">=", "3.33", "11.71", "-", "12.30"]
    assert "an interval's end more than 3x from its value is shown open" in text


def test_the_interval_title_says_a_one_run_cell_is_over_its_iterations() -> None:
    one = to_text(build_report(_runs(), "regular"))
    assert "Throughput 95% CI over runs (samples/s; a cell of one run: over its iterations)" \
        in one
    three = to_text(build_report(_runs()[1:], "regular"))
    assert "Throughput 95% CI over runs (samples/s)\n" in three
    assert "over its iterations)" not in three and "shown open" not in three


@pytest.mark.parametrize("render", [to_text, to_markdown, to_csv, to_json, to_html],
                         ids=["text", "markdown", "csv", "json", "html"])
@pytest.mark.parametrize("kind", ["regular", "summary"])
def test_no_format_prints_an_open_end(render: Any, kind: str) -> None:
    out = render(build_report(_runs(), kind))
    assert f"{HIGH:.1f}" not in out  # the throughput's upper end, 829.2
    assert f"{TIME_CI[0]:.3f}" not in out  # the time's lower end, 9.648 ms


def test_json_gives_each_interval_its_ends_as_numbers_an_open_end_open() -> None:
    """An open end is the word ``open`` (as ``dlbs history`` writes it), not ``null``: null is
    no interval at all (review of 2026-11-29: a reader could not tell the two apart)."""
    tables = {t["name"]: t for t in json.loads(to_json(build_report(_runs(), "regular")))["tables"]}
    low, _ = tables["throughput"]["rows"][0]["ci"][0]  # batch 8: the one run
    assert low == pytest.approx(VALUE * TIME / TIME_CI[1], rel=1e-12)  # full precision
    assert tables["throughput"]["rows"][0]["ci"][0][1] == "open"  # no upper bound
    quiet_low, quiet_high = tables["throughput"]["rows"][0]["ci"][1]
    assert quiet_low < 12.0 < quiet_high < 13.0
    assert tables["time"]["rows"][0]["ci"][0][0] == "open"  # the time's open lower end
    assert tables["throughput_ci"]["rows"][0]["cells"][0] == ">= 3.33"  # the string stays


def test_the_summary_shows_an_open_end_as_a_word() -> None:
    table = json.loads(to_json(build_report(_runs(), "summary")))["tables"][0]
    columns = table["columns"]
    one_run = table["rows"][0]["cells"]
    assert one_run[columns.index("Throughput CI95 high")] == "open"
    assert one_run[columns.index("Time CI95 low")] == "open"
    assert one_run[columns.index("Throughput CI95 low")] == pytest.approx(
        VALUE * TIME / TIME_CI[1], rel=1e-5)


def _notes(text: str) -> list[str]:
    """The rows of a CSV's ``# Notes`` block."""
    block = text.split("\n# Notes\n", 1)[1]
    rows = list(csv.reader(io.StringIO(block)))
    assert rows[0] == ["note"]
    return [row[0] for row in rows[1:] if row]


def test_every_csv_names_the_estimator() -> None:
    regular = to_csv(build_report(_runs(), "regular"))
    summary = to_csv(build_report(_runs(), "summary"))
    base = _runs()[1:]
    compare = to_csv(compare_records(base, [{**r, "results.throughput": r["results.throughput"]
                                             * 1.1} for r in base]))
    for text in (regular, summary, compare):
        assert any("geometric mean over runs" in note for note in _notes(text))


def test_the_summary_legend_says_what_mean_and_std_are() -> None:
    notes = " ".join(_notes(to_csv(build_report(_runs(), "summary"))))
    assert "Time mean (ms), Throughput mean: the geometric mean of the runs' values" in notes
    assert ("Time std (ms), Throughput std: the runs' arithmetic standard deviation (n - 1, "
            "about their arithmetic mean, not about the geometric mean shown)") in notes

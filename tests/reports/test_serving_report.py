"""The serving report (``dlbs/reports/serving.py``): rows model, columns the offered load, a
table per figure with the runs' intervals; failed runs show their status, never a number; a
lagging client marks its cell; the chart draws a figure without an interval hollow."""
from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dlbs.errors import ReportError
from dlbs.reports.build import build_report
from dlbs.reports.plots import charts


def _run(rate: float, ttft: float, *, status: str = "ok", lagged: bool = False,
         p99_ci: list[float] | None = None, model: str = "tiny") -> dict[str, Any]:
    return {"exp.phase": "serve", "exp.model": model, "serve.model": "", "serve.api": "chat",
            "serve.request_rate": rate, "serve.concurrency": 0, "results.status": status,
            "results.ttft_p50": ttft, "results.ttft_p50_ci95": [ttft - 5, ttft + 5],
            "results.ttft_p99": 3 * ttft, "results.ttft_p99_ci95": p99_ci,
            "results.tpot_p50": 7.0, "results.tpot_p50_ci95": [6.5, 7.5],
            "results.itl_p50": 9.0, "results.e2e_p50": ttft + 100,
            "results.request_throughput": rate * 0.9, "results.output_tokens_per_second": 10.0,
            "results.goodput": rate * 0.8, "results.slo_attainment": 0.875,
            "results.failed_requests": 1, "results.client_lagged": lagged,
            "results.slo": {"ttft_ms": 500.0, "tpot_ms": None}}


def test_rows_columns_cells_and_intervals() -> None:
    records = [_run(2, 40.0), _run(4, 50.0, lagged=True), _run(8, 170.0),
               _run(8, 190.0), _run(16, 0.0, status="failure")]
    for record in records[-1:]:
        for key in [k for k in record if k.startswith("results.") and k != "results.status"]:
            del record[key]
    report = build_report(records)  # all serving: the serving report, without --type
    assert report.kind == "serve"
    tables = {t.name: t for t in report.tables}
    ttft = tables["ttft_p50"]
    assert list(ttft.data.columns) == [2, 4, 8, 16]
    assert list(ttft.data.index) == ["tiny"]
    assert ttft.data.iloc[0].tolist()[:3] == [40.0, 50.0, 180.0]
    assert ttft.data.iat[0, 3] == "failure"  # a failed run: its status, never a number
    low, high = ttft.ci
    # one run: none, though its log carries one (a log from before 2026-11-28 that treated its
    # queued requests as independent draws); two runs: their median, no interval (Student's t
    # over runs covered 65-93% on simulated queues: the statistics of runs are skewed)
    assert pd.isna(low.iat[0, 0]) and pd.isna(high.iat[0, 0])
    assert pd.isna(low.iat[0, 2]) and pd.isna(high.iat[0, 2])
    assert ttft.mark(0, 1) == "@" and ttft.mark(0, 0) == ""
    assert any(n.startswith("@ the load client lagged") for n in report.notes)
    assert tables["slo_attainment"].data.iat[0, 0] == pytest.approx(87.5)
    assert "SLO: TTFT <= 500 ms" in " ".join(report.notes)
    assert "ttft_p50_ci" not in tables and "ttft_p99_ci" not in tables  # no interval at all
    assert "requests_ci" not in tables
    only_one = build_report([_run(2, 40.0)])
    assert "ttft_p99_ci" not in {t.name for t in only_one.tables}  # an empty table is left out


def test_a_cell_is_the_median_run_with_its_interval_from_six_runs() -> None:
    """Student's t over runs covered 65-93% where it said 95% (a run's TTFT is skewed: a few
    runs catch a long queue); the median run's order-statistic interval needs no shape:
    from 6 runs it is the lowest to the highest run (96.9%), from 9 the second to the eighth."""
    five = [_run(8, ttft) for ttft in (40.0, 41.0, 42.0, 43.0, 400.0)]
    ttft = {t.name: t for t in build_report(five).tables}["ttft_p50"]
    assert ttft.data.iat[0, 0] == 42.0  # the median, not the mean (113.2) a long queue pulls
    assert pd.isna(ttft.ci[0].iat[0, 0]) and pd.isna(ttft.ci[1].iat[0, 0])
    six = five + [_run(8, 44.0)]
    tables = {t.name: t for t in build_report(six).tables}
    ttft = tables["ttft_p50"]
    assert ttft.data.iat[0, 0] == pytest.approx(42.5)
    assert (ttft.ci[0].iat[0, 0], ttft.ci[1].iat[0, 0]) == (40.0, 400.0)
    # 400 is beyond OPEN_FACTOR x 42.5: open in the text as in JSON's ci and the chart
    assert tables["ttft_p50_ci"].data.iat[0, 0] == ">= 40.0"
    nine = six + [_run(8, ttft) for ttft in (45.0, 46.0, 47.0)]
    ttft = {t.name: t for t in build_report(nine).tables}["ttft_p50"]
    assert (ttft.ci[0].iat[0, 0], ttft.ci[1].iat[0, 0]) == (41.0, 47.0)
    assert any("median of its runs" in note and "from 6 runs" in note
               for note in build_report(six).notes)


def test_the_chart_never_draws_a_point_without_interval_as_exact() -> None:
    report = build_report([_run(2, 40.0), _run(4, 50.0, p99_ci=[100.0, 200.0])])
    made = charts(report)
    assert [c.file_name("png") for c in made] == ["serving.png"]
    assert made[0].images["png"].startswith(b"\x89PNG")


def test_mixed_records_and_the_explicit_type() -> None:
    training = {"exp.phase": "training", "exp.model": "resnet18", "results.status": "ok",
                "results.time": 10.0, "results.throughput": 1600.0, "exp.replica_batch": 16,
                "exp.device_type": "cpu", "exp.num_replicas": 1}
    assert build_report([training, _run(2, 40.0)], "serve").kind == "serve"
    assert build_report([training, _run(2, 40.0)]).kind == "regular"
    with pytest.raises(ReportError, match="no serving run"):
        build_report([training], "serve")


def _search(capacity: float | None, interval: list[float] | None, *, unit: str = "rate",
            model: str = "tiny", note: str | None = None) -> dict[str, Any]:
    record = {"exp.phase": "serve", "exp.model": model, "serve.model": "", "serve.api": "chat",
              "serve.search": unit, "serve.request_rate": 4.0, "serve.concurrency": 0,
              "results.status": "ok", "results.capacity": capacity,
              "results.capacity_ci95": interval,
              "results.capacity_unit": "requests/s" if unit == "rate" else "requests in flight",
              "results.capacity_trials": [capacity] * 3, "results.capacity_steps": 12,
              "results.capacity_max_steps": 6, "results.capacity_converged": True,
              "results.slo_percentile": 90.0, "results.slo": {"ttft_ms": 500.0, "tpot_ms": None}}
    if note:
        record["results.capacity_note"] = note
    return record


def test_a_capacity_search_is_a_table_of_its_own_never_a_load_column() -> None:
    """Its serve.request_rate (4) is where the search started: the load grid leaves it out."""
    report = build_report([_run(2, 40.0), _run(8, 170.0), _search(6.1, [5.5, 6.8])])
    tables = {t.name: t for t in report.tables}
    assert list(tables["ttft_p50"].data.columns) == [2, 8]
    capacity = tables["capacity"]
    row = capacity.data.loc["tiny"]
    assert (row["Capacity"], row["95% low"], row["95% high"]) == (6.1, 5.5, 6.8)
    assert row["Unit"] == "requests/s" and row["SLO"] == "TTFT <= 500 ms"
    assert (row["Trials"], row["Steps"], row["Converged"]) == (3, 12, True)
    assert capacity.ci[0].at["tiny", "Capacity"] == 5.5
    assert any(n.startswith("Capacity: the highest load") for n in report.notes)
    made = charts(report)
    assert [c.file_name("png") for c in made] == ["serving.png"]  # the band on its panel


def test_searches_alone_give_the_capacity_chart_and_say_why_one_has_none() -> None:
    why = "trial 1: every step met the SLO, up to 64 requests/s: the capacity is above it"
    report = build_report([_search(6.1, [5.5, 6.8]), _search(None, None, model="big", note=why),
                           _search(3.0, None, unit="concurrency", model="c")])
    capacity = {t.name: t for t in report.tables}["capacity"]
    assert list(capacity.data.index) == ["big (rate)", "c (concurrency)", "tiny (rate)"]
    assert capacity.data.at["big (rate)", "Capacity"] is None
    assert f"big: {why}" in report.notes
    assert "SLO: TTFT <= 500 ms (attainment counts failed requests as missed)" in report.notes
    made = charts(report)
    assert [c.file_name("png") for c in made] == ["capacity.png"]
    assert made[0].images["png"].startswith(b"\x89PNG")


def test_runs_that_differ_beyond_the_load_are_rows_of_their_own_never_one_cell() -> None:
    """Two servers of one model at the same rate (or two output lengths) were averaged into
    one cell with a t interval over them (a negative TTFT bound): each is its own row, named
    by what differs."""
    fast, slow = _run(20, 4.7), _run(20, 26.6)
    fast["serve.endpoint"], slow["serve.endpoint"] = "http://a:8000", "http://b:8000"
    ttft = {t.name: t for t in build_report([fast, slow]).tables}["ttft_p50"]
    assert list(ttft.data.index) == ["tiny, endpoint=http://a:8000",
                                     "tiny, endpoint=http://b:8000"]
    assert ttft.data[20].tolist() == [4.7, 26.6]
    short, long = _run(20, 10.0), _run(20, 30.0)
    short["serve.output_len"], long["serve.output_len"] = "4", "32"
    closed = [_run(0, 50.0), _run(0, 90.0)]
    closed[0]["serve.concurrency"], closed[1]["serve.concurrency"] = 2, 8
    rows = list({t.name: t for t in build_report([short, long, *closed]).tables}[
        "ttft_p50"].data.index)
    assert len(rows) == 4 and "tiny, concurrency=2, output_len=None" in rows

    # every token asked for is another load; a run logged before the switch had it off
    before, off, zero, every, one = (_run(20, 10.0), _run(20, 11.0), _run(20, 12.0),
                                     _run(20, 40.0), _run(20, 42.0))
    off["serve.ignore_eos"], zero["serve.ignore_eos"] = False, 0  # 0: a plan's -P...=0
    every["serve.ignore_eos"], one["serve.ignore_eos"] = True, 1
    ttft = {t.name: t for t in build_report([before, off, zero, every, one]).tables}["ttft_p50"]
    assert list(ttft.data.index) == ["tiny, ignore_eos=False", "tiny, ignore_eos=True"]
    assert ttft.data[20].tolist() == [pytest.approx(11.0), pytest.approx(41.0)]


def test_token_figures_counted_per_chunk_are_marked() -> None:
    chunked = _run(2, 40.0)
    chunked["results.tokens_counted_by"] = ["chunks"]
    report = build_report([chunked, _run(4, 50.0)])
    tables = {t.name: t for t in report.tables}
    assert tables["output_tokens_per_second"].mark(0, 0) == "c"
    assert tables["tpot_p50"].mark(0, 0) == "c" and tables["tpot_p50"].mark(0, 1) == ""
    assert tables["ttft_p50"].mark(0, 0) == ""
    assert any(n.startswith("c counted per streamed chunk") for n in report.notes)


def test_a_search_whose_client_lagged_is_marked_and_drawn_hollow() -> None:
    lagged = _search(188.0, [44.6, 795.0])
    lagged["results.search_steps"] = [{"load": 100, "results.client_lagged": False},
                                      {"load": 236, "results.client_lagged": True}]
    lagged["results.capacity_converged"] = False
    report = build_report([lagged])
    capacity = {t.name: t for t in report.tables}["capacity"]
    assert capacity.mark(0, 0) == "@"
    assert any("may be the client's limit" in n for n in report.notes)
    from dlbs.reports.plots import _capacities
    assert [found[0] for found in _capacities(capacity)] == [
        "tiny (not converged) (client lagged)"]
    assert charts(report)[0].images["png"].startswith(b"\x89PNG")


def test_saturated_and_busy_serving_cells_are_marked_with_a_legend() -> None:
    saturated = _run(8, 42000.0)
    saturated.update({"results.saturated": True, "results.other_cpu_share": 0.6})
    report = build_report([_run(2, 40.0), saturated])
    ttft = {t.name: t for t in report.tables}["ttft_p50"]
    assert ttft.mark(0, 0) == "" and ttft.mark(0, 1) == "s#"
    assert any(n.startswith("s saturated: the server did not keep up") for n in report.notes)
    assert any(n.startswith("# busy machine") for n in report.notes)


#: A run's reason when it could not tell (as python/serving/saturation.py writes it).
UNSURE_WHY = ("cannot tell: answered 7.1 requests/s of 8 offered, 84% of the requests by the "
              "last send (< 90%), but not enough to say (saturated: under 75% by the last "
              "send, or a growing queue or backlog and under 90%): a short run near the "
              "server's limit; give more requests")


def test_a_serving_cell_that_cannot_tell_is_marked_apart_from_saturated_and_kept_up() -> None:
    """Issue 55 item 5: results.saturated null with a 'cannot tell' reason is neither
    saturated nor kept up: its cells are marked ``u``, the legend says what it means and a
    note gives each cell's reason; a saturated run in the cell outweighs it; a log without
    the verdict (null, no reason) is not marked."""
    unsure = _run(8, 420.0)
    unsure.update({"results.saturated": None, "results.saturated_why": UNSURE_WHY})
    saturated = _run(16, 42000.0)
    saturated["results.saturated"] = True
    both = [_run(32, 90000.0), _run(32, 91000.0)]
    both[0]["results.saturated"] = True
    both[1].update({"results.saturated": None, "results.saturated_why": UNSURE_WHY})
    unjudged = _run(4, 60.0)
    unjudged.update({"results.saturated": None, "results.saturated_why": None})
    kept_up = _run(2, 40.0)
    kept_up["results.saturated"] = False
    report = build_report([kept_up, unjudged, unsure, saturated, *both])
    tables = {t.name: t for t in report.tables}
    for name in ("ttft_p50", "request_throughput", "slo_attainment"):
        assert [tables[name].mark(0, c) for c in range(5)] == ["", "", "u", "s", "s"]
    legend = [n for n in report.notes if n.startswith("u cannot tell whether the server kept up")]
    assert len(legend) == 1 and "serve.num_requests" in legend[0]
    reasons = [n for n in report.notes if n.startswith("u tiny at ")]
    assert reasons == [("u tiny at 8 requests/s: cannot tell whether the server kept up: "
                        "answered 7.1 requests/s of 8 offered, 84% of the requests by the last "
                        "send (< 90%)")]
    from dlbs.reports.render import report_dict, to_csv, to_markdown, to_text
    text = to_text(report)
    assert "420.0u" in text and legend[0] in text
    assert "420.0u" in to_markdown(report)
    from dlbs.reports.html import to_html
    html = to_html(report)
    assert ">420.0u<" in html and "cannot tell whether the server kept up" in html
    ttft_json = next(t for t in report_dict(report)["tables"] if t["name"] == "ttft_p50")
    assert ttft_json["rows"][0]["marks"][2] == "u"
    csv = to_csv(report)
    assert "# TTFT p50 (ms) (marks)\n" in csv
    assert csv.split("# TTFT p50 (ms) (marks)\n")[1].splitlines()[1] == "tiny,,,u,s,s"
    assert "numerics off" not in csv  # 'u' is not a mark of the training reports' legend


def test_a_serving_cell_whose_machine_state_was_not_judged_is_marked() -> None:
    """Issue 56 item 7: a run whose share is null (a window too short to divide by) is neither
    busy nor quiet; its cells say so with ``=`` and the legend explains it."""
    short = _run(8, 420.0)
    short.update({"results.other_cpu_share": None, "results.other_cpu_seconds": 0.01})
    report = build_report([_run(2, 40.0), short])
    ttft = {t.name: t for t in report.tables}["ttft_p50"]
    assert ttft.mark(0, 0) == "" and ttft.mark(0, 1) == "="
    assert any(n.startswith("= machine state not judged") for n in report.notes)


def test_the_latency_chart_runs_over_the_offered_load_and_marks_saturated_points(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.reports import plots
    seen: list[Any] = []
    monkeypatch.setattr(plots, "_images", lambda figure, formats: seen.append(figure) or {})
    runs = [_run(2, 40.0), _run(4, 80.0), _run(8, 42000.0)]
    for run, achieved in zip(runs, (1.9, 0.3, 0.27)):  # achieved falls as the offered rises
        run["results.request_throughput"] = achieved
    runs[2]["results.saturated"] = True
    runs[1].update({"results.saturated": None, "results.saturated_why": UNSURE_WHY})
    charts(build_report(runs))
    left = seen[0].axes[0]
    p50 = next(c.lines[0] for c in left.containers
               if str(c.get_label()).startswith("tiny: ttft p50"))
    assert list(p50.get_xdata()) == [2.0, 4.0, 8.0]
    assert list(p50.get_ydata()) == [40.0, 80.0, 42000.0]
    marked = [line for line in left.get_lines() if "saturated" in str(line.get_label())]
    assert [list(line.get_xdata()) for line in marked] == [[8.0]]
    untold = [line for line in left.get_lines() if line.get_marker() == "$?$"]
    assert [list(line.get_xdata()) for line in untold] == [[4.0], [4.0]]  # on p50 and p99
    assert " ".join(str(untold[0].get_label()).split()).startswith(
        "tiny: cannot tell whether the server kept up: 75-90% answered by the last send")
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert sum("cannot tell" in t for t in legend) == 1
    assert "requests/s" in left.get_xlabel() and "achieved" not in left.get_xlabel()


def test_the_servers_own_figures_stand_beside_the_clients_only_where_scraped() -> None:
    server = {"ttft_p50_ms": 30.0, "running_max": 6, "kv_cache_usage_max": 0.25,
              "prefix_cache_hit_rate": 0.5, "running_mean": 3.0}
    scraped = {**_run(2, 40.0), "results.server_metrics": server}
    tables = {t.name: t for t in build_report([scraped, _run(4, 50.0)]).tables}
    assert tables["ttft_p50"].data.iat[0, 0] == 40.0
    assert tables["server_ttft_p50_ms"].data.iat[0, 0] == 30.0
    assert pd.isna(tables["server_ttft_p50_ms"].data.iat[0, 1])  # not scraped: no number
    assert tables["server_running_max"].data.iat[0, 0] == 6
    assert tables["server_kv_cache_usage_max"].data.iat[0, 0] == pytest.approx(25.0)
    assert tables["server_prefix_cache_hit_rate"].data.iat[0, 0] == pytest.approx(50.0)
    unscraped = {t.name for t in build_report([_run(2, 40.0)]).tables}
    assert not any(name.startswith("server_") for name in unscraped)

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
    assert (low.iat[0, 0], high.iat[0, 0]) == (35.0, 45.0)  # one run: its own interval
    assert low.iat[0, 2] < 180.0 < high.iat[0, 2]  # two runs: Student's t over them
    assert high.iat[0, 2] - low.iat[0, 2] > 20
    assert ttft.mark(0, 1) == "@" and ttft.mark(0, 0) == ""
    assert any(n.startswith("@ the load client lagged") for n in report.notes)
    assert tables["slo_attainment"].data.iat[0, 0] == pytest.approx(87.5)
    assert "SLO: TTFT <= 500 ms" in " ".join(report.notes)
    assert tables["ttft_p50_ci"].data.iat[0, 0] == "35.0 - 45.0"
    # one run without its p99's interval (too few requests): none; two runs: over the runs
    p99 = tables["ttft_p99_ci"].data.iloc[0].tolist()
    assert pd.isna(p99[0]) and pd.isna(p99[1]) and isinstance(p99[2], str)
    assert "requests_ci" not in tables
    only_one = build_report([_run(2, 40.0)])
    assert "ttft_p99_ci" not in {t.name for t in only_one.tables}  # an empty table is left out


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

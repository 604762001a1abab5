"""Issue 56 item 1 (review of 2026-11-29) in ``dlbs history`` and ``dlbs db page``: a point of
one run takes its run's interval over iterations; where that run's time interval reached near
0, its throughput's upper end (829 samples/s beside a value of 6.64) is shown ``open``, never
as a number, and sets no chart's axis (the history chart's y axis ran 0-830, flattening the
other points). The rule is ``benchstats.shown_ends``, the reports' too."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from forked_cli import run_dlbs

#: The reviewer's run: 6.64 samples/s at batch 8; its time's interval over iterations.
VALUE = 6.642855
TIME = 8 * 1000.0 / VALUE
TIME_CI = [9.6477, 2398.95488]
HIGH = VALUE * TIME / TIME_CI[0]  # 829.19: 125x the value


def _dlbs(*args: str) -> subprocess.CompletedProcess[str]:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _database(logs: Any, tmp_path: Path) -> str:
    """Day 1: the one run; days 2-4: three quiet runs a day near 6.7 samples/s."""
    folder = tmp_path / "logs"
    logs.write(folder / "d1.log", logs.facts(throughput=VALUE, day=1, **{
        "results.time": TIME, "results.time_ci95": TIME_CI}))
    for day in (2, 3, 4):
        for repeat, factor in enumerate((1.0, 1.01, 0.99)):
            logs.write(folder / f"d{day}_{repeat}.log",
                       logs.facts(throughput=6.7 * factor, day=day, repeat=repeat))
    return logs.ingest(folder, tmp_path / "h.db")


def _history(url: str, fmt: str) -> subprocess.CompletedProcess[str]:
    done = _dlbs("history", "--db", url, "--by", "date", "--format", fmt)
    assert done.returncode == 0, done.stderr
    return done


def test_history_shows_the_one_run_points_upper_end_open(logs: Any, tmp_path: Path) -> None:
    url = _database(logs, tmp_path)
    done = _history(url, "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (rows[0]["runs"], rows[0]["ci_high"]) == ("1", "open")
    assert float(rows[0]["ci_low"]) == pytest.approx(VALUE * TIME / TIME_CI[1], rel=1e-5)
    assert all(float(r["ci_high"]) < 7.2 for r in rows[1:])
    assert "an interval's end more than 3x from its value is shown open" in done.stderr
    points = json.loads(_history(url, "json").stdout)
    assert points[0]["ci_high"] == "open" and isinstance(points[0]["ci_low"], float)
    table = _history(url, "table").stdout
    assert f"{HIGH:.1f}"[:4] not in table and "open" in table


def test_the_history_chart_axis_is_not_set_by_an_open_end(
        logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from dlbs.db import open_store
    from dlbs.db.charts import OPEN_LABEL, render
    from dlbs.db.history import load_series

    store = open_store(_database(logs, tmp_path), readonly=True)
    try:
        series = load_series(store, {}, "results.throughput", "date").series
    finally:
        store.close()
    seen: list[tuple[tuple[float, float], list[str]]] = []
    save = Figure.savefig

    def spy(self: Figure, *args: Any, **kwargs: Any) -> None:
        axes = self.axes[0]
        seen.append((axes.get_ylim(), axes.get_legend_handles_labels()[1]))
        save(self, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", spy)
    render(series, "results.throughput", "date")
    (_, top), labels = seen[0]
    assert top < 2 * VALUE  # was 0-830: the other points flat at the foot
    assert OPEN_LABEL in labels


def test_the_page_shows_the_open_end_as_a_word(logs: Any, tmp_path: Path) -> None:
    url = _database(logs, tmp_path)
    done = _dlbs("db", "page", "--db", url, "--by", "date", "--output", str(tmp_path / "page"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "page" / "index.html").read_text()
    assert f"{HIGH:.4g}" not in page  # 829.2
    assert "<td>open</td>" in page
    assert "is shown open, not as a number" in page

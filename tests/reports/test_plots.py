"""Charts: which PNGs each report type gives, that they are real images, and the HTML embedding."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from dlbs.reports.build import build_report, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.plots import charts, write_charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _pixels_vary(png: bytes) -> bool:
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    return bool(image.std() > 0.01)


SCALING = ["scaling_throughput.png", "speedup.png", "efficiency.png"]


@pytest.mark.parametrize("kind, names", [
    pytest.param("regular", ["throughput_alexnet.png", "throughput_resnet50.png"], id="regular"),
    pytest.param("weak", SCALING, id="weak"),
    pytest.param("strong", SCALING, id="strong"),
    pytest.param("summary", [], id="summary"),
])
def test_each_report_type_gives_its_charts(kind: str, names: list[str],
                                           records: list[dict[str, Any]]) -> None:
    made = charts(build_report(records, kind))
    assert [c.name for c in made] == names
    for chart in made:
        assert chart.png.startswith(PNG_SIGNATURE) and _pixels_vary(chart.png)


def test_comparison_bars(records: list[dict[str, Any]], new_records: list[dict[str, Any]]) -> None:
    made = charts(compare_records(records, new_records))
    assert [c.name for c in made] == ["comparison.png"] and _pixels_vary(made[0].png)


def test_write_charts_into_a_new_folder(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    paths = write_charts(build_report(records, "weak"), tmp_path / "charts" / "weak")
    assert [p.name for p in paths] == SCALING
    assert paths[0].stat().st_size > 10_000


def test_html_embeds_charts_as_base64(records: list[dict[str, Any]]) -> None:
    report = build_report(records, "regular")
    made = charts(report)
    page = to_html(report, made)
    assert page.count('src="data:image/png;base64,') == len(made) == 2
    assert base64.b64encode(made[0].png).decode() in page
    assert 'src="http' not in page and "<link" not in page  # self-contained


@pytest.mark.parametrize("value, mark, css", [
    pytest.param(343.0, "^", "num superlinear", id="efficiency-above-100"),
    pytest.param(10.0, "~", "num unsteady", id="no-steady-state"),
    pytest.param(10.0, "*~", "num noisy unsteady", id="noisy-and-unsteady"),
    pytest.param(10.0, "!", "num", id="partial-only-marked"),
    pytest.param("oom", "", "status", id="failed"),
    pytest.param(None, "", "missing", id="no-experiment"),
])
def test_html_colours_a_cell_by_its_mark(value: Any, mark: str, css: str) -> None:
    from dlbs.reports.html import _css

    assert _css(value, mark) == css


def test_html_escapes_log_values() -> None:
    record = {"exp.model": "<script>alert(1)</script>", "exp.replica_batch": 8,
              "results.status": "ok", "results.time": 1.0, "results.throughput": 8000.0}
    page = to_html(build_report([record], "regular"))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_charts_carry_a_provenance_line(records: list[dict[str, Any]]) -> None:
    from dlbs.reports.plots import footer
    from dlbs.reports.provenance import provenance

    report = build_report(records, "weak")
    assert footer(report) == ""
    report.provenance = provenance([{**r, "hw.hostname": "node1",
                                     "exp.framework_version": "2.13.0"} for r in records])
    line = footer(report)
    assert "node1" in line and "torch 2.13.0" in line
    assert all(c.png.startswith(b"\x89PNG") for c in charts(report))


def test_a_chart_says_when_its_runs_were_busy_or_not_steady(
        records: list[dict[str, Any]]) -> None:
    """A point cannot carry the tables' # and ~ marks: the chart's line says it (issue 30)."""
    from dlbs.reports.plots import footer
    from dlbs.reports.provenance import provenance

    report = build_report(records, "weak")
    states = [{**r, "results.other_cpu_share": 0.5 if i < 2 else 0.0,
               "results.steady_state": i != 0} for i, r in enumerate(records)]
    report.provenance = provenance(states)
    line = footer(report)
    ran = sum(r.get("results.status") == "ok" for r in records)  # runs that ran (issue 56)
    assert f"busy machine in 2 of {ran} runs;" in line
    assert f"no steady state in 1 of {len(records)} runs" in line
    report.provenance = provenance([{**r, "results.other_cpu_share": 0.0,
                                     "results.steady_state": True} for r in records])
    assert "busy" not in footer(report) and "steady" not in footer(report)


@pytest.mark.parametrize("low, high, expected", [
    pytest.param(0.5, 10.0, [0.5, 1.0, 2.0, 4.0, 8.0], id="wide: powers of 2"),
    pytest.param(0.93, 1.2, [0.95, 1.0, 1.05, 1.1, 1.15, 1.2], id="narrow: 5% steps"),
    pytest.param(0.985, 1.025, [0.99, 1.0, 1.01, 1.02], id="very narrow: 1% steps"),
])
def test_ratio_axis_has_at_least_three_plain_ticks(low: float, high: float,
                                                   expected: list[float]) -> None:
    from matplotlib.figure import Figure

    from dlbs.reports.plots import _ratio_ticks

    axes = Figure().subplots()
    axes.set_yscale("log")
    axes.set_ylim(low, high)
    _ratio_ticks(axes.yaxis, low, high)
    assert list(axes.yaxis.get_major_locator()()) == expected
    assert axes.yaxis.get_major_formatter()(1.25, 0) == "1.25x"


def test_legend_names_numbers_by_their_level() -> None:
    import pandas as pd

    from dlbs.reports.plots import _labels

    index = pd.MultiIndex.from_tuples([("ResNet-18", "gpu", 64), ("ResNet-18", "gpu", 128)],
                                      names=["Model", "Device", "Replica batch"])
    assert _labels(index) == ["replica batch 64", "replica batch 128"]


class RecordingAxes:
    """Just enough of matplotlib's Axes to record the lines drawn."""

    def __init__(self) -> None:
        self.lines: list[tuple[list[float], list[float], str]] = []

    def plot(self, xs: list[float], ys: list[float], **style: Any) -> None:
        self.lines.append((list(xs), list(ys), style["label"]))


def test_speedup_chart_draws_the_ideal_line_from_each_base(
        records: list[dict[str, Any]]) -> None:
    from dlbs.reports.plots import _ideal_line

    report = build_report(records, "weak")
    speedup = next(t for t in report.tables if t.name == "speedup")
    axes = RecordingAxes()
    _ideal_line(axes, speedup, [0])  # AlexNet, batch 16: from 1 device
    assert axes.lines == [([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], "linear scaling (ideal)")]
    oom_row = [r for r, k in enumerate(speedup.data.index) if speedup.data.iat[r, 0] == "oom"]
    axes = RecordingAxes()
    _ideal_line(axes, speedup, [0, *oom_row])  # bases 1 and 2 devices: two, one in the legend
    assert axes.lines == [([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], "linear scaling (ideal)"),
                          ([2.0, 4.0], [1.0, 2.0], "_nolegend_")]


@pytest.mark.parametrize("kind, chart, lines, outside", [
    pytest.param("regular", "throughput_alexnet.png", 3, False, id="three-lines-inside"),
    pytest.param("weak", "efficiency.png", 6, True, id="six-lines-beside-the-axes"),
])
def test_a_long_legend_goes_beside_the_axes(kind: str, chart: str, lines: int, outside: bool,
                                             records: list[dict[str, Any]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from dlbs.reports import plots

    legends: list[Any] = []
    # (``_images`` saves a figure in each --plot-format; it was ``_png`` before issue 20)
    monkeypatch.setattr(plots, "_images", lambda figure, formats: legends.append(
        figure.axes[0].get_legend()) or plt.close(figure) or {"png": b""})
    names = [c.name for c in charts(build_report(records, kind))]
    legend = legends[names.index(chart)]
    assert len([t for t in legend.get_texts() if "linear" not in t.get_text()]) == lines
    assert (legend.get_bbox_to_anchor().x0 > legend.axes.bbox.x1) == outside


def test_efficiency_chart_above_100_percent_says_so_in_its_title() -> None:
    from .test_scaling import repeated

    # repeated runs: "above 100%" needs the efficiency's interval above 100% (issue 19)
    report = build_report([*repeated(1, 20.0, **{"exp.num_threads": 2}),
                           *repeated(2, 10.0, **{"exp.num_threads": 1})], "weak")
    titles = {c.name: c.title for c in charts(report)}
    assert "above 100%" in titles["efficiency.png"] and "replica batch 8" in titles["speedup.png"]
    assert "above 100%" not in titles["speedup.png"]


@pytest.mark.parametrize("name, label", [
    ("results.time_p50", "results.time_p50 (ms)"),
    ("throughput_median", "throughput_median (samples/s)"),
    ("results.use.rss_mb_peak", "results.use.rss_mb_peak (MiB)"),
    ("results.use.gpu_power_w_peak", "results.use.gpu_power_w_peak (W)"),
    ("exp.runner_start_time", "exp.runner_start_time"),
])
def test_pivot_value_axis_names_its_unit(name: str, label: str) -> None:
    from dlbs.reports.plots import value_label

    assert value_label(name, name) == label


def test_comparison_points_are_coloured_by_verdict() -> None:
    from dlbs.reports.plots import VERDICT_COLORS, _verdict_group

    groups = [_verdict_group(v) for v in ("faster", "slower", "no significant change",
                                          "no verdict: 1 run on a side")]
    assert groups[:2] == ["faster", "slower"] and len(set(groups[2:])) == 1
    assert set(groups) <= set(VERDICT_COLORS)


def test_failed_cells_are_written_at_the_foot_not_drawn_as_zero(
        records: list[dict[str, Any]]) -> None:
    from dlbs.reports.plots import _points, _statuses

    table = build_report(records, "regular").tables[1]
    row = next(r for r, k in enumerate(table.data.index) if k == ("ResNet-50", "1x gpu"))
    assert _statuses(table, row) == [(64.0, "oom")]
    assert [p.x for p in _points(table, row)] == [16.0, 32.0]


def test_a_chart_names_what_its_lines_share_in_the_title(records: list[dict[str, Any]]) -> None:
    report = build_report(records, "strong")
    titles = {c.name: c.title for c in charts(report)}
    assert titles["efficiency.png"] == "Strong scaling: scaling efficiency vs number of devices\ngpu"


def _figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Capture each chart's figure (left open) instead of saving it."""
    from dlbs.reports import plots

    figures: list[Any] = []
    monkeypatch.setattr(plots, "_images", lambda figure, formats: figures.append(figure)
                        or {fmt: b"" for fmt in formats})
    return figures


def test_a_long_title_is_wrapped_inside_its_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row named by a long model title (a Llama with its settings) is drawn on wrapped
    lines that fit the figure's width, never cut at its edges; the chart's own title (the
    page's caption) keeps its words on their lines."""
    from .test_tables import run

    model = ("Llama 3.2 1B (heads=4, hidden=32, intermediate=64, kv_heads=2, layers=2, "
             "num_classes=64)")
    records = [run(time=10.0 * n, **{"exp.model_title": model, "exp.num_replicas": n})
               for n in (1, 2, 4)]
    figures = _figures(monkeypatch)
    found = charts(build_report(records, "weak"))
    titles = [f.axes[0].get_title() for f in figures]
    efficiency = titles[[c.name for c in found].index("efficiency.png")]
    assert efficiency.split() == found[[c.name for c in found].index("efficiency.png")
                                       ].title.split()
    for figure, title in zip(figures, titles):
        renderer = figure.canvas.get_renderer()
        box = figure.axes[0].title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= figure.bbox.x1, title


def test_an_interval_with_no_upper_bound_is_drawn_open_ended(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three runs of 10, 12 and 1000 ms: the throughput's interval (the one estimator, t on 2
    degrees of freedom) reaches 2 x 10^5 samples/s, 650 x its value: an arrow to the axis'
    edge, named in the legend, and the axis is not stretched to it (issue 56); the table
    prints no such end either (the one rule, ``benchstats.shown_ends``)."""
    from dlbs.reports.plots import OPEN_LABEL

    from .test_tables import run

    records = [run(time=10.0), run(time=12.0), run(time=1000.0), run(batch=32, time=20.0),
               run(batch=32, time=21.0), run(batch=32, time=20.5)]
    report = build_report(records, "regular")
    interval = next(t for t in report.tables if t.name == "throughput_ci")
    assert interval.data.iat[0, 0] == "open"  # both ends beyond 3x: neither printed
    figures = _figures(monkeypatch)
    charts(report)
    axes = figures[0].axes[0]
    arrows = [a for a in axes.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == 1 and arrows[0].xy == (16.0, 1.0)  # from batch 16 up to the edge
    assert OPEN_LABEL in [t.get_text() for t in axes.get_legend().get_texts()]
    assert axes.get_ylim()[1] < 1e4  # set by the values, not by the open interval


def test_a_closed_interval_gets_no_arrow(records: list[dict[str, Any]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _figures(monkeypatch)
    charts(build_report(records, "regular"))
    assert not any(getattr(a, "arrow_patch", None) is not None
                   for figure in figures for a in figure.axes[0].texts)


def test_the_comparison_chart_marks_busy_verdicts_and_names_the_assumed_session_cv(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from .test_tables import run

    base = [run(time=10.0 + n * 0.1, **{"results.other_cpu_share": 0.5 if n == 0 else 0.0})
            for n in range(3)]
    new = [run(time=9.0 + n * 0.1) for n in range(3)]
    figures = _figures(monkeypatch)
    charts(compare_records(base, new))
    axes = figures[0].axes[0]
    assert axes.get_yticklabels()[0].get_text().endswith(" #")
    assert any(t.get_text().startswith("# busy machine")
               for t in axes.get_legend().get_texts())
    title = " ".join(figures[0].get_suptitle().split())  # wrapped to the figure's width
    assert "2.25% session CV assumed for a side of one session" in title


def test_a_sweep_with_a_max_batch_draws_its_numeric_batches_and_says_what_it_left_out(
        records: list[dict[str, Any]]) -> None:
    """A sweep over ``[16, 32, 64, "max"]`` makes the pivot's columns text ("16", ..., "max"):
    the regular chart drew nothing at all (not even 16-64), without a word. Now the numeric
    batches are drawn and the provenance line says the ``max`` column was not (its batch is the
    run's own: the resources table's 'Max batch found')."""
    from dlbs.reports.plots import _not_drawn, _points

    found = []
    for repeat in range(3):
        run = dict(next(r for r in records if r["exp.model"] == "alexnet"
                        and r["exp.num_replicas"] == 1 and r["results.status"] == "ok"))
        run.update({"exp.replica_batch": "max", "exp.effective_batch": 48,
                    "exp.id": "alexnet-max-1", "results.max_batch": 48,
                    "exp.log_file": f"/logs/alexnet_max_{repeat}.log"})
        found.append(run)
    report = build_report([*records, *found], "regular")
    table = next(t for t in report.tables if t.name == "throughput")
    assert "max" in [str(c) for c in table.data.columns]
    row = next(r for r, k in enumerate(table.data.index) if k == ("AlexNet", "1x gpu"))
    assert [p.x for p in _points(table, row)] == [16.0, 32.0, 64.0]
    assert "replica batch max not drawn" in _not_drawn(table, [row])
    made = {c.name: c for c in charts(report)}
    assert _pixels_vary(made["throughput_alexnet.png"].png)
    plain = build_report(records, "regular")
    assert _not_drawn(plain.tables[1], [0]) == ""


def test_a_chart_does_not_call_runs_not_tested_unsteady(records: list[dict[str, Any]]) -> None:
    """Issue 58: runs too short for the steady-state test are neither steady nor unsteady; the
    footer counted every run not steady as "no steady state"."""
    from dlbs.reports.plots import footer
    from dlbs.reports.provenance import provenance

    report = build_report(records, "weak")
    states = [{**r, "results.steady_state": False if i == 0 else None,
               "results.steady_state_untested": None if i == 0 else "too few iterations"}
              for i, r in enumerate(records)]
    report.provenance = provenance(states)
    n = len(records)
    assert (f"no steady state in 1 of {n} runs ({n - 1} not tested: too few iterations)"
            in footer(report))


def test_charts_are_named_by_the_model_run_else_by_its_title() -> None:
    """Issue 58: the first sweep's chart of ``exp.model=resnet18`` was throughput_resnet_18.png
    (its title's slug); it is named by the model now, and by the title where the title names
    two models or a record has no ``exp.model``."""
    import pandas as pd

    from dlbs.reports.tables import model_names

    agg = pd.DataFrame({"model_title": ["ResNet-18", "ResNet-18", "Custom", "Custom", "Old"],
                        "model": ["resnet18", "resnet18", "a", "b", None]})
    assert model_names(agg) == {"ResNet-18": "resnet18"}
    assert model_names(agg.drop(columns="model")) == {}

"""Issue 58, item 2: a chart says what was measured (phase, precision, device) and none of its
text is cut: every text the figure draws lies inside the figure (the provenance footer ran past
the right edge of the first report's chart)."""
from __future__ import annotations

from typing import Any

import pytest
from matplotlib.figure import Figure

from dlbs.reports import plots
from dlbs.reports.build import build_report, compare_records
from dlbs.reports.plots import footer
from dlbs.reports.provenance import provenance

from .test_serving_report import _run, _search


def _long_provenance(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records on many hosts with long names: a footer several times a chart's width."""
    return [{**r, "hw.hostname": f"a-rather-long-node-name-{i:03d}.cluster.example.org",
             "hw.cpu_model": "AMD EPYC 9654 96-Core Processor with a long marketing name",
             "exp.dtype": "float32"} for i, r in enumerate(records)]


def _texts_inside(figure: Figure) -> list[str]:
    """What of ``figure`` reaches outside it after drawing: an axes with its labels, ticks
    and title as drawn (tick labels outside the view are not drawn), or a figure text."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box = figure.bbox
    pieces = [(ax.get_title() or ax.get_ylabel() or "axes", ax.get_tightbbox(renderer))
              for ax in figure.axes]
    pieces += [(t.get_text()[:60], t.get_window_extent(renderer)) for t in figure.texts
               if t.get_text().strip()]
    if figure._suptitle is not None:
        pieces.append((figure._suptitle.get_text(), figure._suptitle.get_window_extent(renderer)))
    return [name for name, extent in pieces if extent is not None and (
        extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1
        or extent.y1 > box.y1 + 1)]


@pytest.mark.parametrize("kind", ["regular", "weak", "strong", "pivot", "compare"])
def test_no_chart_text_is_cut_and_the_footer_says_what_was_measured(
        kind: str, records: list[dict[str, Any]], new_records: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], str]] = []
    images = plots._images

    def checked(figure: Figure, formats: tuple[str, ...]) -> dict[str, bytes]:
        texts = [t.get_text() for t in figure.texts]
        seen.append((_texts_inside(figure), "\n".join(texts)))
        return images(figure, formats)

    monkeypatch.setattr(plots, "_images", checked)
    long = _long_provenance(records)
    if kind == "compare":
        report = compare_records(long, _long_provenance(new_records))
    elif kind == "pivot":
        report = build_report(long, pivot=(["model"], ["devices"], "results.time_p50"))
    else:
        report = build_report(long, kind)
    report.provenance = provenance(long, ["/a/folder/of/logs"])  # as dlbs report sets it
    plots.charts(report)
    assert seen
    for outside, sign in seen:
        assert outside == []
        assert "training" in sign or "inference" in sign
        assert "float32" in sign


def test_the_text_report_names_phase_precision_and_device(
        records: list[dict[str, Any]]) -> None:
    info = provenance([{**r, "exp.dtype": "bfloat16", "exp.phase": "inference",
                        "exp.device_type": "cpu"} for r in records])
    assert (info["phases"], info["precisions"], info["device_types"]) == \
        (["inference"], ["bfloat16"], ["cpu"])
    assert list(info)[:4] == ["models", "phases", "precisions", "device_types"]


def test_the_footer_names_every_precision_not_the_first_two(
        records: list[dict[str, Any]]) -> None:
    mixed = [{**r, "exp.dtype": ("float32", "bfloat16", "float16")[i % 3]}
             for i, r in enumerate(records)]
    report = build_report(mixed, "regular")
    report.provenance = provenance(mixed)
    assert footer(report).startswith("training float32/bfloat16/float16 gpu; ")


@pytest.mark.parametrize("with_loads", [True, False], ids=["serving", "capacity"])
def test_no_serving_chart_text_is_cut(with_loads: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    outside: list[list[str]] = []
    images = plots._images

    def checked(figure: Figure, formats: tuple[str, ...]) -> dict[str, bytes]:
        outside.append(_texts_inside(figure))
        return images(figure, formats)

    monkeypatch.setattr(plots, "_images", checked)
    name = "a-served-model-with-a-rather-long-name/Instruct-v0.3-awq"
    loads = [_run(r, 40.0 * r, model=name) for r in (1, 2, 4, 8)] if with_loads else []
    runs = [*loads, _search(6.1, [5.5, 6.8], model=name),
            _search(3.0, None, unit="concurrency", model=name)]
    report = build_report(_long_provenance(runs))
    report.provenance = provenance(_long_provenance(runs), ["/a/folder/of/logs"])
    plots.charts(report)
    assert outside and all(o == [] for o in outside)

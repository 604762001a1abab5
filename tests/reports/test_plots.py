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
    pytest.param("regular", ["throughput_alexnet.png", "throughput_resnet_50.png"], id="regular"),
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

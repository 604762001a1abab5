"""``--plot-format``: charts as PNG, SVG (text as paths) and PDF (fonts embedded), bad formats
refused, and the HTML page still embedding PNG."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.cli.report import plot_formats

from .test_golden import measured

LogsOf = Callable[[list[dict[str, Any]], Path], list[Path]]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
STEMS = ["efficiency", "scaling_throughput", "speedup"]


@pytest.fixture
def log_dir(tmp_path: Path, records: list[dict[str, Any]], logs_of: LogsOf) -> Path:
    logs_of(measured(records), tmp_path / "logs" / "sweep")
    return tmp_path / "logs"


def pdf_fonts(pdf: bytes) -> tuple[list[str], int, int]:
    """The font subtypes a PDF names, its font descriptors, and its embedded TrueType font
    files (matplotlib writes font dictionaries as plain objects; only streams are deflated)."""
    subtypes = [m.decode() for m in re.findall(rb"/Subtype\s*/(Type[013]|TrueType|CIDFontType[02]"
                                               rb"|MMType1)\b", pdf)]
    return subtypes, len(re.findall(rb"/Type\s*/FontDescriptor\b", pdf)), pdf.count(b"/FontFile2")


def check_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)


def check_svg(data: bytes) -> None:
    root = ET.fromstring(data)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}text")), "text left as <text>: it needs a font to show"
    assert len(list(root.iter(f"{SVG}path"))) > 50  # the glyphs and lines, drawn


def check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    subtypes, descriptors, embedded = pdf_fonts(data)
    assert subtypes and set(subtypes) <= {"Type0", "CIDFontType2"}, subtypes  # TrueType (42)
    assert descriptors == embedded >= 1  # every font's file is in the PDF: none left out


CHECKS = {"png": check_png, "svg": check_svg, "pdf": check_pdf}


@pytest.mark.parametrize("flags, formats", [
    pytest.param([], ["png"], id="default-png"),
    pytest.param(["--plot-format", "svg"], ["svg"], id="svg-only"),
    pytest.param(["--plot-format", "png,svg,pdf"], ["png", "svg", "pdf"], id="comma-list"),
    pytest.param(["--plot-format", "pdf", "--plot_format", "SVG"], ["pdf", "svg"],
                 id="repeated-flag"),
])
def test_each_chart_is_written_in_each_format(flags: list[str], formats: list[str],
                                              log_dir: Path, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    assert main(["report", str(log_dir), "--recursive", "--type", "strong", "--plot",
                 str(charts), *flags]) == 0
    assert sorted(p.name for p in charts.iterdir()) == sorted(
        f"{stem}.{fmt}" for stem in STEMS for fmt in formats)
    for path in charts.iterdir():
        CHECKS[path.suffix[1:]](path.read_bytes())


@pytest.mark.parametrize("argv, message", [
    pytest.param(["--plot-format", "jpg"], "error: --plot-format: unknown format 'jpg'; choose "
                 "from png, svg, pdf", id="unknown"),
    pytest.param(["--plot-format", "png,,svg"], "error: --plot-format: unknown format ''",
                 id="empty-item"),
    pytest.param(["--plot-format", "png,eps"], "error: --plot-format: unknown format 'eps'",
                 id="one-bad-in-a-list"),
])
def test_bad_plot_format_is_a_one_line_usage_error(argv: list[str], message: str, log_dir: Path,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    charts = tmp_path / "charts"
    assert main(["report", str(log_dir), "--recursive", "--plot", str(charts), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not charts.exists()  # refused before anything is read or written


def test_plot_format_without_plot_is_refused(log_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(log_dir), "--recursive", "--plot-format", "svg"]) == 2
    assert capsys.readouterr().err == \
        "error: --plot-format applies to --plot DIR (the HTML page embeds PNG)\n"


def test_html_page_embeds_png_whatever_the_plot_formats(log_dir: Path, tmp_path: Path) -> None:
    page, charts = tmp_path / "report.html", tmp_path / "charts"
    assert main(["report", str(log_dir), "--recursive", "--format", "html", "--output_file",
                 str(page), "--plot", str(charts), "--plot-format", "svg"]) == 0
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2 and "<svg" not in text
    assert sorted(p.suffix for p in charts.iterdir()) == [".svg", ".svg"]


def test_plot_formats_are_deduplicated_in_order() -> None:
    assert plot_formats(None) == ["png"]
    assert plot_formats(["svg, png", "svg"]) == ["svg", "png"]

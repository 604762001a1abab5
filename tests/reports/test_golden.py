"""Every report type in every format against its golden file (``DLBS_UPDATE_GOLDEN=1`` rewrites).

The core builders are pure (records in, report out), so these tests need no files but the
golden ones. HTML is compared without charts (PNG bytes depend on the matplotlib build); the
charts are tested in ``test_plots.py`` and the rendered page in ``test_html_browser.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlbs.reports.build import build_report, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.model import Report
from dlbs.reports.render import RENDERERS

EXTENSIONS = {"text": "txt", "markdown": "md", "csv": "csv", "json": "json", "html": "html"}
KINDS = ["regular", "weak", "strong", "summary", "pivot", "compare"]


def make(kind: str, records: list[dict[str, Any]], new_records: list[dict[str, Any]]) -> Report:
    if kind == "pivot":
        return build_report(records, pivot=(["model"], ["devices"], "results.time_p50"))
    if kind == "compare":
        return compare_records(records, new_records)
    return build_report(records, kind)


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_report_matches_golden(kind: str, fmt: str, records: list[dict[str, Any]],
                               new_records: list[dict[str, Any]],
                               golden: Callable[[str, str], None]) -> None:
    report = make(kind, records, new_records)
    text = to_html(report) if fmt == "html" else RENDERERS[fmt](report)
    golden(f"{kind}.{EXTENSIONS[fmt]}", text)

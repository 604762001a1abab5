"""Every report type in every format against its golden file (``DLBS_UPDATE_GOLDEN=1`` rewrites).

The core builders are pure (records in, report out), so these tests need no files but the
golden ones. Provenance is computed from the records with fixed host facts and a fixed
report-maker (version, commit, dirty flag), so neither this checkout's commit nor today's date
ever enters a golden file. HTML is compared without charts (PNG bytes depend on the matplotlib build); the
charts are tested in ``test_plots.py`` and the rendered page in ``test_html_browser.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlbs.reports.build import build_report, compare_records
from dlbs.reports.html import to_html
from dlbs.reports.model import Report
from dlbs.reports.provenance import provenance
from dlbs.reports.render import RENDERERS

EXTENSIONS = {"text": "txt", "markdown": "md", "csv": "csv", "json": "json", "html": "html"}
KINDS = ["regular", "weak", "strong", "summary", "pivot", "compare"]
#: Facts of where the golden runs were measured, and the dlbs that "made" the golden reports.
HOST_FACTS: dict[str, Any] = {
    "hw.hostname": "node1", "hw.cpu_model": "Intel Xeon Platinum 8480+",
    "hw.devices": ["NVIDIA H100 80GB HBM3"], "exp.framework_version": "2.5.1",
    "hw.cuda_version": "12.4", "exp.dlbs_commit": "0123456789abcdef0123456789abcdef01234567",
    "exp.num_batches": 100, "exp.num_warmup_batches": 5,
    "exp.start_time": "2026-11-01T10:00:00+00:00", "exp.end_time": "2026-11-01T12:30:00+00:00"}
REPORT_BY: dict[str, Any] = {"version": "0.1.0", "commit": "fedcba9876543210", "dirty": False}


#: The one run that found no steady state (marked ``~``).
UNSTEADY_LOG = "/logs/alexnet_64_1_0.log"


def measured(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with host facts, and a steady state known for every successful run."""
    out = []
    for record in records:
        record = {**record, **HOST_FACTS}
        if record["results.status"] == "ok":
            record["results.steady_state"] = record["exp.log_file"] != UNSTEADY_LOG
        out.append(record)
    return out


def make(kind: str, records: list[dict[str, Any]], new_records: list[dict[str, Any]]) -> Report:
    if kind == "compare":  # the comparison's goldens are its own (tests/reports/test_compare*)
        return compare_records(records, new_records)
    records = measured(records)
    if kind == "pivot":
        report = build_report(records, pivot=(["model"], ["devices"], "results.time_p50"))
    else:
        report = build_report(records, kind)
    report.provenance = provenance(records, ["/data/logs/sweep"], REPORT_BY)
    return report


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_report_matches_golden(kind: str, fmt: str, records: list[dict[str, Any]],
                               new_records: list[dict[str, Any]],
                               golden: Callable[[str, str], None]) -> None:
    report = make(kind, records, new_records)
    text = to_html(report) if fmt == "html" else RENDERERS[fmt](report)
    golden(f"{kind}.{EXTENSIONS[fmt]}", text)

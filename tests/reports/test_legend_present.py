"""Issue 58, item 2: a report's legend explains only the columns its tables have, and a small
figure keeps three significant digits (a CPU report printed ``TFLOP/s 0.00`` beside ``MFU 1.4%``
and a legend of max batch, largest rank, planned peak, comm. share and energy it never showed)."""
from __future__ import annotations

from typing import Any

from dlbs.reports.build import build_report, compare_records
from dlbs.reports.figure_tables import significant_digits
from dlbs.reports.render import to_text


def _cpu_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a CPU sweep logs them: FLOPs, TFLOP/s, MFU and peak memory only."""
    out = []
    for r in records:
        run = {k: v for k, v in r.items() if not k.startswith("results.") or k in (
            "results.status", "results.time", "results.throughput", "results.time_ci95")}
        run["exp.device_type"] = "cpu"
        out.append({**run, "results.flops_per_sample": 1.43e9, "results.tflops": 0.0012,
                    "results.mfu": 0.014, "results.peak_memory_mb": 565.0})
    return out


def test_the_legend_explains_only_the_columns_shown(records: list[dict[str, Any]]) -> None:
    text = to_text(build_report(_cpu_runs(records), "regular"))
    assert "MFU: model FLOPs utilisation" in text and "peak memory: peak RSS" in text
    for absent in ("max batch found:", "largest rank:", "planned peak:", "comm. share:",
                   "energy over the timed window", "peak reserved"):
        assert absent not in text


def test_a_small_figure_keeps_three_significant_digits(records: list[dict[str, Any]]) -> None:
    text = to_text(build_report(_cpu_runs(records), "regular"))
    assert "0.00120" in text and " 0.00 " not in text
    assert significant_digits([0.0859, 0.119], 2) == 4  # 0.0859
    assert significant_digits([565.0, 582.0], 0) == 0  # a size keeps its own
    assert significant_digits([52, 64], 0) == 0
    assert significant_digits(["failure", 0.5], 2) == 3  # 0.500; a status is no figure


def test_a_cpu_report_says_what_peak_memory_is_on_a_cpu(records: list[dict[str, Any]]) -> None:
    text = to_text(build_report(_cpu_runs(records), "regular"))
    assert "peak memory: peak RSS over the timed window" in text
    assert "GPU allocation" not in text and "torch.cuda" not in text


def test_a_comparison_explains_its_columns_and_keeps_small_figures(
        records: list[dict[str, Any]], new_records: list[dict[str, Any]]) -> None:
    text = to_text(compare_records(_cpu_runs(records), _cpu_runs(new_records)))
    assert "MFU: model FLOPs utilisation" in text and " 0.00120 " in text
    for absent in ("max batch found:", "largest rank:", "planned peak:", "comm. share:",
                   "GFLOP/sample:", "GPU allocation"):
        assert absent not in text

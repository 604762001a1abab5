"""``dlbs accept --html``: the fleet chart and the page (issue 60 item 3)."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from benchstats.fleet import MIN_CHANGE, judge_fleet

from dlbs.accept.page import fleet_bound, html_page, percent_off, reference_bound
from dlbs.accept.verdict import Reference, judge_checks
from dlbs.cli.main import main

SPREAD = [1.000, 1.004, 0.997, 1.002, 0.999, 1.003, 0.998, 1.001, 0.996, 1.002]


def _figures(slow: float) -> dict[str, dict[str, list[float]]]:
    return {f"node{i + 1}": {"matmul_fp32": [100.0 * s], "memcopy": [50.0 * s]}
            for i, s in enumerate([*SPREAD, slow])}


def test_percent_off_is_negative_when_worse_whichever_way_the_check_counts() -> None:
    assert percent_off(0.9, higher_is_better=True) == pytest.approx(-10.0)
    assert percent_off(1.25, higher_is_better=False) == pytest.approx(-20.0)
    assert percent_off(0.8, higher_is_better=False) == pytest.approx(25.0)


def test_the_fleet_bound_separates_the_failed_node_from_the_passed_ones() -> None:
    fleet = judge_fleet({n: c["matmul_fp32"] for n, c in _figures(0.95).items()}, "matmul_fp32")
    bound = fleet_bound(fleet)
    assert bound is not None and bound <= -100 * MIN_CHANGE
    xs = {n.node: percent_off(n.ratio, True) for n in fleet.nodes}
    assert [n.node for n in fleet.failed] == ["node11"] and xs["node11"] < bound
    assert all(xs[n.node] > bound for n in fleet.nodes if not n.failed)


def test_a_fleet_too_small_to_judge_has_no_fleet_bound() -> None:
    fleet = judge_fleet({"a": [1.0], "b": [1.1]}, "matmul_fp32")
    assert fleet_bound(fleet) is None


def test_the_reference_bound_is_in_percent_of_the_fleets_median() -> None:
    fleet = judge_fleet({n: c["matmul_fp32"] for n, c in _figures(1.0).items()}, "matmul_fp32")
    ref = Reference("matmul_fp32", 0.9 * fleet.median, "GFLOP/s", "2026-11-29, test")
    assert reference_bound(fleet, ref) == pytest.approx(-10.0)
    assert reference_bound(fleet, None) is None


def test_the_page_holds_the_verdicts_the_chart_and_the_false_alarm_lines() -> None:
    verdicts, fleets = judge_checks(_figures(0.9), {})
    page = html_page(verdicts, fleets, {})
    assert "node11: FAIL: matmul_fp32 90" in page and "--exclude=node11" in page
    assert page.count('<tr class="fail">') == 2 and page.count('<tr class="pass">') == 20
    assert all(f.said in page for f in fleets)
    png = base64.b64decode(re.search(r"base64,([^\"]+)\"", page).group(1))  # type: ignore[union-attr]
    assert png.startswith(b"\x89PNG")


def test_node_names_are_escaped_on_the_page() -> None:
    figures = {"<b>n1</b>": {"matmul_fp32": [1.0]}, "n2": {"matmul_fp32": [1.0]}}
    verdicts, fleets = judge_checks(figures, {})
    page = html_page(verdicts, fleets, {})
    assert "<b>n1</b>" not in page and "&lt;b&gt;n1&lt;/b&gt;" in page


def test_accept_writes_the_html_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "f.json"
    figures.write_text(json.dumps(_figures(0.9)))
    page = tmp_path / "accept.html"
    assert main(["accept", "fleet", "--figures", str(figures), "--html", str(page)]) == 1
    assert "--exclude=node11" in page.read_text()
    capsys.readouterr()
    assert main(["accept", "fleet", "--figures", str(figures), "--html",
                 str(tmp_path / "no" / "such" / "dir" / "a.html")]) != 0
    out, err = capsys.readouterr()
    assert err.strip().startswith("error: dlbs accept: --html ") and out == ""  # before judging
    assert len(err.strip().splitlines()) == 1


def test_the_pairs_lines_are_on_the_page_escaped() -> None:
    from dlbs.accept.page import html_page
    from dlbs.accept.verdict import CheckVerdict

    verdicts = [CheckVerdict("n1", "pair_busbw", True, "pair_busbw: pair n1+n2 <slow>"),
                CheckVerdict("n2", "pair_busbw", False, "pair_busbw: n1+n2 0.9 GB/s: ok")]
    page = html_page(verdicts, [], {}, pair_lines=["pair n1+n2: FAIL: pair_busbw 0.05 <GB/s>"])
    assert "pair n1+n2: FAIL: pair_busbw 0.05 &lt;GB/s&gt;" in page
    assert "--exclude=n1" in page and "<slow>" not in page

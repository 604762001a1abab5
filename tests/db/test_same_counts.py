"""Issue 56, item 7: one database gives the same counts in ``dlbs regressions`` and ``dlbs db
page``: "N of M" names its M and what was left out and why, and the series left out carries a
mark on the page."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main


def test_regressions_and_page_count_alike_and_mark_the_unjudged(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "logs"
    for v in range(12):  # resnet: twelve versions of three runs, judged
        for repeat in range(3):
            logs.write(folder / f"r{v}{repeat}.log", logs.facts(
                model="resnet18", code=f"v{v:02d}", day=1 + v, repeat=repeat,
                throughput=100.0 + (v * 7 % 5) / 10 + repeat))
    logs.write(folder / "a.log", logs.facts(model="alexnet_owt", throughput=50.0, code="v00",
                                            day=1))  # one run: too short
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "ingest", "--db", url, str(folder)]) == 0
    capsys.readouterr()
    assert main(["regressions", "--db", url]) == 0
    said = re.search(r"(\d+) series, (\d+) judged, (\d+) too short to judge",
                     capsys.readouterr().err)
    assert said is not None and said.groups() == ("2", "1", "1")
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "index.html").read_text()
    assert "37 runs; 1 of 2 configurations judged for changes (1 too short to judge;" in page
    assert page.count("(not judged: ") == 1


#: The summary line of ``dlbs regressions`` (stderr) and its question.
SAID = re.compile(r"(\d+) series, (\d+) judged, (\d+) too short to judge; (\d+) regression\(s\)"
                  r", (\d+) improvement\(s\) beyond 5% \((histories|newest points): ")


def _said(err: str) -> tuple[str, ...]:
    found = SAID.search(err)
    assert found is not None, err
    return found.groups()


def test_the_page_shows_the_gates_newest_point_counts_and_names_each_question(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 58: six versions are too short for a change point (12 points) but enough for
    ``--latest`` (5 before the newest): the gate failed on resnet's newest point while the
    page said only "1 of 2 configurations judged ... No change beyond the minimum". The page
    now shows the gate's verdicts with the gate's counts and exit code, and each count names
    its question (histories or newest points)."""
    folder = tmp_path / "logs"
    for v in range(6):  # resnet: six versions of three runs, the newest 20% slower
        for repeat in range(3):
            logs.write(folder / f"r{v}{repeat}.log", logs.facts(
                model="resnet18", code=f"v{v:02d}", day=1 + v, repeat=repeat,
                throughput=(80.0 if v == 5 else 100.0) + (v * 7 % 5) / 10 + repeat / 10))
    logs.write(folder / "a.log", logs.facts(model="alexnet_owt", throughput=50.0, code="v00",
                                            day=1))  # one run: too short for either
    url = logs.ingest(folder, tmp_path / "r.db")
    capsys.readouterr()
    assert main(["regressions", "--db", url, "--latest"]) == 1
    latest = _said(capsys.readouterr().err)
    assert latest == ("2", "1", "1", "1", "0", "newest points")
    assert main(["regressions", "--db", url]) == 3  # nothing judged: not a pass
    histories = _said(capsys.readouterr().err)
    assert histories == ("2", "0", "2", "0", "0", "histories")
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    said = capsys.readouterr().err
    assert "0 changes in the histories; newest points: 1 of 2 judged, 1 regression(s)" in said
    page = (tmp_path / "page" / "index.html").read_text()
    newest = re.search(r"newest points: (\d+) of (\d+) configurations judged \((\d+) too short "
                       r"to judge\): .*?; (\d+) regression\(s\), (\d+) improvement\(s\) beyond "
                       r"5% .*? on this database exits (\d)", page)
    assert newest is not None
    assert newest.groups() == (latest[1], latest[0], latest[2], latest[3], latest[4], "1")
    whole = re.search(r"histories: (\d+) of (\d+) configurations judged \((\d+) too short", page)
    assert whole is not None and whole.groups() == (histories[1], histories[0], histories[2])
    gate = page.split("<h2>Newest points")[1].split("<h2>Changes found in the histories")[0]
    assert "<tr class='regression'>" in gate and "v04" in gate and "v05" in gate

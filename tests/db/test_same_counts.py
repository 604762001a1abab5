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

"""Issue 58 (second pass): ``dlbs history``, ``dlbs db page`` and ``dlbs regressions`` mark a
point whose runs were made on a busy machine (``results.other_cpu_share`` above 0.10, the
facts every run keeps) with the reports' ``#``, say what it means in one legend line, and
count such points (``1 of 7 points from busy runs``). A share at or below the threshold, a
null one (a window too short to judge) and a log without it mark nothing."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.db.busy import BUSY_LEGEND

#: resnet18's seven versions: the share of other processes in each version's runs.
SHARES: dict[int, Any] = {0: 0.02, 1: 0.10, 2: None, 3: 0.0, 4: 0.01, 6: 0.35}  # 5: not logged
SLOWER = 6  # the newest version: 20% slower, measured on a busy machine


def _database(logs: Any, tmp_path: Path, db_url: str) -> str:
    folder = tmp_path / "logs"
    for v in range(7):
        for repeat in range(3):
            extra = ({} if v not in SHARES else
                     {"results.other_cpu_share": SHARES[v], "results.other_cpu_seconds": 1.0})
            if v == SLOWER and repeat:  # one busy run of three is enough to mark the point
                extra["results.other_cpu_share"] = 0.01
            logs.write(folder / f"r{v}{repeat}.log", logs.facts(
                model="resnet18", code=f"v{v:02d}", day=1 + v, repeat=repeat,
                throughput=(80.0 if v == SLOWER else 100.0) + (v * 7 % 5) / 10 + repeat / 10,
                **extra))
    assert main(["db", "ingest", "--db", db_url, str(folder)]) == 0
    return db_url


def test_history_marks_the_busy_point_and_counts_it(
        logs: Any, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, db_url)
    capsys.readouterr()
    assert main(["history", "--db", url]) == 0
    out = capsys.readouterr().out
    marked = [line for line in out.splitlines() if line.rstrip().endswith(" #")]
    assert [line.split()[1] for line in marked] == ["v06"]
    assert f"{BUSY_LEGEND} (1 of 7 points from busy runs)" in out
    assert main(["history", "--db", url, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [(r["at"], r["busy_runs"], r["mark"]) for r in rows if r["busy_runs"]] == [
        ("v06", 1, "#")]
    assert "note: #: a run of the point was made on a busy machine" in err


def test_regressions_mark_a_change_at_a_busy_point(
        logs: Any, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, db_url)
    capsys.readouterr()
    assert main(["regressions", "--db", url, "--latest"]) == 1
    out, err = capsys.readouterr()
    header, row = out.splitlines()[:2]
    assert header.split()[-1] == "mark" and row.split()[-1] == "#"
    assert (f"note: {BUSY_LEGEND} (1 of 1 newest points from busy runs; 1 of 1 changes name "
            "a point from busy runs)") in err
    assert main(["regressions", "--db", url, "--latest", "--format", "json"]) == 1
    assert [c["busy"] for c in json.loads(capsys.readouterr().out)] == [True]


def test_the_page_marks_the_point_and_the_change(
        logs: Any, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, db_url)
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "index.html").read_text()
    legend = html.escape(BUSY_LEGEND)
    assert f"{legend} (1 of 7 points from busy runs)." in page
    assert f"1 of 1 newest points from busy runs ({legend})." in page
    assert page.count(f"<span title='{legend}'>#</span>") == 1
    assert "v06 #</td>" in page  # the gate's change names the busy newest point


def test_quiet_runs_mark_nothing(logs: Any, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "logs"
    for v in range(3):
        logs.write(folder / f"r{v}.log", logs.facts(
            code=f"v{v}", day=1 + v, **{"results.other_cpu_share": 0.1,
                                        "results.other_cpu_seconds": 0.4}))
    url = logs.ingest(folder, tmp_path / "r.db")
    capsys.readouterr()
    assert main(["history", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "busy" not in out and "mark" not in out

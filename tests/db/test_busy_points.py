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


def test_the_gates_markdown_and_junit_mark_the_busy_point(
        logs: Any, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The gate's files say what its stderr says: the change at the busy point carries ``#``,
    the legend and counts are those of the note, word for word; the JUnit failure's message
    says it and the suite's properties count it."""
    import xml.etree.ElementTree as ET

    url = _database(logs, tmp_path, db_url)
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    capsys.readouterr()
    assert main(["regressions", "--db", url, "--latest", "--markdown", str(md),
                 "--junit", str(xml)]) == 1
    note = [line for line in capsys.readouterr().err.splitlines()
            if line.startswith(f"note: {BUSY_LEGEND}")]
    assert len(note) == 1
    legend = note[0].removeprefix("note: ")
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| **regression**")]
    assert len(rows) == 1 and "v05 -> v06 #" in rows[0]
    assert legend.replace("_", "\\_") in text.splitlines()  # its own line, markdown-escaped
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    busy = [p.get("value") for p in suite.iter("property") if p.get("name") == "busy"]
    assert busy == [legend]
    failures = [f.get("message") or "" for f in suite.iter("failure")]
    assert len(failures) == 1 and "to v06 #" in failures[0] and BUSY_LEGEND in failures[0]


def test_a_passing_gate_on_a_busy_newest_point_says_so(
        logs: Any, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No change, but the newest point was measured on a busy machine: the pass is marked in
    the markdown's counts and in the series' JUnit output, not only on stderr."""
    import xml.etree.ElementTree as ET

    folder = tmp_path / "logs"
    for v in range(7):
        for repeat in range(3):
            share = 0.4 if v == 6 and repeat == 0 else 0.01
            logs.write(folder / f"r{v}{repeat}.log", logs.facts(
                model="resnet18", code=f"v{v:02d}", day=1 + v, repeat=repeat,
                throughput=100.0 + (v * 7 % 5) / 10 + repeat / 10,
                **{"results.other_cpu_share": share, "results.other_cpu_seconds": 1.0}))
    assert main(["db", "ingest", "--db", db_url, str(folder)]) == 0
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    capsys.readouterr()
    assert main(["regressions", "--db", db_url, "--latest", "--markdown", str(md),
                 "--junit", str(xml)]) == 0
    assert f"note: {BUSY_LEGEND} (1 of 1 newest points from busy runs)" in \
        capsys.readouterr().err
    text = md.read_text()
    assert "1 of 1 newest points from busy runs" in text
    assert "Newest point marked #:\n\n- resnet18 inference float32 8 cpu 1\n" in text
    outs = [o.text or "" for o in ET.parse(xml).getroot().iter("system-out")]
    assert len(outs) == 1 and f"the newest point is marked {BUSY_LEGEND}" in outs[0]
    assert not list(ET.parse(xml).getroot().iter("failure"))

"""Issue 58 (second pass): a ``dlbs regressions`` that judged no series (every history too
short, or its newest run unsteady) exited 0, which a CI job reads as a pass. It now says in
one line why nothing was judged and what to do, and exits 3 (neither 0, a pass, 1, a
regression, nor 2, a usage error); ``db page`` names the same code, and ``--help`` lists it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.db.changes import NOTHING_JUDGED_EXIT


def _database(logs: Any, tmp_path: Path, versions: int, models: tuple[str, ...]) -> str:
    """``versions`` code versions of three steady runs of each model (none changed)."""
    folder = tmp_path / "logs"
    for model in models:
        for v in range(versions):
            for repeat in range(3):
                logs.write(folder / f"{model}{v}{repeat}.log", logs.facts(
                    model=model, code=f"v{v:02d}", day=1 + v, repeat=repeat,
                    throughput=100.0 + (v * 7 % 5) / 10 + repeat / 10))
    return str(logs.ingest(folder, tmp_path / "r.db"))


def _last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("options", "need"), [
    pytest.param(["--latest"], "--latest needs 5 points before the newest", id="latest"),
    pytest.param([], "a change-point search needs 12 points, 5 on each side of a change; "
                     "--latest needs 6", id="histories"),
])
def test_a_gate_that_judged_nothing_exits_3_and_says_why_and_what_to_do(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str],
        need: str) -> None:
    url = _database(logs, tmp_path, versions=3, models=("resnet18", "vgg11"))
    capsys.readouterr()
    assert main(["regressions", "--db", url, *options]) == NOTHING_JUDGED_EXIT == 3
    out, err = capsys.readouterr()
    assert out == ""  # no table of changes: there are none
    assert _last_line(err) == (
        f"nothing judged: none of the 2 series could be judged (2 too short: {need}); store "
        "runs of more exp.code_version values (or widen -P and --since) before gating on "
        "them; exit 3, not a pass")


def test_json_and_the_markdown_say_nothing_judged_with_the_same_exit(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, versions=3, models=("resnet18",))
    markdown = tmp_path / "gate.md"
    capsys.readouterr()
    assert main(["regressions", "--db", url, "--latest", "--format", "json",
                 "--markdown", str(markdown)]) == 3
    out, err = capsys.readouterr()
    assert json.loads(out) == []
    assert _last_line(err).startswith("nothing judged: none of the 1 series could be judged")
    assert markdown.read_text().startswith("### dlbs regressions: nothing judged\n")


def test_one_series_judged_is_a_verdict_and_exits_0(
        logs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """resnet18 has seven versions (judged), vgg11 three (too short): the gate judged
    something, so it passes, and says nothing of 'nothing judged'."""
    folder_db = _database(logs, tmp_path, versions=7, models=("resnet18",))
    for v in range(3):
        for repeat in range(3):
            logs.write(tmp_path / "more" / f"vgg{v}{repeat}.log", logs.facts(
                model="vgg11", code=f"v{v:02d}", day=1 + v, repeat=repeat, throughput=50.0))
    assert main(["db", "ingest", "--db", folder_db, str(tmp_path / "more")]) == 0
    capsys.readouterr()
    assert main(["regressions", "--db", folder_db, "--latest"]) == 0
    err = capsys.readouterr().err
    assert "2 series, 1 judged, 1 too short to judge" in err
    assert "nothing judged" not in err


def test_the_page_names_the_gates_exit_3(logs: Any, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = _database(logs, tmp_path, versions=3, models=("resnet18",))
    assert main(["db", "page", "--db", url, "--output", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "index.html").read_text()
    assert re.search(r"dlbs regressions --latest --min-change 0\.05 --alpha 0\.015 on this "
                     r"database exits 3\b", page)


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["regressions", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert ("exit 1 on a regression, 3 when no series could be judged, 2 on a usage error"
            in said)

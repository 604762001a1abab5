"""The CI gate's files (issue 37): ``dlbs regressions --markdown FILE --junit FILE`` write the
verdicts beside the table or JSON, with the very figures the JSON gives, and change neither
stdout, stderr nor the exit code; a file that cannot be written is a one-line error (exit 2)
and is left as it was, never half written."""
from __future__ import annotations

import errno
import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from forked_cli import run_dlbs

from dlbs.db import open_store
from dlbs.db.gate import Gate, change_cells, markdown
from dlbs.db.gate_junit import junit
from dlbs.db.history import Found, Judged
from dlbs.db.records import canonical
from dlbs.errors import UsageError

NAME = "results.throughput along exp.code_version"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "database.md"


def _dlbs(*args: str) -> Any:
    return run_dlbs(args, env={**os.environ, "DLBS_DB": ""})


def _store(logs: Any, db_url: str, plan: dict[str, tuple[int, float]]) -> None:
    """Per model: (versions, step at the newest version); 3 runs a version, run CV 1%."""
    rng = np.random.default_rng(37)
    runs = []
    for model, (versions, step) in plan.items():
        for v in range(versions):
            level = 100.0 * (1.0 + (step if v == versions - 1 else 0.0))
            for r in range(3):
                value = float(level * (1.0 + 0.01 * rng.standard_normal()))
                runs.append((logs.facts(model=model, code=f"v{v:02d}", throughput=value,
                                        repeat=r, day=1 + v % 28), f"{model}_{v}_{r}.log"))
    store = open_store(db_url)
    try:
        store.store_many(runs)
    finally:
        store.close()


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("classname", ""): case for case in root.iter("testcase")}


def _model(case_name: str) -> str:
    return case_name.split()[0]


def _counts(element: ET.Element) -> tuple[int, ...]:
    return tuple(int(element.get(k, "-1")) for k in ("tests", "failures", "skipped", "errors"))


def test_each_verdict_in_both_files_with_the_json_figures(logs: Any, db_url: str,
                                                          tmp_path: Path) -> None:
    _store(logs, db_url, {"resnet18": (21, -0.12), "vgg11": (21, 0.15),
                          "alexnet": (21, 0.0), "googlenet": (3, 0.0)})
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    plain = _dlbs("regressions", "--db", db_url, "--latest", "--format", "json")
    done = _dlbs("regressions", "--db", db_url, "--latest", "--format", "json",
                 "--markdown", str(md), "--junit", str(xml))
    assert (done.returncode, done.stdout, done.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr) and done.returncode == 1
    changes = {c["parameters"]["exp.model"]: c for c in json.loads(done.stdout)}
    assert sorted(changes) == ["resnet18", "vgg11"]

    root = ET.parse(xml).getroot()
    (suite,) = root.iter("testsuite")
    assert suite.get("name") == "dlbs regressions"
    assert _counts(suite) == _counts(root) == (4, 1, 1, 0)
    cases = {_model(name): case for name, case in _cases(root).items()}
    assert {case.get("name") for case in cases.values()} == {NAME}
    failure = cases["resnet18"].find("failure")
    assert failure is not None and failure.text is not None
    assert json.loads(failure.text) == [changes["resnet18"]]  # the JSON's figures, unrounded
    low, high = changes["resnet18"]["ci"]
    said = f"{changes['resnet18']['change']:+.1%} [{low:+.1%}, {high:+.1%}]"
    assert said in failure.get("message", "") and "v19 to v20" in failure.get("message", "")
    assert cases["vgg11"].find("failure") is None and cases["vgg11"].find("skipped") is None
    assert "improvement passes" in (cases["vgg11"].findtext("system-out") or "")
    assert cases["alexnet"].find("failure") is None and cases["alexnet"].find("skipped") is None
    skipped = cases["googlenet"].find("skipped")
    assert skipped is not None
    assert "2 history points before the newest, fewer than 5" in skipped.get("message", "")

    text = md.read_text()
    assert text.startswith("### dlbs regressions: 1 regression found\n")
    assert "4 series, 3 judged, 1 regression, 1 improvement, 1 not judged (1 too short" in text
    assert "`--alpha 0.015`" in text and "±5% (`--min-change 0.05`" in text
    for model, change in changes.items():
        low, high = change["ci"]
        row = (f"| {change['direction']} | " if model == "vgg11" else "| **regression** | ") + \
            f"{model} inference float32 8 cpu 1 | `results.throughput` | v19 -> v20 | " \
            f"{change['change']:+.1%} | [{low:+.1%}, {high:+.1%}] | {change['p_value']:.3g} | " \
            f"{change['runs_before']} -> {change['runs_after']} |"
        assert row in text.splitlines(), text
    assert "- googlenet inference float32 8 cpu 1: 2 history points before the newest, " \
           "fewer than 5" in text
    assert text == _documented(), "docs/database.md's worked example is no longer true"


def _documented() -> str:
    """The markdown docs/database.md shows as this test's file (its worked example)."""
    found = re.search(r"`gate.md`, as written:\n\n  ```markdown\n(.*?)\n  ```\n",
                      DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert found, "docs/database.md: the gate's worked example is missing"
    return textwrap.dedent(found.group(1)) + "\n"


def test_the_table_shows_the_cells_the_markdown_shows(logs: Any, db_url: str,
                                                      tmp_path: Path) -> None:
    _store(logs, db_url, {"resnet18": (21, -0.12), "alexnet": (21, 0.0)})
    md = tmp_path / "gate.md"
    plain = _dlbs("regressions", "--db", db_url, "--latest")
    done = _dlbs("regressions", "--db", db_url, "--latest", "--markdown", str(md))
    assert (done.returncode, done.stdout, done.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr) and done.returncode == 1
    (line,) = [one for one in done.stdout.splitlines() if one.startswith("regression")]
    change, interval = line.split()[-5], " ".join(line.split()[-4:-2])
    assert f"| {change} | {interval} |" in md.read_text()


def test_no_change_fails_nothing_and_says_no_regression(logs: Any, db_url: str,
                                                        tmp_path: Path) -> None:
    _store(logs, db_url, {"resnet18": (21, 0.0), "alexnet": (21, 0.0)})
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    plain = _dlbs("regressions", "--db", db_url, "--latest")
    done = _dlbs("regressions", "--db", db_url, "--latest", "--markdown", str(md),
                 "--junit", str(xml))
    assert (done.returncode, done.stdout, done.stderr) == (0, plain.stdout, plain.stderr)
    root = ET.parse(xml).getroot()
    assert _counts(root) == (2, 0, 0, 0)
    assert all(case.find("failure") is None for case in root.iter("testcase"))
    text = md.read_text()
    assert text.startswith("### dlbs regressions: no regression\n")
    assert "No regression and no improvement beyond ±5% in the 2 judged series." in text


def test_change_points_without_latest_gate_the_same_way(logs: Any, db_url: str,
                                                        tmp_path: Path) -> None:
    """Without ``--latest`` a step anywhere in the series fails its test case."""
    rng = np.random.default_rng(5)
    runs = [(logs.facts(code=f"v{v:02d}", repeat=r, day=1 + v % 28,
                        throughput=float(100.0 * (0.9 if v >= 15 else 1.0)
                                         * (1.0 + 0.01 * rng.standard_normal()))),
             f"{v}_{r}.log") for v in range(30) for r in range(3)]
    store = open_store(db_url)
    try:
        store.store_many(runs)
    finally:
        store.close()
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    done = _dlbs("regressions", "--db", db_url, "--format", "json", "--markdown", str(md),
                 "--junit", str(xml))
    assert done.returncode == 1, done.stderr
    (change,) = json.loads(done.stdout)
    failure = ET.parse(xml).getroot().find("testsuite/testcase/failure")
    assert failure is not None and json.loads(failure.text or "") == [change]
    text = md.read_text()
    assert "change points anywhere in each series" in text and "--alpha" not in text
    assert f"| v14 -> v15 | {change['change']:+.1%} |" in text


@pytest.mark.parametrize("option", ["--junit", "--markdown"])
@pytest.mark.parametrize("target,why", [
    pytest.param("missing/gate.out", "its folder", id="no-folder"),
    pytest.param("folder", "is a directory", id="a-directory"),
    pytest.param("link", "is a symbolic link", id="a-planted-link"),
])
def test_a_file_that_cannot_be_written_is_a_one_line_error(
        logs: Any, tmp_path: Path, option: str, target: str, why: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'results.db'}"
    _store(logs, db_url, {"resnet18": (21, -0.12)})
    (tmp_path / "folder").mkdir()
    (tmp_path / "elsewhere").write_text("kept")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    before = sorted(os.listdir(tmp_path))
    path = str(tmp_path / target)
    done = _dlbs("regressions", "--db", db_url, "--latest", option, path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {option} {path}: cannot write it: ")
    assert why in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "folder") == []
    assert (tmp_path / "elsewhere").read_text() == "kept"


def test_both_options_on_one_file_are_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "gate.out")
    done = _dlbs("regressions", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--latest",
                 "--markdown", path, "--junit", path)
    assert done.returncode == 2 and "name the same file" in done.stderr
    assert not os.path.exists(path)


def _gate(name: str = "resnet18 inference", direction: str = "regression") -> Gate:
    parameters = {"exp.model": "resnet18"}
    found = Found(parameters, "results.throughput", "exp.code_version", "v1", "v2", -0.1234,
                  (-0.15, -0.09), 1e-6, direction, 60, 3)
    return Gate({canonical(parameters): name}, Judged([found], 1, []), "results.throughput",
                "exp.code_version", 0.05, 0.05)


def test_a_write_that_fails_half_way_leaves_the_old_file_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.cli import regressions

    path = tmp_path / "gate.xml"
    path.write_text("the last run's file")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UsageError) as err:
        regressions._write_outputs({"--junit": str(path)}, _gate())
    assert str(err.value) == f"--junit {path}: cannot write it: No space left on device"
    assert path.read_text() == "the last run's file" and os.listdir(tmp_path) == ["gate.xml"]


def test_names_with_markup_or_control_characters_stay_in_their_cell() -> None:
    gate = _gate("odd | *name* <b>\x01")
    root = ET.fromstring(junit(gate))
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("classname") == "odd | *name* <b>\ufffd"
    (row,) = [line for line in markdown(gate).splitlines() if line.startswith("| **")]
    assert row.count(" | ") == 7 and r"odd \| \*name\* \<b\>" in row
    assert "| -12.3% | [-15.0%, -9.0%] | 1e-06 |" in row
    assert change_cells(gate.judged.changes[0]) == ("-12.3%", "[-15.0%, -9.0%]", "1e-06")


def test_nothing_judged_is_never_read_as_a_pass() -> None:
    parameters = {"exp.model": "resnet18"}
    gate = Gate({canonical(parameters): "resnet18"}, Judged([], 0, [(parameters, "too short")]),
                "results.throughput", "exp.code_version", 0.05)
    text = markdown(gate)
    assert text.startswith("### dlbs regressions: nothing judged\n")
    assert "No series was judged, so this says nothing about regressions." in text
    assert _counts(ET.fromstring(junit(gate))) == (1, 0, 1, 0)


def _store_broken(logs: Any, db_url: str, status_facts: dict[str, Any]) -> None:
    """vgg11 and resnet18 over 21 versions; at the newest, vgg11 12% slower and resnet18 30%
    faster, both with wrong numbers (``status_facts``); alexnet's v05 (long ago) too."""
    rng = np.random.default_rng(7)
    runs = []
    for model, step in (("vgg11", -0.12), ("resnet18", 0.30), ("alexnet", 0.0)):
        for v in range(21):
            newest = v == 20
            level = 100.0 * (1.0 + (step if newest else 0.0))
            broken = (newest and model != "alexnet") or (model == "alexnet" and v == 5)
            for r in range(3):
                value = float(level * (1.0 + 0.01 * rng.standard_normal()))
                runs.append((logs.facts(model=model, code=f"v{v:02d}", throughput=value,
                                        repeat=r, day=1 + v % 28,
                                        **(status_facts if broken else {})),
                             f"{model}_{v}_{r}.log"))
    store = open_store(db_url)
    try:
        store.store_many(runs)
    finally:
        store.close()


@pytest.mark.parametrize("status_facts", [{"results.numerics": "off"},
                                          {"results.loss_finite": False}],
                         ids=["numerics-off", "loss-not-finite"])
def test_a_newest_version_with_wrong_numbers_fails_the_gate_never_judged_on_the_one_before(
        logs: Any, db_url: str, tmp_path: Path, status_facts: dict[str, Any]) -> None:
    """The review's case: the newest version's runs left out of every point, --latest judged
    the version before them and passed (exit 0, JUnit failures 0) a version that is fast
    because it computes something else. Now each such series fails, named, in every output;
    a version broken long ago (alexnet's v05) does not."""
    _store_broken(logs, db_url, status_facts)
    md, xml = tmp_path / "gate.md", tmp_path / "gate.xml"
    done = _dlbs("regressions", "--db", db_url, "--latest", "--format", "json",
                 "--markdown", str(md), "--junit", str(xml))
    assert done.returncode == 1, done.stderr
    status = "numerics_off" if "results.numerics" in status_facts else "not_finite"
    wrong = [c for c in json.loads(done.stdout) if c["direction"] == "numerics"]
    assert sorted(c["parameters"]["exp.model"] for c in wrong) == ["resnet18", "vgg11"]
    assert {(c["first_bad"], c["status"], c["runs"]) for c in wrong} == {("v20", status, 3)}
    assert done.stderr.count("numerics: ") == 2 and "the gate fails on it" in done.stderr
    root = ET.parse(xml).getroot()
    cases = {_model(name): case for name, case in _cases(root).items()}
    for model in ("resnet18", "vgg11"):
        failure = cases[model].find("failure")
        assert failure is not None and failure.get("type") == "numerics"
        assert f"v20 has 3 runs stored {status}" in failure.get("message", "")
    assert cases["alexnet"].find("failure") is None
    assert _counts(root)[1] == 2
    text = md.read_text()
    assert text.startswith("### dlbs regressions: 2 series with wrong numbers found\n")
    assert "**Wrong numbers in the newest version** (failing the gate):" in text
    table = _dlbs("regressions", "--db", db_url, "--latest")
    assert table.returncode == 1 and table.stderr.count("numerics: ") == 2

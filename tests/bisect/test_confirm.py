"""``dlbs regressions --confirm`` end to end on a synthetic repository of 7 commits (commit 6
is 10% slower, 1% run noise): a database of real runs of two configurations along the
commits, one whose newest point is the real slowdown (the re-run confirms it) and one whose
newest point was planted (its logs edited to look 15% slower before they were stored: the
re-run does not reproduce it); then the gate with --confirm, and the one-line errors of bad
input. The plan rebuilding is also tested alone (``dlbs.bisect.rebuild``)."""
from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from dlbs.bisect.rebuild import NotRebuildable, differences, plan_parameters
from dlbs.bisect.synthetic import make_repo
from dlbs.cli.main import main

PLAN = ['-Pexp.gpus=""', "-Pexp.model=resnet18", "-Pexp.phase=inference",
        "-Pexp.num_batches=10", "-Ppytorch.bench_path=${exp.bisect_checkout}", "-Pexp.repeat=2",
        "-Pexp.interleave=fixed"]  # the versions first measured in commit order
CHECKOUT = "pytorch.bench_path=${exp.bisect_checkout}"
#: The planted slowdown: the newest point of batch 8 made to look this much slower.
PLANTED = 0.85


def _plant(folder: Path, version: str) -> None:
    """Edit the logs of ``version`` in ``folder`` to look slower (throughput x PLANTED)."""
    for log in folder.glob("*.log"):
        text = log.read_text()
        if f'__exp.code_version__="{version}"' in text:
            text = re.sub(r"__results.throughput__=(\S+)",
                          lambda m: f"__results.throughput__={float(m[1]) * PLANTED}", text)
            text = re.sub(r"__results.time__=(\S+)",
                          lambda m: f"__results.time__={float(m[1]) / PLANTED}", text)
            log.write_text(text)


@pytest.fixture(scope="module")
def history(tmp_path_factory: Any) -> tuple[Path, list[str], str]:
    """The repository, its short hashes and the database URL: batch 16 run at commits 0-6
    (6 is really 10% slower), batch 8 at commits 0-5 with commit 5's logs planted."""
    root = tmp_path_factory.mktemp("confirm")
    repo, trees = root / "repo", root / "trees"
    hashes = [h[:12] for h in make_repo(repo, 7, 6, slowdown=0.10, noise=0.01)]
    for h in hashes:
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach",
                        str(trees / h), h], check=True)
    declared = root / "declared.json"
    declared.write_text(json.dumps({"parameters": {"exp.bisect_checkout": {
        "val": f"{trees}/${{exp.code_version}}", "type": "str", "desc": "the checkout"}}}))
    for batch, versions in ((16, hashes), (8, hashes[:6])):
        assert main(["run", "--config", str(declared), *PLAN, f"-Pexp.replica_batch={batch}",
                     f"-Vexp.code_version={json.dumps(versions)}",
                     f"-Pexp.log_dir={root / f'logs-{batch}'}"]) == 0
    _plant(root / "logs-8", hashes[5])
    db = f"sqlite:///{root / 'results.db'}"
    assert main(["db", "ingest", "--db", db, str(root / "logs-16"), str(root / "logs-8")]) == 0
    for h in hashes:  # the re-runs make their own worktrees
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(trees / h)],
                       check=True)
    return repo, hashes, db


def gate(db: str, *options: str) -> list[str]:
    return ["regressions", "--db", db, "--latest", "--min-change", "0.03", *options]


def test_the_real_slowdown_is_confirmed_and_the_planted_one_is_not(
        history: tuple[Path, list[str], str], tmp_path: Path, capsys: Any) -> None:
    repo, hashes, db = history
    md, xml, out = tmp_path / "gate.md", tmp_path / "gate.xml", tmp_path / "out"
    # without --confirm both are flagged
    assert main(gate(db, "--format", "json")) == 1
    flagged = json.loads(capsys.readouterr().out)
    assert sorted(c["first_bad"] for c in flagged) == sorted([hashes[6], hashes[5]])
    assert all("confirmation" not in c for c in flagged)
    code = main(gate(db, "--format", "json", "--confirm", "--repo", str(repo), "--output",
                     str(out), "--plan-param", CHECKOUT, "--markdown", str(md),
                     "--junit", str(xml)))
    captured = capsys.readouterr()
    changes = {c["first_bad"]: c for c in json.loads(captured.out)}
    assert code == 1, captured.err
    real, planted = changes[hashes[6]]["confirmation"], changes[hashes[5]]["confirmation"]
    assert real["status"] == "confirmed" and real["verdict"] == "slower"
    assert real["interval"][0] > 1 + real["threshold"]
    assert 1.05 < real["ratio"] < 1.15  # the commit's 10%, measured again
    assert planted["status"] == "not_confirmed" and planted["verdict"] == "same"
    assert planted["interval"][1] < 1 + planted["threshold"]
    # the threshold is half the flagged slowdown (15% planted: about 8.8%)
    assert planted["threshold"] == pytest.approx(
        (1 / (1 + changes[hashes[5]]["change"]) - 1) / 2)
    for one in (real, planted):
        assert one["rounds"] >= 3 and one["runs"] == [one["rounds"]] * 2
        assert len(list(Path(one["logs"]).glob("*.log"))) == 2 * one["rounds"]
    assert (f"not confirmed: resnet18 inference float32 8 cpu 1 {hashes[4]} -> {hashes[5]}: "
            f"re-run ratio {planted['ratio']:.4f}") in captured.err
    assert "confirm: 1 of 2 regression(s) confirmed by a re-run, 1 not confirmed, 0 not " \
           "re-run" in captured.err
    text = md.read_text()
    assert "### dlbs regressions: 1 regression found" in text
    assert text.count("| **regression** |") == 1 and f"-> {hashes[6]} |" in text
    assert "**Not confirmed by the re-run** (1; flagged, not failing the gate):" in text
    assert f"({hashes[4]} -> {hashes[5]}, flagged" in text and "(same; not confirmed)" in text
    suite = ET.parse(xml).getroot()
    assert suite.get("failures") == "1" and suite.get("tests") == "2"
    passed = [c for c in suite.iter("testcase") if c.find("failure") is None]
    assert "(same; not confirmed): passes" in passed[0].findtext("system-out", "")
    # the worktrees are gone
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()
    assert len(listed) == 1


def test_versions_not_in_the_repository_are_not_rebuildable_and_still_fail_the_gate(
        history: tuple[Path, list[str], str], tmp_path: Path, capsys: Any) -> None:
    _, hashes, db = history
    other = tmp_path / "other"
    make_repo(other, 2, 1)  # its hashes are not the stored versions
    code = main(gate(db, "--confirm", "--repo", str(other), "--output", str(tmp_path / "o"),
                     "--plan-param", CHECKOUT))
    captured = capsys.readouterr()
    assert code == 1
    assert f"not re-run, kept as a flagged regression: resnet18 inference float32 16 cpu 1 " \
           f"{hashes[5]} -> {hashes[6]}: not re-run: exp.code_version {hashes[5]} is not a " \
           f"revision of {other}" in captured.err
    assert "0 of 2 regression(s) confirmed by a re-run, 0 not confirmed, 2 not re-run" \
        in captured.err
    assert captured.out.count("not_rebuildable") == 2  # both rows stay in the table


@pytest.mark.parametrize("options,message", [
    pytest.param(["--confirm"], "error: --confirm needs --repo DIR", id="no repo"),
    pytest.param(["--confirm", "--repo", "/nonexistent"],
                 "error: --confirm: --repo /nonexistent: no such folder", id="no folder"),
    pytest.param(["--repo", "."], "error: --repo: only with --confirm", id="repo alone"),
    pytest.param(["--confirm", "--repo", ".", "--by", "date"],
                 "error: --confirm re-runs code versions", id="axis"),
    pytest.param(["--confirm", "--repo", ".", "--plan-param", "exp.code_version=x"],
                 "error: --confirm: exp.code_version is set by dlbs bisect", id="own"),
])
def test_bad_confirm_options_are_one_line_and_exit_2(tmp_path: Path, capsys: Any,
                                                      options: list[str], message: str) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["regressions", "--db", db, *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_a_plan_that_does_not_use_the_checkout_is_refused_with_exit_2(
        history: tuple[Path, list[str], str], tmp_path: Path, capsys: Any) -> None:
    repo, _, db = history
    code = main(gate(db, "--confirm", "--repo", str(repo), "--output", str(tmp_path / "o")))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: the plan does not use ${exp.bisect_checkout}")


DEFAULTS = {"exp.model": "", "exp.phase": "training", "exp.gpus": "0",
            "exp.device_type": "${exp.gpus}", "exp.repeat_index": 0, "exp.code_version": "",
            "pytorch.bench_path": "${runtime.code_dir}", "runtime.python": "python"}


@pytest.mark.parametrize("facts,given,expected", [
    pytest.param({"exp.model": "resnet18", "exp.phase": "training", "exp.gpus": "",
                  "exp.device_type": "cpu", "exp.repeat_index": 1, "exp.code_version": "abc",
                  "runtime.python": "/usr/bin/python3", "results.time": 5.0}, [],
                 {"exp.model": "resnet18", "exp.gpus": ""},
                 id="inputs that differ from the default, nothing computed or per run"),
    pytest.param({"exp.model": "resnet18", "exp.phase": "training", "exp.gpus": ""}, ["exp.gpus"],
                 {"exp.model": "resnet18"}, id="what the user gives is left out"),
])
def test_the_plan_is_the_stored_input_parameters(facts: dict[str, Any], given: list[str],
                                                 expected: dict[str, Any]) -> None:
    assert plan_parameters(facts, DEFAULTS, given) == expected


@pytest.mark.parametrize("facts,message", [
    pytest.param({"exp.model": "m", "exp.phase": "serve"}, "a serving run", id="serving"),
    pytest.param({"exp.phase": "inference"}, "the stored run has no exp.model", id="missing"),
])
def test_a_plan_that_cannot_be_rebuilt_says_why(facts: dict[str, Any], message: str) -> None:
    with pytest.raises(NotRebuildable, match=message):
        plan_parameters(facts, DEFAULTS)


def test_a_computed_parameter_set_otherwise_is_a_difference() -> None:
    rebuilt = {"exp.device_type": "cpu", "exp.repeat_index": 2, "exp.model": "m"}
    stored = {"exp.device_type": "gpu", "exp.repeat_index": 0, "exp.model": "m"}
    assert differences(rebuilt, stored, DEFAULTS) == [
        "exp.device_type: rebuilt 'cpu', stored 'gpu'"]

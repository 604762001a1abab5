"""``dlbs accept`` end to end: recorded figures judged, and this host measured (issue 60)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dlbs.cli.main import main

ROOT = Path(__file__).parents[2]
#: The settings the shipped plan measures a matmul at (a row must record them to judge it).
AT_1024 = {"accept.matmul_size": 1024}


def _write_fleet(path: Path, slow: float, healthy: float = 1.0) -> Path:
    spread = [healthy * s for s in (1.000, 1.004, 0.997, 1.002, 0.999, 1.003, 0.998)] + [slow]
    path.write_text(json.dumps({f"node{i + 1}": {"matmul_fp32": [100.0 * s]}
                                for i, s in enumerate(spread)}))
    return path


def test_a_slow_node_fails_the_run_and_is_excluded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "accept.xml"
    code = main(["accept", "fleet", "--figures", str(_write_fleet(tmp_path / "f.json", 0.9)),
                 "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "--exclude=node8" in out.splitlines()
    assert "node8: FAIL: matmul_fp32 90 GFLOP/s, 10% below the fleet's median" in out
    assert "a healthy fleet has a false failure in at most 5% of runs" in out
    assert err.strip() == "dlbs accept: 1 of 8 node(s) failed: node8"
    assert len(ET.parse(junit).getroot().findall("testcase")) == 8


def test_a_healthy_fleet_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["accept", "fleet", "--figures", str(_write_fleet(tmp_path / "f.json", 1.0))])
    assert code == 0
    assert "no node failed: nothing to exclude" in capsys.readouterr().out


@pytest.mark.parametrize("args,code,line", [
    pytest.param(["localhost", "--nodelist", "n1"], 2, "dlbs accept: --nodelist is for a Slurm "
                 "partition as the target, not 'localhost'", id="nodelist-with-localhost"),
    pytest.param(["debug", "--figures-out", "x.json"], 2, "dlbs accept: --figures-out is for "
                 "localhost as the target, not 'debug'", id="figures-out-on-a-partition"),
    pytest.param(["a b"], 3, "parameter 'target (a Slurm partition)' = 'a b' cannot go into an "
                 "#SBATCH line", id="a-partition-no-sbatch-line-can-name"),
    pytest.param(["debug", "--checks", "matmul,memcpy"], 2, "dlbs accept: --checks "
                 "'matmul,memcpy': no check 'memcpy'; give some of matmul,memcopy,allreduce,",
                 id="a-misspelt-check-before-any-job"),
    pytest.param(["localhost", "--burn-in", "-1"], 2, "dlbs accept: --burn-in -1: give 0 or more",
                 id="negative-burn-in"),
    pytest.param(["x", "--figures", "{bad}"], 3, "figures must be a JSON object", id="bad-figures"),
    pytest.param(["localhost", "--burn-in", "nan"], 2, "dlbs accept: --burn-in nan: give 0 or "
                 "more (a finite number)", id="nan-burn-in-would-skip-it"),
    pytest.param(["localhost", "--burn-in", "1e308"], 2, "dlbs accept: --burn-in 1e+308: give 0 "
                 "or more (a finite number)", id="a-burn-in-that-never-ends"),
    pytest.param(["debug", "--timeout", "inf"], 2, "dlbs accept: --timeout inf: give 0 or more",
                 id="infinite-timeout"),
    pytest.param(["debug", "--burn-in", "30", "--time", "00:20:00"], 2, "dlbs accept: --burn-in "
                 "30 (minutes) does not fit in --time 00:20:00: each task would be killed at its "
                 "limit before its burn-in ends", id="a-burn-in-longer-than-each-tasks-time"),
    pytest.param(["localhost", "--junit", "/nonexistent/dir/a.xml"], 2, "dlbs accept: --junit "
                 "/nonexistent/dir/a.xml: its folder /nonexistent/dir is not one this user can "
                 "write", id="an-output-nowhere-before-anything-is-measured"),
])
def test_bad_input_is_one_line(args: list[str], code: int, line: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    if "{bad}" in args:
        (tmp_path / "bad.json").write_text("[1]")
        args = [a.replace("{bad}", str(tmp_path / "bad.json")) for a in args]
    assert main(["accept", *args]) == code
    err = capsys.readouterr().err.strip()
    assert line in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_localhost_is_measured_and_judged_against_the_reference_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The node checks really run here (a 1024^2 matmul, NVML and dcgmi absent: said); a
    reference table whose floor this host cannot reach fails it with the table's date."""
    table = {"devices": {"cpu": {"matmul_fp32": {"low": 1.0e9, "unit": "GFLOP/s",
                                                 "measured": "a test's impossible floor",
                                                 "settings": AT_1024}}}}
    (tmp_path / "ref.json").write_text(json.dumps(table))
    md = tmp_path / "accept.md"
    code = main(["accept", "localhost", "--checks", "matmul,environment,dcgmi",
                 "--references", str(tmp_path / "ref.json"), "--markdown", str(md)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "localhost: FAIL: matmul_fp32 " in out
    assert "below the reference 1e+09 (a test's impossible floor)" in out
    assert "--exclude=localhost" in out
    assert "dcgmi: dcgmi is not installed (no dcgmi on PATH)" in err
    assert "| localhost | matmul_bf16 | not judged |" in md.read_text()  # the table: fp32 only


def test_a_link_planted_at_an_output_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "accept.xml").symlink_to(victim)
    code = main(["accept", "fleet", "--figures", str(_write_fleet(tmp_path / "f.json", 1.0)),
                 "--junit", str(tmp_path / "accept.xml")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("error: --junit ")
    assert victim.read_text() == "keep"


def test_every_node_x_check_is_stored_and_a_nodes_history_is_one_command_away(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    # two acceptances of the same fleet, each node's figure its own (the same figures judged
    # twice in one second are one run: the same facts, one identity)
    for slow, healthy in ((0.9, 1.0), (0.95, 1.001)):
        main(["accept", "fleet", "--figures",
              str(_write_fleet(tmp_path / "f.json", slow, healthy)), "--db", url])
        assert "stored 8 node x check run(s)" in capsys.readouterr().err
    assert main(["history", "--db", url, "-Paccept.node=node8", "-Paccept.check=matmul_fp32",
                 "--metric", "accept.value", "--by", "date", "--format", "json"]) == 0
    points = json.loads(capsys.readouterr().out)  # both on today's point: their mean
    assert [p["runs"] for p in points] == [2]
    assert points[0]["value"] == pytest.approx((90.0 * 95.0) ** 0.5)

    from dlbs.db import open_store
    store = open_store(url, readonly=True)
    try:
        runs = store.runs({"accept.node": "node8", "accept.value": 90.0})
        facts = store.facts_of([runs[0].id])[runs[0].id]
    finally:
        store.close()
    assert facts["accept.verdict"] == "fail" and facts["accept.target"] == "figures"
    assert facts["accept.why"].startswith("matmul_fp32 90 GFLOP/s, 10% below the fleet's median")
    assert facts["exp.phase"] == "accept" and facts["accept.unit"] == "GFLOP/s"


def test_a_bad_database_url_stops_the_run_before_anything_is_measured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["accept", "fleet", "--figures", str(_write_fleet(tmp_path / "f.json", 1.0)),
                 "--db", "nosuch://x"])
    out, err = capsys.readouterr()
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("device,code,said", [
    pytest.param("NVIDIA H100 80GB HBM3", 1, "", id="the-models-rows-judge-it"),
    pytest.param("NVIDIA B200", 0, "references: {table} has no row for device 'NVIDIA B200': "
                 "judged against the fleet only", id="a-model-the-table-lacks-is-said"),
])
def test_device_chooses_the_reference_rows(device: str, code: int, said: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "ref.json"
    table.write_text(json.dumps({"devices": {"NVIDIA H100 80GB HBM3": {"matmul_fp32": {
        "low": 200.0, "unit": "GFLOP/s", "measured": "a recorded H100 floor",
        "settings": AT_1024}}}}))
    assert main(["accept", "fleet", "--figures", str(_write_fleet(tmp_path / "f.json", 1.0)),
                 "--references", str(table), "--device", device]) == code
    out, err = capsys.readouterr()
    assert said.format(table=table) in err
    if code:
        assert "below the reference 200 (a recorded H100 floor)" in out


def test_the_databases_accepted_nodes_extend_the_reference_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three accepted H100 fleets stored; a lone node measured later, whose model the table
    has no row for, is judged by the floor of the accepted runs: half their lowest figure."""
    url, h100 = f"sqlite:///{tmp_path / 'results.db'}", "NVIDIA H100 80GB HBM3"
    empty = tmp_path / "ref.json"
    empty.write_text(json.dumps({"devices": {}}))
    for scale in (1.0, 1.01, 0.99):
        fleet = {node: {"matmul_fp32": [v * scale for v in runs["matmul_fp32"]]}
                 for node, runs in json.loads(_write_fleet(tmp_path / "f.json", 1.0)
                                              .read_text()).items()}
        (tmp_path / "f.json").write_text(json.dumps(fleet))
        assert main(["accept", "fleet", "--figures", str(tmp_path / "f.json"), "--references",
                     str(empty), "--device", h100, "--db", url]) == 0
    capsys.readouterr()
    (tmp_path / "one.json").write_text(json.dumps({"node9": {"matmul_fp32": [40.0]}}))
    code = main(["accept", "fleet", "--figures", str(tmp_path / "one.json"), "--references",
                 str(empty), "--device", h100, "--db", url, "--db-references"])
    out, err = capsys.readouterr()
    assert code == 1
    lowest = 100.0 * 0.997 * 0.99  # the lowest accepted figure: node3 of the 0.99 fleet
    assert f"references: matmul_fp32 floor {0.5 * lowest:.4g} GFLOP/s from 24 accepted runs " \
           f"in {url}" in err
    assert f"node9: FAIL: matmul_fp32 40 GFLOP/s, below the reference {0.5 * lowest:.4g} " \
           f"(24 accepted runs in {url}, " in out


def test_db_references_needs_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accept", "localhost", "--db-references"]) == 2
    assert "--db-references reads the accepted runs of --db: give --db URL too" in \
        capsys.readouterr().err


def test_the_checks_named_are_the_check_programs_and_the_training_run() -> None:
    from pytorch_benchmarks.measure.acceptance import CHECKS

    from dlbs.accept.node import CHECK_NAMES
    assert set(CHECK_NAMES) == {*CHECKS, "training"}


def _plan(tmp_path: Path, **settings: object) -> Path:
    """The shipped plan with some parameters changed."""
    plan = json.loads((ROOT / "examples" / "acceptance.json").read_text())
    plan["parameters"].update(settings)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _lone_node(tmp_path: Path, check: str, value: float) -> Path:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"node9": {check: [value]}}))
    return path


@pytest.mark.parametrize("plan,code,said", [
    pytest.param({}, 1, "", id="measured-at-the-rows-settings-it-judges"),
    pytest.param({"accept.matmul_size": 2048}, 0, "references: matmul_fp32: no reference row "
                 "matches these settings (accept.matmul_size 2048 here, 1024 in the row; the "
                 "row: {table}, device cpu, a floor at 1024): judged against the fleet only",
                 id="another-size-is-not-compared-and-says-so"),
])
def test_a_reference_row_judges_only_figures_measured_at_its_settings(
        plan: dict[str, object], code: int, said: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "ref.json"
    table.write_text(json.dumps({"devices": {"cpu": {"matmul_fp32": {
        "low": 50.0, "unit": "GFLOP/s", "measured": "a floor at 1024", "settings": AT_1024}}}}))
    assert main(["accept", "fleet", "--figures", str(_lone_node(tmp_path, "matmul_fp32", 20.0)),
                 "--references", str(table), "--plan", str(_plan(tmp_path, **plan))]) == code
    out, err = capsys.readouterr()
    if code:
        assert "node9: FAIL: matmul_fp32 20 GFLOP/s, below the reference 50 (a floor at 1024)" \
            in out
        assert "no reference row matches" not in err
    else:
        assert said.format(table=table) in err.splitlines()
        assert "node9: PASS" in out


def test_a_row_that_records_no_settings_judges_nothing_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "ref.json"
    table.write_text(json.dumps({"devices": {"cpu": {"memcopy": {
        "low": 50.0, "unit": "GB/s", "measured": "an old row"}}}}))
    assert main(["accept", "fleet", "--figures", str(_lone_node(tmp_path, "memcopy", 1.0)),
                 "--references", str(table)]) == 0
    assert f"references: memcopy: no reference row matches these settings (the row records no " \
           f"settings it was measured at; the row: {table}, device cpu, an old row): judged " \
           "against the fleet only" in capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("plan,code,differs", [
    pytest.param({}, 1, "", id="the-shipped-plans-run-is-the-rows"),
    pytest.param({"exp.model": "resnet50"}, 0, "exp.model resnet50 here, deep_mnist in the row",
                 id="another-model"),
    pytest.param({"exp.replica_batch": 64}, 0, "exp.replica_batch 64 here, 16 in the row",
                 id="another-batch"),
])
def test_the_shipped_training_row_judges_only_its_own_reference_run(
        plan: dict[str, object], code: int, differs: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped row was measured with deep_mnist batch 16 on the CPU: a ResNet-50's 1.5
    samples/s is not compared with its floor of 6."""
    assert main(["accept", "fleet", "--figures", str(_lone_node(tmp_path, "training", 1.5)),
                 "--plan", str(_plan(tmp_path, **plan))]) == code
    out, err = capsys.readouterr()
    if code:
        assert "node9: FAIL: training 1.5 samples/s, below the reference 6 (2026-11-28" in out
    else:
        line = [x for x in err.splitlines() if x.startswith("references: training: ")]
        assert len(line) == 1 and f"({differs}; the row: " in line[0], err
        assert "node9: PASS" in out


def test_the_shipped_table_holds_the_settings_of_the_shipped_plan() -> None:
    """Every shipped row was measured with the shipped plan's settings (docs/acceptance.md:
    2026-11-28/29, matmul 1024, memcopy 128 MiB, the 1M,4M,16M sweep, deep_mnist batch 16):
    each judges the shipped plan's checks, none is left out."""
    from dlbs.accept.node import load_references
    from dlbs.accept.suite import load_suite, narrowed
    from dlbs.accept.verdict import matching_references

    suite = narrowed(load_suite(ROOT / "examples" / "acceptance.json"),
                     ["matmul", "memcopy", "allreduce", "pair", "training"])
    rows = load_references()
    kept, lines = matching_references(
        rows, {c: suite.check_settings(c) for c in suite.figure_checks()}, "shipped")
    assert set(kept) == set(rows) == set(suite.figure_checks()) and lines == []


def test_accepted_runs_at_other_settings_are_no_reference(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Accepted runs stored with the shipped plan (matmul 1024) give no floor to a node
    measured at 2048, and say so; at 1024 they give it."""
    url, h100 = f"sqlite:///{tmp_path / 'results.db'}", "NVIDIA H100 80GB HBM3"
    empty = tmp_path / "ref.json"
    empty.write_text(json.dumps({"devices": {}}))
    for scale in (1.0, 1.01, 0.99):
        _write_fleet(tmp_path / "f.json", 1.0, scale)
        assert main(["accept", "fleet", "--figures", str(tmp_path / "f.json"), "--references",
                     str(empty), "--device", h100, "--db", url]) == 0
    capsys.readouterr()
    one = str(_lone_node(tmp_path, "matmul_fp32", 40.0))
    common = ["--references", str(empty), "--device", h100, "--db", url, "--db-references"]
    assert main(["accept", "fleet", "--figures", one, *common,
                 "--plan", str(_plan(tmp_path, **{"accept.matmul_size": 2048}))]) == 0
    out, err = capsys.readouterr()
    assert f"references: matmul_fp32: 24 accepted run(s) in {url} measured at other settings " \
           "than these (accept.matmul_size 2048) or recording none: not used" in err
    assert "floor" not in err and "node9: PASS" in out
    assert main(["accept", "fleet", "--figures", one, *common]) == 1
    assert "node9: FAIL: matmul_fp32 40 GFLOP/s, below the reference" in capsys.readouterr().out


@pytest.mark.parametrize("n1,why", [
    pytest.param({"matmul_fp32": [0.0]}, "matmul_fp32: no usable figure (runs: 0; a figure must "
                 "be a positive number)", id="a-zero-figure"),
    pytest.param({"matmul_fp32": []}, "matmul_fp32: not measured on this node (the other nodes "
                 "gave a figure)", id="no-runs"),
    pytest.param({}, "matmul_fp32: not measured on this node (the other nodes gave a figure)",
                 id="a-check-the-others-gave-is-missing"),
    pytest.param({"matmul_fp32": [-3.0, float("nan")]}, "matmul_fp32: no usable figure (runs: "
                 "-3, nan;", id="negative-and-nan"),
])
def test_a_node_without_a_usable_figure_fails_and_is_counted(
        n1: dict[str, list[float]], why: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A broken node that reports 0, NaN or nothing is not left out of the fleet's verdicts
    (it was: 'n2: PASS', exit 0, n1 named nowhere)."""
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"n1": n1, "n2": {"matmul_fp32": [30.0]}}))
    assert main(["accept", "fleet", "--figures", str(path)]) == 1
    out, err = capsys.readouterr()
    assert f"n1: FAIL: {why}" in out and "--exclude=n1" in out.splitlines()
    assert err.strip().endswith("dlbs accept: 1 of 2 node(s) failed: n1")


def test_figures_of_no_node_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    (tmp_path / "f.json").write_text("{}")
    assert main(["accept", "fleet", "--figures", str(tmp_path / "f.json")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "figures must be a JSON object node -> check -> list of numbers, one " \
        "node or more" in err


def test_a_lone_node_passes_only_what_judged_it_and_says_what_nothing_judged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One node, a row for matmul_fp32 only: its matmul passes against the row (said: not
    'not judged (too few nodes)', as before), its memcopy is judged by nothing: said in its
    line, skipped in JUnit, 'not judged' in the table and the database, never a reference."""
    table = tmp_path / "ref.json"
    table.write_text(json.dumps({"devices": {"cpu": {"matmul_fp32": {
        "low": 6.0, "unit": "GFLOP/s", "measured": "a floor", "settings": AT_1024}}}}))
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"n1": {"matmul_fp32": [20.0], "memcopy": [4.0]}}))
    junit, md, url = tmp_path / "a.xml", tmp_path / "a.md", f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["accept", "fleet", "--figures", str(path), "--references", str(table),
                 "--junit", str(junit), "--markdown", str(md), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "n1: PASS (1 of 2 checks not judged: memcopy)" in out.splitlines()
    assert "| n1 | matmul_fp32 | pass | matmul_fp32 20 GFLOP/s: ok, above the reference 6 (a " \
           "floor) |" in md.read_text()
    assert "| n1 | memcopy | not judged | memcopy 4 GB/s: not judged (no reference row at " \
           "these settings, no peers) |" in md.read_text()
    root = ET.parse(junit).getroot()
    assert root.get("skipped") == "1" and root.get("failures") == "0"
    skipped = [c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["memcopy"]
    from dlbs.db import open_store
    store = open_store(url, readonly=True)
    try:
        verdicts = {r.facts["accept.check"]: r.facts["accept.verdict"]
                    for r in store.runs({"exp.phase": "accept"})}
    finally:
        store.close()
    assert verdicts == {"matmul_fp32": "pass", "memcopy": "not_judged"}


DCGMI_ROWS = ("| Denylist                  | Pass        |\n"
              "| Persistence Mode          | {result}        |\n"
              "| Page Retirement/Row Remap | Skip        |\n")


@pytest.mark.parametrize("facts,code,line", [
    pytest.param({"accept.dcgmi_output": DCGMI_ROWS.format(result="Fail")}, 1,
                 "localhost: FAIL: dcgmi diag -r 1, 3 tests (1 Pass, 1 Skip, 1 Fail): failed: "
                 "Persistence Mode", id="a-failed-diagnostic-fails-the-node"),
    pytest.param({"accept.dcgmi_output": DCGMI_ROWS.format(result="Warn")}, 0,
                 "localhost: PASS", id="a-warning-is-said-not-failed"),
    pytest.param({"accept.dcgmi_output": "Error: unable to connect to host engine\n"}, 0,
                 "localhost: PASS (1 of 2 checks not judged: dcgmi)", id="no-result-rows"),
    pytest.param({"accept.dcgmi_unavailable": "dcgmi is not installed (no dcgmi on PATH)"}, 0,
                 "localhost: PASS (1 of 2 checks not judged: dcgmi)", id="dcgmi-absent"),
])
def test_dcgmi_diags_result_is_a_verdict(facts: dict[str, str], code: int, line: str,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Recorded dcgmi output as this host's check gave it: before, dcgmi's result was parsed
    by nothing on the way to the verdict and a node whose diagnostics failed passed."""
    from dlbs.accept import node

    monkeypatch.setattr(node, "measure_localhost", lambda suite, burn_in, repeat: (
        {"matmul_fp32": [20.0]}, dict(facts)))
    md = tmp_path / "a.md"
    assert main(["accept", "localhost", "--checks", "matmul,dcgmi", "--markdown", str(md)]) \
        == code
    assert line in capsys.readouterr().out.splitlines()
    if "Warn" in str(facts):
        assert "| localhost | dcgmi | pass | dcgmi diag -r 1, 3 tests (1 Pass, 1 Skip, 1 Warn): " \
               "ok (warned: Persistence Mode) |" in md.read_text()


def test_a_node_measured_by_checks_that_give_no_verdict_is_listed_not_judged(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--checks environment alone: the node was listed nowhere ('no node failed' only)."""
    from dlbs.accept import node

    monkeypatch.setattr(node, "measure_localhost", lambda suite, burn_in, repeat: (
        {}, {"accept.environment_unavailable": "NVML Shared Library Not Found"}))
    assert main(["accept", "localhost", "--checks", "environment"]) == 0
    assert "localhost: PASS (1 of 1 checks not judged: environment)" in \
        capsys.readouterr().out.splitlines()

"""Black-box error control of ``dlbs report --compare`` / ``--compare-by`` over whole tables.

Synthetic log folders, written as real log files, go through the real command line
(``dlbs report ... --format json``). Run times are lognormal around each cell's level with the
stated run CV (the run is the unit; iteration series are the conftest's). Goals (issue 19):
a 20-cell A/A table with 3 runs a side shows any verdict in <= 5% of tables; a 10% change with
5 runs a side at run CV 3% is found in >= 80% of cells; same code with a 2% session offset and
5 runs a side gives <= 5% false verdicts per cell; interleaved in one session, a 5% change at
run CV 2% with 5 runs a side is found in >= 80% of cells. The rates here come from a seeded
number of tables that keeps the file fast; scripts/sim_compare.py measures them with 2000.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlbs.cli.main import main
from dlbs.reports.verdicts import Policy, Runs, judge_table

from .conftest import write_logs

CELLS = 20


def record(cell: int, index: int, time_ms: float, **extra: Any) -> dict[str, Any]:
    """One run's record of cell ``cell`` (a model of its own), as the benchmark logs it."""
    return {"exp.framework": "pytorch", "exp.model": f"m{cell}", "exp.phase": "training",
            "exp.dtype": "float32", "exp.device_type": "cpu", "exp.replica_batch": 8,
            "exp.effective_batch": 8, "exp.num_replicas": 1, "exp.num_nodes": 1,
            "exp.repeat_index": index, "exp.id": f"m{cell}", "results.status": "ok",
            "results.exit_code": 0, "results.time": time_ms,
            "results.throughput": 8000.0 / time_ms, **extra}


def side(rng: np.random.Generator, runs: int, run_cv: float, change: float = 1.0,
         offset: float = 0.0, **extra: Any) -> list[dict[str, Any]]:
    """``CELLS`` experiments of ``runs`` runs, times divided by ``change``."""
    sd = math.log1p(run_cv)
    return [record(c, i, 10.0 * (1 + c) * (1 + offset) / change * math.exp(rng.normal(0, sd)),
                   **extra) for c in range(CELLS) for i in range(runs)]


def verdicts(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["report", *args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    table = report["tables"][0]
    column = table["columns"].index("Verdict")
    return [row["cells"][column] for row in table["rows"]]


def compare(tmp: Path, base: list[dict[str, Any]], new: list[dict[str, Any]],
            capsys: pytest.CaptureFixture[str]) -> list[str]:
    write_logs(base, tmp / "a")
    write_logs(new, tmp / "b")
    return verdicts(["--compare", str(tmp / "a"), str(tmp / "b")], capsys)


def tables(tmp_path: Path, count: int, seed: int, capsys: pytest.CaptureFixture[str],
           **kw: Any) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    out = []
    for number in range(count):
        change, offset = kw.get("change", 1.0), kw.get("offset", 0.0)
        base = side(rng, kw["runs"], kw["run_cv"])
        new = side(rng, kw["runs"], kw["run_cv"], change, offset * rng.choice([-1, 1]))
        out.append(compare(tmp_path / str(number), base, new, capsys))
    return out



def test_aa_tables_through_the_cli_show_no_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = tables(tmp_path, 5, 1, capsys, runs=3, run_cv=0.03)
    assert all(v == "inconclusive" for table in found for v in table)


def test_a_ten_percent_change_is_found_in_most_cells(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the CLI, two folders (the assumed 2.25% session CV of issue 56): the goal is
    >= 80% of cells, measured as 84.1% over 40,000 cells (scripts/sim_compare.py); on these
    100 cells the sampling error is about 3.7%, so 75% is the bound checked here."""
    found = [v for t in tables(tmp_path, 5, 2, capsys, runs=5, run_cv=0.03, change=1.10)
             for v in t]
    assert "slower" not in found and found.count("faster") / len(found) >= 0.75


def test_sessions_two_percent_apart_rarely_get_a_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = [v for t in tables(tmp_path, 2, 3, capsys, runs=5, run_cv=0.03, offset=0.02)
             for v in t]
    assert sum(v in ("faster", "slower") for v in found) / len(found) <= 0.05


def test_compare_by_finds_five_percent_in_one_interleaved_session(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    records = [*side(rng, 5, 0.02, **{"exp.cpu_threads": 2}),
               *side(rng, 5, 0.02, 1.05, **{"exp.cpu_threads": 1})]
    write_logs(records, tmp_path / "session")
    found = verdicts([str(tmp_path / "session"), "--compare-by", "exp.cpu_threads", "2", "1"],
                     capsys)
    assert len(found) == CELLS
    assert found.count("faster") / CELLS >= 0.8 and "slower" not in found


def judged(rng: np.random.Generator, count: int, runs: int, run_cv: float, policy: Policy,
           change: float = 1.0, offset: float = 0.0) -> list[list[object]]:
    """Verdicts of ``count`` 20-cell tables judged by the report's own ``judge_table``."""
    sd = math.log1p(run_cv)
    out = []
    for _ in range(count):
        cells = []
        for _cell in range(CELLS):
            base = np.exp(rng.normal(0, sd, runs))
            new = np.exp(rng.normal(0, sd, runs)) * (1 + offset * rng.choice([-1, 1])) / change
            cells.append(Runs(dict(enumerate(base.tolist())), dict(enumerate(new.tolist()))))
        out.append([cell[4] for cell in judge_table(cells, policy)[0]])
    return out


@pytest.mark.parametrize("runs, run_cv, policy, change, offset, goal", [
    pytest.param(3, 0.03, Policy(apart=False), 1.0, 0.0, "tables<=5%", id="aa-one-session"),
    pytest.param(3, 0.03, Policy(), 1.0, 0.0, "tables<=5%", id="aa-two-folders"),
    pytest.param(5, 0.03, Policy(), 1.10, 0.0, "found>=80%", id="ten-percent-two-folders"),
    pytest.param(5, 0.03, Policy(), 1.0, 0.02, "cells<=5%", id="sessions-2pct-apart"),
    pytest.param(5, 0.01, Policy(), 1.0, 0.02, "cells<=5%", id="sessions-2pct-apart-quiet"),
    pytest.param(5, 0.02, Policy(apart=False), 1.05, 0.0, "found>=80%", id="five-percent-session"),
])
def test_error_control_over_many_tables(runs: int, run_cv: float, policy: Policy, change: float,
                                        offset: float, goal: str) -> None:
    found = judged(np.random.default_rng(7), 100, runs, run_cv, policy, change, offset)
    verdicts = [v for table in found for v in table]
    called = sum(v in ("faster", "slower") for v in verdicts) / len(verdicts)
    if goal == "tables<=5%":
        assert sum(any(v in ("faster", "slower") for v in t) for t in found) / len(found) <= 0.05
    elif goal == "cells<=5%":
        assert called <= 0.05
    else:
        assert verdicts.count("faster") / len(verdicts) >= 0.8


@pytest.mark.parametrize("policy", [
    pytest.param(Policy(), id="two-folders-assumed-session-cv"),
    pytest.param(Policy(min_change=0.03), id="two-folders-min-change"),
    pytest.param(Policy(session_cv=0.02), id="two-folders-session-cv"),
    pytest.param(Policy(apart=False), id="one-session"),
    pytest.param(Policy(apart=False, min_change=0.01, correction="holm"), id="one-session-holm"),
])
def test_the_interval_shown_agrees_with_the_verdict(policy: Policy) -> None:
    """A verdict exactly when the interval shown clears 1 +/- --min_change: with two folders
    the interval carries the session variance the verdict uses (issue 30: a change of 2%
    measured tightly was shown as 1.01-1.03 and called inconclusive)."""
    rng = np.random.default_rng(7)
    evidence = []
    for change in np.linspace(0.8, 1.25, 60):
        base = np.exp(rng.normal(0.0, 0.004, 5)) * 10.0
        evidence.append(Runs(dict(enumerate(base)), dict(enumerate(base / change))))
    cells, _ = judge_table(evidence, policy)
    words = {str(c[4]) for c in cells}
    assert {"faster", "slower", "inconclusive"} <= words
    band = 1.0 + policy.min_change
    for _, low, high, _, word in cells:
        clears = float(low) > band or float(high) < 1.0 / band  # type: ignore[arg-type]
        assert clears is (word in ("faster", "slower")), (low, high, word)

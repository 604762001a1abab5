"""``dlbs bisect`` end to end on a synthetic repository of 8 commits (commit 5 is 5% slower,
1% run noise): real runs through the runner, a setup command, the database; and the one-line
errors of bad input."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main

PLAN = ['-Pexp.gpus=""', "-Pexp.model=resnet18", "-Pexp.phase=inference",
        "-Pexp.num_batches=10", "-Ppytorch.bench_path=${exp.bisect_checkout}"]


def bisect(repo: Path, good: str, bad: str, *options: str) -> list[str]:
    return ["bisect", "--repo", str(repo), "--good", good, "--bad", bad, *options, *PLAN]


def test_the_culprit_is_found_with_real_runs_a_skipped_setup_and_the_database(
        repo8: tuple[Path, list[str]], tmp_path: Path, capsys: Any) -> None:
    repo, hashes = repo8
    out, db = tmp_path / "out", tmp_path / "results.db"
    # the first revision asked is commit 3: its setup fails, so it is skipped (git bisect skip)
    setup = f'echo "$DLBS_BISECT_REVISION $(pwd)"; test "$DLBS_BISECT_REVISION" != {hashes[3]}'
    code = main(bisect(repo, hashes[0], "main", "--setup", setup, "--output", str(out),
                       "--format", "json", "--db", f"sqlite:///{db}"))
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["first_bad"] == f"{hashes[5][:12]} change 5: 5% slower"
    assert report["test"] == "Yuen's t on the log run times, 20% trimmed at each end"
    steps = report["steps"]
    assert steps[0]["role"] == "check" and steps[0]["verdict"] == "slower"
    assert steps[1]["revision"] == hashes[3][:12] and steps[1]["verdict"] == "skip"
    assert f"--setup failed at {hashes[3][:12]}" in steps[1]["note"]
    for step in steps[2:]:
        assert step["verdict"] in ("slower", "same")
        assert step["ci_low"] <= step["ratio"] <= step["ci_high"]
        assert (step["verdict"] == "slower") == (hashes.index(
            next(h for h in hashes if h.startswith(step["revision"]))) >= 5)
    assert len(steps) <= 3 + 2  # ceil(log2 7) + 2 (the skip costs one)
    # setup ran in each checkout, which is gone, as are the worktrees' records
    setup_log = (out / "setup" / f"{hashes[0][:12]}.log").read_text()
    assert setup_log.startswith(hashes[0]) and "dlbs-bisect-" in setup_log
    assert not Path(setup_log.split()[1]).exists()
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()
    assert len(listed) == 1
    # every run is in the database, along exp.code_version
    with sqlite3.connect(db) as con:
        stored = dict(con.execute("select code_version, count(*) from runs group by 1"))
    asked = {s["revision"] for s in steps if s["verdict"] != "skip"}
    assert set(stored) == asked | {hashes[0][:12]}
    assert sum(stored.values()) == sum(int(s["runs"].split("/")[1]) * 2 for s in steps
                                       if s["verdict"] != "skip")
    assert json.loads((out / "bisect.json").read_text()) == report


@pytest.mark.parametrize("good,bad,message", [
    pytest.param("main~7", "main~9", "--bad main~9: unknown revision in", id="unknown"),
    pytest.param("main", "main~7", "is not an ancestor of --bad", id="not an ancestor"),
])
def test_bad_revisions_are_one_line_and_exit_1(repo8: tuple[Path, list[str]], tmp_path: Path,
                                               capsys: Any, good: str, bad: str,
                                               message: str) -> None:
    repo, _ = repo8
    assert main(bisect(repo, good, bad, "--output", str(tmp_path / "o"))) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_not_a_repository_is_one_line_and_exit_1(tmp_path: Path, capsys: Any) -> None:
    assert main(bisect(tmp_path, "a", "b", "--output", str(tmp_path / "o"))) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: --repo {tmp_path} is not a git repository (git rev-parse found no " \
                  ".git folder): give the checkout of the code to bisect"


def test_a_plan_that_does_not_use_the_checkout_is_refused(repo8: tuple[Path, list[str]],
                                                          tmp_path: Path, capsys: Any) -> None:
    repo, hashes = repo8
    args = bisect(repo, hashes[0], hashes[-1], "--output", str(tmp_path / "o"))
    args[args.index("-Ppytorch.bench_path=${exp.bisect_checkout}")] = \
        f"-Ppytorch.bench_path={repo}"
    assert main(args) == 1
    assert "the plan does not use ${exp.bisect_checkout}" in capsys.readouterr().err
    assert len(subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()) == 1


def test_a_failed_setup_of_good_stops_naming_the_revision(repo8: tuple[Path, list[str]],
                                                          tmp_path: Path, capsys: Any) -> None:
    repo, hashes = repo8
    assert main(bisect(repo, hashes[0], hashes[-1], "--setup", "exit 3",
                       "--output", str(tmp_path / "o"))) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --setup failed at {hashes[0][:12]} (exit 3; its output: ")


@pytest.mark.parametrize("option", ["-Pexp.repeat=5", "-Vexp.code_version=[\"a\"]"])
def test_parameters_the_bisection_sets_are_refused(repo8: tuple[Path, list[str]],
                                                   tmp_path: Path, capsys: Any,
                                                   option: str) -> None:
    repo, hashes = repo8
    assert main([*bisect(repo, hashes[0], hashes[-1]), option]) == 1
    assert "is set by dlbs bisect" in capsys.readouterr().err


def test_runs_the_database_refused_are_counted_at_the_end_as_dlbs_run_does(
        repo8: tuple[Path, list[str]], tmp_path: Path, capsys: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.db.store import Store

    def refuse(self: Store, log: str) -> bool:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(Store, "store_log", refuse)
    repo, hashes = repo8
    out, db = tmp_path / "out", tmp_path / "results.db"
    main(bisect(repo, hashes[0], "main", "--output", str(out), "--format", "json",
                "--db", f"sqlite:///{db}"))
    err = capsys.readouterr().err.splitlines()
    closing = [line for line in err if line.startswith(f"warning: --db sqlite:///{db}: ")]
    assert len(closing) == 1, err
    assert " run(s) not stored (their logs are kept); store them with: dlbs db ingest " \
        in closing[0]
    assert str(out) in closing[0]


@pytest.mark.parametrize("trim", ["0.5", "-0.1"])
def test_a_trim_out_of_range_is_one_line_and_exit_2(repo8: tuple[Path, list[str]],
                                                     tmp_path: Path, capsys: Any,
                                                     trim: str) -> None:
    repo, hashes = repo8
    assert main(bisect(repo, hashes[0], hashes[-1], "--trim", trim,
                       "--output", str(tmp_path / "o"))) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --trim {float(trim)}: the share trimmed from each end must be in "
                   f"[0, 0.5) (0.2 is the default; 0 gives Welch's t)")

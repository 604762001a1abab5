"""Repeats and the adaptive/thread parameters on the command line: print, build, validate, run."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.validate import check_experiment

from .conftest import TIMESTAMP

SWEEP = ("-Pexp.gpus=", '-Vexp.model=["alexnet", "resnet18"]', f"-Psys.timestamp={TIMESTAMP}")


@pytest.mark.parametrize("options,count", [
    pytest.param((), 2, id="one-run"),
    pytest.param(("-Pexp.repeat=3",), 6, id="literal"),
    pytest.param(('-Vexp.repeat=[1, 2]',), 6, id="variable"),
    pytest.param(("-Pexp.repeat=$(2 if '${exp.model}' == 'alexnet' else 1)$",), 3, id="computed"),
    pytest.param(("-Pexp.repeat=2", "-Pexp.repeat_index=1"), 2, id="given-run"),
])
def test_count_is_the_number_of_runs_print_gives(cli: Any, options: tuple[str, ...],
                                                 count: int) -> None:
    counted = cli("print", "--count", *SWEEP, *options)
    assert (counted.code, counted.out) == (0, f"{count}\n")
    assert len(cli("print", "--format", "jsonl", *SWEEP, *options).jsonl()) == count


def test_build_then_print_and_run_plan_give_the_same_runs(cli: Any, tmp_path: Path) -> None:
    options = (*SWEEP, "-Pexp.repeat=2", "-Pexp.status=simulate")
    direct = [e["exp.log_file"] for e in cli("print", "--format", "jsonl", *options).jsonl()]
    assert cli("build", *options, "--plan", tmp_path / "plan.json").code == 0
    planned = cli("print", "--format", "jsonl", "--plan", tmp_path / "plan.json").jsonl()
    assert [e["exp.log_file"] for e in planned] == direct
    rounds = [(e["exp.repeat_index"], e["exp.round_position"], e["exp.model"]) for e in planned]
    assert [r[:2] for r in rounds] == [(0, 0), (0, 1), (1, 0), (1, 1)]  # random rounds
    assert {r[2] for r in rounds[:2]} == {r[2] for r in rounds[2:]} == {"alexnet", "resnet18"}
    assert cli("print", "--count", "--plan", tmp_path / "plan.json").out == "4\n"
    run = cli("run", "--plan", tmp_path / "plan.json")
    assert run.code == 0
    assert re.findall(r'^# ---- experiment \d+/4: "(\S+)"$', run.out, re.MULTILINE) == direct


@pytest.mark.parametrize("options,message", [
    pytest.param(("-Pexp.repeat=0",), "error: parameter 'exp.repeat': 0 is not an integer >= 1 "
                 "(the runs of each experiment); give one, e.g. -Pexp.repeat=3", id="repeat-0"),
    # fixed order (issue 19 made random rounds the default): alexnet's run 0 comes first
    pytest.param(("-Pexp.repeat=2", "-Pexp.interleave=fixed",
                  "-Pexp.log_file=/tmp/one_${exp.model}.log"),
                 "error: invalid plan (4 experiments: 4 to run): experiment 2: exp.log_file "
                 "'/tmp/one_alexnet.log' is also the log of experiment 0, another run of the same "
                 "experiment (exp.repeat is 2); add ${exp.repeat_index} to exp.log_file, e.g. "
                 "${exp.log_dir}/${exp.id}_r${exp.repeat_index}.log "
                 "(and 1 more problem; see --log-level info)", id="repeats-share-a-log"),
    pytest.param(("-Pexp.target_precision=1.5",), "error: invalid plan (2 experiments: 2 to run): "
                 "experiment 0: exp.target_precision is 1.5; it must be a number >= 0 and < 1 "
                 "(e.g. 0.01) (and 1 more problem; see --log-level info)", id="precision"),
])
def test_validate_and_run_refuse_with_one_line(cli: Any, options: tuple[str, ...],
                                               message: str) -> None:
    for action in ("validate", "run"):
        result = cli(action, *SWEEP, *options)
        assert result.code == 1 and result.error_line() == message


GOOD = {"exp.model": "resnet50", "exp.framework": "pytorch", "exp.replica_batch": 16,
        "exp.num_batches": 10, "exp.num_warmup_batches": 0, "exp.num_nodes": 1,
        "exp.docker": False, "exp.docker_image": "", "exp.log_file": "/l/a.log",
        "exp.status": "ok", "exp.repeat": 3, "exp.repeat_index": 2, "exp.cpu_threads": 0,
        "exp.target_precision": 0.0, "exp.max_time": 0.0}


@pytest.mark.parametrize("change,problem", [
    pytest.param({}, None, id="good"),
    pytest.param({"exp.repeat": 0}, "exp.repeat is 0; it must be an integer >= 1", id="repeat-0"),
    pytest.param({"exp.repeat_index": -1}, "exp.repeat_index is -1; it must be an integer >= 0",
                 id="index-negative"),
    pytest.param({"exp.repeat_index": 3}, "exp.repeat_index is 3; it must be below exp.repeat (3)",
                 id="index-past-the-runs"),
    pytest.param({"exp.cpu_threads": -1}, "exp.cpu_threads is -1; it must be an integer >= 0",
                 id="threads"),
    pytest.param({"exp.target_precision": 1.0}, "exp.target_precision is 1.0; it must be a number "
                 ">= 0 and < 1 (e.g. 0.01)", id="precision-1"),
    pytest.param({"exp.target_precision": -0.1}, "exp.target_precision is -0.1", id="precision-neg"),
    pytest.param({"exp.max_time": -1.0}, "exp.max_time is -1.0; it must be a number of seconds "
                 ">= 0 (0: no limit)", id="max-time"),
    pytest.param({"exp.max_time": float("inf")}, "exp.max_time is inf", id="max-time-inf"),
])
def test_check_experiment_names_the_parameter(change: dict[str, Any],
                                              problem: str | None) -> None:
    problems = check_experiment({**GOOD, **change})
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem)


def test_printed_runs_used_as_a_plan_give_the_same_runs(cli: Any, tmp_path: Path) -> None:
    printed = cli("print", *SWEEP, "-Pexp.repeat=2")
    (tmp_path / "printed.json").write_text(printed.out)
    again = cli("print", "--plan", tmp_path / "printed.json")
    assert again.json() == printed.json()
    assert cli("print", "--count", "--plan", tmp_path / "printed.json").out == "4\n"
    assert cli("validate", "--plan", tmp_path / "printed.json").code == 0

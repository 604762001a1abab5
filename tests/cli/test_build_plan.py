"""``experimenter build`` and ``--plan``: a plan built once is what print/validate/run expand."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dlbs.engine import ParamSpec
from dlbs.errors import ConfigError
from dlbs.planfile import read_plan, spec_from_json, spec_to_json

#: A sweep that exercises variables, extensions with cases and captures, a typed user
#: parameter, computed values and the environment.
SWEEP = {
    "parameters": {"user.threads": {"val": "2", "type": "int", "val_domain": [1, 2, 4]},
                   "exp.num_batches": "$(${user.threads} * 5)$"},
    "variables": {"exp.model": ["alexnet", "resnet50", "resnet101"], "exp.gpus": ["0", "0,1", ""]},
    "extensions": [
        {"condition": {"exp.model": "resnet([0-9]+)"},
         "parameters": {"exp.replica_batch": "${__condition.exp.model_1}"}},
        {"condition": {"exp.gpus": ""}, "cases": [{"exp.dtype": "float32"},
                                                  {"exp.dtype": "bfloat16"}]},
    ],
}


@pytest.fixture
def sweep(write: Any) -> Path:
    return write("sweep.json", SWEEP)


def test_build_writes_the_unexpanded_plan_with_specs(cli: Any, sweep: Path) -> None:
    result = cli("build", "--config", sweep)
    assert result.code == 0 and result.err == ""
    plan = result.json()
    assert (plan["format"], plan["version"]) == ("dlbs-plan", 1)
    assert plan["specs"]["exp.replica_batch"] == {"type": "int"}
    assert plan["specs"]["exp.phase"] == {"type": "str", "val_domain": ["training", "inference", "serve"]}
    assert plan["specs"]["user.threads"] == {"type": "int", "val_domain": [1, 2, 4]}
    experiments = plan["experiments"]
    assert len(experiments) == 12  # 3 models x (2 gpu layouts + 1 cpu layout x 2 cases)
    first = experiments[0]
    assert first["exp.effective_batch"].startswith("$(")  # not expanded
    assert first["exp.num_batches"] == "$(${user.threads} * 5)$"
    assert re.fullmatch(r"\d{8}-\d{6}", first["sys.timestamp"])
    assert experiments[4]["exp.replica_batch"] == "50"  # the capture is substituted at build


@pytest.mark.parametrize("option", ["--output", "-o", "--plan"])
def test_plan_round_trip_build_then_print_is_identical(cli: Any, sweep: Path, tmp_path: Path,
                                                       option: str) -> None:
    plan_file = tmp_path / "plan.json"
    built = cli("build", "--config", sweep, option, plan_file)
    # a plan written to a file says what it holds and how to run it (issue 58: it was silent)
    assert (built.code, built.out, built.err) == (0, "", (
        f"build: wrote 12 experiments to {plan_file}; run them with "
        f"'experimenter run --plan {plan_file}'\n"))
    stamp = json.loads(plan_file.read_text())["experiments"][0]["sys.timestamp"]
    direct = cli("print", "--config", sweep, f"-Psys.timestamp={stamp}")
    again = cli("print", "--plan", plan_file)
    assert direct.code == again.code == 0
    assert again.out == direct.out
    experiments = again.json()
    assert experiments[0]["exp.num_batches"] == 10 and experiments[0]["user.threads"] == 2
    assert experiments[4]["exp.replica_batch"] == 50  # cast by the spec carried in the file


def test_plan_file_gives_the_same_experiments_every_time(cli: Any, sweep: Path,
                                                         tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    cli("build", "--config", sweep, "--output", plan_file)
    first = cli("print", "--plan", plan_file, "--format", "jsonl").out
    assert cli("print", "--plan", plan_file, "--format", "jsonl").out == first
    from_plan, from_config = cli("validate", "--plan", plan_file), cli("validate", "--config", sweep)
    assert (from_plan.code, from_plan.err) == (from_config.code, from_config.err)
    assert cli("print", "--plan", plan_file, "--count").out == "12\n"


def test_build_to_stdout_can_be_read_back(cli: Any, sweep: Path, write: Any) -> None:
    plan_file = write("from-stdout.json", cli("build", "--config", sweep).out)
    assert len(cli("print", "--plan", plan_file).json()) == 12


def test_dlbs_list_plan_uses_the_default_declarations(cli: Any, write: Any) -> None:
    plan_file = write("dlbs.json", [{"exp.model": "x", "exp.replica_batch": "32",
                                     "exp.log_file": "/tmp/${exp.model}.log"}])
    [e] = cli("print", "--plan", plan_file).json()
    assert e == {"exp.model": "x", "exp.replica_batch": 32, "exp.log_file": "/tmp/x.log"}


@pytest.mark.parametrize("option", ["--config=c.json", "-Pexp.model=x", "-Vexp.model=x",
                                    "-E{}"])
def test_plan_cannot_be_combined_with_build_options(cli: Any, write: Any, option: str) -> None:
    write("c.json", {})
    plan_file = write("plan.json", [])
    result = cli("print", "--plan", plan_file, option)
    assert result.code == 2
    assert "cannot be combined with" in result.error_line()


@pytest.mark.parametrize("content,message", [
    pytest.param(None, "plan file '{path}' not found", id="missing"),
    pytest.param('{"format": "dlbs-plan", "version": 1, "experiments": [\n}',
                 "{path}:2:1: malformed JSON", id="malformed"),
    pytest.param('{"experiments": []}', "{path}: not a plan file", id="not-a-plan"),
    pytest.param('{"format": "dlbs-plan", "version": 9, "experiments": []}',
                 "{path}: plan file version 9 is not supported", id="version"),
    pytest.param('{"format": "dlbs-plan", "version": 1, "experiments": [1]}',
                 "{path}: experiment 0 is a int, not an object", id="bad-experiment"),
    pytest.param('{"format": "dlbs-plan", "version": 1, "specs": {"a": {"type": "x"}},'
                 ' "experiments": []}', "{path}: the spec of parameter 'a'", id="bad-spec"),
])
def test_bad_plan_files_are_one_line_errors(cli: Any, tmp_path: Path, content: str | None,
                                            message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    result = cli("print", "--plan", path)
    assert result.code == 1
    assert message.format(path=path) in result.error_line()


def test_build_with_different_plan_and_output_is_a_usage_error(cli: Any) -> None:
    result = cli("build", "--plan", "a.json", "--output", "b.json")
    assert result.code == 2 and "name different files" in result.error_line()


def test_build_into_a_missing_folder_fails_cleanly(cli: Any, tmp_path: Path) -> None:
    result = cli("build", "--output", tmp_path / "no" / "such" / "plan.json")
    assert result.code == 1
    assert "cannot write plan file" in result.error_line()


def test_failed_build_leaves_no_file(cli: Any, tmp_path: Path) -> None:
    result = cli("build", "-Vexp.model=[]", "--output", tmp_path / "plan.json")
    assert result.code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_run_twice_from_one_plan_uses_one_log_dir(cli: Any, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    cli("build", "-Pexp.model=resnet50", "--output", plan_file)
    first = cli("print", "--plan", plan_file).json()[0]["exp.log_dir"]
    assert cli("print", "--plan", plan_file).json()[0]["exp.log_dir"] == first


@pytest.mark.parametrize("spec", [ParamSpec("a", "int"), ParamSpec("b", None),
                                  ParamSpec("c", "str", "desc", ("x", "y"))])
def test_spec_json_round_trip(spec: ParamSpec) -> None:
    back = spec_from_json(spec.name, spec_to_json(spec), "test")
    assert (back.name, back.type, back.domain) == (spec.name, spec.type, spec.domain)


def test_read_plan_rejects_a_scalar(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("3")
    with pytest.raises(ConfigError, match="not a plan file"):
        read_plan(tmp_path / "p.json")

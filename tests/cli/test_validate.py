"""``experimenter validate``: expand everything, check runnability, summary on stderr."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.validate import ValidationReport, check_experiment, validate_experiments

GOOD = {"exp.model": "resnet50", "exp.framework": "pytorch", "exp.replica_batch": 16,
        "exp.num_batches": 10, "exp.num_warmup_batches": 0, "exp.num_nodes": 1,
        "exp.docker": False, "exp.docker_image": "", "exp.log_file": "/l/a.log",
        "exp.status": "ok"}


def test_valid_plan_prints_a_summary_on_stderr_only(cli: Any) -> None:
    result = cli("validate", "-Vexp.model=[\"alexnet\", \"resnet50\"]", '-Pexp.gpus=""')
    assert (result.code, result.out) == (0, "")
    assert result.err == "validate: OK, 2 experiments: 2 to run\n"


def test_missing_model_is_an_error_naming_it(cli: Any) -> None:
    result = cli("validate", "-Vexp.replica_batch=[1, 2]")
    assert result.code == 1 and result.out == ""
    line = result.error_line()
    assert line.startswith("error: invalid plan (2 experiments: 2 to run): experiment 0: "
                           "exp.model is empty")
    assert line.endswith("(and 1 more problem; see --log-level info)")


def test_disabled_experiments_need_no_model(cli: Any) -> None:
    result = cli("validate", "-Vexp.status=[\"disabled\", \"inactive\"]")
    assert result.code == 0
    assert result.err == "validate: OK, 2 experiments: 0 to run, 1 disabled, 1 inactive\n"


def test_two_experiments_with_one_log_file_are_an_error(cli: Any) -> None:
    result = cli("validate", "-Pexp.log_file=/tmp/same.log",
                 "-Vexp.model=[\"alexnet\", \"vgg16\"]")
    assert result.code == 1
    assert "experiment 1: exp.log_file '/tmp/same.log' is also the log of experiment 0" \
        in result.error_line()


def test_expansion_errors_surface_in_validate(cli: Any) -> None:
    result = cli("validate", "-Pexp.model=x", "-Pexp.dtype=int4")
    assert result.code == 1 and "exp.dtype" in result.error_line()


@pytest.mark.parametrize("change,problem", [
    pytest.param({}, None, id="good"),
    pytest.param({"exp.model": ""}, "exp.model is empty", id="no-model"),
    pytest.param({"exp.model": "../x"}, "exp.model '../x' is not a model name", id="path-model"),
    pytest.param({"exp.framework": "caffe"}, "exp.framework 'caffe' is not one of pytorch",
                 id="framework"),
    pytest.param({"exp.replica_batch": 0}, "exp.replica_batch is 0; it must be an integer >= 1",
                 id="batch-0"),
    pytest.param({"exp.num_batches": "10"}, "exp.num_batches is '10'", id="not-int"),
    pytest.param({"exp.num_warmup_batches": -1}, "exp.num_warmup_batches is -1", id="warmup"),
    pytest.param({"exp.num_nodes": True}, "exp.num_nodes is True", id="bool-is-not-int"),
    pytest.param({"exp.docker": True}, "exp.docker is true but exp.docker_image is empty",
                 id="docker-image"),
])
def test_check_experiment(change: dict[str, Any], problem: str | None) -> None:
    problems = check_experiment({**GOOD, **change})
    assert problems == ([] if problem is None else [p for p in problems if p.startswith(problem)])
    assert len(problems) == (0 if problem is None else 1)


def test_report_counts_statuses() -> None:
    report = validate_experiments([GOOD, {**GOOD, "exp.status": "disabled"},
                                   {**GOOD, "exp.status": "simulate", "exp.log_file": "/l/b"}])
    assert isinstance(report, ValidationReport)
    assert report.problems == []
    assert report.summary() == "3 experiments: 2 to run, 1 disabled"


@pytest.mark.parametrize("param,message", [
    pytest.param("-Pruntime.env.A;B=1", "environment variable name 'A;B' is not valid: use "
                 "letters, digits and '_' (runtime.env.<NAME>)", id="env-name"),
    pytest.param("-Pruntime.launcher=numactl 'x", "parameter 'runtime.launcher' is not a valid "
                 "command line (No closing quotation): \"numactl 'x\"", id="unbalanced-quote"),
])
def test_launch_problems_surface_before_anything_runs(cli: Any, param: str, message: str) -> None:
    result = cli("validate", "-Pexp.model=deep_mnist", "-Pexp.gpus=", param)
    assert result.code == 1
    assert result.error_line() == ("error: invalid plan (1 experiment: 1 to run): experiment 0: "
                                   + message)


def test_unknown_model_did_you_mean_without_torch(tmp_path: Path) -> None:
    """The zoo's names come from its sources: validate refuses a typo before importing torch."""
    code = ("import sys, runpy; sys.argv=['dlbs', 'validate', '-Pexp.model=resnet5', "
            "'-Pexp.gpus=\"\"']\n"
            "from dlbs.cli.main import main\n"
            "code = main(sys.argv[1:])\n"
            "assert 'torch' not in sys.modules, 'validate imported torch'\n"
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "unknown model 'resnet5'; did you mean 'resnet50'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_zoo_names_from_sources_match_the_registry() -> None:
    from pytorch_benchmarks.model_names import model_names
    from pytorch_benchmarks.models import get_model_info, list_models
    registered = set(list_models())
    for name in list(registered):
        registered |= set(get_model_info(name).aliases)
    assert set(model_names()) == registered


@pytest.mark.parametrize("params, problem", [
    (['-Pexp.gpus="0;1"'], "exp.gpus is '0;1'; give GPU indices"),
    (['-Pexp.gpus="a"'], "exp.gpus is 'a'"),
    (["-Pexp.timeout=-5"], "exp.timeout is -5; it must be an integer >= 0"),
    (["-Pexp.timeout=99999999"], "exp.timeout is 99999999 s (over 30 days)"),
    (["-Pexp.cpu_replicas=0"], "exp.cpu_replicas is 0; it must be an integer >= 1"),
    (["-Pexp.replica_batch=-1"], "exp.replica_batch is -1; it must be an integer >= 1"),
    (["-Pexp.log_file=${exp.log_dir}/../../x.log"], "leaves exp.log_dir"),
    (["-Pexp.id=../up"], "exp.id '../up' is not a plain word"),
])
def test_mistakes_caught_before_a_run(cli: Any, params: list[str], problem: str) -> None:
    result = cli("validate", "-Pexp.model=alexnet", *params)
    assert result.code == 1 and problem in result.error_line(), result.err


def test_gpu_experiment_on_a_host_without_gpus(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.cli import validate
    monkeypatch.setattr(validate, "nvidia_driver", lambda: None)
    result = cli("validate", "-Pexp.model=alexnet", "-Pexp.gpus=0")
    assert result.code == 1
    assert "a GPU experiment) but this host has no NVIDIA GPU" in result.error_line()
    assert "-Pexp.gpus='\"\"' runs it on the CPU" in result.error_line()
    docker = cli("validate", "-Pexp.model=alexnet", "-Pexp.gpus=0", "-Pexp.docker=true",
                 "-Pexp.docker_image=x", "--no-validation")
    assert "no NVIDIA GPU" not in docker.err  # a container or Slurm node may have them


def test_same_log_through_another_path_is_a_collision(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = cli("validate", "-Pexp.gpus=\"\"", "-Vexp.model=[\"alexnet\", \"vgg16\"]",
                 f"-Pexp.log_file=$('{tmp_path}/real/a.log' if '${{exp.model}}' == 'alexnet' "
                 f"else '{tmp_path}/link/./a.log')$")
    assert result.code == 1 and "is also the log of experiment 0" in result.error_line(), result.err


def test_unknown_parameter_warns_or_fails_with_strict(cli: Any) -> None:
    warned = cli("validate", "-Pexp.model=alexnet", '-Pexp.gpus=""', "-Pexp.modle=x")
    assert warned.code == 0
    assert "warning: parameter 'exp.modle' is not one dlbs knows; did you mean 'exp.model'?" \
        in warned.err
    strict = cli("validate", "-Pexp.model=alexnet", '-Pexp.gpus=""', "-Pexp.modle=x", "--strict")
    assert strict.code == 2 and "(--strict)" in strict.err

"""``experimenter validate``: expand everything, check runnability, summary on stderr."""
from __future__ import annotations

import json
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
    assert report.summary() == "3 experiments: 1 to run, 1 to simulate, 1 disabled"


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
    # In a fresh interpreter: other tests register models of their own in this one.
    code = ("import json\n"
            "from pytorch_benchmarks.models.names import model_names\n"
            "from pytorch_benchmarks.models import get_model_info, list_models\n"
            "names = set(list_models())\n"
            "for n in list(names): names |= set(get_model_info(n).aliases)\n"
            "print(json.dumps([sorted(model_names()), sorted(names)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    from_sources, registered = json.loads(out)
    assert from_sources == registered
    assert "resnet50" in registered


@pytest.mark.parametrize("params, problem", [
    (['-Pexp.gpus="0;1"'], "exp.gpus is '0;1'; give GPU indices"),
    (['-Pexp.gpus="a"'], "exp.gpus is 'a'"),
    (["-Pexp.gpus=0,0"], "exp.gpus is '0,0': GPU 0 appears more than once"),
    (["-Pexp.gpus=0:1,1:2"], "GPU 1 appears more than once, so replicas would share it"),
    (["-Pexp.gpus= 0,1"], "exp.gpus is ' 0,1', with spaces around it; give '0,1'"),
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
    assert "-Pexp.gpus='\"\"' runs it on this CPU" in result.error_line()
    # a plan for a GPU host (examples/llama3_8b_8gpu.json) is checked here by simulating it
    assert "a plan for another host is checked here with -Pexp.status=simulate" in \
        result.error_line()
    simulated = cli("validate", "-Pexp.model=alexnet", "-Pexp.gpus=0", "-Pexp.status=simulate")
    assert simulated.code == 0, simulated.err
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


def test_run_without_validation_still_refuses_a_shared_log(cli: Any, tmp_path: Path) -> None:
    result = cli("run", "--no-validation", "-Pexp.gpus=\"\"", "-Vexp.model=[\"alexnet\", \"vgg16\"]",
                 f"-Pexp.log_file={tmp_path}/a.log")
    assert result.code == 1 and "is also the log of experiment 0" in result.error_line(), result.err
    assert not list(tmp_path.glob("a.log*"))  # nothing ran


def test_unknown_parameter_warns_or_fails_with_strict(cli: Any) -> None:
    # issue 20 changed this: a typo-like name (exp.modle) is an error by default now (exit 2,
    # tests/cli/test_unknown_names.py); --allow-unknown keeps the old warning, and --strict
    # makes any unknown name an error (exit 2, a usage error)
    warned = cli("validate", "-Pexp.model=alexnet", '-Pexp.gpus=""', "-Pexp.modle=x",
                 "--allow-unknown")
    assert warned.code == 0
    assert "warning: -P: parameter 'exp.modle' is not one dlbs knows; did you mean " \
        "'exp.model'?" in warned.err
    strict = cli("validate", "-Pexp.model=alexnet", '-Pexp.gpus=""', "-Pexp.greeting=x",
                 "--strict")
    assert strict.code == 2 and "(--strict)" in strict.err


# Several nodes: refused unless Slurm or a manual rendezvous reaches them (docs/running.md).

RENDEZVOUS = {"pytorch.distributed_rendezvous": "10.0.0.1:29500"}


@pytest.mark.parametrize("change,problem", [
    pytest.param({"exp.num_nodes": 2}, "exp.num_nodes is 2 but nothing reaches the other nodes: "
                 "use -Pexp.scheduler=slurm", id="nothing-reaches"),
    pytest.param({"exp.num_nodes": 2, "exp.scheduler": "slurm"}, None, id="slurm"),
    pytest.param({"exp.num_nodes": 2, **RENDEZVOUS}, None, id="manual-rank-0"),
    pytest.param({"exp.num_nodes": 2, "pytorch.distributed_rank": 1, **RENDEZVOUS}, None,
                 id="manual-rank-1"),
    pytest.param({"exp.num_nodes": 2, "pytorch.distributed_rank": 2, **RENDEZVOUS},
                 "pytorch.distributed_rank is 2; with exp.num_nodes=2 it must be 0..1",
                 id="rank-high"),
    pytest.param({"pytorch.distributed_rank": 1}, "pytorch.distributed_rank is 1", id="rank-1"),
    pytest.param({"exp.num_nodes": 2, "pytorch.distributed_rendezvous": "h;touch /tmp/x:1"},
                 "pytorch.distributed_rendezvous is 'h;touch /tmp/x:1'; use HOST:PORT",
                 id="rendezvous-shell"),
    pytest.param({"exp.num_nodes": 2, "pytorch.distributed_rendezvous": "[::1]:29500"}, None,
                 id="rendezvous-ipv6"),
    pytest.param({"exp.num_nodes": 2, "pytorch.distributed_rendezvous": "h:70000"},
                 "pytorch.distributed_rendezvous is 'h:70000'", id="rendezvous-port"),
    pytest.param({"exp.num_nodes": 2, "exp.model": ""}, "exp.num_nodes is 2",
                 id="reported-beside-other-problems"),
])
def test_check_experiment_nodes(change: dict[str, Any], problem: str | None) -> None:
    problems = check_experiment({**GOOD, **change})
    if problem is None:
        assert problems == []
    else:
        assert [p for p in problems if p.startswith(problem)], problems


def test_refused_nodes_are_one_error_line_naming_both_ways(cli: Any) -> None:
    result = cli("validate", "-Pexp.model=alexnet", '-Pexp.gpus=""', "-Pexp.num_nodes=2")
    assert result.code == 1
    line = result.error_line()
    assert "experiment 0: exp.num_nodes is 2 but nothing reaches the other nodes" in line
    assert "-Pexp.scheduler=slurm" in line
    assert "-Ppytorch.distributed_rank=R" in line
    assert "-Ppytorch.distributed_rendezvous=HOST:PORT" in line


@pytest.mark.parametrize("change,warning", [
    pytest.param(RENDEZVOUS, "pytorch.distributed_rendezvous is set but exp.num_nodes is 1",
                 id="rendezvous-one-node"),
    pytest.param({"exp.num_nodes": 2, "exp.scheduler": "slurm", **RENDEZVOUS},
                 "pytorch.distributed_rendezvous not used with exp.scheduler=slurm",
                 id="rendezvous-slurm"),
    pytest.param({"exp.num_nodes": 2, "exp.scheduler": "slurm", "pytorch.distributed_rank": 1},
                 "pytorch.distributed_rank not used with exp.scheduler=slurm", id="rank-slurm"),
    pytest.param({"exp.num_nodes": 2, **RENDEZVOUS}, None, id="manual"),
])
def test_unused_node_settings_are_warnings(change: dict[str, Any], warning: str | None) -> None:
    report = validate_experiments([{**GOOD, **change}])
    assert report.problems == []
    if warning is None:
        assert report.warnings == []
    else:
        (only,) = report.warnings
        assert only.startswith(f"experiment 0: {warning}"), only


def test_a_rendezvous_on_one_node_is_a_warning_once(cli: Any) -> None:
    result = cli("validate", "-Vexp.model=[\"alexnet\", \"resnet50\"]", '-Pexp.gpus=""',
                 "-Ppytorch.distributed_rendezvous=10.0.0.1:29500")
    assert result.code == 0
    lines = result.err.splitlines()
    assert lines[0].startswith("warning: experiment 0 (and 1 more): pytorch.distributed_rendezvous"
                               " is set but exp.num_nodes is 1")
    assert lines[1:] == ["validate: OK, 2 experiments: 2 to run"]

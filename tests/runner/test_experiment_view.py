"""The typed experiment view (dlbs.experiment, issue 33): fields read once from the expanded
dict, one answer to "does this run in a container?", and the one registry of checks."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest

import dlbs.cli.validate  # noqa: F401  (registers its checks)
from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.experiment.checks import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("written", "read"), [
    (True, True), (False, False), ("true", True), ("True", True), ("1", True), ("yes", True),
    ("false", False), ("0", False), ("", False), (None, False), (0, False), (1, True)])
def test_a_boolean_reads_as_what_it_means(written: Any, read: bool) -> None:
    assert Experiment.of({"exp.docker": written}).docker is read


@pytest.mark.parametrize(("written", "read"), [(4, 4), ("4", 4), ("", 1), (None, 1)])
def test_a_count_reads_as_an_int_and_empty_as_its_default(written: Any, read: int) -> None:
    assert Experiment.of({"exp.num_nodes": written}).num_nodes == read


def test_a_count_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected an integer"):
        Experiment.of({"exp.num_nodes": "two"})


def test_missing_parameters_read_as_the_launchers_defaults() -> None:
    exp = Experiment.of({})
    assert (exp.container_runtime, exp.python, exp.docker_python, exp.docker_shm_size,
            exp.scheduler, exp.status, exp.device) == (
        "docker", "python3", "python3", "1g", "local", "ok", "cpu")
    assert not exp.in_container and exp.runtime is None


@pytest.mark.parametrize("runtime", ["docker", "podman", "apptainer", "pyxis"])
def test_in_container_for_each_runtime(runtime: str) -> None:
    exp = Experiment.of({"exp.docker": "true", "exp.container_runtime": runtime})
    assert exp.in_container and exp.runtime == runtime and exp.runs_in(runtime)
    bare = Experiment.of({"exp.docker": False, "exp.container_runtime": runtime})
    assert not bare.in_container and bare.runtime is None and not bare.runs_in(runtime)


def test_an_unknown_runtime_is_refused_listing_the_choices() -> None:
    exp = Experiment.of({"exp.docker": True, "exp.container_runtime": "lxc"})
    assert exp.in_container
    with pytest.raises(ValidationError, match="docker, podman, apptainer, pyxis"):
        _ = exp.runtime


def test_the_device_comes_from_exp_gpus_unless_declared() -> None:
    assert Experiment.of({"exp.gpus": "0,1"}).device == "gpu"
    assert Experiment.of({"exp.gpus": "0", "exp.device_type": "cpu"}).device == "cpu"
    assert Experiment.of({"exp.gpus": " "}).device == "cpu"


def test_visible_gpus_fall_back_to_exp_gpus() -> None:
    assert Experiment.of({"exp.gpus": "0:1"}).visible_gpus == "0:1"
    assert Experiment.of({"exp.gpus": "0:1", "runtime.visible_gpus": "2"}).visible_gpus == "2"


def test_the_environment_keeps_plan_order() -> None:
    exp = Experiment.of({"runtime.env.B": 1, "exp.model": "m", "runtime.env.A": True})
    assert exp.env == (("B", "1"), ("A", "true"))


def test_the_view_is_frozen_and_its_dict_read_only() -> None:
    source = {"exp.model": "resnet50"}
    exp = Experiment.of(source)
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.model = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        exp.raw["exp.model"] = "other"  # type: ignore[index]
    source["exp.model"] = "changed"
    assert exp.model == "resnet50" and exp.raw["exp.model"] == "resnet50"


def test_a_view_is_made_once() -> None:
    exp = Experiment.of({"exp.model": "m"})
    assert Experiment.of(exp) is exp and Experiment.from_dict(exp) is exp


def _check_functions(path: Path) -> set[str]:
    """The names of the module-level ``_check_*`` functions of ``path`` that check one
    experiment (their first parameter is ``exp`` or ``experiment``)."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("_check_")
            and node.args.args and node.args.args[0].arg in ("exp", "experiment")}


def test_every_check_of_validate_is_in_the_one_registry() -> None:
    registered = {check.name.rsplit(".", 1)[1] for check in REGISTRY
                  if check.name.startswith("dlbs.cli.validate.")}
    defined = _check_functions(ROOT / "dlbs" / "cli" / "validate.py")
    assert defined and defined <= registered, defined - registered


def test_no_check_function_lives_outside_the_registry() -> None:
    registered = {check.function.__name__ for check in REGISTRY}
    for path in (ROOT / "dlbs").rglob("*.py"):
        assert _check_functions(path) <= registered, path


# -- the fields the runner, the executors and status read (phase 2) ----------------------------
def test_the_runner_s_fields_keep_its_defaults() -> None:
    exp = Experiment.of({})
    assert (exp.timeout, exp.kill_grace, exp.monitor_frequency, exp.monitor_gpu, exp.sys_info,
            exp.repeat, exp.repeat_index, exp.num_replicas) == (0.0, 5.0, 0.0, True, "", 1, 0,
                                                                 None)
    given = Experiment.of({"exp.timeout": 600, "runtime.kill_grace": None,
                           "monitor.frequency": "2.5", "monitor.gpu": "false",
                           "exp.sys_info": "lscpu, nvidia_smi", "exp.repeat": 3,
                           "exp.repeat_index": 1, "exp.num_replicas": 8})
    assert (given.timeout, given.kill_grace, given.monitor_frequency, given.monitor_gpu,
            given.sys_info, given.repeat, given.repeat_index, given.num_replicas) == (
        600.0, 0.0, 2.5, False, "lscpu, nvidia_smi", 3, 1, 8)


@pytest.mark.parametrize(("timeout", "text"), [(600, "600"), (1.5, "1.5"), (10**6, "1000000")])
def test_the_timeout_is_named_as_given(timeout: Any, text: str) -> None:
    assert Experiment.of({"exp.timeout": timeout}).timeout_text == text


def test_a_time_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected a number"):
        Experiment.of({"exp.timeout": "soon"})


@pytest.mark.parametrize("repeat", ["3", True, None])
def test_a_repeat_that_is_no_int_counts_as_one_run(repeat: Any) -> None:
    assert Experiment.of({"exp.repeat": repeat, "exp.repeat_index": "x"}).repeat == 1


def test_gpus_per_node_is_none_on_the_cpu() -> None:
    assert Experiment.of({"exp.device_type": "cpu", "exp.num_local_gpus": 4}).gpus_per_node == 0
    assert Experiment.of({"exp.device_type": "gpu", "exp.num_local_gpus": 4}).gpus_per_node == 4


def test_the_slurm_settings_keep_the_batch_script_s_defaults() -> None:
    slurm = Experiment.of({}).slurm
    assert (slurm.partition, slurm.gpus_per_node, slurm.max_jobs, slurm.exclusive,
            slurm.requeue, slurm.array, slurm.signal, slurm.extra_args) == (
        "", 0, 1, True, False, False, "B:USR1@120", ())


def test_the_slurm_settings_read_texts_counts_and_switches() -> None:
    slurm = Experiment.of({"slurm.partition": " gpu ", "slurm.time": "02:00:00",
                           "slurm.cpus_per_task": "8", "slurm.max_jobs": 2,
                           "slurm.exclusive": "false", "slurm.array": "true",
                           "slurm.signal": None, "slurm.extra_args": "--hint=nomultithread -v"
                           }).slurm
    assert (slurm.partition, slurm.text("time"), slurm.cpus_per_task, slurm.max_jobs,
            slurm.exclusive, slurm.array, slurm.signal) == ("gpu", "02:00:00", 8, 2, False,
                                                           True, "")
    assert slurm.extra_args == ("--hint=nomultithread", "-v")
    listed = Experiment.of({"slurm.extra_args": ["--x", 1]}).slurm
    assert listed.extra_args == ("--x", "1")


def test_the_slurm_settings_are_read_only_when_asked_for() -> None:
    exp = Experiment.of({"slurm.max_jobs": "many"})  # a local experiment: not read
    with pytest.raises(ValidationError, match="expected an integer"):
        _ = exp.slurm
    slurm = Experiment.of({"slurm.max_jobs": 3})
    assert slurm.slurm is slurm.slurm  # read once


def test_a_job_reads_its_experiment_once() -> None:
    from dlbs.runner.job import Job

    view = Experiment.of({"exp.log_file": "/logs/a.log", "exp.num_nodes": 2})
    assert Job(0, view.raw, Path("/logs/a.log"), made=view).view is view
    made_here = Job(0, {"exp.num_nodes": 2}, Path("/logs/a.log")).view
    assert made_here.num_nodes == 2
    moved = dataclasses.replace(Job(0, {"exp.num_nodes": 2}, Path("/a.log")),
                                exp={"exp.num_nodes": 4})
    assert moved.view.num_nodes == 4

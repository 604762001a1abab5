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

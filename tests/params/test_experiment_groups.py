"""The typed groups of the ``Experiment`` (dlbs.experiment.groups, issue 57) read the
parameters the catalogue declares for their fields (``"field": "GROUP.ATTRIBUTE"`` in
config/*.json): every field names a declared parameter, every declared field is a group's,
and a field's default is what the config's own value reads as."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dlbs.experiment import Experiment
from dlbs.experiment.groups import GROUPS, Group, SlurmSettings
from dlbs.params import catalogue

ALL_GROUPS: tuple[type[Group], ...] = (*GROUPS, SlurmSettings)
#: Fields whose default is not what the config's value reads as, and why: a dict written by
#: hand (a test, an old plan) that lacks the parameter reads as "not given", never as the
#: config's choice (the launchers always read them so).
OTHER_DEFAULTS = {
    "workload.phase": "no phase given: neither training nor inference (config: training)",
    "workload.replica_batch": "no batch given: no --batch_size flag (config: 16)",
    "placement.gpus": "no GPUs given: the CPU (config: GPU 0)",
    "placement.rendezvous_timeout": "not given: torchrun's own timeout (config: 300 s)",
}


def _plain(value: Any) -> bool:
    return not (isinstance(value, str) and ("$(" in value or "${" in value))


def _fields(group: type[Group]) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(group)  # type: ignore[arg-type]
            if "prefix" not in f.metadata]


@pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.GROUP)
def test_every_field_names_a_declared_parameter(group: type[Group]) -> None:
    declared = catalogue.view_fields().get(group.GROUP, {})
    assert {f.name for f in _fields(group)} == set(declared), group.GROUP
    for attribute, name in declared.items():
        assert name in catalogue.parameters() and group.parameter(attribute) == name


def test_every_declared_field_is_a_group_s() -> None:
    assert set(catalogue.view_fields()) == {group.GROUP for group in ALL_GROUPS}


@pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.GROUP)
def test_a_field_s_default_is_what_the_config_s_value_reads_as(group: type[Group]) -> None:
    wrong = []
    for f in _fields(group):
        name = group.parameter(f.name)
        value = catalogue.parameters()[name].default
        where = f"{group.GROUP}.{f.name}"
        if not _plain(value) or where in OTHER_DEFAULTS:
            continue
        read = getattr(group.of({name: value}), f.name)
        if read != f.default or type(read) is not type(f.default):
            wrong.append(f"{where} ({name}): default {f.default!r}, config's {value!r} reads "
                         f"as {read!r}")
    assert not wrong, "\n".join(wrong)


def test_the_other_defaults_are_still_other() -> None:
    """An entry of ``OTHER_DEFAULTS`` that came to agree is taken out (the list only shrinks)."""
    for where in OTHER_DEFAULTS:
        group_name, attribute = where.split(".")
        group = next(g for g in ALL_GROUPS if g.GROUP == group_name)
        name = group.parameter(attribute)
        default = next(f.default for f in _fields(group) if f.name == attribute)
        assert getattr(group.of({name: catalogue.parameters()[name].default}),
                       attribute) != default, where


#: The flat fields the view had before its groups (issue 57): each still an attribute.
FLAT = ("id", "model", "status", "log_dir", "log_file", "scheduler", "phase", "replica_batch",
        "data", "data_dir", "data_loader_only", "parallelism", "declared_device", "gpus",
        "visible_gpus", "num_local_gpus", "num_local_replicas", "cpu_replicas", "cpu_threads",
        "num_nodes", "distributed_rank", "rendezvous", "rendezvous_timeout", "python",
        "launcher", "bench_path", "code_dir", "host_libpath", "host_python_path", "env",
        "docker", "container_runtime", "image", "docker_python", "docker_launcher",
        "container_launcher", "docker_args", "docker_network", "docker_ipc", "docker_shm_size",
        "timeout", "kill_grace", "monitor_frequency", "monitor_gpu", "sys_info", "repeat",
        "repeat_index", "num_replicas")


def test_the_view_s_fields_are_still_its_attributes_read_from_its_groups() -> None:
    exp = Experiment.of({"exp.docker_image": " img ", "exp.num_nodes": "2",
                         "monitor.gpu": "false", "runtime.env.A": 1, "exp.phase": "serve"})
    for name in FLAT:
        group = getattr(exp, vars(Experiment)[name].group)
        assert name in {f.name for f in dataclasses.fields(group)}, name
        assert getattr(exp, name) == getattr(group, name), name
    assert (exp.image, exp.num_nodes, exp.monitor_gpu, exp.env, exp.serves) == (
        "img", 2, False, (("A", "1"),), True)


def test_a_field_no_parameter_declares_is_refused_by_name() -> None:
    @dataclasses.dataclass(frozen=True)
    class Stray(Group):
        GROUP = "container"
        nothing: str = dataclasses.field(default="", metadata={"read": lambda r, n, d: d})

    with pytest.raises(catalogue.CatalogueError, match="'container.nothing'"):
        Stray.of({})


def test_a_group_names_its_fields_parameters_with_their_values() -> None:
    slurm = SlurmSettings.of({"slurm.mem": " 4G ", "slurm.cpus_per_gpu": "2"})
    assert slurm.named("mem", "cpus_per_gpu", "gres") == (
        ("slurm.mem", "4G"), ("slurm.cpus_per_gpu", 2), ("slurm.gres", ""))

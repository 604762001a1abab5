"""DLBS's bare-metal search paths (``pytorch.host_libpath``, ``pytorch.host_python_path``) and
the warning for an image that a bare-metal run does not use."""
from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.cli.validate import validate_experiments
from dlbs.experiment import Experiment
from dlbs.launchers import build_command, build_script
from dlbs.runner import Runner

from .test_runner import facts_of

NASTY = "/opt/a b;touch /tmp/owned_$USER"


def test_host_paths_go_in_front_of_the_callers_value(
        make_exp: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/host/lib")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    exp = make_exp("echo", {"pytorch.host_libpath": "/opt/torch/lib:",
                            "pytorch.host_python_path": NASTY})
    summary = Runner(out=io.StringIO(), err=io.StringIO(), bar=False).run([exp])
    assert summary.count("ok") == 1
    env = facts_of(exp["exp.log_file"])["test.env"]
    # DLBS strips the ':' left over; the host's value follows; an unset variable gets no ':'.
    assert env["LD_LIBRARY_PATH"] == "/opt/torch/lib:/usr/host/lib"
    assert env["PYTHONPATH"] == NASTY
    assert not os.path.exists(f"/tmp/owned_{os.environ.get('USER', '')}")


def test_empty_host_paths_change_nothing(make_exp: Callable[..., dict[str, Any]]) -> None:
    script = build_script(Experiment.of(make_exp("echo")))
    assert "LD_LIBRARY_PATH" not in script and "PYTHONPATH" not in script


def test_runtime_env_replaces_the_whole_value(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp("echo", {"pytorch.host_libpath": "/opt/lib",
                            "runtime.env.LD_LIBRARY_PATH": "/only/this"})
    cmd = build_command(Experiment.of(exp))
    assert dict(cmd.env)["LD_LIBRARY_PATH"] == "/only/this"
    assert not cmd.prepend_env


def test_host_paths_stay_out_of_containers(make_exp: Callable[..., dict[str, Any]]) -> None:
    exp = make_exp("echo", {"exp.docker": True, "pytorch.host_libpath": "/opt/lib",
                            "pytorch.host_python_path": "/opt/py"})
    cmd = build_command(Experiment.of(exp))
    assert not cmd.prepend_env
    assert "/opt/lib" not in " ".join(cmd.argv) and "/opt/py" not in " ".join(cmd.argv)


def test_an_unused_image_is_named_once(make_exp: Callable[..., dict[str, Any]]) -> None:
    image = "nvcr.io/nvidia/pytorch:24.01-py3"
    report = validate_experiments([make_exp(params={"exp.docker_image": image})
                                   for _ in range(3)])
    unused = [w for w in report.warnings if "image is not used" in w]
    assert len(unused) == 3 and len({w.partition(": ")[2] for w in unused}) == 1
    assert image in unused[0] and "-Pexp.docker=true" in unused[0]
    assert not report.problems


@pytest.mark.parametrize("params", [{}, {"exp.docker": True, "exp.docker_image": "x:1"}],
                         ids=["default image", "docker on"])
def test_no_warning_when_the_image_is_used_or_default(
        make_exp: Callable[..., dict[str, Any]], params: dict[str, Any]) -> None:
    report = validate_experiments([make_exp(params=params)])
    assert not [w for w in report.warnings if "image is not used" in w]


def test_validate_prints_the_unused_image_warning_once() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["validate", "-Pexp.gpus=", "-Pexp.model=alexnet", "-Vexp.replica_batch=[1,2]",
                     "-Ppytorch.docker_image=my/image:1", "-Pexp.log_dir=/tmp/unused-image"])
    assert code == 0
    lines = [line for line in err.getvalue().splitlines() if "image is not used" in line]
    assert len(lines) == 1 and "(and 1 more)" in lines[0] and "my/image:1" in lines[0]

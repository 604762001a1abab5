"""On a CPU-only host a local bare-metal plan that only inherits DLBS's default ``exp.gpus``
runs on the CPU, saying so once; ``print``/``build`` show the default; an explicit GPU request
still fails ``validate`` with the way out; Slurm and Docker plans keep their GPUs (issue 20;
``dlbs/dispatch/device.py``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli import planargs
from dlbs.cli.main import build_parser, load_command
from dlbs.dispatch import device

from .test_runner import facts_of

NOTE = "note: this host has no NVIDIA GPU and the plan does not set exp.gpus"


def dlbs(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def planned(monkeypatch: pytest.MonkeyPatch, has_gpu: bool,
            *argv: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The experiments ``run`` would run on a host with or without a GPU, and its notes."""
    monkeypatch.setattr(device, "host_has_gpu", lambda: has_gpu)
    args = build_parser("run", load_command("run"), "experimenter").parse_args(
        ["-Pexp.model=alexnet", "-Pexp.log_dir=/tmp/unused", *argv])
    notes: list[str] = []
    return list(planargs.load_experiments(args, on_this_host=notes.append)), notes


@pytest.mark.skipif(device.host_has_gpu(), reason="this host has a GPU: the fallback is for "
                    "hosts without one (the in-process tests below cover both)")
def test_an_inherited_gpu_runs_on_the_cpu_of_a_cpu_only_host(tmp_path: Path,
                                                             bench_dir: Path) -> None:
    done = dlbs(tmp_path, "run", '-Vexp.model=["echo", "ok"]', f"-Ppytorch.bench_path={bench_dir}",
                f"-Pexp.log_dir={tmp_path}/logs")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(NOTE) == 1  # one line for the whole sweep
    logs = {f["exp.model"]: f for f in map(facts_of, (tmp_path / "logs").glob("*.log"))}
    assert set(logs) == {"echo", "ok"}
    for facts in logs.values():  # the log records the device that ran
        assert (facts["exp.gpus"], facts["exp.device_type"], facts["exp.num_gpus"]) == \
            ("", "cpu", 0)
        assert "_cpu_" in Path(facts["exp.log_file"]).name
    assert logs["echo"]["test.env"]["CUDA_VISIBLE_DEVICES"] in (None, "")
    checked = dlbs(tmp_path, "validate", "-Pexp.model=alexnet")
    assert checked.returncode == 0 and NOTE in checked.stderr, checked.stderr


@pytest.mark.parametrize("action", ["print", "build"])
def test_print_and_build_show_dlbs_default(tmp_path: Path, action: str) -> None:
    done = dlbs(tmp_path, action, "-Pexp.model=alexnet")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    experiment = (data if isinstance(data, list) else data["experiments"])[0]
    assert experiment["exp.gpus"] == "0" and NOTE not in done.stderr


@pytest.mark.parametrize("argv", [
    pytest.param(["-Pexp.gpus=0"], id="P"),
    pytest.param(['-Vexp.gpus=["0"]'], id="V"),
    pytest.param(['-E{"condition": {"exp.model": "alexnet"}, "parameters": {"exp.gpus": "0"}}'],
                 id="E"),
    pytest.param(["--config", "{dir}/gpu.json"], id="config"),
    pytest.param(["-Pexp.device_type=gpu"], id="device-type"),
    pytest.param(["-Pexp.num_gpus=1"], id="gpu-count"),
])
def test_an_explicit_gpu_request_still_fails_validate_with_the_way_out(
        tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "gpu.json").write_text('{"parameters": {"exp.gpus": "0"}}')
    if device.host_has_gpu():
        pytest.skip("this host has a GPU: nothing to refuse")
    done = dlbs(tmp_path, "validate", "-Pexp.model=alexnet",
                *[a.replace("{dir}", str(tmp_path)) for a in argv])
    assert done.returncode == 1, done.stderr
    assert "this host has no NVIDIA GPU" in done.stderr
    assert "-Pexp.gpus='\"\"' runs it on this CPU" in done.stderr and NOTE not in done.stderr


@pytest.mark.parametrize("argv, gpus", [
    pytest.param([], [""], id="local-bare-metal"),
    pytest.param(["-Pexp.docker=true"], ["0"], id="docker"),
    pytest.param(["-Pexp.scheduler=slurm"], ["0"], id="slurm"),
    pytest.param(["-Vexp.docker=[false, true]"], ["", "0"], id="mixed"),
    pytest.param(["-Pexp.gpus=0"], ["0"], id="explicit"),
    pytest.param(["-Pexp.num_gpus=1"], ["0"], id="explicit-gpu-count"),
    pytest.param(["-Pexp.num_local_gpus=1"], ["0"], id="explicit-local-gpu-count"),
    pytest.param(["-Pexp.status=disabled"], ["0"], id="disabled"),
])
def test_only_local_bare_metal_experiments_of_an_inheriting_plan_fall_back(
        monkeypatch: pytest.MonkeyPatch, argv: list[str], gpus: list[str]) -> None:
    experiments, notes = planned(monkeypatch, False, *argv)
    assert [str(e["exp.gpus"]) for e in experiments] == gpus
    assert len(notes) == ("" in gpus)  # one note, however many experiments fall back


def test_a_host_with_a_gpu_keeps_dlbs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    [experiment], notes = planned(monkeypatch, True)
    assert (experiment["exp.gpus"], experiment["exp.device_type"], notes) == ("0", "gpu", [])


def test_the_device_names_are_the_same_in_cli_and_runner() -> None:
    assert planargs.DEVICE_NAMES == device.DEVICE_NAMES

"""Podman, Apptainer and Pyxis launch lines (``exp.container_runtime``), without the runtimes:
golden scripts (``DLBS_UPDATE_GOLDEN=1`` rewrites them), the scripts *run by bash* against stub
programs that record the argument list and environment they were given (so the quoting is
proved by the shell that will run it, not by reading it), and every refusal by its text.
Podman itself runs for real in ``test_podman.py``."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.cli.main import main
from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers import build_command, build_script
from dlbs.runner import containerctl
from dlbs.slurm.script import build_batch_script

from .conftest import BASE_EXPERIMENT
from .test_cli_run import SIMULATE, check_golden, normalise

#: A value of every kind a shell could misread: spaces, quotes, $(...), backquotes, a newline.
HOSTILE = "a b $(touch /tmp/owned) `id` 'q' \"d\"\nnext; rm -rf /"
#: A path with spaces, quotes, $(...) and backquotes (no ':' or ',', which mounts split on).
HOSTILE_DIR = "/data/my set/$(touch x)/`id`/'q'\"d\""
#: The same for pyxis, whose mounts reach enroot as space-separated fields (no space either).
PYXIS_HOSTILE_DIR = HOSTILE_DIR.replace(" ", "_")


def exp_of(runtime: str, **params: Any) -> dict[str, Any]:
    """A container experiment of ``runtime`` (dots written as ``__`` in keyword names)."""
    exp = dict(BASE_EXPERIMENT, **{
        "exp.id": "abc123", "exp.log_file": "/logs/a.log", "exp.log_dir": "/logs",
        "exp.docker": True, "exp.container_runtime": runtime,
        "exp.docker_image": "/images/pytorch.sif", "pytorch.bench_path": "/workspace/python",
        "runtime.code_dir": "/src/python", "runtime.docker_python": "python3"})
    exp.update({k.replace("__", "."): v for k, v in params.items()})
    return exp


GPU2 = {"exp__gpus": "0,1", "exp__device_type": "gpu", "exp__num_gpus": 2,
        "exp__num_local_gpus": 2, "exp__num_local_replicas": 2, "runtime__visible_gpus": "0,1"}
GPU8 = {"exp__gpus": "0,1,2,3,4,5,6,7", "exp__device_type": "gpu", "exp__num_gpus": 16,
        "exp__num_local_gpus": 8, "exp__num_local_replicas": 8,
        "runtime__visible_gpus": "0,1,2,3,4,5,6,7"}
HOSTILE_PARAMS = {"exp__data_dir": HOSTILE_DIR, "exp__data": "real",
                  "runtime__env__PROBE": HOSTILE}


# ---- golden scripts ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", [
    pytest.param("simulate_podman.txt",
                 ["-Pexp.model=resnet18", '-Vexp.gpus=["", "0,1"]', "-Pexp.docker=true",
                  "-Pexp.container_runtime=podman", "-Ppytorch.data_dir=/data/imagenet",
                  "-Pexp.phase=inference"], id="podman"),
    pytest.param("simulate_apptainer.txt",
                 ["-Pexp.model=resnet18", '-Vexp.gpus=["", "0,1"]', "-Pexp.docker=true",
                  "-Pexp.container_runtime=apptainer", "-Pexp.docker_image=/images/pt.sif",
                  "-Ppytorch.data_dir=/data/imagenet", "-Pexp.phase=inference",
                  "-Pruntime.env.NCCL_DEBUG=INFO"], id="apptainer"),
])
def test_simulate_prints_the_runtime_scripts(capsys: pytest.CaptureFixture[str], name: str,
                                             options: list[str]) -> None:
    assert main(SIMULATE + options) == 0
    out, _ = capsys.readouterr()
    check_golden(name, normalise(out))


@pytest.mark.parametrize("name, exp", [
    pytest.param("apptainer_hostile.sh", exp_of("apptainer", **GPU2, **HOSTILE_PARAMS,
                 exp__docker_image="/images/my image $(id) 'q'.sif"), id="apptainer"),
    pytest.param("podman_hostile.sh", exp_of("podman", **GPU2, **HOSTILE_PARAMS,
                 exp__docker_image="localhost/img:1"), id="podman"),
    pytest.param("pyxis_launch.sh", exp_of("pyxis", **GPU2, exp__scheduler="slurm"),
                 id="pyxis-launch-script"),
])
def test_launch_script_golden(name: str, exp: dict[str, Any]) -> None:
    check_golden(name, build_script(Experiment.of(exp)))


@pytest.mark.parametrize("name, exp", [
    pytest.param("pyxis_dgx.sbatch", exp_of(
        "pyxis", **GPU8, exp__scheduler="slurm", exp__num_nodes=2,
        exp__docker_image="nvcr.io#nvidia/pytorch:24.05-py3", slurm__gpus_per_node=8,
        slurm__partition="dgx", exp__data_dir="/lustre/imagenet", exp__data="real"),
        id="dgx-two-nodes"),
    pytest.param("pyxis_hostile.sbatch", exp_of(
        "pyxis", **dict(HOSTILE_PARAMS, exp__data_dir=PYXIS_HOSTILE_DIR), exp__scheduler="slurm",
        exp__docker_image="/images/my image $(id) 'q'.sqsh",
        exp__docker_args="--container-writable --container-env=A"), id="hostile"),
])
def test_pyxis_batch_script_golden(name: str, exp: dict[str, Any]) -> None:
    check_golden(name, build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end"))


# ---- the scripts run by bash against stub programs ---------------------------------------------

STUB = """#!{python}
import json, os, sys
if sys.argv[1:] == ["--help"]:  # srun with pyxis lists the plugin's options
    print("Options provided by plugins:\\n      --container-image=[USER@][REGISTRY#]IMAGE[:TAG]|PATH")
    sys.exit(0)
with open({record!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "env": {{k: v for k, v in os.environ.items()
                          if k.startswith(("APPTAINERENV_", "PROBE", "CUDA_", "PET_"))}}}}) + "\\n")
"""


def stub_path(tmp_path: Path, *names: str) -> tuple[dict[str, str], Path]:
    """An environment whose PATH finds recording stubs for ``names`` first."""
    bin_dir, record = tmp_path / "bin", tmp_path / "record.jsonl"
    bin_dir.mkdir()
    for name in names:
        stub = bin_dir / name
        stub.write_text(STUB.format(python=sys.executable, record=str(record)))
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, record


def run_bash(tmp_path: Path, script: str, env: dict[str, str]) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    done = subprocess.run(["bash", str(path)], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "x").exists() and not Path("/tmp/owned").exists()


def test_apptainer_script_passes_every_value_intact(tmp_path: Path) -> None:
    exp = exp_of("apptainer", **GPU2, **HOSTILE_PARAMS,
                 exp__docker_image="/images/my image $(id) 'q'.sif")
    env, record = stub_path(tmp_path, "apptainer")
    run_bash(tmp_path, build_script(Experiment.of(exp)), env)
    (seen,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert seen["argv"] == list(build_command(Experiment.of(exp)).argv[1:])
    assert seen["argv"][:4] == ["exec", "--nv", "--bind", f"{HOSTILE_DIR}:{HOSTILE_DIR}:ro"]
    assert "/images/my image $(id) 'q'.sif" in seen["argv"]
    assert seen["env"]["APPTAINERENV_PROBE"] == HOSTILE
    assert seen["env"]["APPTAINERENV_CUDA_VISIBLE_DEVICES"] == "0,1"  # --nv shows every GPU


def test_podman_script_passes_every_value_intact(tmp_path: Path) -> None:
    exp = exp_of("podman", **GPU2, **HOSTILE_PARAMS, exp__docker_image="localhost/img:1")
    env, record = stub_path(tmp_path, "podman")
    run_bash(tmp_path, build_script(Experiment.of(exp)), env)
    (seen,) = [json.loads(line) for line in record.read_text().splitlines()]
    argv = seen["argv"]
    assert argv == list(build_command(Experiment.of(exp)).argv[1:])
    assert ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1"] == \
        argv[argv.index("--device"):argv.index("--device") + 4]
    assert f"PROBE={HOSTILE}" in argv and f"{HOSTILE_DIR}:{HOSTILE_DIR}:ro" in argv
    assert not any(a.startswith("CUDA_VISIBLE_DEVICES") for a in argv)  # CDI isolates them


def test_pyxis_batch_script_passes_every_value_intact(tmp_path: Path) -> None:
    image = "/images/my image $(id) 'q'.sqsh"
    exp = exp_of("pyxis", **dict(HOSTILE_PARAMS, exp__data_dir=PYXIS_HOSTILE_DIR),
                 exp__scheduler="slurm", exp__docker_image=image,
                 exp__log_file=str(tmp_path / "logs" / "a.log"))
    (tmp_path / "logs").mkdir()
    env, record = stub_path(tmp_path, "srun", "scontrol")
    env.update(SLURM_JOB_ID="7", SLURM_JOB_NODELIST="n1", SLURM_CPUS_ON_NODE="2")
    launch = str(tmp_path / "logs" / "a.sh")
    run_bash(tmp_path, build_batch_script(Experiment.of(exp), launch, str(tmp_path / "logs" / "a.log.end")),
             env)
    srun = [json.loads(line)["argv"] for line in record.read_text().splitlines()][-1]
    logs = str(tmp_path / "logs")
    assert srun[4:] == [
        f"--container-image={image}",
        (f"--container-mounts={PYXIS_HOSTILE_DIR}:{PYXIS_HOSTILE_DIR}:ro,"
         "/src/python:/workspace/python:ro,"
         f"{logs}:{logs}:ro"),
        "--container-workdir=/workspace/python", "bash", "-c", 'exec bash "$0" 2>&1', launch]


#: srun of a Slurm without pyxis: its help lists no --container-image; asked to run with one,
#: it prints its usage (what a job ended in before).
SRUN_WITHOUT_PYXIS = """#!/bin/sh
if [ "$1" = "--help" ]; then echo "Usage: srun [OPTIONS(0)... [executable(0) [args(0)...]]]"; exit 0; fi
echo "srun: unrecognized option '--container-image'" >&2
echo "Usage: srun [OPTIONS(0)... [executable(0) [args(0)...]]]" >&2
touch {ran}
exit 1
"""


def test_pyxis_on_a_slurm_without_it_ends_in_one_line_saying_so(tmp_path: Path) -> None:
    exp = exp_of("pyxis", exp__scheduler="slurm", exp__docker_image="nvcr.io#nvidia/pytorch",
                 exp__log_file=str(tmp_path / "logs" / "a.log"))
    (tmp_path / "logs").mkdir()
    env, _ = stub_path(tmp_path, "scontrol")
    srun = tmp_path / "bin" / "srun"
    srun.write_text(SRUN_WITHOUT_PYXIS.format(ran=tmp_path / "srun-ran"))
    srun.chmod(0o755)
    env.update(SLURM_JOB_ID="7", SLURM_JOB_NODELIST="n1", SLURM_CPUS_ON_NODE="2")
    script = tmp_path / "batch.sh"
    script.write_text(build_batch_script(Experiment.of(exp), str(tmp_path / "logs" / "a.sh"),
                                         str(tmp_path / "logs" / "a.log.end")))
    done = subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 1 and not (tmp_path / "srun-ran").exists(), done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == ("dlbs-slurm: pyxis is not installed on this Slurm (srun --help has no "
                    "--container-image): install pyxis and enroot on the cluster, or run the "
                    "container with -Pexp.container_runtime=apptainer (or docker/podman)")
    assert "Usage" not in done.stdout + done.stderr
    assert (tmp_path / "logs" / "a.log.end").read_text().strip() == "1"


# ---- GPU selection -------------------------------------------------------------------------------

@pytest.mark.parametrize("runtime, scheduler, argv_has, argv_lacks, env", [
    pytest.param("podman", "local", ["--device", "nvidia.com/gpu=0"], ["--nv", "--gpus"], {},
                 id="podman-cdi"),
    pytest.param("apptainer", "local", ["--nv"], ["nvidia.com/gpu=0", "--gpus"],
                 {"APPTAINERENV_CUDA_VISIBLE_DEVICES": "0,1"}, id="apptainer-nv"),
    pytest.param("apptainer", "slurm", ["--nv"], ["nvidia.com/gpu=0"], {},  # Slurm binds them
                 id="apptainer-in-slurm"),
    pytest.param("pyxis", "slurm", [], ["--nv", "nvidia.com/gpu=0"], {},
                 id="pyxis-slurm-binding"),
])
def test_gpu_selection_per_runtime(runtime: str, scheduler: str, argv_has: list[str],
                                   argv_lacks: list[str], env: dict[str, str]) -> None:
    cmd = build_command(Experiment.of(exp_of(runtime, **GPU2, exp__scheduler=scheduler)))
    assert all(word in cmd.argv for word in argv_has)
    assert not any(word in cmd.argv for word in argv_lacks)
    assert {k: v for k, v in cmd.env if "CUDA_VISIBLE_DEVICES" in k} == env


@pytest.mark.parametrize("runtime", ["podman", "apptainer"])
def test_cpu_experiment_gets_no_gpu_options(runtime: str) -> None:
    argv = build_command(Experiment.of(exp_of(runtime))).argv
    assert "--nv" not in argv and not any("nvidia.com/gpu" in a for a in argv)


def test_docker_stays_the_default_runtime() -> None:
    exp = exp_of("docker", exp__docker_image="img:1")
    del exp["exp.container_runtime"]
    assert build_command(Experiment.of(exp)).argv[:2] == ("docker", "run")


# ---- refusals: one line naming the parameter ---------------------------------------------------

@pytest.mark.parametrize("runtime, params, message", [
    pytest.param("apptainer", {"exp__data_dir": "/data/a:b"},
                 "exp.data_dir '/data/a:b' holds ':', which apptainer's mount syntax splits on",
                 id="apptainer-colon"),
    pytest.param("apptainer", {"exp__data_dir": "/data/a,b"},
                 "exp.data_dir '/data/a,b' holds ','", id="apptainer-comma"),
    pytest.param("apptainer", {"exp__data_dir": "/data/a\nb"},
                 "exp.data_dir '/data/a\\nb' holds '\\n'", id="apptainer-newline"),
    pytest.param("apptainer", {"pytorch__bench_path": "/work,space"},
                 "pytorch.bench_path '/work,space' holds ','", id="apptainer-target"),
    pytest.param("pyxis", {"exp__scheduler": "slurm", "exp__data_dir": "/data/a,b"},
                 "exp.data_dir '/data/a,b' holds ',', which pyxis's mount syntax splits on",
                 id="pyxis-comma"),
    pytest.param("pyxis", {"exp__scheduler": "slurm", "runtime__code_dir": "/src:x"},
                 "runtime.code_dir '/src:x' holds ':'", id="pyxis-colon"),
    pytest.param("pyxis", {"exp__scheduler": "slurm", "exp__log_file": "/lo:gs/a.log"},
                 "exp.log_dir '/lo:gs' holds ':'", id="pyxis-log-dir"),
    pytest.param("pyxis", {"exp__scheduler": "slurm", "exp__log_file": "/my logs/a.log"},
                 "exp.log_dir '/my logs' holds ' ', which pyxis's mount syntax splits on",
                 id="pyxis-space"),  # enroot reads each mount as space-separated fields
    pytest.param("pyxis", {"exp__scheduler": "slurm", "exp__data_dir": "/data/a\tb"},
                 "exp.data_dir '/data/a\\tb' holds '\\t'", id="pyxis-tab"),
    pytest.param("podman", {"exp__data_dir": "data"},
                 "exp.data_dir 'data' is not an absolute path: Podman bind-mounts it",
                 id="podman-relative"),
    pytest.param("pyxis", {}, "exp.container_runtime=pyxis runs containers through Slurm's "
                 "srun: set -Pexp.scheduler=slurm", id="pyxis-outside-slurm"),
    pytest.param("apptainer", {"exp__docker_image": "-x.sif"},
                 "exp.docker_image '-x.sif' starts with '-'", id="image-option"),
    pytest.param("podman", {"exp__docker_image": "img\n:1"},
                 "exp.docker_image 'img\\n:1' holds a line break", id="image-newline"),
    pytest.param("podman", {"exp__docker_image": ""},
                 "exp.docker is true (runtime podman) but exp.docker_image is empty",
                 id="image-empty"),
    pytest.param("apptainer", {"exp__data_dir": "data"},
                 "exp.data_dir 'data' is not an absolute path", id="relative"),
    pytest.param("lxc", {}, "exp.container_runtime is 'lxc'; use one of docker, podman, "
                 "apptainer, pyxis", id="unknown-runtime"),
    pytest.param("podman", {"exp__container_launcher": "podman 'x"},
                 "parameter 'exp.container_launcher' is not a valid command line",
                 id="launcher-quotes"),
])
def test_what_a_runtime_cannot_express_is_refused(runtime: str, params: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(ValidationError) as err:
        build_command(Experiment.of(exp_of(runtime, **params)))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_runtime_is_refused_by_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SIMULATE + ["-Pexp.model=resnet18", "-Pexp.docker=true",
                            "-Pexp.container_runtime=lxc"]) != 0
    _, err = capsys.readouterr()
    assert "exp.container_runtime" in err and "docker, podman, apptainer, pyxis" in err


# ---- validate: programs and image files -------------------------------------------------------

def test_validate_names_a_missing_runtime_program() -> None:
    exp = exp_of("apptainer", exp__container_launcher="no-such-apptainer-here")
    with pytest.raises(ValidationError, match="'no-such-apptainer-here' is not found on PATH"):
        containerctl.check_plan([Experiment.of(exp)])


def test_a_slurm_job_leaves_the_program_to_the_compute_nodes() -> None:
    exp = exp_of("apptainer", exp__container_launcher="no-such-apptainer-here",
                 exp__scheduler="slurm", exp__docker_image="docker://pytorch/pytorch")
    assert containerctl.check_plan([Experiment.of(exp)]) == {}


@pytest.mark.parametrize("runtime, image", [("apptainer", "/nowhere/pt.sif"),
                                            ("apptainer", "/nowhere/pt.SIF"),
                                            ("apptainer", "/nowhere/pt.img"),
                                            # a registry name without docker:// is a path
                                            ("apptainer", "nvcr.io/nvidia/pytorch:24.05-py3"),
                                            ("pyxis", "/nowhere/pt.sqsh"),
                                            ("pyxis", "/nowhere/pt_image"),
                                            ("pyxis", "./pt.SQSH")])
def test_validate_names_a_missing_image_file(tmp_path: Path, runtime: str, image: str) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "apptainer").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "apptainer").chmod(0o755)
    exp = exp_of(runtime, exp__docker_image=image, exp__scheduler="slurm",
                 exp__container_launcher=str(tmp_path / "bin" / "apptainer"))
    with pytest.raises(ValidationError, match=f"exp.docker_image '{image}' is not a file"):
        containerctl.check_plan([Experiment.of(exp)])


def test_validate_accepts_a_present_image_file(tmp_path: Path) -> None:
    image = tmp_path / "pt.sqsh"
    image.write_bytes(b"hsqs")
    assert containerctl.check_plan([Experiment.of(exp_of("pyxis", exp__docker_image=str(image),
                                                         exp__scheduler="slurm"))]) == {}


def test_docker_sdk_is_not_asked_about_other_runtimes() -> None:
    from dlbs.runner.dockerengine import docker_images

    assert docker_images([Experiment.of(exp_of("podman")), Experiment.of(exp_of("apptainer"))]) == []


def test_a_runtime_without_exp_docker_is_a_warning() -> None:
    from dlbs.cli.validate import warn_experiment

    (warning,) = warn_experiment(dict(exp_of("apptainer"), **{"exp.docker": False,
                                                              "exp.docker_image": ""}))
    assert warning == ("exp.container_runtime is 'apptainer' but exp.docker is false: the "
                       "experiment runs on bare metal; set -Pexp.docker=true to run it in a "
                       "container")


@pytest.mark.parametrize("param, value", [
    ("exp.container_launcher", "-x"), ("exp.docker_ipc", "--x"),
    ("exp.docker_shm_size", "--privileged"), ("exp.docker_network", "-v/:/host")])
@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_an_option_value_that_starts_with_a_dash_is_refused(runtime: str, param: str,
                                                            value: str) -> None:
    """It would reach the runtime as another option (``--ipc --x``, ``exec -x run``)."""
    if runtime == "docker" and param == "exp.container_launcher":
        param = "exp.docker_launcher"  # DLBS's name of docker's launcher
    exp = dict(BASE_EXPERIMENT, **{"exp.docker": True, "exp.container_runtime": runtime,
                                   "exp.docker_image": "img", "exp.gpus": "",
                                   "exp.device_type": "cpu", param: value})
    with pytest.raises(ValidationError, match=re.escape(param)):
        build_command(Experiment.of(exp))


@pytest.mark.parametrize("name", ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"])
@pytest.mark.parametrize("runtime", ["", "docker", "podman", "apptainer"])
def test_runtime_env_of_a_variable_the_launch_sets_is_refused(runtime: str, name: str) -> None:
    """It picked other GPUs in some runtimes than in others (apptainer: the user's, so
    another GPU than exp.gpus; docker: none of the container's): refused everywhere."""
    exp = dict(BASE_EXPERIMENT, **{f"runtime.env.{name}": "7"})
    if runtime:
        exp.update({"exp.docker": True, "exp.container_runtime": runtime,
                    "exp.docker_image": "img.sif" if runtime == "apptainer" else "img"})
    with pytest.raises(ValidationError, match=f"runtime.env.{name} is set by the launch itself"):
        build_command(Experiment.of(exp))
    exp.pop(f"runtime.env.{name}")
    exp["runtime.env.OMP_NUM_THREADS"] = "7"  # the user's own variables go through
    cmd = build_command(Experiment.of(exp))
    assert any(name.endswith("OMP_NUM_THREADS") and value == "7" for name, value in cmd.env) \
        or any("OMP_NUM_THREADS" in word for word in cmd.argv)


@pytest.mark.parametrize("args, words", [
    ("--container-image=evil", "dlbs gives srun --container-image itself"),
    ("--nodes=9", "dlbs gives srun --nodes itself"), ("-N9", "dlbs gives srun -N itself"),
    ("--gres=gpu:9", "dlbs gives srun --gres itself"),
    ("--x ~", "'~' is not an option"), ("# comment", "'#' is not an option"),
    # srun reads abbreviations as getopt_long does
    ("--container-im=evil", "dlbs gives srun --container-image itself"),
    ("--node=9", "dlbs gives srun --nodes itself"),
    # what would send the benchmark's output away from its log, or change its lines
    ("--output=bench.out", "srun's --output would take the benchmark's output away"),
    ("-o bench.out", "srun's -o would take"), ("-obench.out", "srun's -o would take"),
    ("--error=bench.err", "srun's --error would take"), ("-e x", "srun's -e would take"),
    ("--input=in.txt", "srun's --input would take"), ("-i x", "srun's -i would take"),
    ("--label", "srun's --label would"), ("-l", "srun's -l would"),
    ("--out=bench.out", "srun's --output would take"), ("--err=x", "srun's --error would"),
    ("--inp=x", "srun's --input would"), ("--lab", "srun's --label would"),
    ("--container-writable --outp x", "srun's --output would take")])
def test_pyxis_docker_args_that_would_override_or_run_are_refused(args: str, words: str) -> None:
    exp = dict(BASE_EXPERIMENT, **{"exp.docker": True, "exp.container_runtime": "pyxis",
                                   "exp.docker_image": "img", "exp.scheduler": "slurm",
                                   "exp.log_file": "/logs/a.log", "exp.docker_args": args})
    with pytest.raises(ValidationError, match=re.escape(words)):
        build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end")



@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_a_rendezvous_value_of_runtime_env_wins_in_a_container_as_on_bare_metal(
        runtime: str) -> None:
    """runtime.env wins over all (docs/running.md): in a two-node Slurm job docker/podman
    passed the host's PET_MASTER_PORT after the user's, so the host's won there only."""
    exp = dict(BASE_EXPERIMENT, **{"exp.docker": True, "exp.container_runtime": runtime,
                                   "exp.docker_image": "img", "exp.scheduler": "slurm",
                                   "exp.num_nodes": 2, "runtime.env.PET_MASTER_PORT": "1234"})
    argv = list(build_command(Experiment.of(exp)).argv)
    assert "PET_MASTER_PORT=1234" in argv and "PET_MASTER_PORT" not in argv
    assert "PET_MASTER_ADDR" in argv  # the other one still comes from the batch script

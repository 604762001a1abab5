"""Slurm at GPU centres (issue 22): GPU resources as sbatch options, checked against the GPUs
an experiment uses, and every script a run would submit written for review without
submitting. GRES cannot be scheduled on the test cluster: the batch scripts are golden files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.slurm.script import build_batch_script, gres_gpus

from .conftest import BASE_EXPERIMENT
from .test_cli_run import check_golden

GPU8 = {"exp.gpus": "0,1,2,3,4,5,6,7", "exp.device_type": "gpu", "exp.num_gpus": 16,
        "exp.num_local_gpus": 8, "exp.num_local_replicas": 8,
        "runtime.visible_gpus": "0,1,2,3,4,5,6,7", "slurm.gpus_per_node": 8}


def _exp(**params: Any) -> dict[str, Any]:
    exp = dict(BASE_EXPERIMENT, **{"exp.id": "abc123", "exp.log_file": "/logs/a.log",
                                   "exp.log_dir": "/logs", "exp.scheduler": "slurm",
                                   "exp.num_nodes": 2}, **GPU8)
    exp.update({k.replace("__", "."): v for k, v in params.items()})
    return exp


def test_a_dgx_style_job_asks_for_typed_gpus_features_and_memory_per_gpu() -> None:
    exp = _exp(slurm__partition="dgx", slurm__gres="gpu:a100:8", slurm__cpus_per_gpu=12,
               slurm__mem_per_gpu="120G", slurm__constraint="a100&ib",
               slurm__reservation="bench", slurm__licenses="fs_lustre:1")
    text = build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end")
    check_golden("slurm_dgx_gres.sbatch", text)
    lines = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:a100:8" in lines and "#SBATCH --cpus-per-gpu=12" in lines
    assert not any("--gpus-per-node" in line for line in lines)  # the gres asks for them


def test_gpus_per_task_replaces_gpus_per_node() -> None:
    text = build_batch_script(Experiment.of(_exp(slurm__gpus_per_task=8)), "/logs/a.sh", "/logs/a.log.end")
    assert "#SBATCH --gpus-per-task=8" in text and "--gpus-per-node" not in text


@pytest.mark.parametrize("params,words", [
    ({"slurm__gres": "gpu:a100:4"}, ("slurm.gres asks for 4 GPU(s) per node but the "
                                    "experiment uses 8")),
    ({"slurm__gpus_per_task": 2}, "slurm.gpus_per_task asks for 2 GPU(s)"),
    ({"slurm__mem": "64G", "slurm__mem_per_gpu": "8G"}, "slurm.mem and slurm.mem_per_gpu"),
    ({"slurm__cpus_per_task": 16, "slurm__cpus_per_gpu": 2},
     "slurm.cpus_per_task and slurm.cpus_per_gpu"),
    ({"slurm__gres": "gpu:a100:eight"}, "not a GPU request"),
    ({"slurm__constraint": "a100 & ib"}, "slurm.constraint"),
    ({"slurm__reservation": "$(id)"}, "slurm.reservation"),
    # forms sbatch itself refuses (checked against sbatch 22.05 of the test cluster)
    ({"slurm__mem_per_gpu": "16X"}, "'slurm.mem_per_gpu' = '16X' is not what sbatch takes"),
    ({"slurm__mem_per_gpu": "1.5G"}, "'slurm.mem_per_gpu' = '1.5G' is not what sbatch takes"),
    ({"slurm__mem": "16GiB"}, "'slurm.mem' = '16GiB' is not what sbatch takes"),
    ({"slurm__time": "abc"}, "'slurm.time' = 'abc' is not what sbatch takes"),
    ({"slurm__time": "1:2:3:4"}, "'slurm.time' = '1:2:3:4' is not what sbatch takes"),
    ({"slurm__mem_per_gpu": "-10G"}, "'slurm.mem_per_gpu' = '-10G' is not what sbatch takes"),
    ({"slurm__licenses": "fs_lustre:-1"}, "'slurm.licenses' = 'fs_lustre:-1' is not what"),
    ({"slurm__signal": "B:USR1@99999999"}, "at most 65535 seconds"),
    ({"slurm__extra_args": "--sig=R:KILL@30"},
     "--sig .sbatch reads it as --signal. is set by dlbs in"),
    ({"slurm__extra_args": "--array=0-99"}, "--array is set by dlbs in the batch script"),
    # the experiment's own GPUs count, whatever slurm.gpus_per_node says
    ({"slurm__gpus_per_node": 0, "slurm__gres": "gpu:a100:4"}, "slurm.gres asks for 4"),
    ({"slurm__gpus_per_node": 4, "slurm__gpus_per_task": 4}, "slurm.gpus_per_task asks for 4"),
    # options sbatch refuses together, also on a CPU experiment
    ({"exp__device_type": "cpu", "exp__num_local_gpus": 0, "slurm__gpus_per_node": 0,
      "slurm__mem": "10G", "slurm__mem_per_gpu": "1G"}, "slurm.mem and slurm.mem_per_gpu"),
    ({"exp__device_type": "cpu", "exp__num_local_gpus": 0, "slurm__gpus_per_node": 0,
      "slurm__cpus_per_task": 4, "slurm__cpus_per_gpu": 2},
     "slurm.cpus_per_task and slurm.cpus_per_gpu"),
    # fewer GPUs asked of Slurm than the experiment uses (8)
    ({"slurm__gpus_per_node": 4}, "slurm.gpus_per_node is 4 but the experiment uses 8"),
    # per-GPU options on a job that asks for no GPU (sbatch: "did not request any GPU")
    ({"exp__device_type": "cpu", "exp__num_local_gpus": 0, "slurm__gpus_per_node": 0,
      "slurm__mem_per_gpu": "4G"}, "slurm.mem_per_gpu is 4G but the job asks Slurm for no GPU"),
    ({"exp__device_type": "cpu", "exp__num_local_gpus": 0, "slurm__gpus_per_node": 0,
      "slurm__cpus_per_gpu": 2}, "slurm.cpus_per_gpu is 2 but the job asks Slurm for no GPU"),
    ({"slurm__mem": "4G", "slurm__extra_args": ["--mem-per-cpu=1G"]},
     "slurm.mem and --mem-per-cpu (slurm.extra_args) are both set"),
    # options a parameter owns and checks: in extra_args a later #SBATCH line would win
    ({"slurm__extra_args": ["--gres=gpu:1"]}, "--gres is not taken here (dlbs sets or checks"),
    ({"slurm__extra_args": ["--gpus-per-node=1"]}, "use -Pslurm.gpus_per_node"),
    ({"slurm__extra_args": ["-G2"]}, "-G is not taken here"),
    ({"slurm__extra_args": ["-N4"]}, "use -Pexp.num_nodes"),
    ({"slurm__extra_args": ["--ntasks-per-node=8"]}, "one task per node"),
    ({"slurm__extra_args": ["--mem=4G"]}, "use -Pslurm.mem"),
    ({"slurm__extra_args": ["--cpus-per-task=4"]}, "use -Pslurm.cpus_per_task"),
    ({"slurm__extra_args": ["--oversubscribe"]}, "whole nodes"),
    ({"slurm__extra_args": ["--dependency=afterok:64"]}, "the runner chains its jobs itself"),
    ({"slurm__extra_args": ["--depend=afterok:64"]},
     "--depend (sbatch reads it as --dependency) is not taken here"),
    ({"slurm__extra_args": ["--test-only"]}, "nothing would be submitted"),
    ({"slurm__extra_args": ["--par=x"]}, "--par is an abbreviation of several sbatch options"),
    ({"slurm__gres": "GPU:8"}, "Slurm's GPU resource is named 'gpu' (lower case), e.g. gpu:8"),
])
def test_impossible_or_unsafe_requests_are_refused(params: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        build_batch_script(Experiment.of(_exp(**params)), "/logs/a.sh", "/logs/a.log.end")


@pytest.mark.parametrize("name,value", [
    ("slurm.mem", "16"), ("slurm.mem", "64G"), ("slurm.mem", "16gb"), ("slurm.mem", "0"),
    ("slurm.mem_per_gpu", "80G"), ("slurm.mem_per_gpu", "512M"), ("slurm.time", "90"),
    ("slurm.time", "10:00"), ("slurm.time", "02:00:00"), ("slurm.time", "1-0"),
    ("slurm.time", "2-3:4"), ("slurm.time", "1-00:00:00"), ("slurm.time", "UNLIMITED"),
    ("slurm.time", "infinite")])
def test_sizes_and_time_limits_sbatch_takes_are_accepted(name: str, value: str) -> None:
    exp = _exp(**{name.replace(".", "__"): value, "slurm__signal": ""})
    assert f"={value}" in build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end")


@pytest.mark.parametrize("gres,count", [("gpu", 1), ("gpu:8", 8), ("gpu:a100", 1),
                                        ("gpu:a100:8", 8), ("gpu:a100:4,gpu:v100:2", 6),
                                        ("gpu:1g.10gb:7", 7), ("gpu:1g.10gb", 1),
                                        ("shard:4", None), ("", None)])
def test_gres_gpu_counts_follow_slurms_syntax(gres: str, count: int | None) -> None:
    assert gres_gpus(Experiment.of({"slurm.gres": gres})) == count


def _experimenter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlbs", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd=cwd, env=dict(os.environ))


def test_validate_refuses_eight_gpus_per_node_with_a_gres_of_four(tmp_path: Path) -> None:
    done = _experimenter("validate", "-Pexp.scheduler=slurm", "-Pexp.gpus=0,1,2,3,4,5,6,7",
                         "-Pslurm.gres=gpu:a100:4", "-Pexp.model=resnet50",
                         f"-Pexp.log_dir={tmp_path / 'logs'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "slurm.gres asks for 4 GPU(s) per node but the experiment uses 8" in done.stderr


def test_build_scripts_writes_what_a_run_would_submit_and_nothing_else(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    plan = tmp_path / "plan.json"
    built = _experimenter("build", "-Pexp.scheduler=slurm", "-Vexp.model=[\"resnet50\", \"alexnet\"]",
                          "-Pexp.gpus=0,1,2,3", "-Pslurm.gres=gpu:a100:4", f"-Pexp.log_dir={logs}",
                          "--output", str(plan), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    done = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "review"),
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "review" / "index.json").read_text())
    assert [e["exp.model"] for e in index] == ["resnet50", "alexnet"]
    for entry in index:
        batch = (tmp_path / "review" / entry["batch_script"]).read_text()
        assert "#SBATCH --gres=gpu:a100:4" in batch
        assert entry["runs_as"] in batch  # the launch script where the run would write it
        assert (tmp_path / "review" / entry["launch_script"]).read_text().startswith("#!")
        assert entry["submitted_as"].startswith(str(logs))
    assert not logs.exists()  # nothing run, no log folder made
    again = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "review"),
                          cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    linked = _experimenter("build", "--plan", str(plan), "--scripts", str(tmp_path / "link"),
                           cwd=tmp_path)
    assert linked.returncode == 2 and "symbolic link" in linked.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_a_bad_experiment_writes_no_script(tmp_path: Path) -> None:
    done = _experimenter("build", "-Pexp.scheduler=slurm", "-Pexp.gpus=0,1,2,3",
                         "-Pexp.model=resnet50",
                         "-Pslurm.gres=gpu:a100:2", f"-Pexp.log_dir={tmp_path / 'logs'}",
                         "--scripts", str(tmp_path / "review"), cwd=tmp_path)
    assert done.returncode != 0 and "slurm.gres asks for 2" in done.stderr
    assert not (tmp_path / "review").exists()


SLURM_RESNET = ("-Pexp.scheduler=slurm", "-Pexp.model=resnet50")


@pytest.mark.parametrize("params,words", [
    (("-Pslurm.max_jobs=0",), "slurm.max_jobs is 0"),
    (("-Pslurm.cpus_per_gpu=-3",), "slurm.cpus_per_gpu is -3"),
    (("-Pslurm.gpus_per_node=-2",), "slurm.gpus_per_node is -2"),
    (("-Vslurm.array=[true, false]", "-Pexp.log_file=${exp.log_dir}/a_${slurm.array}.log"),
     "slurm.array differs between experiments"),
    (("-Vslurm.max_jobs=[1, 2]", "-Pexp.log_file=${exp.log_dir}/a_${slurm.max_jobs}.log"),
     "slurm.max_jobs differs between experiments"),
    (("-Vexp.replica_batch=[1, 2]", "-Pexp.log_file=/tmp/same.log"), "log"),
])
def test_build_scripts_refuses_what_validate_refuses(tmp_path: Path, params: tuple[str, ...],
                                                     words: str) -> None:
    """The plan's own checks (not Slurm's answers) run before any script is written."""
    done = _experimenter("build", *SLURM_RESNET, *params, f"-Pexp.log_dir={tmp_path / 'logs'}",
                         "--scripts", str(tmp_path / "review"), cwd=tmp_path)
    assert done.returncode != 0 and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no traceback
    assert not (tmp_path / "review").exists()


def test_build_scripts_into_an_impossible_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = _experimenter("build", *SLURM_RESNET, f"-Pexp.log_dir={tmp_path / 'logs'}",
                         "--scripts", str(tmp_path / "file" / "review"), cwd=tmp_path)
    assert done.returncode == 2 and "--scripts" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_link_planted_while_the_scripts_render_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder is checked first and written last: a link put there in between (a shared
    folder, a slow render) makes the final rename fail; nothing lands where it points."""
    import argparse

    from dlbs.cli import review_scripts
    from dlbs.errors import UsageError

    target, victim = tmp_path / "review", tmp_path / "victim"
    victim.mkdir()
    (victim / "index.json").write_text("precious")
    rendered = review_scripts.render

    def render_then_plant(experiments: list[dict[str, Any]]) -> Any:
        out = rendered(experiments)
        target.symlink_to(victim)
        return out

    monkeypatch.setattr(review_scripts, "render", render_then_plant)
    monkeypatch.setattr(review_scripts, "check_plan", lambda experiments: None)
    monkeypatch.setattr(review_scripts, "load_experiments",
                        lambda args: [_exp(**{"exp.log_file": str(tmp_path / "a.log")})])
    with pytest.raises(UsageError, match="--scripts .*review"):
        review_scripts.write_scripts(argparse.Namespace(scripts=str(target)))
    assert sorted(p.name for p in victim.iterdir()) == ["index.json"]
    assert (victim / "index.json").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # cleaned


def test_an_experiment_logged_as_array_0_keeps_its_own_script(tmp_path: Path) -> None:
    logs = tmp_path / "lg"
    done = _experimenter("build", *SLURM_RESNET, "-Pslurm.array=true",
                         "-Vexp.model=[\"resnet50\", \"alexnet\"]",
                         "-Pexp.log_file=" + str(logs) + "/array_$(0 if param('exp.model') == "
                         "'resnet50' else 1)$.log", "--scripts", str(tmp_path / "review"),
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "review" / "index.json").read_text())
    files = {p.name for p in (tmp_path / "review").iterdir()}
    experiments = [entry for entry in index if "batch_script" in entry and "tasks" not in entry]
    arrays = [entry for entry in index if "array_script" in entry]
    assert len(experiments) == 2 and len(arrays) == 1
    names = [e["batch_script"] for e in experiments] + [a["array_script"] for a in arrays]
    assert len(set(names)) == 3 and set(names) <= files
    array_text = (tmp_path / "review" / arrays[0]["array_script"]).read_text()
    assert "#SBATCH --array=0-1" in array_text



@pytest.mark.parametrize("option", ["--constraint=a100", "--hold", "--exclude=n1",
                                    "--nodelist=n1", "--gpu-bind=closest", "--mem-bind=local",
                                    "--gres-flags=enforce-binding", "--mem-per-cpu=2G",
                                    "--mail-type=END", "--comment=bench"])
def test_extra_args_that_no_parameter_owns_are_written(option: str) -> None:
    text = build_batch_script(Experiment.of(_exp(slurm__extra_args=[option])), "/logs/a.sh", "/logs/a.log.end")
    assert f"#SBATCH {option}" in text


@pytest.mark.parametrize("licenses", ["fs_lustre:1", "a:1|b:2", "a:2,b@db:1", "matlab"])
def test_licenses_in_slurms_forms_are_written(licenses: str) -> None:
    text = build_batch_script(Experiment.of(_exp(slurm__licenses=licenses)), "/logs/a.sh", "/logs/a.log.end")
    assert f"#SBATCH --licenses={licenses}\n" in text


@pytest.mark.parametrize("gpus, count, refused", [
    ("0,1", 2, False), ("1,0", 2, False), ("0:1,2:3", 4, False), ("1,3", 2, True),
    ("2", 1, True), ("0,2", 2, True)])
@pytest.mark.parametrize("runtime", ["", "docker", "podman", "apptainer", "pyxis"])
def test_in_a_slurm_job_gpus_are_named_from_zero(runtime: str, gpus: str, count: int,
                                                 refused: bool) -> None:
    """Slurm's GPUs are 0..N-1 in the job; host numbers (1,3) would be other GPUs in docker
    and podman than in the other runtimes: refused in all, the same way."""
    exp = _exp(**{"exp.gpus": gpus, "exp.num_local_gpus": count,
                  "slurm.gpus_per_node": count})
    if runtime:
        exp.update({"exp.docker": True, "exp.container_runtime": runtime,
                    "exp.docker_image": "img.sif" if runtime == "apptainer" else "img"})
    if refused:
        with pytest.raises(ValidationError, match="numbered from 0"):
            build_batch_script(Experiment.of(exp), "/logs/a.sh", "/logs/a.log.end")
    else:
        assert f"--gpus-per-node={count}" in build_batch_script(Experiment.of(exp), "/logs/a.sh",
                                                                "/logs/a.log.end")

"""The docker backend against a real engine (started privately by the ``docker_engine``
fixture): the real benchmarks.py runs a tiny model inside a container and logs a result."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlbs.errors import ValidationError
from dlbs.runner.dockerengine import check_images, client

from .conftest import ROOT, host_python_mounts
from .test_runner import facts_of

pytestmark = pytest.mark.docker


def docker_cli(tmp_path: Path, image: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={tmp_path / 'logs'}",
            '-Pexp.gpus=""', "-Pexp.docker=true", f"-Pexp.docker_image={image}",
            "-Pexp.docker_network=none", f"-Pexp.docker_args={host_python_mounts()}",
            f"-Pruntime.docker_python={sys.executable}", *options]


def test_tiny_model_runs_in_a_real_container(tmp_path: Path, test_image: str) -> None:
    result = subprocess.run(
        docker_cli(tmp_path, test_image, "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
                   "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", "-Pexp.timeout=240",
                   "-Pmonitor.frequency=0.5", "--progress-bar=off"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
    assert facts["exp.docker_image_id"].startswith("sha256:")
    assert facts["exp.docker"] is True
    # Inside the container: its own hostname (the container id), the mounted code.
    assert facts["hw.hostname"] != os.uname().nodename
    script = log.with_suffix(".sh").read_text()
    assert "docker run" in script and "--network none" in script
    assert f"{ROOT}/python:/workspace/python:ro" in script
    assert facts["results.use.rss_mb_peak"] > 10  # the container's processes were sampled
    assert not client().containers.list(all=True)  # --rm: nothing left behind


def test_missing_image_says_how_to_build_it(docker_engine: str) -> None:
    build = r"docker build -t dlbs/absent:1 -f docker/Dockerfile python"
    with pytest.raises(ValidationError, match=build):
        check_images(["dlbs/absent:1"])


def test_timed_out_container_is_removed(tmp_path: Path, test_image: str) -> None:
    result = subprocess.run(
        docker_cli(tmp_path, test_image, "-Pexp.model=deep_mnist", "-Pexp.num_batches=1000000",
                   "-Pexp.timeout=3", "-Pruntime.kill_grace=1"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    (log,) = (tmp_path / "logs").glob("*.log")
    assert facts_of(log)["results.status"] == "timeout"
    assert not client().containers.list(all=True)


def test_validate_asks_the_engine_for_the_image(tmp_path: Path, test_image: str) -> None:
    base = [sys.executable, "-m", "dlbs", "validate", "-Pexp.model=deep_mnist", '-Pexp.gpus=""',
            "-Pexp.docker=true"]
    found = subprocess.run([*base, f"-Pexp.docker_image={test_image}"], check=False,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert f"image(s) found: {test_image}" in found.stderr
    missing = subprocess.run([*base, "-Pexp.docker_image=dlbs/absent:2"], check=False,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    expected = ("error: docker image 'dlbs/absent:2' is not in the engine (dlbs never pulls): "
                "build it with 'docker build -t dlbs/absent:2 -f docker/Dockerfile python' or set "
                "exp.docker_image")
    assert missing.stderr.strip().splitlines() == [expected]


def test_validate_says_what_to_do_without_an_engine(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "dlbs", "validate", "-Pexp.model=deep_mnist", '-Pexp.gpus=""',
         "-Pexp.docker=true", "-Pexp.docker_image=x:1"],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "docker" in line.lower()


def test_runner_killed_outright_leaves_no_container(tmp_path: Path, test_image: str) -> None:
    """kill -9 of the runner: the launched ``docker run`` gets SIGTERM (parent-death signal)
    and passes it to the container, which ends and is removed (--rm)."""
    import time
    runner = subprocess.Popen(
        docker_cli(tmp_path, test_image, "-Pexp.model=deep_mnist", "-Pexp.num_batches=1000000"),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # hang guards: each loop ends as soon as it may
    try:
        while not client().containers.list() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client().containers.list(), "the container did not start"
    finally:
        runner.kill()
        runner.wait()
    deadline = time.monotonic() + 120
    while client().containers.list(all=True) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not client().containers.list(all=True), "a container outlived its runner"


#: Folder names a ``-v SRC:DST:ro`` spec cannot carry (``:``) or that break a ``--mount`` spec
#: unless it is quoted (``,``, ``=``, ``"``).
HOSTILE_FOLDERS = ["da:ta", "a:b,c=d", 'q"u:o,te']


@pytest.mark.parametrize("folder", HOSTILE_FOLDERS)
def test_a_data_dir_with_colon_and_comma_is_mounted_and_read(tmp_path: Path, test_image: str,
                                                            folder: str) -> None:
    """The benchmark reads an image folder whose path holds ':' and ',' inside a real
    container: it is mounted with a quoted ``--mount`` spec, never a broken ``-v`` one."""
    from pytorch_benchmarks.data.prepare import make_image_folder

    data = make_image_folder(str(tmp_path / folder), 8, 2, 24)
    result = subprocess.run(
        docker_cli(tmp_path, test_image, "-Pexp.model=resnet18", "-Pexp.replica_batch=4",
                   "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", f"-Pexp.data_dir={data}",
                   "-Ppytorch.data_backend=image_folder", "-Ppytorch.data_loader_only=true",
                   "-Ppytorch.num_loader_threads=0", "-Pexp.timeout=240", "--progress-bar=off"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["exp.dataset_size"] == 8
    script = log.with_suffix(".sh").read_text()
    assert "--mount" in script and f"-v {data}" not in script


@pytest.mark.parametrize("folder", HOSTILE_FOLDERS)
def test_the_mount_argv_is_accepted_by_the_engine(tmp_path: Path, test_image: str,
                                                  folder: str) -> None:
    """The generated mount options, given to ``docker run`` as they are, bind the folder: a
    file in it is read back inside the container."""
    from dlbs.launchers.docker import bind_mount

    data = tmp_path / folder
    data.mkdir()
    (data / "probe.txt").write_text("mounted\n")
    options = bind_mount(("exp.data_dir", str(data)), ("exp.data_dir", str(data)))
    python = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read(), end='')",
              str(data / "probe.txt")]
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *host_python_mounts().split(),
         *options, test_image, *python],
        check=False, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "mounted\n"), result.stderr

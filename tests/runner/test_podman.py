"""The podman runtime against a real Podman (Debian's package, no daemon): the real
benchmarks.py runs a tiny model inside a podman container and logs its facts.

Podman runs on these machines only as ``docs/containers.md`` ("Podman on a locked-down
machine") says: runc (crun fails on hybrid cgroups), a private ``containers.conf`` whose
default ulimits do not exceed the host's, storage and run folders of its own. The tests pass
those through ``exp.container_launcher`` and ``CONTAINERS_CONF``, the way a user of such a
machine would; a normal machine needs neither. The scratch folder is ``$DLBS_PODMAN_DIR``
(CI sets it) or a private one under /tmp. The image is an empty root file system made with
``podman import`` (no pull), with the host's Python and venv mounted read-only, as in the
Docker tests.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlbs.experiment import Experiment

from .conftest import ROOT, _rootfs_tar, host_python_mounts
from .test_runner import facts_of

pytestmark = pytest.mark.podman

PODMAN_IMAGE = "localhost/dlbs-test/empty-rootfs:latest"
CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'


@pytest.fixture(scope="module")
def podman_launcher() -> Iterator[str]:
    """``exp.container_launcher`` of a working podman, with the test image imported."""
    if shutil.which("podman") is None or not os.path.exists("/usr/sbin/runc"):
        pytest.skip("no podman: podman or runc is not installed (apt-get install -y podman "
                    "runc catatonit; CI installs them)")
    given = os.environ.get("DLBS_PODMAN_DIR")
    scratch = Path(given) if given else Path("/tmp") / f"dlbs-test-podman.{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    conf = scratch / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    old = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    launcher = ["podman", "--root", str(scratch / "storage"), "--runroot",
                str(scratch / "run"), "--runtime", "/usr/sbin/runc"]
    imported = subprocess.run([*launcher, "import", "-", PODMAN_IMAGE], input=_rootfs_tar(),
                              capture_output=True, check=False, timeout=120)
    try:
        if imported.returncode != 0:
            pytest.fail(f"podman import failed: {imported.stderr.decode()[-2000:]}")
        yield shlex.join(launcher)
    finally:
        subprocess.run([*launcher, "rm", "--all", "--force"], capture_output=True, check=False)
        if old is None:
            del os.environ["CONTAINERS_CONF"]
        else:
            os.environ["CONTAINERS_CONF"] = old
        if not given:
            subprocess.run([*launcher, "system", "reset", "--force"], capture_output=True,
                           check=False, timeout=120)
            shutil.rmtree(scratch, ignore_errors=True)


def podman_cli(tmp_path: Path, launcher: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "dlbs", "run", f"-Pexp.log_dir={tmp_path / 'logs'}",
            '-Pexp.gpus=""', "-Pexp.docker=true", "-Pexp.container_runtime=podman",
            f"-Pexp.container_launcher={launcher}", f"-Pexp.docker_image={PODMAN_IMAGE}",
            "-Pexp.docker_network=none", f"-Pexp.docker_args={host_python_mounts()}",
            f"-Pruntime.docker_python={sys.executable}", *options]


def containers(launcher: str) -> list[str]:
    listed = subprocess.run([*shlex.split(launcher), "ps", "--all", "--format", "{{.Names}}"],
                            capture_output=True, text=True, check=True, timeout=120)
    return listed.stdout.split()


def test_tiny_model_runs_in_a_real_podman_container(tmp_path: Path,
                                                    podman_launcher: str) -> None:
    result = subprocess.run(
        podman_cli(tmp_path, podman_launcher, "-Pexp.model=deep_mnist", "-Pexp.replica_batch=2",
                   "-Pexp.num_batches=2", "-Pexp.num_warmup_batches=1", "-Pexp.timeout=240",
                   "-Pmonitor.frequency=0.5", "-Pruntime.env.DLBS_PROBE=a b `id`",
                   "--progress-bar=off"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = facts_of(log)
    assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
    assert facts["exp.docker"] is True and facts["exp.container_runtime"] == "podman"
    assert facts["exp.docker_image_id"].startswith("sha256:")  # podman image inspect's id
    # Inside the container: its own host name (podman's container id), the mounted code.
    assert facts["hw.hostname"] != os.uname().nodename
    script = log.with_suffix(".sh").read_text()
    assert "exec podman \\\n    --root " in script and "\n    run \\\n" in script
    assert "--runtime /usr/sbin/runc" in script and "--pull never" in script
    assert f"{ROOT}/python:/workspace/python:ro" in script and "-w /workspace/python" in script
    assert "-e 'DLBS_PROBE=a b `id`'" in script
    assert facts["results.use.rss_mb_peak"] > 10  # the container's processes were sampled
    assert not containers(podman_launcher)  # --rm: nothing left behind


def test_the_environment_and_mounts_reach_the_container(tmp_path: Path,
                                                        podman_launcher: str) -> None:
    """A hostile value stays one value, a folder with ':' and ',' is mounted (quoted
    ``--mount``): the container prints both back exactly."""
    from dlbs.launchers import build_command

    data = tmp_path / "da:ta,x=y"
    data.mkdir()
    (data / "probe.txt").write_text("mounted\n")
    value = "a b $(touch /tmp/owned) `id` 'q' \"d\"\nnext"
    exp = {"exp.docker": True, "exp.container_runtime": "podman", "exp.id": "probe",
           "exp.container_launcher": podman_launcher, "exp.docker_image": PODMAN_IMAGE,
           "exp.docker_network": "none", "exp.docker_args": host_python_mounts(),
           "exp.data_dir": str(data), "exp.gpus": "", "exp.device_type": "cpu",
           "runtime.env.PROBE": value, "exp.log_file": str(tmp_path / "x.log")}
    cmd = build_command(Experiment.of(exp))
    image_at = cmd.argv.index(PODMAN_IMAGE)
    code = ("import os,sys; print(repr(os.environ['PROBE']), open(sys.argv[1]).read(), "
            "end='')")
    probe = [sys.executable, "-c", code, str(data / "probe.txt")]
    result = subprocess.run([*cmd.argv[:image_at + 1], *probe], capture_output=True,
                            text=True, check=False, timeout=120)
    assert (result.returncode, result.stdout) == (0, f"{value!r} mounted\n"), result.stderr


def test_timed_out_podman_container_is_removed(tmp_path: Path, podman_launcher: str) -> None:
    result = subprocess.run(
        podman_cli(tmp_path, podman_launcher, "-Pexp.model=deep_mnist",
                   "-Pexp.num_batches=1000000", "-Pexp.timeout=3", "-Pruntime.kill_grace=1"),
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    (log,) = (tmp_path / "logs").glob("*.log")
    assert facts_of(log)["results.status"] == "timeout"
    deadline = time.monotonic() + 120  # a hang guard: podman removes it in well under that
    while containers(podman_launcher) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not containers(podman_launcher), "a podman container outlived its timeout"


def test_runner_killed_outright_leaves_no_podman_container(tmp_path: Path,
                                                           podman_launcher: str) -> None:
    """kill -9 of the runner while its podman client cannot pass a signal on (stopped, then
    killed): the container, whose processes run under conmon outside the launch script's
    group, would run on; the runner's watchdog removes it."""
    import psutil

    runner = subprocess.Popen(
        podman_cli(tmp_path, podman_launcher, "-Pexp.model=deep_mnist",
                   "-Pexp.num_batches=1000000", "-Pruntime.kill_grace=1"),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # hang guards: each loop ends as soon as it may
    try:
        while not containers(podman_launcher) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert containers(podman_launcher), "the container did not start"
        (client,) = [p for p in psutil.Process(runner.pid).children()
                     if p.name() == "podman"]  # the launch script exec'd it
        client.suspend()  # it cannot proxy the runner's death to the container
    finally:
        runner.kill()
        runner.wait()
    client.kill()
    deadline = time.monotonic() + 120
    while containers(podman_launcher) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not containers(podman_launcher), "a podman container outlived its runner"


def test_validate_names_a_missing_podman_image(tmp_path: Path, podman_launcher: str) -> None:
    command = podman_cli(tmp_path, podman_launcher, "-Pexp.model=deep_mnist",
                         "-Pexp.docker_image=localhost/dlbs-test/absent:1")
    command[3] = "validate"
    result = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert "podman image 'localhost/dlbs-test/absent:1' is not there" in result.stderr
    assert "podman build -t localhost/dlbs-test/absent:1" in result.stderr
    assert "Traceback" not in result.stderr

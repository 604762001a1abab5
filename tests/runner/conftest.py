"""Fixtures of the runner tests: hand-made experiments, a stand-in benchmark, a Docker engine.

``docker_engine`` uses the engine at ``DOCKER_HOST`` when it is set; otherwise it starts a
private one with ``.ci/docker-engine.sh start`` (needs ``dockerd``) and stops it at the end;
without dockerd the docker tests skip, saying so. ``test_image`` is an empty root file system
imported with ``docker import`` (no pull): the host's /usr, Python and venv are bind-mounted
read-only when it runs, so the real benchmarks.py runs inside a real container.
"""
from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dlbs

ROOT = Path(dlbs.PROJECT_ROOT)
HERE = Path(__file__).resolve().parent
TEST_IMAGE = "dlbs-test/empty-rootfs:latest"

#: A complete CPU experiment as the engine would expand it (the names of docs/architecture.md).
BASE_EXPERIMENT: dict[str, Any] = {
    "exp.framework": "pytorch", "exp.model": "ok", "exp.phase": "training",
    "exp.replica_batch": 4, "exp.num_warmup_batches": 1, "exp.num_batches": 2,
    "exp.dtype": "float32", "exp.gpus": "", "exp.cpu_replicas": 1, "exp.num_nodes": 1,
    "exp.num_local_gpus": 0, "exp.num_local_replicas": 1, "exp.num_gpus": 0,
    "exp.num_replicas": 1, "exp.device_type": "cpu", "exp.effective_batch": 4,
    "exp.data_dir": "", "exp.data": "synthetic", "exp.docker": False,
    "exp.docker_image": "dlbs/pytorch:latest", "exp.docker_launcher": "docker",
    "exp.docker_args": "", "exp.rerun": "never", "exp.status": "ok", "exp.timeout": 0,
    "runtime.launcher": "", "runtime.python": sys.executable, "runtime.visible_gpus": "",
    "monitor.frequency": 0.0, "runtime.kill_grace": 1.0, "pytorch.data_backend": "caffe_lmdb",
    "pytorch.num_loader_threads": 0,
}


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    """A folder holding ``pytorch_benchmarks/benchmarks.py`` = the stand-in benchmark."""
    target = tmp_path / "bench" / "pytorch_benchmarks"
    target.mkdir(parents=True)
    shutil.copy(HERE / "standin_benchmark.py", target / "benchmarks.py")
    return target.parent


@pytest.fixture
def make_exp(tmp_path: Path, bench_dir: Path) -> Callable[..., dict[str, Any]]:
    """Build a hand-made expanded experiment: ``make_exp(model, **{"exp.timeout": 1})``."""
    counter = iter(range(10**6))

    def make(model: str = "ok", params: dict[str, Any] | None = None) -> dict[str, Any]:
        exp = dict(BASE_EXPERIMENT)
        exp.update({"exp.model": model, "exp.id": f"id{next(counter):04d}",
                    "exp.log_dir": str(tmp_path / "logs"), "pytorch.bench_path": str(bench_dir)})
        exp.update(params or {})
        exp.setdefault("exp.log_file", f"{exp['exp.log_dir']}/{model}_{exp['exp.id']}.log")
        return exp
    return make


def _rootfs_tar() -> bytes:
    """An empty root file system: top folders, merged-/usr links, a real /sbin for --init."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("tmp", "proc", "sys", "dev", "etc", "usr", "root", "sbin", "workspace"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name in ("bin", "lib", "lib64"):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``DOCKER_HOST`` of a working engine (the caller's, or a private one started here)."""
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("no Docker engine: DOCKER_HOST is unset and dockerd is not installed "
                    "(apt-get install -y docker.io; CI starts one with .ci/docker-engine.sh)")
    engine_dir = Path("/tmp") / f"dlbs-test-docker.{os.getpid()}"  # short: socket path limit
    started = subprocess.run(["bash", str(ROOT / ".ci" / "docker-engine.sh"), "start",
                              str(engine_dir)], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        pytest.fail(f"could not start a private Docker engine: {started.stderr[-2000:]}")
    host = f"unix://{engine_dir}/docker.sock"
    os.environ["DOCKER_HOST"] = host
    try:
        yield host
    finally:
        del os.environ["DOCKER_HOST"]
        subprocess.run(["bash", str(ROOT / ".ci" / "docker-engine.sh"), "stop", str(engine_dir)],
                       capture_output=True, check=False)


@pytest.fixture(scope="session")
def test_image(docker_engine: str) -> str:
    """The empty-rootfs image (``docker import``), created once per engine."""
    subprocess.run(["docker", "import", "-", TEST_IMAGE], input=_rootfs_tar(), check=True,
                   capture_output=True, env={**os.environ, "DOCKER_HOST": docker_engine})
    return TEST_IMAGE


def host_python_mounts() -> str:
    """``docker run`` options that bind-mount /usr, the host's Python and the venv read-only."""
    paths = ["/usr"] + sorted({p for p in (sys.base_prefix, sys.prefix)
                               if p != "/usr" and not p.startswith("/usr/")})
    return " ".join(f"-v {shlex.quote(p)}:{shlex.quote(p)}:ro" for p in paths)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """``SLURM_CONF`` of a real two-node test cluster (``.ci/slurm-cluster.sh``).

    The cluster named by ``DLBS_SLURM_DIR`` is used when it answers (CI starts one); otherwise
    a private one is started here and stopped at the end. Never a cluster of the user's own:
    the tests cancel every job of the cluster they use.
    """
    script = ROOT / ".ci" / "slurm-cluster.sh"
    given = os.environ.get("DLBS_SLURM_DIR")
    if given and subprocess.run(["bash", str(script), "status", given],
                                capture_output=True, check=False).returncode == 0:
        cluster_dir, owned = Path(given), False
    else:
        if shutil.which("slurmctld") is None or shutil.which("munged") is None:
            pytest.skip("no Slurm: slurmctld/munged are not installed (apt-get install -y "
                        "slurm-wlm munge; CI starts a cluster with .ci/slurm-cluster.sh)")
        cluster_dir, owned = Path("/tmp") / f"dlbs-test-slurm.{os.getpid()}", True
        started = subprocess.run(["bash", str(script), "start", str(cluster_dir)],
                                 capture_output=True, text=True, check=False,
                                 env={**os.environ, "DLBS_SLURM_PORT": "16917"})
        if started.returncode != 0:  # what the failed start left running (munged) stopped
            subprocess.run(["bash", str(script), "stop", str(cluster_dir)],
                           capture_output=True, check=False)
            pytest.fail(f"could not start a test Slurm cluster: {started.stderr[-2000:]}")
    conf = str(cluster_dir / "slurm.conf")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        cancel_all_jobs()
        if old is None:
            del os.environ["SLURM_CONF"]
        else:
            os.environ["SLURM_CONF"] = old
        if owned:
            subprocess.run(["bash", str(script), "stop", str(cluster_dir)],
                           capture_output=True, check=False)


def cancel_all_jobs() -> None:
    """Cancel every job of the test cluster and wait until none is active (a hang guard of
    300 s: a loaded machine may take long to end them)."""
    subprocess.run(["scancel", "--user", str(os.getuid())], capture_output=True, check=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                             check=False).stdout
        if not out.strip():
            return
        time.sleep(0.2)


@pytest.fixture
def slurm(slurm_cluster: str) -> Iterator[str]:
    """The test cluster, with no job left active before and after the test."""
    cancel_all_jobs()
    yield slurm_cluster
    cancel_all_jobs()

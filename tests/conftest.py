"""Suite-wide test settings.

Tests that need a real component (Docker engine, Podman, headless Chromium, torchrun, Slurm,
PostgreSQL, an LLM server) carry a marker and
skip with a clear reason when the component is truly absent on a developer's machine. CI sets
``DLBS_REQUIRE_COMPONENTS=1`` after installing them: there such a skip is turned into a failure,
so a broken install can never hide behind a skip.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# ``from forked_cli import run_dlbs``: modules the test files share live in tests/_support (on
# the path last: no name there may hide a package).
sys.path.append(str(Path(__file__).resolve().parent / "_support"))

# The suite runs more torch processes than there are cores (a worker per core and one more,
# each starting benchmarks). torch's OpenMP threads spin while they wait for work by default
# (libgomp's OMP_WAIT_POLICY): on a busy machine they burn the CPU the other processes need
# (a 30-iteration deep_mnist run beside two busy loops: 25 CPU-s spinning, 11 CPU-s passive).
# Passive waiting changes no thread count and no fact; set before any test imports torch (libgomp
# reads it when it loads), inherited by every process the tests start. A value already set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COMPONENT_MARKERS = ("docker", "browser", "torchrun", "slurm", "podman", "postgres", "llm")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("DLBS_REQUIRE_COMPONENTS") != "1" or not report.skipped:
        return
    needed = [m for m in COMPONENT_MARKERS if item.get_closest_marker(m) is not None]
    if needed:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"component test skipped in CI ({', '.join(needed)}): {reason}"


@pytest.fixture(autouse=True, scope="session")
def _calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CPU peak calibration (``measure.calibration``) caches per host under
    ``$DLBS_CACHE_DIR``: the tests' runs (in-process and launched) use a folder of their own,
    never the user's ``~/.cache/dlbs``."""
    if "DLBS_CACHE_DIR" not in os.environ:
        os.environ["DLBS_CACHE_DIR"] = str(tmp_path_factory.mktemp("dlbs-cache"))


@pytest.fixture(autouse=True, scope="session")
def _bench_forkserver() -> Iterator[None]:
    """The benchmark processes the tests start are forked from a process with torch imported
    (``tests/_support/bench_forkserver.py``: what is refused and why); one server per xdist
    worker. ``DLBS_TEST_FORKSERVER=0`` runs every benchmark process from scratch."""
    if os.environ.get("DLBS_TEST_FORKSERVER") == "0":
        yield
        return
    import shutil
    import subprocess
    import tempfile

    support = Path(__file__).resolve().parent / "_support"
    folder = tempfile.mkdtemp(prefix="dlbs-fork-")   # a short path: a socket's is <= 107 bytes
    socket_path = os.path.join(folder, "server")
    client = str(support / "forkclient")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([client, old]) if old else client
    os.environ["DLBS_TEST_FORKSERVER"] = socket_path
    os.environ["DLBS_TEST_FORKSERVER_SCRIPT"] = os.path.realpath(
        support.parents[1] / "python" / "pytorch_benchmarks" / "benchmarks.py")
    # A second server imports torch under OMP_NUM_THREADS=1: torchrun's workers (and tests
    # that set it) read that at import, so the first server refuses them.
    omp1 = "OMP_NUM_THREADS" not in os.environ
    if omp1:
        os.environ["DLBS_TEST_FORKSERVER_OMP1"] = os.path.join(folder, "server-omp1")
    paths = {"server": os.environ.copy()}   # the environment its callers have
    if omp1:
        paths["server-omp1"] = {**os.environ, "OMP_NUM_THREADS": "1"}
    servers = []
    for name, env in paths.items():
        with open(os.path.join(folder, f"{name}.log"), "wb") as log:
            servers.append(subprocess.Popen(
                [sys.executable, str(support / "bench_forkserver.py"),
                 os.path.join(folder, name)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, env=env))
    try:
        yield
    finally:
        for server in servers:
            server.terminate()   # the server kills and reaps the children still running
        for server in servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        keep = os.environ.get("DLBS_TEST_FORKSERVER_LOGS")   # a folder: the servers' logs
        if keep:
            from safeio import atomic_write_bytes

            os.makedirs(keep, exist_ok=True)
            for name in paths:
                log = os.path.join(folder, f"{name}.log")
                if os.path.exists(log):  # written anew: a link planted there is not followed
                    with open(log, "rb") as source:
                        atomic_write_bytes(os.path.join(
                            keep, f"{os.path.basename(folder)}-{name}.log"), source.read())
        for name in ("DLBS_TEST_FORKSERVER", "DLBS_TEST_FORKSERVER_SCRIPT",
                     "DLBS_TEST_FORKSERVER_OMP1"):
            os.environ.pop(name, None)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _real_processes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``@pytest.mark.real_processes``: the test's benchmark processes start from scratch
    (it reads what a forked child would show differently: the process tree under the
    runner, its resource use, its memory history)."""
    if request.node.get_closest_marker("real_processes") is not None:
        monkeypatch.setenv("DLBS_TEST_FORKSERVER", "0")


#: Test files that run one after the other on one xdist worker. The Slurm tests share one
#: two-node cluster and cancel every job on it before and after each test (``slurm`` fixture):
#: two of them at once would cancel each other's jobs. ``test_parallel.py`` checks that every
#: test using the cluster is in a file named here.
SERIAL_GROUPS: dict[str, tuple[str, ...]] = {
    "slurm": ("tests/runner/test_slurm.py", "tests/runner/test_slurm_arrays.py",
              "tests/runner/test_slurm_doc.py", "tests/runner/test_slurm_executor.py",
              "tests/runner/test_slurm_faults.py", "tests/runner/test_slurm_output.py",
              "tests/runner/test_slurm_preemption.py", "tests/runner/test_slurm_acct.py",
              "tests/runner/test_executor_contract.py", "tests/runner/test_slurm_accept.py"),
}
_GROUP_OF_FILE = {path: group for group, paths in SERIAL_GROUPS.items() for path in paths}
#: The files that take longest (a profile of the whole suite on 2 cores, longest first): sent
#: out right after the serial groups, so that the run ends on short files, not on one of these.
HEAVY_FIRST: tuple[str, ...] = (
    "tests/benchmark/test_benchmarks.py",
    "tests/benchmark/test_sharded.py",
    "tests/reports/test_compare_simulation.py",
    "tests/runner/test_dlbs_tutorials.py",
    "tests/faults/test_data_faults.py",
    "tests/faults/test_readers_never_block.py",
    "tests/faults/test_planted_links.py",
    "tests/benchmark/test_max_batch.py",
    "tests/faults/test_runner_faults.py",
    "tests/reports/test_compare_tables.py",
    "tests/benchmark/test_max_batch_time.py",
    "tests/models/test_model_contract.py",
    "tests/db/test_numbers.py",
    "tests/benchmark/test_distributed.py",
    "tests/runner/test_launcher_errors.py",
    "tests/gpu_host/test_gpu_check.py",
    "tests/benchmark/test_node_facts.py",
    "tests/benchmark/test_golden_facts.py",
    "tests/benchmark/test_stop_signals.py",
    "tests/runner/test_docker.py",
    "tests/runner/test_repeat_run.py",
    "tests/db/test_secrets.py",
    "tests/runner/test_serve.py",
    "tests/runner/test_cli_run.py",
    "tests/faults/test_stdout_faults.py",
    "tests/runner/test_status_rows.py",
    "tests/faults/test_benchmark_cli_faults.py",
    "tests/runner/test_podman.py",
    "tests/benchmark/test_model_config_runs.py",
    "tests/benchmark/test_one_screen.py",
    "tests/benchmark/test_token_models.py",
    "tests/runner/test_max_batch_sweep.py",
    "tests/db/test_faults.py",
    "tests/cli/test_unknown_names.py",
    "tests/db/test_store.py",
    "tests/benchmark/test_bench_time_to_precision.py",
    "tests/db/test_history.py",
)
_HEAVY_RANK = {path: rank for rank, path in enumerate(HEAVY_FIRST)}


def work_unit(nodeid: str) -> str:
    """The unit of work a test is sent to a worker in: its serial group, else its file (the
    module's fixtures are built once, on one worker)."""
    path = nodeid.split("::", 1)[0]
    group = _GROUP_OF_FILE.get(path)
    return f"serial:{group}" if group else path


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``pytest -n N``: tests go out a file at a time, a serial group as one unit (pytest-xdist's
    own ``--dist loadgroup`` does not group under pytest 9: it renames ``item._nodeid``, which
    pytest 9 no longer reads)."""
    from xdist.scheduler import LoadScopeScheduling

    class FileAndGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return FileAndGroupScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, the serial groups come first, then the heaviest files
    (``HEAVY_FIRST``); every worker sorts alike, so the collections still match. The longest
    units start at once instead of ending the run."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    items.sort(key=_send_order)


def _send_order(item: pytest.Item) -> int:
    unit = work_unit(item.nodeid)
    if unit.startswith("serial:"):
        return 0
    return 1 + _HEAVY_RANK.get(unit, len(HEAVY_FIRST))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """``DLBS_TEST_CPU_LOG=FILE``: a line per test (node id, CPU seconds of the test process,
    CPU seconds of the processes it started and waited for, wall seconds), to find where the
    suite's CPU goes (``scripts/test-cpu``). Unset: nothing is measured."""
    log = os.environ.get("DLBS_TEST_CPU_LOG")
    if not log:
        yield
        return
    import resource
    import time

    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    self0, child0, wall0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    yield
    line = (f"{item.nodeid}\t{cpu(resource.RUSAGE_SELF) - self0:.3f}\t"
            f"{cpu(resource.RUSAGE_CHILDREN) - child0:.3f}\t{time.monotonic() - wall0:.3f}\n")
    with open(log, "a", encoding="utf-8") as out:
        out.write(line)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: a worker per core and one more. The Slurm group's worker spends most of its
    time waiting for the cluster's jobs (whose CPU is slurmd's, not the worker's), so one
    worker per core would leave a core idle for minutes. ``PYTEST_XDIST_AUTO_NUM_WORKERS``
    still decides when it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return len(os.sched_getaffinity(0)) + 1


def _worker_database(url: str, worker: str) -> str:
    """A PostgreSQL database of this xdist worker's own (created on first use), so the
    database tests of two workers never empty each other's tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, however the run was started. A test run
    started in the background by a script (``pytest ... &``, no job control) ignores SIGINT, and
    every child would inherit that: a runner or a server the tests Ctrl-C would never stop, and
    the test would wait out its hang guard. With Python's own handler here, children start
    with SIGINT at its default (SIGHUP, which ``nohup`` ignores on purpose, is left alone:
    tests that need it set it in the child). On an xdist worker, the PostgreSQL tests get a
    database of the worker's own (``_worker_database``)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get("DLBS_TEST_DB"):
        os.environ["DLBS_TEST_DB"] = _worker_database(os.environ["DLBS_TEST_DB"], worker)



#: ``fill_disk(path, capacity)``: writes through ``safeio`` to ``path`` fail with ENOSPC once
#: it holds ``capacity`` bytes.
FillDisk = Callable[[Path, int], None]


@pytest.fixture
def fill_disk(monkeypatch: pytest.MonkeyPatch) -> FillDisk:
    """A disk that fills at ``capacity`` bytes of one file (the bytes that still fit are
    written first, as a real file system does), for every write through ``safeio``."""
    import safeio

    def fill(path: Path, capacity: int) -> None:
        real_write: Callable[[int, bytes], int] = os.write

        def write(fd: int, data: bytes) -> int:
            if os.readlink(f"/proc/self/fd/{fd}") != str(path):
                return real_write(fd, data)
            room = capacity - os.fstat(fd).st_size
            if room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, bytes(data[:room]))

        monkeypatch.setattr(safeio.os, "write", write)
    return fill

"""Suite-wide test settings.

Tests that need a real component (Docker engine, Podman, headless Chromium, torchrun, Slurm) carry a marker and
skip with a clear reason when the component is truly absent on a developer's machine. CI sets
``DLBS_REQUIRE_COMPONENTS=1`` after installing them: there such a skip is turned into a failure,
so a broken install can never hide behind a skip.
"""
from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

COMPONENT_MARKERS = ("docker", "browser", "torchrun", "slurm", "podman", "postgres")


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


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, however the run was started. A test run
    started in the background by a script (``pytest ... &``, no job control) ignores SIGINT, and
    every child would inherit that: a runner or a server the tests Ctrl-C would never stop, and
    the test would wait out its hang guard. With Python's own handler here, children start
    with SIGINT at its default (SIGHUP, which ``nohup`` ignores on purpose, is left alone:
    tests that need it set it in the child)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)



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

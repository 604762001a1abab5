"""``python -m dlbs ARGS`` in a child forked from the test process: a process of its own
(exit code, stdout and stderr as bytes on its own file descriptors, os.environ and cwd of its
own, nothing it does reaches the test process), without paying the interpreter's start and the
imports of SQLAlchemy, Alembic and NumPy again for every call (about 1 s of CPU each; the
database tests make hundreds of calls).

:func:`run_dlbs` answers like ``subprocess.run([sys.executable, "-m", "dlbs", *args],
capture_output=True, text=True, check=False, timeout=..., env=...)``. The child starts from a
state a new interpreter would have where the tests touch it: Python's default signal handlers,
no logging handlers, Python's default warning filters, ``sys.argv`` as ``-m`` sets it, stdin
from /dev/null unless ``input`` is given. Tests of start-up itself (``PYTHONPATH``, an import
that fails, the ``dlbs`` console script) keep a real subprocess.

Written here (not a library) because the alternatives run the command in the test's own
process (click's ``CliRunner``, pytest's ``capsys``): a command that changes the working
folder, the environment, signal handlers or logging would then change the test process too.
"""
from __future__ import annotations

import importlib
import io
import logging
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Imported once in the test process, so a forked child finds them loaded.
PRELOAD = ("dlbs.cli.main", "dlbs.db.store", "dlbs.db.history", "dlbs.db.page", "dlbs.db.charts",
           "dlbs.db.revisions", "dlbs.cli.dbargs", "dlbs.logs.parser", "dlbs.logs.pool",
           "dlbs.logs.sources", "alembic.command", "alembic.config", "alembic.script",
           "alembic.runtime.migration", "sqlalchemy.dialects.sqlite",
           "sqlalchemy.dialects.postgresql", "psycopg", "numpy", "benchstats")
_preloaded = False
#: Signals whose handler a test process may have changed; the child gets Python's defaults.
_DEFAULT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGQUIT")


def _preload() -> None:
    global _preloaded
    if _preloaded:
        return
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _preloaded = True


def _fresh_state(env: Mapping[str, str] | None, cwd: str | Path | None,
                 args: Sequence[str]) -> None:
    """What a new interpreter would have, where a test process differs from one."""
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in _DEFAULT_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.disable(logging.NOTSET)
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                     ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    # a test's catch_warnings(record=True) would otherwise swallow the child's warnings
    warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
    warnings._showwarnmsg_impl = _show_warning_message  # type: ignore[attr-defined]
    sys.excepthook = sys.__excepthook__
    sys.argv = [str(Path(importlib.import_module("dlbs").__file__ or "").parent / "__main__.py"),
                *args]


def _show_warning_message(message: warnings.WarningMessage) -> None:
    """Python's own printing of a warning (``warnings._showwarnmsg_impl``)."""
    stream = message.file or sys.stderr
    try:
        stream.write(warnings._formatwarnmsg(message))  # type: ignore[attr-defined]
    except OSError:
        pass


def _exit_code(code: object) -> int:
    """``SystemExit.code`` as the interpreter turns it into a status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _child(args: Sequence[str], env: Mapping[str, str] | None, cwd: str | Path | None) -> int:
    _fresh_state(env, cwd, args)
    try:
        runpy.run_module("dlbs", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001 (what the interpreter does with an uncaught error)
        kind, value, tb = sys.exc_info()
        assert kind is not None and value is not None
        sys.excepthook(kind, value, tb)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    return code


def run_dlbs(args: Sequence[str], *, env: Mapping[str, str] | None = None,
             cwd: str | Path | None = None, timeout: float = 300,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m dlbs *args`` in a forked child; see the module's text."""
    _preload()
    argv = [sys.executable, "-m", "dlbs", *args]
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        if input is not None:
            stdin.write(input.encode())
            stdin.seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the test process
            code = 1
            try:
                if input is None:
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                else:
                    os.dup2(stdin.fileno(), 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                code = _child(args, env, cwd)
            except BaseException:  # noqa: BLE001 (the child must reach os._exit)
                try:
                    os.write(2, traceback.format_exc().encode())
                except OSError:
                    pass
            finally:
                os._exit(code)
        status = _wait(pid, timeout, argv)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status), stdout, stderr)


def _wait(pid: int, timeout: float, argv: list[str]) -> int:
    """The child's wait status; past ``timeout`` it is killed and TimeoutExpired raised, as
    subprocess.run does."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(argv, timeout)
        time.sleep(pause)
        pause = min(pause * 2, 0.02)

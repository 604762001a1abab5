"""A fork server for the benchmark processes the tests start.

Each benchmark process the suite starts (about 190 of them, most through ``dlbs run`` and its
launch scripts) would import torch and, when it trains, ``torch._dynamo`` (a torch optimizer
imports it): about 2.5 s of CPU each on the CI machine, a fifth of the suite's CPU. This server,
one per xdist worker, imports them once; ``forkclient/sitecustomize.py``, on the ``PYTHONPATH``
of every process the tests start, hands a ``python .../benchmarks.py ...`` process over to it,
and the server runs the benchmark in a child it forks: with the caller's argv, environment,
working folder, umask, signal dispositions and standard streams (the same descriptors), a fresh
interpreter's ``sys.path``, standard streams, random seeds and signal handlers (not its hash
seed: every child has the server's), and an end like
an interpreter's (non-daemon threads joined, ``atexit`` run, streams flushed). The caller stays
the process its parent knows: it forwards the signals it gets to the child and ends as the child
ends (the exit code, or the same signal); when the caller is killed, the server kills the child.

What a forked child cannot take over, the server refuses, and the caller runs the benchmark
itself: another interpreter or ``sys.prefix``, another script, interpreter options other
than ``-u`` (torchrun's workers: their streams are made unbuffered), any
difference in the environment that is read when a library loads (``IMPORT_ENV``: OpenMP, MKL,
torch, CUDA, NCCL, Python's own, the dynamic loader, the locale), other resource limits, CPU
affinity or priority (``taskset``, ``numactl``, ``nice``), and any run inside a Slurm job (its
process tree and accounting are Slurm's). What watches a benchmark from outside (the runner's
resource sampling, a test that walks its process tree) sees the caller, not the child: such
tests are marked ``real_processes`` and start their benchmarks from scratch. Tests of start-up itself
(``PYTHONPATH``, a failing import, ``-m``) are refused by the same rules. ``DLBS_TEST_FORKSERVER=0``
turns the server off (``tests/conftest.py``).

Written here, not taken from a library: ``multiprocessing``'s forkserver runs functions, not
programs with their own descriptors, environment and exit status.
"""
from __future__ import annotations

import array
import atexit
import importlib
import io
import json
import os
import random
import resource
import runpy
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from forked_cli import _exit_code  # the interpreter's status of a SystemExit, shared

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
#: What the server imports once (what every benchmark process imports, torch's optimizer's
#: ``torch._dynamo`` included); not the model zoo or transformers (they read the environment or
#: register things as they load).
PRELOAD = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch._dynamo",
           "torch.distributed", "numpy", "pytorch_benchmarks.errors", "pytorch_benchmarks.options",
           "pytorch_benchmarks.spec", "pytorch_benchmarks.output.reporter",
           "pytorch_benchmarks.output.display", "pytorch_benchmarks.output.stdout_guard",
           "pytorch_benchmarks.runtime.oom", "pytorch_benchmarks.runtime.stopsignals",
           "pytorch_benchmarks.runtime.versions", "pytorch_benchmarks.models._zoo.plugins")
#: Environment variables read when a library loads (or Python starts): a request whose values
#: differ from the server's is refused.
IMPORT_ENV = ("OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "TORCH", "PYTORCH", "CUDA", "NCCL",
              "PYTHON", "LD_", "MALLOC_", "GLIBC_", "LC_", "LANG", "DLBS_TEST_FORKSERVER",
              "TMPDIR", "USER")   # the last two: torch's import derives its inductor cache from them
CLIENT_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                  "SIGPIPE")


#: Variables of those prefixes that torch reads only at run time (torchrun's per-worker
#: ``TORCHELASTIC_*``, read by the elastic agent's helpers; the NCCL error handling, read
#: when a process group is made), so they may differ.
RUNTIME_ENV = ("TORCHELASTIC_", "TORCH_NCCL_ASYNC_ERROR_HANDLING")


#: Read when CUDA initialises, not at import: they may differ while the server has not
#: initialised CUDA (it never does on a machine without a GPU; dlbs's launch scripts set
#: ``CUDA_VISIBLE_DEVICES`` for every benchmark they start).
CUDA_INIT_ENV = ("CUDA_VISIBLE_DEVICES",)


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return torch is None or bool(torch.cuda.is_initialized())


def _import_env(env: dict[str, str]) -> dict[str, str]:
    """The variables of ``env`` read at import, less those the server's imports set to the
    value they hold (a caller whose parent imported torch's optimizer has
    ``TORCHINDUCTOR_CACHE_DIR``, which its own import would set alike)."""
    late = () if _cuda_initialised() else CUDA_INIT_ENV
    return {k: v for k, v in env.items() if k.startswith(IMPORT_ENV)
            and not k.startswith(RUNTIME_ENV) and k not in late
            and not (k in _IMPORT_CHANGES and _IMPORT_CHANGES[k] == v)}


def _limits() -> dict[str, list[int]]:
    return {name: list(resource.getrlimit(getattr(resource, name)))
            for name in ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_NOFILE", "RLIMIT_CPU",
                         "RLIMIT_FSIZE", "RLIMIT_STACK", "RLIMIT_CORE")}


def refusal(request: dict[str, Any]) -> str | None:
    """Why the server cannot run ``request`` in a forked child; ``None`` when it can."""
    if os.path.realpath(request["executable"]) != os.path.realpath(sys.executable):
        return "another interpreter"
    if request["prefix"] != sys.prefix:
        return "another sys.prefix"
    if os.path.realpath(request["argv"][0]) != str(SCRIPT):
        return "another script"
    theirs, ours = _import_env(request["env"]), _import_env(_INITIAL_ENV)
    if theirs != ours:
        names = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
        return f"another import environment ({', '.join(names)})"   # names only, no values
    if request["limits"] != _limits():
        return "other resource limits"
    if "SLURM_JOB_ID" in request["env"]:
        return "a Slurm job"
    if request.get("affinity") != sorted(os.sched_getaffinity(0)) or \
            request.get("nice") != os.nice(0):
        return "another CPU affinity or priority (taskset, numactl, nice)"
    if threading.active_count() != 1:
        return "the server has threads"
    return None


class Server:
    """Accepts requests on ``path``; one forked child per request."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.children: dict[int, socket.socket] = {}     # pid -> the caller's connection
        self.parent = os.getppid()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def serve(self) -> None:
        stop: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, _frame: stop.append(signum))
        while os.getppid() == self.parent and not stop:
            watched = [self.listener, self.wake_r, *self.children.values()]
            ready, _, _ = select.select(watched, [], [], 1.0)
            for item in ready:
                if item is self.listener:
                    try:
                        self._accept()
                    except Exception:  # noqa: BLE001 (one bad request never ends the server)
                        _say(f"request failed: {traceback.format_exc(limit=1)!r}")
                elif item == self.wake_r:
                    os.read(self.wake_r, 4096)
                else:
                    self._caller_gone(item)
            self._reap()
        for pid in self.children:   # pytest ended (or stopped the server): so do the children
            _kill(pid)
        for pid in self.children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)   # a caller that stops half-way never blocks the others
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError, EOFError):
            conn.close()
            return
        try:
            why = refusal(request)
            if why is not None:
                _say(f"{request['pid']} refused: {why}")
                _send(conn, b"R" + why.encode())
                conn.close()
                return
            pid = os.fork()
            if pid == 0:
                self._child(request, fds, conn)   # never returns
            self.children[pid] = conn           # known before anything can fail
            _say(f"{request['pid']} forked: {pid}")
            if not _send(conn, b"P" + pid.to_bytes(8, "big")):
                _kill(pid)                      # the caller went: so does its child
        finally:
            for fd in fds:
                os.close(fd)

    def _caller_gone(self, conn: socket.socket) -> None:
        """A caller's connection became readable: it ended (killed) before its child."""
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if data:
            return
        for pid, known in list(self.children.items()):
            if known is conn:
                _kill(pid)

    def _reap(self) -> None:
        for pid, conn in list(self.children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            del self.children[pid]
            if os.WIFSIGNALED(status):
                code = -os.WTERMSIG(status)
            else:
                code = os.WEXITSTATUS(status)
            _send(conn, code.to_bytes(4, "big", signed=True))
            conn.close()

    def _child(self, request: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            for fd in (self.wake_r, self.wake_w):
                os.close(fd)
            self.listener.close()
            conn.close()
            for other in self.children.values():
                other.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                os.close(fd)
            os.setpgid(0, 0)   # a group of its own: a lost caller's child is killed with its own
            code = run_benchmark(request)
        except BaseException:  # noqa: BLE001 (the child must reach os._exit)
            try:
                os.write(2, traceback.format_exc().encode())
            except OSError:
                pass
        finally:
            os._exit(code)


def _send(conn: socket.socket, data: bytes) -> bool:
    """Send ``data``; False when the caller is gone."""
    try:
        conn.sendall(data)
    except OSError:
        return False
    return True


def _say(line: str) -> None:
    """A line of the server's log (its stdout: ``server.log`` beside the socket), one per
    request: ``CALLER forked: CHILD`` or ``CALLER refused: WHY``."""
    print(line, flush=True)


def _kill(pid: int) -> None:
    """Kills a child and what it started (its own process group)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    fds = array.array("i")
    data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("expected three descriptors")
    size = int.from_bytes(data[:8], "big")
    body = data[8:]
    while len(body) < size:
        part = conn.recv(size - len(body))
        if not part:
            raise EOFError
        body += part
    return json.loads(body), list(fds)


def _fresh_interpreter(request: dict[str, Any]) -> None:
    """What ``python script args`` would have, where this process differs."""
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(_IMPORT_CHANGES)    # what the imports set (TORCHINDUCTOR_CACHE_DIR...)
    time.tzset()
    tempfile.tempdir = None
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    for name in CLIENT_SIGNALS:
        number = getattr(signal, name)
        signal.signal(number, signal.SIG_IGN if name in request["ignored"] else signal.SIG_DFL)
    if "SIGINT" not in request["ignored"]:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if "SIGPIPE" not in request["ignored"]:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)   # what Python itself sets at start
    # -u (torchrun's workers) or PYTHONUNBUFFERED: the binary layer unbuffered, as Python's
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED")) or bool(request.get("unbuffered"))
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                 encoding=encoding)

    def writer(fd: int) -> Any:
        raw = io.FileIO(fd, "w", closefd=False)
        return raw if unbuffered else io.BufferedWriter(raw)

    sys.stdout = io.TextIOWrapper(writer(1), encoding=encoding, line_buffering=os.isatty(1),
                                  write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(writer(2), encoding=encoding, errors="backslashreplace",
                                  line_buffering=True, write_through=unbuffered)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[:] = [os.path.dirname(os.path.realpath(script)), *_BASE_PATH]


def run_benchmark(request: dict[str, Any]) -> int:
    """Runs the script as ``__main__``; the exit status an interpreter would give."""
    _fresh_interpreter(request)
    code = 0
    try:
        runpy.run_path(request["argv"][0], run_name="__main__")
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130
    except BaseException:  # noqa: BLE001 (what the interpreter does with an uncaught error)
        kind, value, tb = sys.exc_info()
        assert kind is not None and value is not None
        sys.excepthook(kind, value, tb)
        code = 1
    return _finish(code)


def _finish(code: int = 0) -> int:
    """An interpreter's end: non-daemon threads joined, ``atexit`` run, streams flushed."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120 if code == 0 else code
    return code


_BASE_PATH: list[str] = []
#: The server's environment before its imports, and what they set in it.
_INITIAL_ENV: dict[str, str] = {}
_IMPORT_CHANGES: dict[str, str] = {}


def main(path: str) -> None:
    global _BASE_PATH, _INITIAL_ENV, _IMPORT_CHANGES
    _BASE_PATH = list(sys.path[1:])          # a fresh interpreter's, less its script's folder
    _INITIAL_ENV = dict(os.environ)
    sys.path.insert(0, str(SCRIPT.parent.parent))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _IMPORT_CHANGES = {k: v for k, v in os.environ.items() if _INITIAL_ENV.get(k) != v}
    Server(path).serve()


if __name__ == "__main__":
    main(sys.argv[1])

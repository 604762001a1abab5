"""The client half of the tests' benchmark fork server (``tests/_support/bench_forkserver.py``).

On ``PYTHONPATH`` of the processes the tests start (set by ``tests/conftest.py``), this module
runs at the start of every Python there and returns at once unless the process is
``python <the benchmark's benchmarks.py> ...`` with no interpreter option. Then it asks the
fork server of its xdist worker (``DLBS_TEST_FORKSERVER``: a Unix socket) to run the benchmark
in a child forked from a process that has torch imported already, handing over its argv, its
environment, its working folder, its umask and signal dispositions and its standard streams
(the descriptors themselves). While the child runs, this process forwards the signals it
receives to it and then ends as the child ended: the same exit code, or killed by the same
signal. The server says no (and this process runs the benchmark itself, as usual) when
anything the child could not take over differs: the interpreter, the environment that is read
at import (``OMP_*``, ``PYTHON*``, ``LD_*``...), resource limits, a Slurm job. ``-u`` (how
torchrun starts its workers) is the one interpreter option taken over. Nothing here
may fail a run: any error falls back to the ordinary start.
"""
from __future__ import annotations

import os
import sys


def _wanted() -> tuple[str, bool] | None:
    """The server's socket and whether the caller runs unbuffered (``-u``: torchrun's
    workers); None when this process is not one the server may run. A caller with
    ``OMP_NUM_THREADS=1`` (torchrun's workers, and tests that set it) goes to the server that
    imported torch under that value (``DLBS_TEST_FORKSERVER_OMP1``)."""
    path = os.environ.get("DLBS_TEST_FORKSERVER")
    script = os.environ.get("DLBS_TEST_FORKSERVER_SCRIPT")
    if not path or path == "0" or not script or os.environ.get("SLURM_JOB_ID"):
        return None
    argv = list(getattr(sys, "orig_argv", ()))
    unbuffered = len(argv) >= 3 and argv[1] == "-u"
    if unbuffered:
        argv = argv[:1] + argv[2:]
    if len(argv) < 2 or argv[1] != sys.argv[0] or not sys.argv[0].endswith("benchmarks.py"):
        return None   # other interpreter options (-X, -W, -O...) or another program
    if os.path.realpath(sys.argv[0]) != script:
        return None
    omp1 = os.environ.get("DLBS_TEST_FORKSERVER_OMP1")
    if omp1 and os.environ.get("OMP_NUM_THREADS") == "1":
        path = omp1
    return path, unbuffered


#: Signals forwarded to the child (the ones a runner, a shell, Slurm or a user sends).
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")


def _request(unbuffered: bool) -> bytes:
    import json
    import resource
    import signal

    ignored = [name for name in FORWARDED + ("SIGPIPE",)
               if signal.getsignal(getattr(signal, name)) == signal.SIG_IGN]
    mask = os.umask(0)
    os.umask(mask)
    limits = {name: list(resource.getrlimit(getattr(resource, name)))
              for name in ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_NOFILE", "RLIMIT_CPU",
                           "RLIMIT_FSIZE", "RLIMIT_STACK", "RLIMIT_CORE")}
    body = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": mask,
            "ignored": ignored, "limits": limits, "executable": sys.executable,
            "prefix": sys.prefix, "pid": os.getpid(),
            "affinity": sorted(os.sched_getaffinity(0)), "nice": os.nice(0),
            "unbuffered": unbuffered}
    data = json.dumps(body).encode()
    return len(data).to_bytes(8, "big") + data


def _recv_exactly(sock: object, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        part = sock.recv(size - len(chunks))  # type: ignore[attr-defined]
        if not part:
            raise EOFError
        chunks += part
    return chunks


def _main() -> None:
    wanted = _wanted()
    if wanted is None:
        return
    path, unbuffered = wanted
    import array
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)     # the handshake: a server that does not answer is no server
    try:
        sock.connect(path)
        fds = array.array("i", [0, 1, 2])
        sock.sendmsg([_request(unbuffered)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        answer = _recv_exactly(sock, 1)
        if answer != b"P":
            sock.close()
            return                                   # refused: run as usual
        child = int.from_bytes(_recv_exactly(sock, 8), "big")
    except Exception:  # noqa: BLE001 (no server, or it went: run as usual)
        sock.close()
        return
    # From here this process is the child's stand-in: it never returns to the program
    # (whatever happens, it ends with os._exit).
    try:
        _stand_in(sock, child)
    finally:
        os._exit(1)


def _stand_in(sock: object, child: int) -> None:
    """Forward the signals this process gets to ``child``; end as the child ended."""
    import signal

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except OSError:
            pass

    for name in FORWARDED:
        number = getattr(signal, name)
        if signal.getsignal(number) != signal.SIG_IGN:
            signal.signal(number, forward)
    sock.settimeout(None)  # type: ignore[attr-defined]  # the benchmark takes what it takes
    try:
        status = int.from_bytes(_recv_exactly(sock, 4), "big", signed=True)
    except Exception:  # noqa: BLE001
        os.write(2, b"fork server: the benchmark's child was lost\n")
        os._exit(1)
    if status >= 0:
        os._exit(status)
    number = -status                          # killed by this signal: end the same way
    for name in FORWARDED:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    if number not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    os.kill(os.getpid(), number)
    os._exit(128 + number)

try:
    _main()
except Exception:  # noqa: BLE001, S110 (a fork server problem must never fail the program)
    pass

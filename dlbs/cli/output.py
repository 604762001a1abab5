"""Standard output that fails in one line: ``cannot write to standard output: <reason>``.

Python reports a failed write to stdout as a traceback, and a failed flush of what is still
buffered when the interpreter exits as ``Exception ignored ... OSError`` with exit code 120.
:func:`guarded_stdout` runs a command with ``sys.stdout`` wrapped so that every write error
becomes an :class:`~dlbs.errors.OutputError`, flushes before the command returns, and, once
stdout has failed, points file descriptor 1 at ``/dev/null`` so that nothing fails again at exit.

Conventions (``main`` applies them): a full device (``>/dev/full``) or any other write error is
one line on stderr and exit code 1; a reader that went away (``| head -c1``: ``EPIPE``) and a
closed stdout (``>&-``) are not errors of ours: quiet, and the command's own exit code. This
module knows nothing of the commands.
"""
from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any

from dlbs.errors import OutputError

#: Standard file descriptors reopened on ``/dev/null`` when the caller started us with one
#: closed (``>&-``): Python would leave ``sys.stdout`` ``None`` (``print`` then writes nowhere,
#: ``json.dump`` raises), and the next file opened would take the number, so that a child
#: writing to its stdout would write into it.
STANDARD_FDS = (0, 1, 2)


class GuardedStdout:
    """A text stream over ``stream`` whose write and flush errors are :class:`OutputError`;
    the first is kept in ``failed`` (argparse's ``--help`` swallows it)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.failed: OutputError | None = None

    def write(self, text: str) -> int:
        """Write ``text``; an ``OSError`` becomes an :class:`OutputError`."""
        try:
            return self.stream.write(text)
        except OutputError:
            raise
        except OSError as err:
            raise self._fail(err) from None

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line (through :meth:`write`)."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush; an ``OSError`` becomes an :class:`OutputError`."""
        try:
            self.stream.flush()
        except OutputError:
            raise
        except OSError as err:
            raise self._fail(err) from None

    def _fail(self, err: OSError) -> OutputError:
        """Remember the first failure and return it as an :class:`OutputError`."""
        if self.failed is None:
            self.failed = OutputError(err.errno or errno.EIO, err.strerror or str(err))
        return self.failed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class WatchedStderr:
    """``sys.stderr`` that notes whether anything was written to it (``wrote``): a command
    that exits non-zero having said nothing gets a line of its own (:func:`said_on_failure`)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.wrote = False

    def write(self, text: str) -> int:
        """Write ``text`` and note it when it holds more than white space."""
        if text.strip():
            self.wrote = True
        return self.stream.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line (through :meth:`write`)."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def said_on_failure(command: Callable[[], int], what: str) -> int:
    """Run ``command`` and return its exit code; when that is not 0 and the command wrote
    nothing on stderr, say so in one line (``error: WHAT ended with exit status N without a
    message ...``): every exit status other than 0 comes with a line that says why, even when
    a path forgot to (a bug to report). A child process writing to file descriptor 2 directly
    is not seen: the line may then follow the child's own."""
    watched = WatchedStderr(sys.stderr)
    sys.stderr = watched  # type: ignore[assignment]
    try:
        code = command()
    finally:
        if sys.stderr is watched:
            sys.stderr = watched.stream
    if code and not watched.wrote:
        say(f"error: {what} ended with exit status {code} without a message (a fault of "
            "dlbs: run it again with --debug and report what it prints)")
    return code


def reopen_closed_standard_fds() -> None:
    """Open ``/dev/null`` on each of fds 0, 1, 2 that is closed, and give Python a stream
    for a ``sys.stdin``/``stdout``/``stderr`` that was ``None`` because of it."""
    for fd in STANDARD_FDS:
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115


def discard_stdout() -> None:
    """Point fd 1 (and so what is left in Python's buffer) at ``/dev/null``: the flush at
    interpreter exit then succeeds instead of printing ``Exception ignored``."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except (OSError, ValueError):
        fd = 1
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def say(line: str) -> None:
    """Print one line on stderr; a stderr that cannot be written loses it (no traceback)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def guarded_stdout(command: Callable[[], int]) -> int:
    """Run ``command`` with stdout guarded (see the module docstring); return its exit code,
    or 1 when stdout could not be written (0 for a reader that went away)."""
    reopen_closed_standard_fds()
    saved = sys.stdout
    guard = GuardedStdout(saved)
    sys.stdout = guard  # type: ignore[assignment]
    try:
        try:
            return command()
        finally:  # also on SystemExit (argparse's --help, usage errors)
            guard.flush()  # what is buffered; at exit a failure would be no message
            if guard.failed is not None:  # a write that failed and was swallowed
                raise guard.failed
    except OutputError as err:
        return _failed(err)
    except BrokenPipeError:  # written past the guard (sys.__stdout__): the reader went away
        discard_stdout()
        return 0
    finally:
        sys.stdout = saved


def _failed(err: OutputError) -> int:
    """Stdout failed: quiet with exit 0 for a reader that went away, else one line, exit 1."""
    discard_stdout()
    if err.errno == errno.EPIPE:
        return 0
    say(f"error: {err}")
    return 1

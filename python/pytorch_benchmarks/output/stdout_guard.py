"""The benchmark's stdout: a guard around an entry point, and the few writes that go there.

Responsibility: a stdout that cannot be written (``>/dev/full``, a closed descriptor, a reader
that went away) is one line on stderr and exit 1, never a traceback (:func:`guard_stdout`, the
benchmark's own copy of what ``dlbs`` does for its commands); :func:`print_lines` prints a
listing and :func:`stdout_is_terminal` says whether a person reads stdout. Standard library
only; it knows no flag and no fact.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import IO


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (a person reads it)."""
    try:
        return bool(sys.stdout is not None and sys.stdout.isatty())
    except (OSError, ValueError):
        return False


def print_lines(lines: Sequence[str], stream: IO[str] | None = None) -> None:
    """Print ``lines`` one a line (used by --list_models) and flush; a stdout that cannot be
    written is :func:`guard_stdout`'s to report (one line, exit 1)."""
    out = stream or sys.stdout
    if out is None:  # started with stdout closed (>&-): the lines go nowhere, as to /dev/null
        return
    out.write("".join(f"{line}\n" for line in lines))
    out.flush()


class StdoutGuard:
    """``sys.stdout`` while :func:`guard_stdout` runs: the first write or flush error is kept
    in ``error`` (argparse's ``--help`` swallows it) and descriptor 1 is pointed at
    ``/dev/null`` at once, so that nothing fails again (nor at interpreter exit)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        """Write ``text``; an ``OSError`` is kept, then raised."""
        try:
            return self.stream.write(text)
        except OSError as err:
            self.fail(err)
            raise

    def flush(self) -> None:
        """Flush; an ``OSError`` is kept, then raised."""
        try:
            self.stream.flush()
        except OSError as err:
            self.fail(err)
            raise

    def fail(self, err: OSError) -> None:
        """Keep the first error; what is still buffered goes to ``/dev/null``."""
        if self.error is None:
            self.error = err
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # not a descriptor (a test's capture): nothing to point
            return
        _point_at_devnull(fd)

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def _point_at_devnull(fd: int) -> None:
    """Open ``/dev/null`` on descriptor ``fd``."""
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def guard_stdout(command: Callable[[], int]) -> int:
    """Run an entry point with a guarded stdout, flushed before returning, and return its exit
    code. A stdout that could not be written (``>/dev/full``): one line ``error: cannot write
    to standard output: <reason>`` on stderr and exit 1 (the command's code when it failed on
    its own); a reader that went away (``| head``, EPIPE) is quiet. A standard descriptor that
    was closed (``>&-``) is opened on ``/dev/null`` first: the next file opened must not take
    its number. The benchmark's own copy of what ``dlbs`` does for its commands."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            _point_at_devnull(fd)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    saved = sys.stdout
    guard = StdoutGuard(saved)
    sys.stdout = guard  # type: ignore[assignment]
    code: int | str | None = 0
    try:
        try:
            code = command()
        except SystemExit as exc:  # argparse's --help, --version and usage errors
            code = exc.code
        except OSError as err:
            if guard.error is None or err.errno != guard.error.errno:
                raise
            code = 0  # stdout failed (kept in guard.error): said below
        try:
            guard.flush()
        except OSError:
            pass  # kept in guard.error
    finally:
        sys.stdout = saved
    if isinstance(code, str):  # sys.exit("message")
        print(code, file=sys.stderr, flush=True)
        code = 1
    code = code or 0
    if guard.error is None or isinstance(guard.error, BrokenPipeError):
        return code
    try:
        print(f"error: cannot write to standard output: "
              f"{guard.error.strerror or guard.error}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return code or 1

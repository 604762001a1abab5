"""One runner per log folder: an advisory lock (``flock``) on ``<folder>/.dlbs-run.lock``.

Two ``experimenter run`` over the same folder would each see the other's ``.part`` as a stale
run and start the experiment a second time beside it. The lock is held for the whole sweep
and released by the kernel when the process ends, however it ends (kill -9 included), so a
stale lock file never blocks anything. The file holds the holder's pid and command line, for
the message the second runner prints: the command line with its secrets hidden
(:func:`dlbs.redact.redact_argv`: a ``--db`` URL's password), in a file only its owner may
read (0600), emptied when the runner lets go. A link, FIFO, directory or hard link planted at the
lock's name is refused in one line naming it (never followed, never truncated).
"""
from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from safeio import UnsafeFileError, open_for_update

from dlbs.errors import RunError
from dlbs.redact import redact_argv, redact_text

LOCK_NAME = ".dlbs-run.lock"


class FolderLocks:
    """Exclusive locks on a set of log folders, taken in sorted order (no deadlock)."""

    def __init__(self, folders: Iterable[str | Path]) -> None:
        self.folders = sorted({Path(f).resolve() for f in folders})
        self._fds: list[int] = []

    def acquire(self) -> None:
        """Lock every folder, or raise a one-line RunError naming the runner that holds one."""
        try:
            for folder in self.folders:
                self._fds.append(_lock(folder))
        except BaseException:
            self.release()
            raise

    def renew(self, folder: str | Path) -> None:
        """Lock ``folder`` again if its lock file went away with it (a folder removed during
        the sweep and recreated for the next log): otherwise a second runner could enter it.
        Raise RunError when another runner took it meanwhile."""
        resolved = Path(folder).resolve()
        for i, held in enumerate(self.folders):
            if held != resolved or i >= len(self._fds):
                continue
            try:
                gone = os.fstat(self._fds[i]).st_nlink == 0
            except OSError:
                gone = True
            if gone:
                os.close(self._fds[i])
                self._fds[i] = _lock(held)

    def release(self) -> None:
        """Unlock (closing the descriptors releases the locks); the holder's line is
        removed first, so that no command line stays behind."""
        for fd in self._fds:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass  # the folder went away, or a read-only file system: the lock ends all the same
            os.close(fd)
        self._fds.clear()


def _lock(folder: Path) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = open_for_update(folder / LOCK_NAME, mode=0o600)  # a link, FIFO, directory: refused
    except UnsafeFileError as err:
        raise RunError(f"cannot use the log folder {folder}: {err}") from None
    except OSError as err:
        raise RunError(f"cannot use the log folder {folder}: {err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").split("\n", 1)[0].strip()
        holder = redact_text(holder)  # a file an older dlbs wrote may hold a password
        os.close(fd)
        raise RunError(f"another 'experimenter run' ({holder or 'pid unknown'}) is using the log "
                       f"folder {folder}; wait for it to end, or give this run another "
                       "exp.log_dir") from None
    try:
        os.fchmod(fd, 0o600)  # a lock file of an older dlbs was 0644
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {holder_line(sys.argv)}\n".encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same; only the message loses the pid
    return fd


def holder_line(argv: list[str]) -> str:
    """The command line a lock file records: secrets hidden, at most 300 characters."""
    return " ".join(redact_argv(argv))[:300]

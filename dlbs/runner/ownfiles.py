"""The files the runner writes beside a log, in a folder others may share: refuse what was
planted there.

A log folder may be writable by others (a shared ``/scratch/logs``). Anything found at a name
the runner is about to write (the log, its ``.part``, the launch script, a Slurm job record)
that is a symbolic link, a hard link, a FIFO, a socket, a device or a directory was not left
by a runner: it is refused, that experiment fails with one line naming the path, and nothing
is written through it. A log whose folder resolves outside the resolved ``exp.log_dir`` (a
sub-folder planted as a link to ``/etc``, or ``..`` in the name) is refused the same way,
before any folder is made: ``validate`` says so before a sweep, this module again at write
time (a link planted meanwhile, ``run --no-validation``). The opens themselves never follow a
link either (``safeio``); these checks make the refusal early and whole.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from safeio import UnsafeFileError, check_writable_target

from dlbs.experiment import Experiment


def folder_escape(exp: Experiment) -> UnsafeFileError | None:
    """Why ``exp``'s log may not be written (its folder resolves outside ``exp.log_dir``), or
    None. Only a log named under ``exp.log_dir`` is checked (as ``validate`` does): a log the
    user names elsewhere is where the user wants it."""
    log_dir, log_file = exp.log_dir, exp.log_file
    if not log_dir or not log_file.startswith(log_dir):
        return None
    root = os.path.realpath(log_dir)
    folder = os.path.realpath(os.path.dirname(log_file) or os.curdir)
    if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return UnsafeFileError(errno.EXDEV, f"resolves to '{folder}', outside exp.log_dir "
                           f"'{log_dir}' ('{root}'; a symbolic link or '..' in the path): "
                           "refusing to write the log there", os.path.dirname(log_file))


def check_log_paths(exp: Experiment, *files: str | Path) -> None:
    """Raise :class:`UnsafeFileError` naming the first planted thing among ``exp``'s log
    folder and ``files`` (see the module docstring)."""
    escape = folder_escape(exp)
    if escape is not None:
        raise escape
    for path in files:
        check_writable_target(path)


def remove_ours(*paths: Path) -> None:
    """Remove files the runner made that must not be left behind (a full disk). Only a regular
    file of one link is removed: whatever else is at such a name was planted, and is left for
    its owner to see. A file already gone is fine."""
    for path in paths:
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                os.unlink(path)
        except OSError:
            pass

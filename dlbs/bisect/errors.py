"""The errors of ``dlbs bisect`` (part of dlbs's hierarchy: one line, exit code 1)."""
from __future__ import annotations

from dlbs.errors import DLBSError


class BisectError(DLBSError):
    """A bisection cannot start or go on: not a git repository, an unknown revision, good not
    an ancestor of bad, a setup command or a good revision's runs that failed."""


class SkipRevision(Exception):
    """A candidate revision cannot be measured (its setup command or its runs failed): the
    bisection leaves it out, as ``git bisect skip`` does. ``str(err)`` says why."""

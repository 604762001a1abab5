"""The exception hierarchy of dlbs: every error a user can cause is one of these.

A message says what went wrong, where (file, parameter, line) and what to do, on one line.
The CLI prints ``error: <message>`` on stderr and exits with ``exit_code``; it shows a
traceback only with ``--debug``. This module imports nothing but the standard library so that
the pure engine can depend on it.
"""
from __future__ import annotations


class DLBSError(Exception):
    """Base of every user-facing dlbs error; ``str(err)`` is the one-line message."""

    exit_code: int = 1


class UsageError(DLBSError):
    """A malformed command line (unknown action, ``-P`` without ``=``, bad option value)."""

    exit_code = 2


class ConfigError(DLBSError):
    """A configuration file or value cannot be loaded or merged (malformed JSON/YAML, bad type)."""


class PlanError(DLBSError):
    """An experiment plan cannot be built (bad variable, bad extension, non-constant condition)."""


class ExpansionError(DLBSError):
    """A parameter cannot be expanded: undefined reference, cycle, bad expression, cast, domain.

    ``param`` names the parameter whose value failed, when there is one.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ValidationError(DLBSError):
    """An expanded plan is not runnable (missing model, docker engine absent, image missing)."""


class RunError(DLBSError):
    """The runner cannot start or record an experiment (log dir not writable, bad launcher)."""


class LogFormatError(DLBSError):
    """A log or parsed-results file cannot be read."""


class ReportError(DLBSError):
    """A report cannot be built from the given results (no data, unknown column)."""


class OutputError(DLBSError, OSError):
    """Standard output cannot be written (a full disk, ``/dev/full``): ``str(err)`` is
    ``cannot write to standard output: <reason>``. An ``OSError`` too, so that code which
    tolerates a lost terminal (``dlbs.runner.progress.SafeStream``) tolerates this as well."""

    def __str__(self) -> str:
        return f"cannot write to standard output: {self.strerror or 'write failed'}"

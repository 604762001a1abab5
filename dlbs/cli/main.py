"""Entry point of ``dlbs``/``experimenter``/``logparser``: dispatches the action to its module.

The action is the first argument (DLBS style: ``experimenter print -Pexp.model=resnet50``).
Each subcommand lives in its own module exposing ``HELP`` (one line), ``EXAMPLE`` (a command
line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
action is used, so ``print`` never pays for torch or pandas. Data goes to stdout, diagnostics to
stderr; a user error (a ``DLBSError``) is one line on stderr and exit code 1 (2 for usage),
with a traceback only under ``--debug``. Every error, usage error, log line and warning is
printed with its secrets hidden (:func:`dlbs.redact.redact_text`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from types import ModuleType, TracebackType
from typing import NoReturn, TextIO

from dlbs.cli.output import guarded_stdout, said_on_failure, say
from dlbs.errors import DLBSError, OutputError
from dlbs.extras import missing_line
from dlbs.redact import redact_text

#: action name -> module that implements it (imported lazily).
COMMANDS: dict[str, str] = {
    "print": "dlbs.cli.print_plan",
    "build": "dlbs.cli.build_plan",
    "validate": "dlbs.cli.validate",
    "print-config": "dlbs.cli.print_config",
    "help": "dlbs.cli.help_params",
    "sysinfo": "dlbs.cli.sysinfo",
    "run": "dlbs.cli.run",
    "status": "dlbs.cli.status",
    "serve": "dlbs.cli.serve",
    "parse": "dlbs.cli.parse",
    "report": "dlbs.cli.report",
    "db": "dlbs.cli.db",
    "history": "dlbs.cli.history",
    "regressions": "dlbs.cli.regressions",
    "bisect": "dlbs.cli.bisect",
    "accept": "dlbs.cli.accept",
}


def load_command(action: str) -> ModuleType:
    """Import and return the module implementing ``action``."""
    return importlib.import_module(COMMANDS[action])


def _usage() -> str:
    lines = ["usage: experimenter ACTION [options]   (also: dlbs ACTION, python -m dlbs.experimenter)",
             "", "actions:"]
    for action in COMMANDS:
        try:
            summary = load_command(action).HELP
        except ImportError as err:
            summary = missing_line(err) or "(not available in this build)"
        lines.append(f"  {action:<13} {summary}")
    lines += ["", "Run 'experimenter ACTION --help' for the options and an example of each action;",
              "'experimenter --version' for the version."]
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors hide secrets: they quote the words they could not
    place (``unrecognized arguments: --dbb postgresql://me:PASSWORD@host/db``)."""

    def error(self, message: str) -> NoReturn:
        super().error(redact_text(message))


def build_parser(action: str, module: ModuleType, prog: str) -> argparse.ArgumentParser:
    """Return the argument parser of one action, with the options every action shares."""
    parser = Parser(
        prog=f"{prog} {action}" if prog != "logparser" else prog,
        description=module.HELP,
        epilog=f"example:\n  {module.EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--log-level", "--log_level", dest="log_level", default="warning",
                        help="diagnostics level on stderr: debug, info, warning, error")
    module.add_arguments(parser)
    return parser


def _setup_logging(level: str) -> None:
    numeric = getattr(logging, str(level).upper(), None)
    if not isinstance(numeric, int):
        raise DLBSError(f"--log-level '{level}' is not one of debug, info, warning, error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler])
    warnings.showwarning = _show_warning


class RedactingFormatter(logging.Formatter):
    """A log line (and its traceback) with every secret hidden (:func:`redact_text`)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """Python's warning text, with every secret hidden (a library's warning may quote a
    URL)."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    try:
        (file or sys.stderr).write(redact_text(text))
    except OSError:
        pass


def dispatch(action: str, argv: Sequence[str], prog: str = "experimenter") -> int:
    """Run one action with its own arguments and return the exit code. An action whose
    extra is not installed (the database, the serving client) says which in one line, exit 1
    (:mod:`dlbs.extras`)."""
    try:
        module = load_command(action)
    except ModuleNotFoundError as err:
        return _missing_extra(err, action, prog, "--debug" in argv)
    parser = build_parser(action, module, prog)
    args = parser.parse_args(list(argv))
    debug = bool(args.debug) or os.environ.get("DLBS_DEBUG") == "1"
    try:
        _setup_logging(args.log_level)
        return int(module.run(args) or 0)
    except ModuleNotFoundError as err:
        return _missing_extra(err, action, prog, debug)
    except OutputError:
        raise  # main's guard says it in one line (or nothing, for a reader that went away)
    except DLBSError as err:
        if debug:
            say(redact_text(traceback.format_exc().rstrip("\n")))
        # Every error line is redacted here, where it is printed: a message may quote a
        # database URL given where a path or a parameter was expected ('input ... does not
        # exist'). A stderr that cannot be written loses it, not a traceback.
        say(f"error: {redact_text(str(err))}")
        return err.exit_code
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _missing_extra(err: ModuleNotFoundError, action: str, prog: str, debug: bool) -> int:
    """``error: dlbs db: needs the database extra (sqlalchemy is not installed): pip install
    -e '.[db]'`` and exit 1; any other missing module is re-raised (a fault: its traceback)."""
    line = missing_line(err)
    if line is None:
        raise err
    if debug or os.environ.get("DLBS_DEBUG") == "1":
        say(redact_text(traceback.format_exc().rstrip("\n")))
    command = prog if prog == "logparser" else f"{prog} {action}"
    say(f"error: {command}: {line}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``experimenter``/``dlbs`` entry point: ``ACTION [options]``. Standard output that
    cannot be written is one line and exit 1 (``dlbs.cli.output``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    sys.excepthook = _redacted_excepthook
    what = f"{_invoked_as()} {redact_text(args[0])}" if args else _invoked_as()
    return guarded_stdout(lambda: said_on_failure(lambda: _main(args), what))


def _redacted_excepthook(kind: type[BaseException], value: BaseException,
                         tb: TracebackType | None) -> None:
    """The traceback of an error no command expected, with every secret hidden."""
    text = "".join(traceback.format_exception(kind, value, tb))
    say(redact_text(text.rstrip("\n")))


def _main(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version", "version"):
        print(version_line())
        return 0
    action, rest = args[0], args[1:]
    if action not in COMMANDS:
        print(f"error: unknown action '{redact_text(action)}'; choose one of: "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return dispatch(action, rest, prog=_invoked_as())


def _invoked_as() -> str:
    """``dlbs`` when the program was started under that name, else ``experimenter`` (usage
    lines name the command the user typed)."""
    return "dlbs" if os.path.basename(sys.argv[0] or "") == "dlbs" else "experimenter"


def logparser_main(argv: Sequence[str] | None = None) -> int:
    """``logparser`` entry point: the ``parse`` action under its DLBS name."""
    args = list(sys.argv[1:] if argv is None else argv)
    sys.excepthook = _redacted_excepthook
    return guarded_stdout(lambda: said_on_failure(lambda: _logparser_main(args), "logparser"))


def _logparser_main(args: list[str]) -> int:
    if args[:1] in (["-V"], ["--version"]):
        print(version_line())
        return 0
    return dispatch("parse", args, prog="logparser")


def version_line() -> str:
    """``dlbs 0.1.0 (commit abc123, python 3.11.7)``: what ``--version`` prints."""
    import platform
    from pathlib import Path

    from dlbs import PROJECT_ROOT, __version__
    from dlbs.runner.provenance import git_commit
    commit = (git_commit(Path(PROJECT_ROOT)) or "")[:12]
    where = f"commit {commit}, " if commit else ""
    return f"dlbs {__version__} ({where}python {platform.python_version()})"


if __name__ == "__main__":
    sys.exit(main())

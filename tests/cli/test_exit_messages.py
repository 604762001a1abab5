"""Every exit status other than 0 comes with a message on stderr (issue 56, item 8).

Each command of ``dlbs`` is driven through its failure paths: a missing file, a bad value,
input it cannot read, a usage error. Each must exit non-zero with a line of its own that says
why (not the catch-all line of :func:`dlbs.cli.output.said_on_failure`, which is for paths
that forgot to), and no traceback. A command that does return non-zero silently gets the
catch-all line (shown with a stand-in command).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dlbs.cli import main as cli_main
from dlbs.cli.main import COMMANDS

from .conftest import Cli

CATCH_ALL = "without a message"

#: (argv, words the message must hold): at least one failure path of every command.
FAILURES: list[tuple[list[str], str]] = [
    (["print", "--config", "/nonexistent.json"], "config file '/nonexistent.json' not found"),
    (["print", "-Pexp.num_gpus=nan"], "exp.num_gpus"),
    (["build", "--config", "/nonexistent.json"], "not found"),
    (["validate", '-Pexp.model="nosuch"'], "unknown model 'nosuch'"),
    (["print-config", "--config", "/nonexistent.json"], "not found"),
    (["help", "--params", "nosuchgroup"], "no parameter matches 'nosuchgroup'"),
    (["sysinfo", "--nope"], "unrecognized arguments: --nope"),
    (["run", '-Pexp.model="nosuch"', "-Pexp.log_dir=run"], "unknown model 'nosuch'"),
    (["run", "--config", "/nonexistent.json"], "not found"),
    (["status", "--config", "/nonexistent.json"], "not found"),
    (["serve", "--port", "99999"], "99999 is not a port"),
    (["parse", "/nonexistent"], "input '/nonexistent' does not exist"),
    (["parse", "logs"], "not an experiment log"),
    (["report", "/nonexistent"], "does not exist"),
    (["report", "logs"], "not an experiment log"),
    # checked without --compare too (a review of issue 56: '--alpha 2' was taken silently)
    (["report", "logs", "--alpha", "2"], "--alpha 2.0 must be > 0 and < 1"),
    (["report", "logs", "--min_change", "-0.5"], "--min_change -0.5 must be >= 0 and < 1"),
    (["db", "ingest", "logs", "--db", "sqlite:///runs.db"], "stored nothing"),
    (["db", "ingest", "/nonexistent", "--db", "sqlite:///runs.db"], "does not exist"),
    (["db", "exclude", "1", "--db", "sqlite:///runs.db"], "--reason"),
    (["db", "nosuch"], "invalid choice"),
    (["history", "--db", "sqlite:////nonexistent/x.db"], "folder /nonexistent does not exist"),
    (["regressions", "--db", "sqlite:////nonexistent/x.db"], "does not exist"),
    (["bisect", "--repo", ".", "--good", "a", "--bad", "b"], "not a git repository"),
    (["bisect"], "the following arguments are required"),
    (["accept", "x", "--figures", "/nonexistent.json"], "cannot read the figures"),
    (["nosuchaction"], "unknown action 'nosuchaction'"),
]


def test_every_command_has_a_failure_path_here() -> None:
    covered = {argv[0] for argv, _ in FAILURES}
    assert set(COMMANDS) <= covered, sorted(set(COMMANDS) - covered)


@pytest.mark.parametrize(("argv", "words"), FAILURES, ids=[" ".join(a) for a, _ in FAILURES])
def test_a_failure_says_why(cli: Cli, argv: list[str], words: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.log").write_text("not a log\n")
    try:
        result = cli(*argv)
        code, err = result.code, result.err
    except SystemExit as stop:  # argparse's usage errors
        code, err = int(stop.code or 0), capsys.readouterr().err
    assert code != 0, err
    assert words in err, err
    assert CATCH_ALL not in err, err
    assert "Traceback" not in err, err
    assert any(line.startswith(("error:", "usage:", "warning:")) or ": error:" in line
               for line in err.splitlines()), err


def test_a_silent_failure_gets_a_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that returns 3 and writes nothing: main says so in one line."""
    silent = SimpleNamespace(HELP="a stand-in", EXAMPLE="dlbs status",
                             add_arguments=lambda parser: None, run=lambda args: 3)
    monkeypatch.setattr(cli_main, "load_command", lambda action: silent)
    result = cli("status")
    assert result.code == 3
    line = result.error_line()
    assert "status ended with exit status 3 without a message" in line
    assert "--debug" in line


def test_a_failure_that_spoke_gets_no_second_line(cli: Cli,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    def spoke(args: object) -> int:
        print("warning: something went wrong", file=sys.stderr)
        return 1

    loud = SimpleNamespace(HELP="a stand-in", EXAMPLE="dlbs status",
                           add_arguments=lambda parser: None, run=spoke)
    monkeypatch.setattr(cli_main, "load_command", lambda action: loud)
    result = cli("status")
    assert result.code == 1
    assert result.err.strip() == "warning: something went wrong"


def test_a_success_gets_no_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = SimpleNamespace(HELP="a stand-in", EXAMPLE="dlbs status",
                            add_arguments=lambda parser: None, run=lambda args: 0)
    monkeypatch.setattr(cli_main, "load_command", lambda action: quiet)
    result = cli("status")
    assert (result.code, result.err) == (0, "")

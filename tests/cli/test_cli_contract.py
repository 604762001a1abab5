"""Every CLI command is documented (HELP, EXAMPLE) and answers --help; plan actions share options."""
from __future__ import annotations

from typing import Any

import pytest

from dlbs.cli.main import COMMANDS, build_parser, load_command, main

PLAN_ACTIONS = ("print", "build", "validate", "run")
DLBS_OPTIONS = ("--config", "--plan", "-P", "-V", "-E", "--log-level", "--log_level",
                "--discard-default-config", "--no-validation", "--progress-file", "--debug")


@pytest.mark.parametrize("action", list(COMMANDS))
def test_command_has_help_example_add_arguments_and_run(action: str) -> None:
    module = load_command(action)
    assert isinstance(module.HELP, str) and module.HELP.strip() and "\n" not in module.HELP
    assert isinstance(module.EXAMPLE, str)
    assert module.EXAMPLE.split()[0] in ("experimenter", "dlbs", "logparser")
    assert callable(module.add_arguments) and callable(module.run)


@pytest.mark.parametrize("action", list(COMMANDS))
def test_help_option_prints_usage_and_example(action: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main([action, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    assert load_command(action).EXAMPLE in out


@pytest.mark.parametrize("action", PLAN_ACTIONS)
def test_plan_actions_accept_every_dlbs_option(action: str) -> None:
    parser = build_parser(action, load_command(action), "experimenter")
    options = {option for act in parser._actions for option in act.option_strings}
    assert set(DLBS_OPTIONS) <= options


def test_usage_lists_every_action(capsys: Any) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for action in COMMANDS:
        assert f"  {action} " in out


def test_unknown_action_is_a_usage_error(capsys: Any) -> None:
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown action 'frobnicate'")

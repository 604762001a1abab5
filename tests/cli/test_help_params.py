"""``experimenter help``: search parameters; docs/parameters.md is generated from the configs."""
from __future__ import annotations

import os
from typing import Any

import pytest

import dlbs

PARAMETERS_MD = dlbs.PROJECT_ROOT / "docs" / "parameters.md"


def test_params_regex_shows_name_type_default_domain_and_description(cli: Any) -> None:
    result = cli("help", "--params", r"exp\.phase$")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == ('exp.phase  [str]  default: "training"  (one of: training, inference, serve)')
    assert lines[1].startswith("    Phase to benchmark")


def test_several_patterns_and_text_search(cli: Any) -> None:
    out = cli("help", "--params", "^exp.num_gpus$", "^exp.num_nodes$", "--text", "shell").out
    names = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert {"exp.num_gpus", "exp.num_nodes", "runtime.launcher"} <= set(names)
    assert "exp.model" not in names


def test_text_search_ignores_case(cli: Any) -> None:
    out = cli("help", "--text", "CUDNN").out
    assert "pytorch.cudnn_benchmark  [bool]  default: true" in out


def test_no_pattern_lists_every_parameter(cli: Any) -> None:
    out = cli("help").out
    names = {line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")}
    assert {"exp.model", "pytorch.bench_path", "sys.timestamp"} <= names


def test_no_match_is_an_error(cli: Any) -> None:
    result = cli("help", "--params", "no_such_thing")
    assert result.code == 1
    assert result.error_line() == ("error: no parameter matches 'no_such_thing'; run "
                                   "'experimenter help' to list them all")


def test_a_misspelt_name_gets_the_closest_parameter(cli: Any) -> None:
    """A newcomer's review (issue 58): -P suggested names, help --params did not."""
    result = cli("help", "--params", "exp.replica_bach")
    assert result.code == 1
    assert result.error_line() == ("error: no parameter matches 'exp.replica_bach'; did you "
                                   "mean 'exp.replica_batch'?")


def test_bad_regex_is_a_usage_error(cli: Any) -> None:
    result = cli("help", "--params", "exp.(")
    assert result.code == 2 and "--params 'exp.(': not a valid regular expression" \
        in result.error_line()


def test_user_config_parameters_are_searchable(cli: Any, write: Any) -> None:
    path = write("c.json", {"parameters": {"my.param": {"val": 3, "type": "int",
                                                        "desc": "My own knob."}}})
    out = cli("help", "--config", path, "--params", "^my").out
    assert out == "my.param  [int]  default: 3\n    My own knob.\n"


def test_markdown_reference_is_up_to_date(cli: Any) -> None:
    """docs/parameters.md is generated; DLBS_REGENERATE=1 rewrites it."""
    markdown = cli("help", "--markdown").out
    assert markdown.startswith("# Parameters\n") and "| `exp.model` | str | `\"\"` |" in markdown
    if os.environ.get("DLBS_REGENERATE") == "1":
        PARAMETERS_MD.write_text(markdown, encoding="utf-8")
    if not PARAMETERS_MD.exists():
        pytest.fail("docs/parameters.md is missing: run with DLBS_REGENERATE=1")
    assert PARAMETERS_MD.read_text(encoding="utf-8") == markdown, \
        "docs/parameters.md is stale: run python -m dlbs.cli.help_params --markdown > " \
        "docs/parameters.md (or this test with DLBS_REGENERATE=1)"


def test_regex_with_a_too_large_repetition_is_a_one_line_error(cli: Any) -> None:
    result = cli("help", "--params", "a{99999999999}")
    assert result.code == 2
    assert "not a valid regular expression: the repetition number is too large" \
        in result.error_line()

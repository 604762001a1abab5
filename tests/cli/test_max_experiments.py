"""``--max-experiments``: the commands that expand a plan refuse one past the limit, repeats
included; ``print --count`` stays exact and is never refused (tests/faults has the 8-million
case)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SMALL = ("-Pexp.gpus=", "-Pexp.model=deep_mnist", "-Vexp.replica_batch=[1, 2, 3]",
         "-Vexp.num_batches=[1, 2]")


@pytest.mark.parametrize("command", ["validate", "print", "build"])
def test_max_experiments_sets_the_limit(cli: Any, command: str) -> None:
    refused = cli(command, *SMALL, "--max-experiments", "5")
    assert "more than 5 experiments (at least 6)" in refused.error_line()
    assert cli(command, *SMALL, "--max-experiments", "6").code == 0
    assert cli(command, *SMALL, "--max-experiments", "0").code == 0  # no limit


def test_repeats_count_toward_the_limit(cli: Any) -> None:
    assert cli("print", "--count", *SMALL, "-Pexp.repeat=2").out == "12\n"
    refused = cli("print", *SMALL, "-Pexp.repeat=2", "--max-experiments", "11")
    assert "more than 11 experiments" in refused.error_line() and refused.out == ""


def test_computed_repeats_stop_at_the_limit(cli: Any) -> None:
    computed = "-Pexp.repeat=$(1 + ${exp.num_batches})$"  # 2 and 3 runs: 15 in all
    assert cli("print", "--count", *SMALL, computed).out == "15\n"
    refused = cli("validate", *SMALL, computed, "--max-experiments", "14")
    assert "more than 14 experiments" in refused.error_line()
    assert cli("validate", *SMALL, computed, "--max-experiments", "15").code == 0


def test_a_plan_file_past_the_limit_is_refused(cli: Any, tmp_path: Path) -> None:
    assert cli("build", *SMALL, "--plan", tmp_path / "plan.json").code == 0
    refused = cli("validate", "--plan", tmp_path / "plan.json", "--max-experiments", "5")
    assert "more than 5 experiments (at least 6)" in refused.error_line()
    assert cli("print", "--count", "--plan", tmp_path / "plan.json",
               "--max-experiments", "5").out == "6\n"  # counting is never refused


def test_max_experiments_must_be_a_count(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("validate", *SMALL, "--max-experiments", "-1")
    assert info.value.code == 2
    assert "--max-experiments/--max_experiments: -1 is out of range" in capsys.readouterr().err

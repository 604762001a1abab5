"""``exp.repeat``: runs of each experiment, interleaved across the sweep, sharing ``exp.id``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlbs.config import load_default_configs
from dlbs.engine import build_plan, expand_plan, merge_configs
from dlbs.errors import ExpansionError

MODELS = {"exp.model": ["a", "b"]}
Expanded = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def expanded() -> Expanded:
    """Expand a plan over the default configs (they define exp.repeat and the log file)."""
    def expand(parameters: dict[str, Any], variables: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
        raw: dict[str, Any] = {"parameters": {"exp.gpus": "", **parameters}}
        if variables:
            raw["variables"] = variables
        config = merge_configs([*load_default_configs(), ("test.json", raw)])
        environ = {"DLBS_ROOT": "/r", "DLBS_PYTHON": "python3", "PWD": "/w"}
        return list(expand_plan(build_plan(config), config.specs, environ))
    return expand


@pytest.mark.parametrize("params,variables,expected", [
    pytest.param({"exp.repeat": 1}, MODELS, [("a", 0), ("b", 0)], id="one-run"),
    pytest.param({"exp.repeat": 3}, MODELS,
                 [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)], id="interleaved"),
    pytest.param({}, {**MODELS, "exp.repeat": [1, 2]},
                 [("a", 0), ("a", 0), ("b", 0), ("b", 0), ("a", 1), ("b", 1)], id="variable"),
    pytest.param({"exp.repeat": "$(2 if '${exp.model}' == 'b' else 1)$"}, MODELS,
                 [("a", 0), ("b", 0), ("b", 1)], id="computed"),
])
def test_runs_are_interleaved(expanded: Expanded, params: dict[str, Any],
                              variables: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    plan = expanded(params, variables=variables)
    assert [(e["exp.model"], e["exp.repeat_index"]) for e in plan] == expected


def test_runs_share_the_id_and_get_their_own_log(expanded: Expanded) -> None:
    plan = expanded({"exp.repeat": 2, "exp.log_dir": "/l"}, variables=MODELS)
    by_model = {m: [e for e in plan if e["exp.model"] == m] for m in "ab"}
    for runs in by_model.values():
        assert len({e["exp.id"] for e in runs}) == 1
        assert [e["exp.log_file"][-7:] for e in runs] == ["_r0.log", "_r1.log"]
    assert by_model["a"][0]["exp.id"] != by_model["b"][0]["exp.id"]


def test_one_run_keeps_todays_log_name_and_more_runs_keep_the_first_names(
        expanded: Expanded) -> None:
    one = expanded({"exp.log_dir": "/l", "exp.model": "a"})[0]
    assert one["exp.log_file"].endswith(f"_{one['exp.id']}.log")
    three = expanded({"exp.log_dir": "/l", "exp.model": "a", "exp.repeat": 3})
    five = expanded({"exp.log_dir": "/l", "exp.model": "a", "exp.repeat": 5})
    assert [e["exp.log_file"] for e in five[:3]] == [e["exp.log_file"] for e in three]
    assert one["exp.id"] == three[0]["exp.id"]


@pytest.mark.parametrize("value", [0, -1, "x", True], ids=["zero", "negative", "text", "bool"])
def test_a_bad_repeat_names_the_parameter(expanded: Expanded, value: Any) -> None:
    with pytest.raises(ExpansionError, match="exp.repeat"):
        expanded({"exp.model": "a", "exp.repeat": value})

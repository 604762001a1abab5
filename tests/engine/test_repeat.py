"""``exp.repeat``: runs of each experiment, interleaved across the sweep, sharing ``exp.id``.

The order of the runs themselves (``exp.interleave``: random rounds by default) is tested in
``test_rounds.py``; the tables here pin the round-robin order with ``exp.interleave=fixed``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dlbs.config import load_default_configs
from dlbs.engine import build_plan, expand_experiment, expand_plan, merge_configs
from dlbs.errors import ExpansionError

MODELS = {"exp.model": ["a", "b"]}
ENVIRON = {"DLBS_ROOT": "/r", "DLBS_PYTHON": "python3", "PWD": "/w"}
Expanded = Callable[..., list[dict[str, Any]]]
B_TWICE = {"condition": {"exp.model": "b"}, "parameters": {"exp.repeat": 2}}


def _config(parameters: dict[str, Any], variables: dict[str, Any] | None = None,
            extensions: list[dict[str, Any]] | None = None) -> Any:
    raw: dict[str, Any] = {"parameters": {"exp.gpus": "", "exp.log_dir": "/l", **parameters},
                           "variables": variables or {}, "extensions": extensions or []}
    return merge_configs([("test.json", raw)], defaults=load_default_configs())


@pytest.fixture
def expanded() -> Expanded:
    """Expand a plan over the default configs (they define exp.repeat and the log file)."""
    def expand(parameters: dict[str, Any], variables: dict[str, Any] | None = None,
               extensions: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        config = _config(parameters, variables, extensions)
        return list(expand_plan(build_plan(config), config.specs, ENVIRON))
    return expand


# Issue 19 made random rounds the default order of repeated runs; these cases pinned the
# round-robin order that was the default before, which ``exp.interleave=fixed`` keeps exactly.
FIXED = {"exp.interleave": "fixed"}


@pytest.mark.parametrize("params,variables,extensions,expected", [
    pytest.param({}, MODELS, None, [("a", 0), ("b", 0)], id="default-one-run"),
    pytest.param({"exp.repeat": 1}, MODELS, None, [("a", 0), ("b", 0)], id="one-run"),
    pytest.param({"exp.repeat": 3}, MODELS, None,
                 [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)], id="interleaved"),
    pytest.param({"exp.repeat": "3"}, {"exp.model": ["a"]}, None, [("a", 0), ("a", 1), ("a", 2)],
                 id="string-cast"),
    pytest.param({}, {**MODELS, "exp.repeat": [1, 2]}, None,
                 [("a", 0), ("a", 0), ("b", 0), ("b", 0), ("a", 1), ("b", 1)], id="variable"),
    pytest.param({"exp.repeat": "$(2 if '${exp.model}' == 'b' else 1)$"}, MODELS, None,
                 [("a", 0), ("b", 0), ("b", 1)], id="computed"),
    pytest.param({}, {"exp.model": ["a", "b", "c"]}, [B_TWICE],
                 [("a", 0), ("b", 0), ("c", 0), ("b", 1)], id="extension"),
    pytest.param({"exp.repeat": "$(3 if '${exp.model}' == 'a' else 2)$"}, MODELS, None,
                 [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)], id="fewer-runs-drop-out"),
    pytest.param({"exp.repeat": 3, "exp.repeat_index": 2}, MODELS, None, [("a", 2), ("b", 2)],
                 id="a-given-run-stays-one"),
])
def test_fixed_runs_are_interleaved_round_robin(expanded: Expanded, params: dict[str, Any],
                                                variables: dict[str, Any],
                                                extensions: list[dict[str, Any]] | None,
                                                expected: list[tuple[str, int]]) -> None:
    plan = expanded({**params, **FIXED}, variables, extensions)
    assert [(e["exp.model"], e["exp.repeat_index"]) for e in plan] == expected
    assert len({e["exp.log_file"] for e in plan}) == len(plan)


def test_runs_share_the_id_and_get_their_own_log(expanded: Expanded) -> None:
    plan = expanded({"exp.repeat": 2}, MODELS)
    by_model = {m: [e for e in plan if e["exp.model"] == m] for m in "ab"}
    for model, runs in by_model.items():
        run_id = runs[0]["exp.id"]
        assert [e["exp.id"] for e in runs] == [run_id, run_id]
        assert [e["exp.log_file"] for e in runs] == [
            f"/l/pytorch_cpu_{model}_b16_{run_id}_r{index}.log" for index in (0, 1)]
    assert by_model["a"][0]["exp.id"] != by_model["b"][0]["exp.id"]


def test_one_run_keeps_todays_log_name_and_more_runs_keep_the_first_names(
        expanded: Expanded) -> None:
    one = expanded({"exp.model": "a"})[0]
    assert one["exp.log_file"] == f"/l/pytorch_cpu_a_b16_{one['exp.id']}.log"
    three = expanded({"exp.model": "a", "exp.repeat": 3})
    five = expanded({"exp.model": "a", "exp.repeat": 5})
    assert [e["exp.log_file"] for e in five[:3]] == [e["exp.log_file"] for e in three]
    assert one["exp.id"] == three[0]["exp.id"] == five[4]["exp.id"]


def test_one_run_expands_each_experiment_as_before() -> None:
    config = _config({}, {**MODELS, "exp.replica_batch": [1, 2]})
    built = list(build_plan(config))
    plan = list(expand_plan(iter(built), config.specs, ENVIRON))
    assert plan == [expand_experiment(e, config.specs, ENVIRON) for e in built]


@pytest.mark.parametrize("params,same", [
    pytest.param({"exp.target_precision": 0.0, "exp.max_time": 0, "exp.cpu_threads": "0"}, True,
                 id="off"),
    pytest.param({"exp.cpu_threads": 2}, False, id="threads"),
    pytest.param({"exp.target_precision": 0.01}, False, id="precision"),
    pytest.param({"exp.max_time": 30.0}, False, id="max-time"),
])
def test_new_parameters_enter_the_id_only_when_set(params: dict[str, Any], same: bool) -> None:
    """An experiment that leaves them off keeps the id it had before they existed."""
    config = _config({"exp.model": "a"})
    experiment = next(build_plan(config))
    older = {k: v for k, v in experiment.items()
             if k not in ("exp.target_precision", "exp.max_time", "exp.cpu_threads",
                          "exp.repeat", "exp.repeat_index", "exp.repeat_suffix",
                          "exp.log_file")}
    expected = expand_experiment(older, config.specs, ENVIRON)["exp.id"]
    actual = expand_experiment({**experiment, **params}, config.specs, ENVIRON)["exp.id"]
    assert (actual == expected) is same


def test_fixed_round_zero_streams_before_the_plan_is_read() -> None:
    """``exp.interleave=fixed`` (the order before issue 19) streams run 0 as it is read; the
    random rounds hold it back (``test_rounds.py``: round 0 is shuffled too)."""
    config = _config({"exp.repeat": 2, **FIXED}, MODELS)
    read: list[str] = []

    def plan() -> Iterator[dict[str, Any]]:
        for experiment in build_plan(config):
            read.append(experiment["exp.model"])
            yield experiment

    runs = expand_plan(plan(), config.specs, ENVIRON)
    assert (next(runs)["exp.model"], read) == ("a", ["a"])


@pytest.mark.parametrize("value,shown", [(0, "0"), (-1, "-1"), (True, "True"), (2.5, "2.5")],
                         ids=["zero", "negative", "bool", "float"])
def test_a_bad_repeat_is_one_line_naming_the_parameter(expanded: Expanded, value: Any,
                                                      shown: str) -> None:
    with pytest.raises(ExpansionError) as err:
        expanded({"exp.model": "a", "exp.repeat": value})
    assert str(err.value) == (f"parameter 'exp.repeat': {shown} is not an integer >= 1 (the runs "
                              "of each experiment); give one, e.g. -Pexp.repeat=3")
    assert err.value.param == "exp.repeat"


def test_a_repeat_that_does_not_cast_names_the_parameter(expanded: Expanded) -> None:
    with pytest.raises(ExpansionError, match="^parameter 'exp.repeat': cannot cast 'x' to int"):
        expanded({"exp.model": "a", "exp.repeat": "x"})


@pytest.mark.parametrize("params,variables", [
    pytest.param({"exp.repeat": 3}, {"exp.model": ["a"], "exp.repeat_index": [0, 1, 2]},
                 id="every-run-given"),
    pytest.param({"exp.repeat": 3}, {"exp.model": ["a"], "exp.repeat_index": [0, 2]},
                 id="some-runs-given"),
])
def test_a_run_the_plan_already_holds_is_not_added_again(expanded: Expanded,
                                                          params: dict[str, Any],
                                                          variables: dict[str, Any]) -> None:
    plan = expanded(params, variables)
    assert sorted(e["exp.repeat_index"] for e in plan) == [0, 1, 2]


def test_an_expanded_plan_expands_to_itself(expanded: Expanded) -> None:
    """``print``'s output used as a plan: the runs are there already, none is added."""
    printed = expanded({"exp.repeat": 2}, MODELS)
    config = _config({})
    assert list(expand_plan(iter(printed), config.specs, ENVIRON)) == printed


@pytest.mark.parametrize("repeat,suffixes", [(1, [""]), (3, ["_r0", "_r1", "_r2"])])
def test_the_repeat_suffix_ends_the_default_log_name(expanded: Expanded, repeat: int,
                                                     suffixes: list[str]) -> None:
    plan = expanded({"exp.model": "a", "exp.repeat": repeat})
    assert [e["exp.repeat_suffix"] for e in plan] == suffixes
    assert [e["exp.log_file"] for e in plan] == [
        f"/l/pytorch_cpu_a_b16_{plan[0]['exp.id']}{suffix}.log" for suffix in suffixes]

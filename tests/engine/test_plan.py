"""build_plan: the variable grid and extensions (spec §2)."""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from dlbs.engine import Config, build_plan, count_plan, merge_configs
from dlbs.errors import PlanError

Plan = list[dict[str, Any]]


def _values(plan: Plan, *names: str) -> list[tuple]:
    return [tuple(exp.get(name) for name in names) for exp in plan]


def test_first_variable_varies_slowest(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(variables={"a": [1, 2], "b": ["x", "y", "z"]})
    assert _values(plan, "a", "b") == [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]


@pytest.mark.parametrize("order", [
    pytest.param(["b"], id="list"),
    pytest.param("b", id="space-joined-string"),
    pytest.param(["b", "not-a-variable", "b"], id="non-variables-and-duplicates-ignored"),
])
def test_var_order_variables_come_first(plan_of: Callable[..., Plan], order: Any) -> None:
    plan = plan_of({"sys.plan_builder.var_order": order}, variables={"a": [1, 2], "b": [3, 4]})
    assert _values(plan, "a", "b") == [(1, 3), (2, 3), (1, 4), (2, 4)]


def test_var_order_lists_several_variables_in_its_order(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"sys.plan_builder.var_order": "c b"},
                   variables={"a": [1, 2], "b": [3, 4], "c": [5, 6]})
    assert _values(plan, "c", "b", "a")[:3] == [(5, 3, 1), (5, 3, 2), (5, 4, 1)]


def test_variable_beats_parameter(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"x": "param", "y": 1}, variables={"x": ["var"]}, params={"x": "cli"})
    assert _values(plan, "x", "y") == [("var", 1)]


def test_no_variables_gives_one_experiment(plan_of: Callable[..., Plan]) -> None:
    assert plan_of({"x": 1}) == [{"x": 1}]


def test_variable_without_values_is_an_error(plan_of: Callable[..., Plan]) -> None:
    with pytest.raises(PlanError, match=r"^variable 'v' has no values; give it at least one value$"):
        plan_of(variables={"v": []})


def test_plan_is_a_lazy_generator() -> None:
    config = merge_configs([("a", {"variables": {"v": list(range(10 ** 6))}})])
    plan = build_plan(config)
    assert isinstance(plan, types.GeneratorType)
    assert next(plan) == {"v": 0}


def _ext(condition: dict, **parts: Any) -> dict:
    return {"condition": condition, **parts}


@pytest.mark.parametrize("condition,value,matches", [
    pytest.param({"x": "resnet"}, "resnet50", True, id="regex-prefix"),
    pytest.param({"x": "caffe"}, "caffe2", True, id="regex-caffe-matches-caffe2"),
    pytest.param({"x": "net"}, "resnet50", False, id="regex-not-searched"),
    pytest.param({"x": "res.*50$"}, "resnet50", True, id="regex-full"),
])
def test_regex_condition_anchored_at_start(plan_of: Callable[..., Plan], condition: dict,
                                           value: str, matches: bool) -> None:
    (exp,) = plan_of({"x": value}, extensions=[_ext(condition, parameters={"hit": True})])
    assert ("hit" in exp) is matches


def test_missing_key_matches_condition(plan_of: Callable[..., Plan]) -> None:
    (exp,) = plan_of({"x": 1}, extensions=[_ext({"absent": "zzz"}, parameters={"hit": 1})])
    assert exp["hit"] == 1


@pytest.mark.parametrize("condition,value,matches", [
    pytest.param(["a", "b"], "b", True, id="list-any-item"),
    pytest.param(["a", "b"], "c", False, id="list-no-item"),
    pytest.param(["a.*"], "abc", False, id="list-items-are-not-regexes"),
    pytest.param([16, 32], 32, True, id="list-of-numbers"),
])
def test_list_condition_matches_any_item(plan_of: Callable[..., Plan], condition: list,
                                         value: Any, matches: bool) -> None:
    (exp,) = plan_of({"x": value}, extensions=[_ext({"x": condition}, parameters={"hit": 1})])
    assert ("hit" in exp) is matches


@pytest.mark.parametrize("condition,value,matches", [
    pytest.param(True, 1, True, id="true-equals-1"),
    pytest.param(16, 16, True, id="int-equal"),
    pytest.param(16, 32, False, id="int-different"),
    pytest.param(16, "16", False, id="int-never-equals-string"),
    pytest.param(0.5, 0.5, True, id="float-equal"),
])
def test_non_string_condition_compares_with_equality(plan_of: Callable[..., Plan],
                                                      condition: Any, value: Any,
                                                      matches: bool) -> None:
    (exp,) = plan_of({"x": value}, extensions=[_ext({"x": condition}, parameters={"hit": 1})])
    assert ("hit" in exp) is matches


@pytest.mark.parametrize("value,matches", [
    pytest.param("", True, id="empty"), pytest.param("abc", False, id="non-empty"),
])
def test_empty_string_condition_matches_only_empty(plan_of: Callable[..., Plan], value: str,
                                                   matches: bool) -> None:
    (exp,) = plan_of({"x": value}, extensions=[_ext({"x": ""}, parameters={"hit": 1})])
    assert ("hit" in exp) is matches


def test_condition_is_an_and_over_its_keys(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(variables={"a": [1, 2], "b": ["x", "y"]},
                   extensions=[_ext({"a": 1, "b": "y"}, parameters={"hit": 1})])
    assert _values(plan, "a", "b", "hit") == [(1, "x", None), (1, "y", 1), (2, "x", None),
                                              (2, "y", None)]


def test_condition_on_list_value_sees_space_joined_string(plan_of: Callable[..., Plan]) -> None:
    (exp,) = plan_of({"x": ["a", 1]}, extensions=[_ext({"x": "a 1$"}, parameters={"hit": 1})])
    assert exp["hit"] == 1


def test_regex_groups_become_condition_captures(plan_of: Callable[..., Plan]) -> None:
    ext = _ext({"exp.model": r"(res)net(\d+)"},
               parameters={"depth": "${__condition.exp.model_2}",
                           "all": ["${__condition.exp.model_0}", "${__condition.exp.model_1}"]},
               cases=[{"c": "${__condition.exp.model_2}x"}])
    (exp,) = plan_of({"exp.model": "resnet50"}, extensions=[ext])
    assert (exp["depth"], exp["all"], exp["c"]) == ("50", ["resnet50", "res"], "50x")
    assert not any(name.startswith("__condition.") for name in exp)


def test_unknown_condition_capture_is_an_error(plan_of: Callable[..., Plan]) -> None:
    ext = _ext({"x": "(a)"}, parameters={"y": "${__condition.x_2}"})
    with pytest.raises(PlanError, match=r"^extension #1: parameter 'y': \$\{__condition.x_2\} is "
                                        r"not captured by the condition"):
        plan_of({"x": "a"}, extensions=[ext])


def test_extension_parameters_are_set_on_match(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"y": 0}, variables={"x": ["a", "b"]},
                   extensions=[_ext({"x": "a"}, parameters={"y": 1, "z": 2})])
    assert _values(plan, "x", "y", "z") == [("a", 1, 2), ("b", 0, None)]


def test_extension_cases_replace_experiment_with_one_copy_per_case(
        plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"p": 0}, variables={"x": ["a", "b"]},
                   extensions=[_ext({"x": "a"}, parameters={"p": 1},
                                    cases=[{"c": 1}, {}, {"c": 3, "p": 9}])])
    assert _values(plan, "x", "p", "c") == [("a", 1, 1), ("a", 1, None), ("a", 9, 3),
                                            ("b", 0, None)]


def test_later_extensions_see_what_earlier_ones_set(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"x": "a"}, extensions=[
        _ext({}, cases=[{"y": "one"}, {"y": "two"}]),
        _ext({"y": "two"}, parameters={"z": "seen"}),
        _ext({"z": "seen"}, cases=[{"w": 1}, {"w": 2}]),
        _ext({"w": 2, "y": "two"}, parameters={"last": True}),
    ])
    # "one" has no "z": a missing key matches, so the third extension applies to it too.
    assert _values(plan, "y", "z", "w", "last") == [
        ("one", None, 1, None), ("one", None, 2, None), ("two", "seen", 1, None),
        ("two", "seen", 2, True)]


def test_extension_without_match_leaves_experiment_unchanged(plan_of: Callable[..., Plan]) -> None:
    assert plan_of({"x": "a"}, extensions=[_ext({"x": "b"}, cases=[{"y": 1}])]) == [{"x": "a"}]


@pytest.mark.parametrize("value", [
    pytest.param("${exp.framework}", id="reference"),
    pytest.param("$(1 + 1)$", id="expression"),
    pytest.param(["a", "${b}"], id="list-with-reference"),
])
def test_condition_on_non_constant_value_is_an_error(plan_of: Callable[..., Plan],
                                                     value: Any) -> None:
    exts = [_ext({}), _ext({"exp.model": "resnet"}, parameters={"y": 1})]
    with pytest.raises(PlanError, match=r"^extension #2: non-constant condition on parameter "
                                        r"'exp.model': its value .* holds a reference or "
                                        r"expression that is only known after expansion"):
        plan_of({"exp.model": value}, extensions=exts)


def test_disabled_experiment_stays_in_plan(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(variables={"exp.status": ["disabled", "inactive", "ok"]})
    assert _values(plan, "exp.status") == [("disabled",), ("inactive",), ("ok",)]


def test_experiments_are_independent_dicts(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of({"x": 1}, variables={"v": [1, 2]}, extensions=[_ext({}, cases=[{}, {}])])
    plan[0]["x"] = 99
    assert [exp["x"] for exp in plan] == [99, 1, 1, 1]


def test_build_plan_accepts_a_config_built_by_hand() -> None:
    config = Config(parameters={"x": 1}, variables={"v": [1]},
                    extensions=[{"condition": {"v": 1}, "parameters": {"y": 2}}])
    assert list(build_plan(config)) == [{"x": 1, "v": 1, "y": 2}]


@pytest.mark.parametrize("variables,extensions", [
    pytest.param({"a": [1, 2], "b": [3, 4, 5]}, [], id="grid"),
    pytest.param({"a": [1, 2], "b": [3, 4, 5]},
                 [{"condition": {"a": 1}, "cases": [{"c": 1}, {"c": 2}, {"c": 3}]}],
                 id="cases-on-a-condition"),
    pytest.param({"a": ["x1", "y2"], "b": [3, 4]},
                 [{"condition": {"a": "x(\\d)"}, "parameters": {"d": "${__condition.a_1}"}},
                  {"condition": {"d": "1"}, "cases": [{"e": 1}, {"e": 2}]}],
                 id="a-later-condition-on-an-earlier-extension's-value"),
    pytest.param({"a": [1, 2]}, [{"cases": [{"b": 1}, {"b": 2}]},
                                 {"condition": {"b": 2}, "cases": [{"c": 1}, {"c": 2}]}],
                 id="a-condition-on-a-case's-value"),
])
def test_count_plan_is_the_number_build_plan_yields(variables: dict, extensions: list) -> None:
    config = merge_configs([("t.json", {"parameters": {}, "variables": variables,
                                        "extensions": extensions})])
    assert count_plan(config) == len(list(build_plan(config)))


def test_count_plan_counts_eight_million_experiments_without_building_them() -> None:
    values = list(range(200))
    config = merge_configs([("t.json", {"parameters": {"r": 2},
                                        "variables": {"a": values, "b": values, "c": values}})])
    built: list[dict] = []

    def runs(experiment: dict) -> int:
        built.append(experiment)
        return int(experiment["r"])

    assert count_plan(config, runs, reads=("r",)) == 2 * 200 ** 3
    assert len(built) == 1  # the unconditioned variables multiply; nothing else is built


def test_count_plan_weighs_a_variable_it_reads() -> None:
    config = merge_configs([("t.json", {"parameters": {},
                                        "variables": {"r": [1, 3], "b": [1, 2]}})])
    assert count_plan(config, lambda e: int(e["r"]), reads=("r",)) == 8


def test_count_plan_stops_once_past_the_limit() -> None:
    config = merge_configs([("t.json", {"parameters": {}, "variables": {"a": list(range(10))},
                                        "extensions": [{"cases": [{"b": i} for i in range(10)]}]
                                        })])
    assert count_plan(config) == 100
    assert 5 < count_plan(config, stop_above=5) < 100
    assert count_plan(config, stop_above=100) == 100


def test_count_plan_refuses_a_variable_without_values() -> None:
    config = merge_configs([("t.json", {"parameters": {}, "variables": {"a": []}})])
    with pytest.raises(PlanError, match="variable 'a' has no values"):
        count_plan(config)

"""expand_experiment / expand_plan: references, computed values, casts, domains (spec §3)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

import dlbs.engine.expand as expand_module
from dlbs.engine import ParamSpec, build_plan, expand_experiment, expand_plan, merge_configs

Expand = Callable[..., dict[str, Any]]


@pytest.mark.parametrize("value,text", [
    pytest.param(["a", "b"], "a b", id="strings"),
    pytest.param([1, 2.5, True, None], "1 2.5 True None", id="str-of-items"),
    pytest.param([], "", id="empty"),
    pytest.param(["${x}", "c"], "X c", id="items-are-expanded"),
])
def test_list_value_becomes_space_joined_string(expand_one: Expand, value: list,
                                                 text: str) -> None:
    assert expand_one({"v": value, "x": "X"})["v"] == text


def test_references_resolve_in_dependency_order_not_text_order(expand_one: Expand) -> None:
    exp = expand_one({"c": "${b}-c", "b": "${a}-b", "a": "a"})
    assert exp == {"c": "a-b-c", "b": "a-b", "a": "a"}


def test_nested_reference_resolves_inner_first(expand_one: Expand) -> None:
    exp = expand_one({"exp.framework": "pytorch", "pytorch.data_dir": "/data",
                      "exp.data_dir": "${${exp.framework}.data_dir}"})
    assert exp["exp.data_dir"] == "/data"


def test_doubly_nested_reference(expand_one: Expand) -> None:
    exp = expand_one({"a": "b", "b": "c", "c.x": "found", "r": "${${${a}}.x}"})
    assert exp["r"] == "found"


def test_unknown_name_falls_back_to_environment(expand_one: Expand) -> None:
    exp = expand_one({"log": "${HOME}/logs"}, environ={"HOME": "/home/u"})
    assert exp["log"] == "/home/u/logs"


def test_parameter_shadows_environment_variable(expand_one: Expand) -> None:
    exp = expand_one({"HOME": "/param", "log": "${HOME}/logs"}, environ={"HOME": "/env"})
    assert exp["log"] == "/param/logs"


def test_environment_values_are_not_expanded(expand_one: Expand) -> None:
    assert expand_one({"x": "${E}"}, environ={"E": "${nope} $(1+1)$"})["x"] == "${nope} $(1+1)$"


@pytest.mark.parametrize("value,text", [
    pytest.param(True, "True", id="bool"),
    pytest.param(None, "None", id="null"),
    pytest.param(0.25, "0.25", id="float"),
    pytest.param(16, "16", id="int"),
    pytest.param({"a": [1, "b"]}, '{"a": [1, "b"]}', id="dict-as-json"),
])
def test_non_string_substitutes_with_str(expand_one: Expand, value: Any, text: str) -> None:
    assert expand_one({"r": "<${v}>"}, params={"v": value})["r"] == f"<{text}>"


def test_computed_value_is_evaluated_after_its_references(expand_one: Expand) -> None:
    exp = expand_one({"gpus": "0,1,2", "n": "$(len('${gpus}'.split(',')))$"})
    assert exp["n"] == "3"


def test_computed_values_are_evaluated_left_to_right(expand_one: Expand) -> None:
    assert expand_one({"v": "$(1+1)$-$('a'*3)$-$(2*${w})$", "w": 5})["v"] == "2-aaa-10"


def test_expression_ends_at_first_close_marker(expand_one: Expand) -> None:
    assert expand_one({"v": "$('x')$)$"})["v"] == "x)$"


def test_computed_value_of_untyped_parameter_stays_string(expand_one: Expand) -> None:
    exp = expand_one({"a": "$(4 * 4)$", "b": "${c}"}, extensions=[{"parameters": {"c": 1}}])
    assert (exp["a"], exp["b"]) == ("16", "1")


@pytest.mark.parametrize("declared,text,value", [
    pytest.param("int", "007", 7, id="int-leading-zeros"),
    pytest.param("int", "$(8 * 2)$", 16, id="int-computed"),
    pytest.param("float", "0.5", 0.5, id="float"),
    pytest.param("float", "$(1/4)$", 0.25, id="float-computed"),
    pytest.param("str", "$(1+1)$", "2", id="str-stays-str"),
] + [pytest.param("bool", text, True, id=f"bool-{text}")
     for text in ("true", "True", "ON", "1", "yes", "YES")]
  + [pytest.param("bool", text, False, id=f"bool-{text}")
     for text in ("false", "FALSE", "off", "0", "no", "No")])
def test_string_value_is_cast_to_declared_type(expand_one: Expand, declared: str, text: str,
                                               value: Any) -> None:
    exp = expand_one({"x": {"val": text, "type": declared}})
    assert exp["x"] == value and type(exp["x"]) is type(value)


@pytest.mark.parametrize("declared,value", [
    pytest.param("int", 2.5, id="float-in-int"),
    pytest.param("str", 3, id="int-in-str"),
    pytest.param("bool", 0, id="int-in-bool"),
    pytest.param("float", 2, id="int-in-float"),
])
def test_non_string_value_is_never_cast(expand_one: Expand, declared: str, value: Any) -> None:
    exp = expand_one({"x": {"val": "", "type": declared}}, params={"x": value})
    assert exp["x"] == value and type(exp["x"]) is type(value)


def test_dependents_see_the_cast_value(expand_one: Expand) -> None:
    exp = expand_one({"docker": {"val": False, "type": "bool"},
                      "path": "$('/ws' if ${docker} else '/host')$"}, params={"docker": "yes"})
    assert (exp["docker"], exp["path"]) == (True, "/ws")


def test_value_in_domain_is_accepted(expand_one: Expand) -> None:
    exp = expand_one({"phase": {"val": "${p}", "type": "str", "val_domain": ["training", "inference"]},
                      "p": "inference"})
    assert exp["phase"] == "inference"


def test_domain_is_checked_after_cast(expand_one: Expand) -> None:
    assert expand_one({"b": {"val": "016", "type": "int", "val_domain": [16, 32]}})["b"] == 16


def test_condition_captures_never_appear_in_output(expand_one: Expand) -> None:
    exp = expand_one({"m": "resnet50", "d": "${__condition.m_1}", "__condition.m_1": "hidden"},
                     extensions=[{"condition": {"m": "resnet(.*)"}, "parameters": {"e": "x"}}])
    assert exp == {"m": "resnet50", "d": "hidden", "e": "x"}


def test_output_keeps_experiment_key_order(expand_one: Expand) -> None:
    assert list(expand_one({"z": "${a}", "a": 1, "m": "${z}"})) == ["z", "a", "m"]


def test_text_without_markers_is_kept_verbatim(expand_one: Expand) -> None:
    text = "cost $5 {x} $x $ { } ) $ ( )$ }"
    assert expand_one({"v": text})["v"] == text


# --- exp.id (docs/architecture.md) ----------------------------------------------------------

def _id_config(**extra: Any) -> dict[str, Any]:
    return {"exp.id": "", "exp.model": "resnet50", "exp.log_dir": "/logs/${sys.timestamp}",
            "exp.log_file": "${exp.log_dir}/${exp.model}_${exp.id}.log", "exp.status": "ok",
            "exp.rerun": "never", "sys.timestamp": "t1", **extra}


def test_empty_experiment_id_becomes_deterministic_hash(expand_one: Expand) -> None:
    exp = expand_one(_id_config())
    text = 'exp.model="resnet50"'  # the only hashed input: the others are excluded
    assert exp["exp.id"] == hashlib.sha1(text.encode()).hexdigest()[:12]
    assert exp["exp.log_file"] == f"/logs/t1/resnet50_{exp['exp.id']}.log"


@pytest.mark.parametrize("changes,same", [
    pytest.param({"sys.timestamp": "t2"}, True, id="sys-excluded"),
    pytest.param({"exp.status": "simulate", "exp.rerun": "always"}, True,
                 id="status-rerun-excluded"),
    pytest.param({"exp.log_dir": "/other"}, True, id="log-dir-excluded"),
    pytest.param({"uses_id": "${exp.id}-x"}, True, id="dependents-of-id-excluded"),
    pytest.param({"exp.model": "vgg16"}, False, id="input-changes-id"),
    pytest.param({"extra": 1}, False, id="new-parameter-changes-id"),
])
def test_experiment_id_hashes_only_resolved_inputs(expand_one: Expand, changes: dict,
                                                   same: bool) -> None:
    base = expand_one(_id_config())["exp.id"]
    assert (expand_one(_id_config(**changes))["exp.id"] == base) is same


def test_experiment_id_depends_on_resolved_not_raw_values(expand_one: Expand) -> None:
    direct = expand_one(_id_config(batch={"val": 16, "type": "int"}))
    computed = expand_one(_id_config(batch={"val": "$(8*2)$", "type": "int"}))
    assert direct["exp.id"] == computed["exp.id"]


def test_explicit_experiment_id_is_kept(expand_one: Expand) -> None:
    exp = expand_one(_id_config(**{"exp.id": "${exp.model}-1"}))
    assert (exp["exp.id"], exp["exp.log_file"]) == ("resnet50-1", "/logs/t1/resnet50_resnet50-1.log")


def test_experiment_id_differs_per_experiment(expanded: Callable[..., list]) -> None:
    plan = expanded(_id_config(), variables={"exp.replica_batch": [16, 32, 64]})
    assert len({exp["exp.id"] for exp in plan}) == 3


# --- expand_plan and expand_experiment agree -------------------------------------------------

def test_expand_plan_equals_expanding_each_experiment_alone() -> None:
    config = merge_configs([("a", {
        "parameters": {**_id_config(), "n": {"val": "$(len('${g}'.split(',')))$", "type": "int"},
                       "u": "$(uuid.uuid4().hex)$", "k": "${${f}.k}", "pt.k": "p", "tf.k": "t",
                       "e": "${E}"},
        "variables": {"g": ["0", "0,1"], "f": ["pt", "tf"], "exp.model": ["a", "b"]},
        "extensions": [{"condition": {"f": "tf"}, "cases": [{}, {"E": "set", "extra": [1, 2]}]}],
    })])
    plan = list(build_plan(config))
    together = list(expand_plan(plan, config.specs, {"E": "env"}))
    alone = [expand_experiment(exp, config.specs, {"E": "env"}) for exp in plan]
    strip = [{k: v for k, v in exp.items() if k not in ("u", "exp.id", "exp.log_file")}
             for exp in together]
    assert strip == [{k: v for k, v in exp.items() if k not in ("u", "exp.id", "exp.log_file")}
                     for exp in alone]
    assert [list(e) for e in together] == [list(e) for e in alone]
    assert len({exp["u"] for exp in together}) == len(plan)  # uuid is drawn per experiment


def test_expand_plan_with_equal_but_not_identical_values() -> None:
    specs = {"x": ParamSpec("x", None)}
    plan = [{"x": 1, "r": "${x}"}, {"x": True, "r": "${x}"}, {"x": 1.0, "r": "${x}"},
            {"x": [1], "r": "${x}"}, {"x": [True], "r": "${x}"}, {"x": -0.0, "r": "${x}"},
            {"x": 0.0, "r": "${x}"}]
    assert [exp["r"] for exp in expand_plan(plan, specs, {})] == [
        "1", "True", "1.0", "1", "True", "-0.0", "0.0"]


def test_expand_does_not_modify_the_experiment() -> None:
    experiment = {"a": ["x", "${b}"], "b": "1", "exp.id": ""}
    expand_experiment(experiment, {}, {})
    assert experiment == {"a": ["x", "${b}"], "b": "1", "exp.id": ""}


def test_expand_plan_is_not_affected_by_caller_changing_experiments() -> None:
    plan = [{"a": 1, "b": "${a}"}, {"a": 2, "b": "${a}"}]
    expanding = expand_plan(iter(plan), {}, {})
    first = next(expanding)
    first["b"], first["new"] = "changed", 1
    plan[0]["a"] = 2  # now equal to the next experiment's raw value
    assert next(expanding) == {"a": 2, "b": "2"}


@pytest.mark.parametrize("plan", [
    pytest.param([{"a": "${E}", "b": "${a}!"}, {"a": "${E}", "b": "${a}!", "E": "param"},
                  {"a": "${E}", "b": "${a}!"}], id="name-becomes-parameter-then-env-again"),
    pytest.param([{"exp.id": "", "m": "x", "f": "${exp.id}.log"},
                  {"exp.id": "fixed", "m": "x", "f": "${exp.id}.log"},
                  {"exp.id": "", "m": "y", "f": "${exp.id}.log"},
                  {"exp.id": "", "m": "y", "f": "${exp.id}.log", "g": "${f}"}],
                 id="experiment-id-pending-then-fixed"),
    pytest.param([{"k": "pt", "pt.d": "1", "tf.d": "2", "d": "${${k}.d}"},
                  {"k": "tf", "pt.d": "1", "tf.d": "2", "d": "${${k}.d}"},
                  {"k": "tf", "pt.d": "1", "tf.d": "3", "d": "${${k}.d}"}],
                 id="nested-reference-switches-target"),
    pytest.param([{"x": [1, 2], "y": "$(len('${x}'.split()))$"},
                  {"x": [1, 2, 3], "y": "$(len('${x}'.split()))$"}], id="list-values"),
    pytest.param([{"a": 1, "b": "${a}"}, {"b": "${a}", "a": 1}, {"b": "${E}"}, {"a": 2, "b": 1}],
                 id="same-keys-other-order-then-fewer"),
])
def test_expand_plan_reuses_work_only_where_nothing_changed(plan: list) -> None:
    alone = [expand_experiment(exp, {}, {"E": "env"}) for exp in plan]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expand_module, "FRESH_RATIO", 2.0)  # always re-use the previous work
        together = list(expand_plan(plan, {}, {"E": "env"}))
    assert [list(exp.items()) for exp in together] == [list(exp.items()) for exp in alone]


def test_domain_written_as_strings_holds_their_cast_values(expand_one: Expand) -> None:
    exp = expand_one({"b": {"val": "$(8*4)$", "type": "int", "val_domain": ["16", "32"]}})
    assert exp["b"] == 32

"""DLBS's own idioms that the restricted engine reads as DLBS meant them (docs/dlbs-compat.md):
the random-uuid ``exp.id`` of its ``base.json`` (so of every plan its ``build`` writes),
``sys.executable`` in ``runtime.python``, and the definition keys DLBS writes but never checks."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dlbs.engine import build_plan, expand_experiment, expand_plan, merge_configs
from dlbs.engine.evaluator import evaluate
from dlbs.engine.resolver import is_auto_id
from dlbs.engine.sandbox import Forbidden
from dlbs.errors import ConfigError, ExpansionError

Expand = Callable[..., dict[str, Any]]
#: ``exp.id`` in DLBS's python/dlbs/configs/base.json, verbatim.
DLBS_ID = "$(uuid.uuid4().__str__().replace('-', ''))$"
#: ``runtime.python`` in DLBS's base.json, verbatim.
DLBS_PYTHON = "$(sys.executable if ${exp.docker} is False else 'python')$"


def _experiment(**extra: Any) -> dict[str, Any]:
    return {"exp.id": "", "exp.model": "resnet50", "exp.log_file": "/l/${exp.model}_${exp.id}.log",
            **extra}


# --- exp.id: DLBS's random uuid means "no fixed id" -------------------------------------------

@pytest.mark.parametrize("value", [
    pytest.param(DLBS_ID, id="dlbs-verbatim"),
    pytest.param('$(uuid.uuid4().__str__().replace("-", ""))$', id="double-quotes"),
    pytest.param(" $( uuid.uuid4().__str__().replace('-','') )$ ", id="spacing"),
])
def test_dlbs_random_id_is_the_deterministic_id(expand_one: Expand, value: str) -> None:
    assert is_auto_id(value)
    ours = expand_one(_experiment())
    dlbs = expand_one(_experiment(**{"exp.id": value}))
    assert dlbs["exp.id"] == ours["exp.id"] and len(ours["exp.id"]) == 12
    assert dlbs["exp.log_file"] == f"/l/resnet50_{ours['exp.id']}.log"
    assert expand_one(_experiment(**{"exp.id": value}))["exp.id"] == dlbs["exp.id"]  # stable


def test_dlbs_random_id_in_a_plan_gives_each_experiment_its_own_stable_id() -> None:
    config = merge_configs([("dlbs.json", {"parameters": _experiment(**{"exp.id": DLBS_ID}),
                                           "variables": {"exp.model": ["a", "b", "a"]}})])
    first = [e["exp.id"] for e in expand_plan(build_plan(config), config.specs, {})]
    again = [e["exp.id"] for e in expand_plan(build_plan(config), config.specs, {})]
    assert first == again and first[0] == first[2] != first[1]
    alone = [expand_experiment(e, config.specs, {})["exp.id"] for e in build_plan(config)]
    assert alone == first


@pytest.mark.parametrize("value", [
    pytest.param("$(uuid.uuid4().hex)$", id="random-on-purpose"),
    pytest.param("$(str(uuid.uuid4()).replace('-', ''))$", id="other-spelling"),
    pytest.param("x" + DLBS_ID, id="idiom-inside-text"),
])
def test_other_ids_are_not_the_idiom(value: str) -> None:
    assert not is_auto_id(value)


def test_dunder_str_is_still_forbidden_elsewhere(expand_one: Expand) -> None:
    with pytest.raises(ExpansionError, match=r"'v'.*'__str__' \(names starting with '_'"):
        expand_one(_experiment(v="$(uuid.uuid4().__str__())$"))


# --- sys.executable: the Python running experimenter (DLBS_PYTHON) ----------------------------

@pytest.mark.parametrize("docker,python", [(False, "/opt/py/bin/python3"), (True, "python")])
def test_dlbs_runtime_python_is_dlbs_python_on_bare_metal(expand_one: Expand, docker: bool,
                                                          python: str) -> None:
    exp = expand_one({"exp.docker": docker, "runtime.python": DLBS_PYTHON},
                     environ={"DLBS_PYTHON": "/opt/py/bin/python3"})
    assert exp["runtime.python"] == python


def test_sys_executable_follows_the_environment_of_each_expansion(expand_one: Expand) -> None:
    """Not cached by text: the same expression with another DLBS_PYTHON gives that one."""
    for python in ("/a/python", "/b/python", "/a/python"):
        exp = expand_one({"p": "$(sys.executable)$"}, environ={"DLBS_PYTHON": python})
        assert exp["p"] == python
    assert evaluate("sys.executable", "/c/python") == ("/c/python", True)


@pytest.mark.parametrize("expression,message", [
    pytest.param("sys.path", "'sys.path' is not available", id="other-member"),
    pytest.param("sys.modules", "'sys.modules' is not available", id="modules"),
    pytest.param("sys.exit(1)", "'sys.exit' is not available", id="exit"),
    pytest.param("sys.executable.__class__", "names starting with '_'", id="dunder"),
])
def test_sys_has_nothing_but_executable(expression: str, message: str) -> None:
    with pytest.raises(Forbidden, match=message):
        evaluate(expression, "/usr/bin/python3")


def test_without_dlbs_python_sys_is_not_available(expand_one: Expand) -> None:
    with pytest.raises(ExpansionError, match="name 'sys' is not available"):
        expand_one({"p": "$(sys.executable)$"})


# --- definition keys DLBS writes but never checks ---------------------------------------------

@pytest.mark.parametrize("key,value", [
    pytest.param("val_regex", "^$|([0-9]+)([:,]([0-9]+))*", id="val_regex-base.json"),
    pytest.param("var_domain", ["local", "device"], id="var_domain-mxnet.json"),
    pytest.param("val_regexp", "^[0-9]+$", id="val_regexp-read-by-dlbs-set-by-none"),
])
def test_dlbs_definition_keys_are_accepted_and_ignored(key: str, value: Any) -> None:
    config = merge_configs([("base.json", {"parameters": {
        "exp.gpus": {"val": "0", "type": "str", key: value, "desc": "GPUs"}}})])
    assert config.parameters["exp.gpus"] == "0"
    assert config.specs["exp.gpus"].domain is None and config.specs["exp.gpus"].type == "str"


def test_other_definition_keys_are_still_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key 'default'.*DLBS's val_regex"):
        merge_configs([("a.json", {"parameters": {"x": {"val": 1, "default": 2}}})])

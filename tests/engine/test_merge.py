"""merge_configs: definitions, inferred types, precedence, -P/-V/-E (spec §1)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from dlbs.engine import Config, ParamSpec, merge_configs
from dlbs.errors import ConfigError


def test_definition_is_reduced_to_val_and_declaration() -> None:
    config = merge_configs([("a.json", {"parameters": {"exp.batch": {
        "val": 16, "type": "int", "desc": "batch", "val_domain": [16, 32]}}})])
    assert config.parameters == {"exp.batch": 16}
    assert config.specs["exp.batch"] == ParamSpec("exp.batch", "int", "batch", (16, 32))


def test_desc_as_list_of_lines_is_joined() -> None:
    config = merge_configs([("a.json", {"parameters": {"x": {"val": 1, "desc": ["one", "two"]}}})])
    assert config.specs["x"].desc == "one\ntwo"


@pytest.mark.parametrize("value,declared", [
    pytest.param("text", "str", id="str"),
    pytest.param([1, 2], "str", id="list-is-str"),
    pytest.param(True, "bool", id="bool-before-int"),
    pytest.param(False, "bool", id="false-is-bool"),
    pytest.param(3, "int", id="int"),
    pytest.param(0.5, "float", id="float"),
    pytest.param(None, None, id="null-has-no-type"),
])
def test_plain_value_gets_inferred_type(value: Any, declared: str | None) -> None:
    config = merge_configs([("a.json", {"parameters": {"x": value}})])
    assert config.parameters["x"] == value
    assert config.specs["x"].type == declared


def test_definition_without_type_infers_it_from_val() -> None:
    config = merge_configs([("a.json", {"parameters": {"x": {"val": True}}})])
    assert config.specs["x"].type == "bool"


def test_user_plain_value_changes_only_val_and_keeps_declared_type() -> None:
    defaults = [("base.json", {"parameters": {"x": {"val": 1, "type": "int", "desc": "d"}}})]
    config = merge_configs([("user.json", {"parameters": {"x": "${y}"}})], defaults=defaults)
    assert config.parameters["x"] == "${y}"
    assert config.specs["x"] == ParamSpec("x", "int", "d", None)


def test_definitions_merge_key_by_key() -> None:
    defaults = [("base.json", {"parameters": {"x": {"val": "a", "type": "str", "desc": "d",
                                                     "val_domain": ["a", "b"]}}})]
    config = merge_configs([("user.json", {"parameters": {"x": {"val": "b", "desc": "new"}}})],
                           defaults=defaults)
    assert config.parameters["x"] == "b"
    assert config.specs["x"] == ParamSpec("x", "str", "new", ("a", "b"))


def test_later_config_wins() -> None:
    config = merge_configs([("a.json", {"parameters": {"x": 1}}),
                            ("b.json", {"parameters": {"x": 2}})])
    assert config.parameters["x"] == 2


def test_command_line_parameter_beats_configs() -> None:
    config = merge_configs([("a.json", {"parameters": {"x": 1}})], params={"x": 5, "new": "v"})
    assert config.parameters == {"x": 5, "new": "v"}
    assert config.specs["new"].type == "str"


def test_command_line_dict_value_is_a_plain_value() -> None:
    config = merge_configs([], params={"x": {"a": 1}})
    assert config.parameters["x"] == {"a": 1}
    assert config.specs["x"].type is None


def test_variable_non_list_value_becomes_one_element_list() -> None:
    config = merge_configs([("a.json", {"variables": {"v": "x"}})], variables={"w": 3})
    assert config.variables == {"v": ["x"], "w": [3]}


def test_command_line_variable_replaces_existing_variable_in_place() -> None:
    raw = {"variables": {"a": [1, 2], "b": [3], "c": [4]}}
    config = merge_configs([("a.json", raw)], variables={"b": [7, 8]})
    assert list(config.variables.items()) == [("a", [1, 2]), ("b", [7, 8]), ("c", [4])]


def test_extensions_are_appended_defaults_then_configs_then_command_line() -> None:
    ext = [{"condition": {"n": "default"}}]
    config = merge_configs([("user.json", {"extensions": [{"parameters": {"n": "user"}}]})],
                           extensions=[{"cases": [{"n": "cli"}]}],
                           defaults=[("base.json", {"extensions": ext})])
    assert config.extensions == [
        {"condition": {"n": "default"}, "parameters": {}, "cases": []},
        {"condition": {}, "parameters": {"n": "user"}, "cases": []},
        {"condition": {}, "parameters": {}, "cases": [{"n": "cli"}]},
    ]


def test_parameter_defined_in_two_default_configs_is_an_error() -> None:
    defaults = [("config/base.json", {"parameters": {"exp.model": ""}}),
                ("config/pytorch.json", {"parameters": {"exp.model": "x"}})]
    with pytest.raises(ConfigError, match=r"^config/pytorch.json: parameter 'exp.model' is also "
                                          r"defined in default config config/base.json; define "
                                          r"it in only one default config$"):
        merge_configs([], defaults=defaults)


def test_user_config_may_redefine_a_default_parameter() -> None:
    defaults = [("base.json", {"parameters": {"x": {"val": 1, "type": "int"}}})]
    config = merge_configs([("u.json", {"parameters": {"x": {"val": 2, "type": "float"}}})],
                           defaults=defaults)
    assert (config.parameters["x"], config.specs["x"].type) == (2, "float")


def test_merge_leaves_its_inputs_unchanged() -> None:
    raw = {"parameters": {"x": {"val": [1, 2], "type": "str"}}, "variables": {"v": [1]},
           "extensions": [{"condition": {"x": "1"}, "cases": [{"y": 1}]}]}
    before = copy.deepcopy(raw)
    config = merge_configs([("a.json", raw)], params={"p": [1]}, variables={"v": [2]})
    config.variables["v"].append(3)
    config.extensions[0]["cases"].append({})
    assert raw == before


def test_empty_merge_gives_empty_config() -> None:
    assert merge_configs([]) == Config()


@pytest.mark.parametrize("raw,message", [
    pytest.param([1], r"^a.json: a config must be an object with keys parameters, variables, "
                      r"extensions, not list$", id="config-not-object"),
    pytest.param({"params": {}}, r"^a.json: unknown key 'params'; a config has only the keys "
                                 r"parameters, variables, extensions$", id="unknown-top-key"),
    pytest.param({"parameters": []}, r"^a.json: 'parameters' must be an object \(name -> value\)$",
                 id="parameters-not-object"),
    pytest.param({"parameters": {1: "x"}},
                 r"^a.json: parameter name 1 must be a non-empty string$", id="non-string-name"),
    pytest.param({"variables": {"": [1]}},
                 r"^a.json: variable name '' must be a non-empty string$", id="empty-name"),
    pytest.param({"extensions": [{"cases": [{2: 1}]}]},
                 r"^a.json: extension #1: parameter name 2 must be a non-empty string$",
                 id="non-string-case-name"),
    pytest.param({"parameters": {"x": {"type": "int"}}},
                 r"^a.json: parameter 'x': a definition needs a 'val' key$", id="definition-no-val"),
    pytest.param({"parameters": {"x": {"val": 1, "type": "integer"}}},
                 r"^a.json: parameter 'x': type 'integer' is not one of int, str, float, bool$",
                 id="bad-type"),
    pytest.param({"parameters": {"x": {"val": 1, "default": 2}}},
                 r"^a.json: parameter 'x': unknown key 'default' in its definition; allowed keys: "
                 r"val, type, desc, val_domain \(and DLBS's val_regex, val_regexp, var_domain, "
                 r"ignored\)$", id="unknown-definition-key"),
    pytest.param({"parameters": {"x": {"val": 1, "desc": 3}}},
                 r"^a.json: parameter 'x': 'desc' must be a string or a list of lines$",
                 id="bad-desc"),
    pytest.param({"parameters": {"x": {"val": 1, "val_domain": "abc"}}},
                 r"^a.json: parameter 'x': 'val_domain' must be a list of allowed values$",
                 id="bad-domain"),
    pytest.param({"parameters": {"x": [{"a": 1}]}},
                 r"^a.json: parameter 'x': value \[\{'a': 1\}\] must be a string, number, bool, "
                 r"null or a list of those$", id="list-of-dicts"),
    pytest.param({"variables": {"v": [{"a": 1}]}},
                 r"^a.json: variable 'v': value \{'a': 1\} must be a string, number, bool, null "
                 r"or a list$", id="variable-dict-value"),
    pytest.param({"extensions": {}}, r"^a.json: 'extensions' must be a list of objects$",
                 id="extensions-not-list"),
    pytest.param({"extensions": [{"when": {}}]},
                 r"^a.json: extension #1: unknown key 'when'; an extension has only the keys "
                 r"condition, parameters, cases$", id="unknown-extension-key"),
    pytest.param({"extensions": [{"cases": {}}]},
                 r"^a.json: extension #1: 'cases' must be a list of objects \(name -> value\)$",
                 id="cases-not-list"),
    pytest.param({"extensions": [{"condition": {"x": "("}}]},
                 r"^a.json: extension #1: condition on 'x': invalid regular expression '\(': "
                 r"missing \), unterminated subpattern at position 0$", id="bad-regex"),
    pytest.param({"extensions": [{"condition": {"x": "a{99999999999}"}}]},
                 r"^a.json: extension #1: condition on 'x': invalid regular expression "
                 r"'a\{99999999999\}': the repetition number is too large$",
                 id="regex-repetition-too-large"),
    pytest.param({"extensions": [{"condition": {"x": {"a": 1}}}]},
                 r"^a.json: extension #1: condition on 'x' must be a value, a regular expression "
                 r"or a list of values$", id="dict-condition"),
])
def test_malformed_config_is_a_config_error(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        merge_configs([("a.json", raw)])


def test_malformed_command_line_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^-P: parameter name '' must be a non-empty string$"):
        merge_configs([], params={"": 1})


def test_malformed_command_line_extension_names_its_position() -> None:
    with pytest.raises(ConfigError, match=r"^-E: extension #2: 'condition' must be an object"):
        merge_configs([("a.json", {"extensions": [{}]})], extensions=[{"condition": []}])

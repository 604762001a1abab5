"""dlbs.config: reading JSON/YAML config files and parsing -P/-V/-E arguments."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlbs.config import (
    default_config_files,
    load_config_file,
    load_default_configs,
    parse_extension_args,
    parse_param_args,
    parse_value,
    parse_variable_args,
    split_assignment,
)
from dlbs.errors import ConfigError


@pytest.mark.parametrize("text,value", [
    pytest.param("64", 64, id="int"),
    pytest.param("0.25", 0.25, id="float"),
    pytest.param("false", False, id="bool"),
    pytest.param("null", None, id="null"),
    pytest.param('"0"', "0", id="json-string"),
    pytest.param("resnet50", "resnet50", id="plain-string"),
    pytest.param("", "", id="empty"),
    pytest.param("0,1", "0,1", id="not-json-list"),
    pytest.param("[1, 2]", [1, 2], id="list"),
    pytest.param('{"a": 1}', {"a": 1}, id="object"),
    pytest.param("${exp.model}_x", "${exp.model}_x", id="reference"),
])
def test_parse_value_is_json_else_plain_string(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


@pytest.mark.parametrize("arg,pair", [
    pytest.param("exp.model=resnet50", ("exp.model", "resnet50"), id="simple"),
    pytest.param("exp.x=a=b", ("exp.x", "a=b"), id="first-equals"),
    pytest.param("exp.x=", ("exp.x", ""), id="empty-value"),
])
def test_split_assignment_at_first_equals(arg: str, pair: tuple[str, str]) -> None:
    assert split_assignment(arg, "-P") == pair


@pytest.mark.parametrize("arg,message", [
    pytest.param("exp.model", "-P 'exp.model': expected NAME=VALUE", id="no-equals"),
    pytest.param("=5", "-P '=5': the parameter name before '=' is empty", id="no-name"),
])
def test_split_assignment_errors_name_the_argument(arg: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        split_assignment(arg, "-P")


def test_later_param_wins() -> None:
    assert parse_param_args(["exp.a=1", "exp.b=x", "exp.a=2"]) == {"exp.a": 2, "exp.b": "x"}


def test_variable_scalar_becomes_one_element_list() -> None:
    assert parse_variable_args(["exp.a=1", "exp.b=[1, 2]", "exp.c=x,y"]) == {
        "exp.a": [1], "exp.b": [1, 2], "exp.c": ["x,y"]}


def test_variable_without_equals_names_option() -> None:
    with pytest.raises(ConfigError, match="^-V 'exp.gpus': expected NAME=VALUE"):
        parse_variable_args(["exp.gpus"])


def test_extensions_are_json_objects() -> None:
    ext = {"condition": {"exp.model": "resnet"}, "parameters": {"exp.num_batches": 5}}
    assert parse_extension_args([json.dumps(ext)]) == [ext]


@pytest.mark.parametrize("arg,message", [
    pytest.param("{bad", "-E '{bad': malformed JSON at column 2", id="malformed"),
    pytest.param("[1]", "-E '[1]': an extension must be a JSON object", id="not-object"),
])
def test_extension_errors(arg: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[")):
        parse_extension_args([arg])


def test_json_and_yaml_files_load_the_same(tmp_path: Path) -> None:
    config = {"parameters": {"exp.model": "resnet50", "exp.n": {"val": 3, "type": "int"}},
              "variables": {"exp.replica_batch": [16, 32]}}
    (tmp_path / "c.json").write_text(json.dumps(config))
    (tmp_path / "c.yaml").write_text(
        "parameters:\n  exp.model: resnet50\n  exp.n: {val: 3, type: int}\n"
        "variables:\n  exp.replica_batch: [16, 32]\n")
    (tmp_path / "c.yml").write_text((tmp_path / "c.yaml").read_text())
    assert load_config_file(tmp_path / "c.json") == config
    assert load_config_file(tmp_path / "c.yaml") == config
    assert load_config_file(tmp_path / "c.yml") == config


def test_empty_yaml_is_an_empty_config(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_config_file(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize("name,text,message", [
    pytest.param("bad.json", '{\n  "parameters": {\n    "exp.model": "x",\n  }\n}',
                 r"bad.json:4:3: malformed JSON: Expecting property name", id="json"),
    pytest.param("bad.yaml", "parameters:\n  exp.model: [x\n  exp.phase: y\n",
                 r"bad.yaml:\d+:\d+: malformed YAML: ", id="yaml"),
    pytest.param("tab.yml", "parameters:\n\texp.model: x\n",
                 r"tab.yml:2:1: malformed YAML: ", id="yaml-tab"),
    pytest.param("list.json", "[1, 2]", r"list.json: a config must be an object", id="not-object"),
])
def test_malformed_file_error_names_file_line_and_column(tmp_path: Path, name: str, text: str,
                                                         message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config_file(tmp_path / name)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / name))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config file '.*nope.json' not found$"):
        load_config_file(tmp_path / "nope.json")


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config_file(tmp_path)


def test_default_configs_are_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.json", "a.json", "c.json"):
        (tmp_path / name).write_text(json.dumps({"parameters": {name: 1}}))
    (tmp_path / "ignored.yaml").write_text("parameters: {}")
    assert [p.name for p in default_config_files(tmp_path)] == ["a.json", "b.json", "c.json"]
    assert [list(c["parameters"]) for _, c in load_default_configs(tmp_path)] == [
        ["a.json"], ["b.json"], ["c.json"]]


def test_project_default_configs_are_sorted_json_files() -> None:
    names = [p.name for p in default_config_files()]
    assert names == sorted(names)
    assert {"base.json", "pytorch.json"} <= set(names)


def test_a_parameter_in_two_default_configs_is_an_error(cli: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "defaults"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"parameters": {"exp.model": "x"}}))
    (folder / "b.json").write_text(json.dumps({"parameters": {"exp.model": "y"}}))
    monkeypatch.setattr("dlbs.config.default_config_dir", lambda: folder)
    result = cli("print")
    assert result.code == 1
    line = result.error_line()
    assert "exp.model" in line and "a.json" in line and "b.json" in line
    assert cli("print", "--discard-default-config").json() == [{}]


def test_variable_that_looks_like_a_list_but_is_not_json_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"^-V 'exp.model=\[a, b\]': the value is not a valid "
                                          r"JSON list; quote the strings"):
        parse_variable_args(["exp.model=[a, b]"])


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_command_line_value_is_a_plain_string(text: str) -> None:
    # NaN/Infinity are not JSON: a NaN value would be printed back as invalid JSON.
    assert parse_value(text) == text
    assert parse_param_args([f"exp.model={text}"]) == {"exp.model": text}


def test_non_finite_numbers_in_config_and_extension_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"parameters": {"exp.replica_batch": 1e400}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.json: malformed JSON: number 1e400 is out of range"):
        load_config_file(path)
    path.write_text('{"parameters": {"exp.model": NaN}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.json: malformed JSON: NaN is not valid JSON"):
        load_config_file(path)
    with pytest.raises(ConfigError, match=r"^-E .*: malformed JSON: Infinity is not valid JSON"):
        parse_extension_args(['{"parameters": {"a": Infinity}}'])


def test_print_of_a_nan_parameter_is_valid_json(cli: Any) -> None:
    result = cli("print", "-Pexp.gpus=", "-Pexp.model=NaN", "--format", "jsonl")
    assert result.code == 0
    record = json.loads(result.out.splitlines()[0], parse_constant=lambda c: pytest.fail(c))
    assert record["exp.model"] == "NaN"


@pytest.mark.parametrize("text", ["parameters:\n  exp.model: .nan\n",
                                  "variables:\n  x: [1, -.inf]\n"])
def test_yaml_nan_or_inf_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml: malformed YAML: .nan and .inf are not valid"):
        load_config_file(path)

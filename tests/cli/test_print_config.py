"""``experimenter print-config``: the merged config, values only, -P/-V hidden, -E appended."""
from __future__ import annotations

import json
from typing import Any


def test_definitions_are_reduced_to_values(cli: Any) -> None:
    result = cli("print-config")
    assert result.code == 0 and result.err == ""
    config = result.json()
    assert set(config) == {"parameters", "variables", "extensions"}
    assert config["parameters"]["exp.phase"] == "training"
    assert config["parameters"]["pytorch.cudnn_benchmark"] is True
    assert config["variables"] == {}


def test_p_and_v_are_not_shown_and_e_is_appended(cli: Any, write: Any) -> None:
    ext_config = {"condition": {"exp.model": "a"}, "parameters": {"exp.num_batches": 1},
                  "cases": []}
    ext_cli = {"condition": {}, "parameters": {"exp.num_batches": 2}, "cases": []}
    path = write("c.yaml", "parameters:\n  exp.model: a\nvariables:\n  exp.gpus: ['0', '1']\n"
                 f"extensions:\n  - {json.dumps(ext_config)}\n")
    config = cli("print-config", "--config", path, "-Pexp.model=hidden",
                 "-Vexp.gpus=[\"9\"]", "-E", json.dumps({"parameters": {"exp.num_batches": 2}})
                 ).json()
    assert config["parameters"]["exp.model"] == "a"
    assert config["variables"] == {"exp.gpus": ["0", "1"]}
    assert config["extensions"] == [ext_config, ext_cli]


def test_discard_default_config(cli: Any, write: Any) -> None:
    path = write("c.json", {"parameters": {"a": {"val": 1, "type": "int", "desc": "x"}}})
    assert cli("print-config", "--discard-default-config", "--config", path).json() == {
        "parameters": {"a": 1}, "variables": {}, "extensions": []}


def test_malformed_p_is_still_an_error(cli: Any) -> None:
    result = cli("print-config", "-Pexp.model")
    assert result.code == 1 and "-P 'exp.model'" in result.error_line()

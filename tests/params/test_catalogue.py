"""Contracts of the parameter catalogue (config/*.json read by ``dlbs.params.catalogue``,
issue 57): every parameter has a group and roles, every flag it declares is one the program's
own parser accepts with the same default, and the tables it replaced keep what they held."""
from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dlbs.params import catalogue, identity

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {"version", "model", "measure", "sweep", "placement", "data", "container", "runtime",
          "monitor", "label", "dlbs_unused", "serving", "slurm", "accept"}
ROLE_KEYS = {"id", "identity", "report_off", "key_when_not", "serving_config",
             "not_identity", "bookkeeping", "memory_kind", "load_series", "dlbs_unused",
             "chooses_device", "per_run", "set_by_bisect",
             "always_matched", "most_used", "series_name", "serving_row",
             "report_core", "fills", "layout", "provenance", "reference_setting",
             "not_served"}
#: What each program's parser is built by, run in a child process: the programs never import
#: dlbs, and dlbs never imports them for this (``--`` the parser's module and function).
PARSERS = {"benchmark": ("pytorch_benchmarks.options", "build_parser"),
           "loadgen": ("serving.loadgen", "parser")}
_READ_PARSER = """
import json, sys, importlib
parser = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])()
print(json.dumps({flag: {"default": action.default, "required": action.required}
                  for action in parser._actions for flag in action.option_strings},
                 default=repr))
"""
#: Flags whose parameter's default is not the program's, and why (each passed whenever the
#: parameter has a value, so the program's own default never applies to a dlbs run).
OTHER_DEFAULTS = {
    "exp.model": "dlbs has no default model (validate refuses an empty one); the benchmark's "
                 "own is alexnet",
    "pytorch.data_backend": "passed with real data only; the benchmark alone guesses it from "
                            "the folder",
    "serve.output_len": "dlbs asks for 64 tokens a request; loadgen alone asks for none",
}
#: The identity fields in the order the database's stored comparability keys were made of:
#: a change here changes every stored key (tests/params/golden pins some of them too).
STORED_KEY_ORDER = (
    "exp.model", "exp.phase", "exp.dtype", "exp.replica_batch", "exp.device_type",
    "device_model", "exp.num_replicas", "exp.world_size", "exp.num_nodes", "host_class",
    "exp.framework", "exp.framework_version", "hw.nvidia_driver", "hw.cuda_version",
    "hw.cudnn_version", "container_image", "exp.model_config", "exp.seq_len",
    "exp.num_threads", "exp.data", "exp.input_shape",
)


def _declarations() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in sorted((ROOT / "config").glob("*.json")):
        for name, raw in json.loads(path.read_text(encoding="utf-8"))["parameters"].items():
            out.append((path.name, name, raw))
    return out


@pytest.mark.parametrize("origin,name,raw", _declarations(), ids=lambda v: v if isinstance(
    v, str) and "." in v and not v.endswith(".json") else "")
def test_every_parameter_has_a_group_and_roles(origin: str, name: str,
                                               raw: dict[str, Any]) -> None:
    assert raw.get("group") in GROUPS, f"{origin}: {name}: group {raw.get('group')!r}"
    roles = raw.get("roles")
    assert isinstance(roles, dict) and "id" in roles, f"{origin}: {name}: roles.id"
    assert set(roles) <= ROLE_KEYS, f"{origin}: {name}: unknown roles {set(roles) - ROLE_KEYS}"
    assert ("dlbs_unused" in roles) == (raw["group"] == "dlbs_unused"), f"{origin}: {name}"


def test_the_catalogue_holds_every_declared_parameter() -> None:
    assert list(catalogue.parameters()) == [name for _, name, _ in _declarations()]


def test_identity_fields_keep_the_order_stored_keys_were_made_of() -> None:
    assert identity.IDENTITY_FIELDS == STORED_KEY_ORDER


@pytest.mark.parametrize("parameter", catalogue.parameters().values(), ids=lambda p: p.name)
def test_roles_do_not_contradict(parameter: catalogue.Parameter) -> None:
    roles = parameter.roles
    keyed = roles.identity is not None or roles.key_when_not is not None or roles.serving_config
    assert sum((keyed, roles.not_identity is not None, roles.bookkeeping)) <= 1, parameter.name
    assert not (keyed and roles.id == "excluded"), f"{parameter.name}: identity but not in exp.id"
    assert not (roles.identity is not None and roles.key_when_not is not None), parameter.name


@cache
def _parser(program: str) -> dict[str, dict[str, Any]]:
    module, function = PARSERS[program]
    done = subprocess.run([sys.executable, "-c", _READ_PARSER, module, function],
                          cwd=ROOT / "python", capture_output=True, text=True, timeout=120,
                          check=True)
    return dict(json.loads(done.stdout))


def _same(value: Any, default: Any) -> bool:
    """Numbers compare as numbers (a declared ``1`` is a parser's ``1.0``), a bool only as a
    bool."""
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, numbers) and isinstance(default, numbers):
        return float(value) == float(default)
    return bool(value == default)


def _plain(value: Any) -> bool:
    return not (isinstance(value, str) and ("$(" in value or "${" in value))


@pytest.mark.parametrize("program", sorted(PARSERS))
def test_every_flag_is_one_the_program_accepts_with_the_same_default(program: str) -> None:
    parser, wrong = _parser(program), []
    for flag, name in catalogue.flags(program):
        declared = catalogue.parameters()[name].default
        action = parser.get(flag.name)
        if action is None:
            wrong.append(f"{name}: {flag.name} is no flag of {program}")
        elif flag.when == "nonzero":
            if action["default"] not in (None, 0, 0.0, ""):
                wrong.append(f"{name}: {flag.name} left out when 0 but defaults to "
                             f"{action['default']!r}")
        elif action["required"] or not _plain(declared) or name in OTHER_DEFAULTS:
            continue
        elif not _same(declared, action["default"]):
            wrong.append(f"{name}: default {declared!r}, {program}'s {flag.name} "
                         f"{action['default']!r}")
    assert not wrong, "\n".join(wrong)


def test_flags_passed_away_from_their_default_have_a_plain_one() -> None:
    for program in PARSERS:
        for flag, name in catalogue.flags(program, catalogue.WHEN_NOT_DEFAULT):
            assert _plain(catalogue.parameters()[name].default), name


def test_the_other_defaults_are_still_other() -> None:
    """An entry of ``OTHER_DEFAULTS`` that came to agree is taken out (the list only shrinks)."""
    for program in PARSERS:
        for flag, name in catalogue.flags(program):
            if name in OTHER_DEFAULTS:
                default = _parser(program)[flag.name]["default"]
                assert not _same(catalogue.parameters()[name].default, default), name


def test_a_missing_role_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.json").write_text(json.dumps(
        {"parameters": {"exp.new": {"val": 1, "type": "int", "desc": "new"}}}))
    monkeypatch.setattr(catalogue, "CONFIG_DIR", tmp_path)
    catalogue.parameters.cache_clear()
    try:
        with pytest.raises(catalogue.CatalogueError, match="x.json: parameter 'exp.new'.*group"):
            catalogue.parameters()
    finally:
        monkeypatch.undo()
        catalogue.parameters.cache_clear()


def test_every_slurm_parameter_is_a_field_of_the_slurm_settings() -> None:
    """``SlurmSettings`` reads each field from the parameter the catalogue declares for it:
    the group ``slurm`` of the catalogue and its fields are one list."""
    from dataclasses import fields

    from dlbs.experiment.view import SlurmSettings
    assert set(catalogue.view_fields()["slurm"]) == {f.name for f in fields(SlurmSettings)}
    assert set(catalogue.view_fields()["slurm"].values()) == set(catalogue.groups()["slurm"])


def test_every_computed_flag_is_one_the_benchmark_accepts() -> None:
    """``computed_flags`` name the benchmark's flags (torchrun's ``WORLD_SIZE`` apart), each
    computed from parameters that are no flag of their own."""
    parser, computed = _parser("benchmark"), catalogue.computed_flags()
    assert computed, "no computed flags declared"
    assert {flag for flag in computed if flag != "WORLD_SIZE"} <= set(parser), computed
    own = {name for _, name in catalogue.flags("benchmark")}
    assert not own & {name for names in computed.values() for name in names}, computed


def test_preflight_names_the_parameters_behind_a_computed_flag_in_catalogue_order() -> None:
    from dlbs.launchers.preflight import _named
    argv = ("--device", "cpu", "--forward_only", "false")
    assert _named(("--device", "--forward_only", "WORLD_SIZE"), argv, 2) == (
        "exp.gpus/exp.device_type=cpu (--device), exp.phase=false (--forward_only), "
        "exp.num_replicas=2 (torchrun's WORLD_SIZE)")

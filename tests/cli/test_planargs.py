"""dlbs.cli.planargs: the environment expansion sees, the time stamp, lazy plan loading."""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import pytest

import dlbs
from dlbs.cli.planargs import (
    add_plan_arguments,
    load_experiments,
    make_environ,
    open_plan,
    set_timestamp,
)
from dlbs.engine import Config


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_plan_arguments(parser)
    return parser.parse_args(list(argv))


def test_environ_adds_dlbs_root_python_and_pwd_when_missing(tmp_path: Any,
                                                            monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    environ = make_environ({"HOME": "/home/me"})
    assert environ == {"HOME": "/home/me", "DLBS_ROOT": str(dlbs.PROJECT_ROOT),
                       "DLBS_PYTHON": sys.executable, "PWD": str(tmp_path),
                       # empty when unset, as DLBS's experimenter.py makes them
                       "CUDA_CACHE_PATH": "", "http_proxy": "", "https_proxy": ""}


def test_environ_keeps_given_values() -> None:
    given = {"DLBS_ROOT": "/opt/dlbs", "DLBS_PYTHON": "/usr/bin/python3", "PWD": "/w",
             "CUDA_CACHE_PATH": "/c", "http_proxy": "http://p:3128", "https_proxy": "h"}
    assert make_environ(given) == given


@pytest.mark.parametrize("value,expected", [
    pytest.param("", r"\d{8}-\d{6}", id="empty-is-set"),
    pytest.param("mine", "mine", id="kept"),
])
def test_set_timestamp(value: str, expected: str) -> None:
    config = Config(parameters={"sys.timestamp": value})
    set_timestamp(config)
    assert re.fullmatch(expected, config.parameters["sys.timestamp"])


def test_set_timestamp_leaves_a_config_without_it_alone() -> None:
    config = Config(parameters={"a": 1})
    set_timestamp(config)
    assert config.parameters == {"a": 1}


def test_plan_is_built_and_expanded_lazily() -> None:
    args = _args("-Vexp.model=[\"a\", \"b\"]", "-Vexp.replica_batch=[1, 2, 3]")
    built = open_plan(args).experiments
    first = next(built)
    assert first["exp.model"] == "a" and str(first["exp.effective_batch"]).startswith("$(")
    experiments = load_experiments(args)
    assert not isinstance(experiments, (list, tuple))
    assert next(experiments)["exp.effective_batch"] == 1
    assert len(list(experiments)) == 5


def test_config_errors_surface_before_iteration() -> None:
    from dlbs.errors import ConfigError
    with pytest.raises(ConfigError, match="not found"):
        load_experiments(_args("--config", "/no/such/file.json"))


def test_attached_and_separate_forms_parse_alike() -> None:
    attached = _args("-Pa=1", "-Vb=[2]", '-E{"parameters": {}}', "--config=c.json")
    separate = _args("-P", "a=1", "-V", "b=[2]", "-E", '{"parameters": {}}', "--config", "c.json")
    assert vars(attached) == vars(separate)

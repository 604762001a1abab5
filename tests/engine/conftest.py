"""Helpers of the engine tests: merge a config, build its plan, expand it."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dlbs.engine import build_plan, expand_plan, merge_configs

Plan = list[dict[str, Any]]


def _merge(parameters: Mapping[str, Any] | None = None, variables: Mapping[str, Any] | None = None,
           extensions: list | None = None, params: Mapping[str, Any] | None = None):
    raw: dict[str, Any] = {"parameters": dict(parameters or {})}
    if variables is not None:
        raw["variables"] = dict(variables)
    if extensions is not None:
        raw["extensions"] = list(extensions)
    return merge_configs([("test.json", raw)], params=params)


@pytest.fixture
def plan_of() -> Callable[..., Plan]:
    """Return ``plan_of(parameters, variables=, extensions=, params=)``: the unexpanded plan."""
    def plan(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> Plan:
        return list(build_plan(_merge(parameters, **kwargs)))
    return plan


@pytest.fixture
def expanded() -> Callable[..., Plan]:
    """Return ``expanded(parameters, variables=, extensions=, params=, environ=)``."""
    def expand(parameters: Mapping[str, Any] | None = None, environ: Mapping[str, str] = {},
               **kwargs: Any) -> Plan:
        config = _merge(parameters, **kwargs)
        return list(expand_plan(build_plan(config), config.specs, environ))
    return expand


@pytest.fixture
def expand_one(expanded: Callable[..., Plan]) -> Callable[..., dict[str, Any]]:
    """Return ``expand_one(parameters, ...)``: the one expanded experiment of a config."""
    def one(parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        (experiment,) = expanded(parameters, **kwargs)
        return experiment
    return one

"""Property-based fuzzing: whatever the configs, values and expressions, only DLBSErrors escape.

It also checks that ``expand_plan`` (which re-uses work between consecutive experiments, and
recalls the groups of names it re-resolved) gives exactly what ``expand_experiment`` gives for
each experiment alone, errors included.
"""
from __future__ import annotations

import itertools
import math
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dlbs.engine.expand as expand_module
from dlbs.engine import build_plan, expand_experiment, expand_plan, merge_configs
from dlbs.errors import DLBSError

NAMES = ["a", "b", "c.d", "exp.id", "exp.log_file", "exp.model", "sys.t", "E",
         "__condition.a_0", "x"]
EXPRESSION_PIECES = [
    "1", "2.5", "'s'", "${a}", "${b}", "${x}", "'${c.d}'", " + ", " * ", " ** ", " / ", " % ",
    " if ", " else ", " and ", " not ", "(", ")", "[", "]", ",", "len(", "str(", "int(",
    "range(", "re.sub(", "'a'.split(", ".upper()", "__class__", ".", "x", "for", " in ",
    "[i for i in range(3)]", "math.pi", "json.dumps(", "{", "}", ":", "9**9**9", "'a'*10**9",
    "open(", "os.path.join(", "lambda", "'%s'", "'{}'.format(",
    "param('a')", "param('b')", "param('x')", "param('E')", "param(",
]

names = st.sampled_from(NAMES)
scalars = st.one_of(st.integers(-3, 3), st.floats(allow_nan=True, width=32), st.booleans(),
                    st.none(), st.sampled_from(["", "0", "1", "true", "no", "007", "x"]))
expressions = st.lists(st.sampled_from(EXPRESSION_PIECES), max_size=6).map("".join)
pieces = st.one_of(
    st.sampled_from(["$", "{", "}", "(", ")", "$$", "${", "$(", ")$", "}$", " ", "-"]),
    names.map(lambda n: f"${{{n}}}"),
    names.map(lambda n: f"${{${{{n}}}}}"),
    names.map(lambda n: f"${{{n}.d}}"),
    expressions.map(lambda e: f"$({e})$"),
    st.text(alphabet="ab.$(){} ", max_size=4),
)
templates = st.lists(pieces, max_size=4).map("".join)
values = st.one_of(scalars, templates, st.lists(st.one_of(scalars, templates), max_size=3))
definitions = st.fixed_dictionaries(
    {"val": values},
    optional={"type": st.sampled_from(["int", "str", "float", "bool", "list"]),
              "val_domain": st.lists(scalars, max_size=3), "desc": st.just("d")})
parameters = st.dictionaries(names, st.one_of(values, definitions), max_size=8)
conditions = st.dictionaries(names, st.one_of(
    scalars, st.sampled_from(["a", "(a)(.*)", "[", "", ".*", "x$"]), st.lists(scalars, max_size=2)),
    max_size=2)
extensions = st.lists(st.fixed_dictionaries(
    {}, optional={"condition": conditions, "parameters": st.dictionaries(names, values, max_size=2),
                  "cases": st.lists(st.dictionaries(names, values, max_size=2), max_size=3)}),
    max_size=3)
configs = st.fixed_dictionaries({"parameters": parameters}, optional={
    "variables": st.dictionaries(names, st.lists(values, max_size=3), max_size=2),
    "extensions": extensions})
environs = st.dictionaries(st.sampled_from(["E", "x", "HOME", "a"]), st.text(max_size=5), max_size=3)


def _outcome(function: Any, *args: Any) -> Any:
    """Return the result, or ('error', message) for a DLBSError."""
    try:
        return function(*args)
    except DLBSError as err:
        return ("error", type(err).__name__, str(err))


def _expand_together(plan: list, specs: Any, environ: dict) -> list:
    outcomes: list[Any] = []
    try:
        outcomes.extend(expand_plan(plan, specs, environ))
    except DLBSError as err:
        outcomes.append(("error", type(err).__name__, str(err)))
    return outcomes


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(configs, configs, st.dictionaries(names, values, max_size=3),
       st.dictionaries(names, st.one_of(values, st.lists(values, max_size=2)), max_size=2),
       environs)
def test_only_dlbs_errors_escape_and_plan_expansion_matches_single(
        default: dict, user: dict, params: dict, variables: dict, environ: dict) -> None:
    try:
        config = merge_configs([("user.json", user)], params, variables,
                               defaults=[("base.json", default)])
        plan = list(itertools.islice(build_plan(config), 30))
    except DLBSError:
        return
    alone = [_outcome(expand_experiment, exp, config.specs, environ) for exp in plan]
    together = _expand_together(plan, config.specs, environ)
    with mock.patch.object(expand_module, "FRESH_RATIO", 2.0):  # always re-use the previous work
        _check_same(_expand_together(plan, config.specs, environ), alone, len(plan))
        with mock.patch.object(expand_module, "GROUP_MIN", 0):  # every group memoised, recalled
            _check_same(_expand_together(plan * 2, config.specs, environ), alone * 2,
                        2 * len(plan))
    _check_same(together, alone, len(plan))


def _check_same(together: list, alone: list, size: int) -> None:
    """Check that expanding a plan gave what expanding each experiment alone gives."""
    for got, expected in zip(together, alone):
        if isinstance(expected, dict) and isinstance(got, dict):
            assert list(got) == list(expected)
            assert _comparable(got) == _comparable(expected)
        else:
            assert got == expected
    if not together or not isinstance(together[-1], tuple):
        assert len(together) == size


def _comparable(experiment: dict) -> dict:
    """Values with NaN made comparable (NaN != NaN)."""
    return {k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
            for k, v in experiment.items()}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_values_expand_or_raise_dlbs_error(text: str) -> None:
    _outcome(expand_experiment, {"v": text, "a": "1"}, {}, {"E": "e"})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(EXPRESSION_PIECES), max_size=10).map("".join))
def test_arbitrary_expressions_evaluate_or_raise_dlbs_error(expression: str) -> None:
    _outcome(expand_experiment, {"v": f"$({expression})$", "a": "1", "b": "2", "x": "3",
                                 "c.d": "4"}, {}, {})


#: Values computed from others ('a' changes from one experiment to the next, the rest follow).
computed = st.dictionaries(st.sampled_from(["b", "c.d", "x", "exp.log_file", "exp.model"]),
                           templates, min_size=2, max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(computed, st.lists(values, min_size=2, max_size=3), environs,
       st.sampled_from(["", "fixed"]))
def test_recalled_groups_match_single(parameters: dict, driver: list, environ: dict,
                                      experiment_id: str) -> None:
    # Every experiment re-resolves what depends on 'a' (a group), each combination recalled
    # from the plan's memo the second and third time round.
    plan = [{"exp.id": experiment_id, "E": "e", **parameters, "a": value}
            for value in driver] * 3
    alone = [_outcome(expand_experiment, exp, {}, environ) for exp in plan]
    with mock.patch.object(expand_module, "GROUP_MIN", 0), \
            mock.patch.object(expand_module, "FRESH_RATIO", 2.0):
        _check_same(_expand_together(plan, {}, environ), alone, len(plan))


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(width=16),
              st.sampled_from(["", "a", "${a}", "$(1)$", "int", "(", "val"])),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(["parameters", "variables", "extensions", "val",
                                                   "type", "desc", "val_domain", "condition",
                                                   "cases", "a", "b"]), st.integers(0, 1)),
                        children, max_size=4)),
    max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_like, json_like, st.dictionaries(st.one_of(names, st.integers(0, 1)), json_like,
                                             max_size=2))
def test_arbitrary_raw_configs_merge_build_and_expand_or_raise_dlbs_error(
        default: Any, user: Any, params: dict) -> None:
    try:
        config = merge_configs([("user.json", user)], params, defaults=[("base.json", default)])
        plan = list(itertools.islice(build_plan(config), 10))
        list(expand_plan(plan, config.specs, {}))
    except DLBSError:
        pass

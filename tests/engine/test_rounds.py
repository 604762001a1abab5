"""The order of repeated runs (issue 19, "sessions are not runs"): randomized rounds (RMIT).

Every round runs each repeated experiment once, in a fresh seeded random order; the order is
the same for the same plan and seed (resume, ``print`` then ``run``); ``fixed`` keeps the
round-robin order of before; a plan without repeats keeps its plan order.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from dlbs.config import load_default_configs
from dlbs.engine import build_plan, expand_experiment, expand_plan, merge_configs
from dlbs.engine.rounds import round_order
from dlbs.errors import ExpansionError

ENVIRON = {"DLBS_ROOT": "/r", "DLBS_PYTHON": "python3", "PWD": "/w"}
EIGHT = {"exp.model": ["a", "b"], "exp.replica_batch": [1, 2], "exp.phase": ["training",
                                                                             "inference"]}
Plan = list[dict[str, Any]]


def _config(parameters: dict[str, Any], variables: dict[str, Any] | None = None) -> Any:
    raw = {"parameters": {"exp.gpus": "", "exp.log_dir": "/l", **parameters},
           "variables": variables if variables is not None else EIGHT}
    return merge_configs([("test.json", raw)], defaults=load_default_configs())


def expanded(parameters: dict[str, Any], variables: dict[str, Any] | None = None) -> Plan:
    """The expanded plan of a config over the default configs."""
    config = _config(parameters, variables)
    return list(expand_plan(build_plan(config), config.specs, ENVIRON))


def config_of(run: dict[str, Any]) -> tuple[Any, ...]:
    return run["exp.model"], run["exp.replica_batch"], run["exp.phase"]


def rounds_of(plan: Plan) -> list[list[tuple[Any, ...]]]:
    """The configurations of each round, in the order they run (rounds must not overlap)."""
    rounds: list[list[tuple[Any, ...]]] = []
    for run in plan:
        index = run["exp.repeat_index"]
        if index == len(rounds):
            rounds.append([])
        assert index == len(rounds) - 1, "a run of an earlier round came after a later round"
        rounds[index].append(config_of(run))
    return rounds


def order(plan: Plan) -> list[tuple[Any, ...]]:
    return [(run["exp.repeat_index"], run["exp.round_position"], *config_of(run)) for run in plan]


# --- each round holds every configuration once, in its own order --------------------------

@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_every_round_runs_each_configuration_once_in_a_fresh_order(seed: int) -> None:
    plan = expanded({"exp.repeat": 5, "exp.order_seed": seed})
    rounds = rounds_of(plan)
    configs = sorted(set(map(config_of, plan)))
    assert len(rounds) == 5 and all(sorted(r) == configs for r in rounds)
    assert len({tuple(r) for r in rounds}) >= 4  # 8! orders: rounds differ
    assert [r["exp.round_position"] for r in plan] == list(range(8)) * 5


def test_round_zero_is_shuffled_too() -> None:
    """RMIT: no round runs in plan order by construction (round 0 included)."""
    plan_order = [config_of(e) for e in expanded({})]
    firsts = {tuple(rounds_of(expanded({"exp.repeat": 2, "exp.order_seed": seed}))[0])
              for seed in range(10)}
    assert len(firsts) == 10 and tuple(plan_order) not in firsts


def test_every_configuration_takes_every_position_about_equally_often() -> None:
    """The shuffle is uniform: over 2000 seeds, each of 4 configurations is at each position
    500 times +- 80 (4 standard deviations of a fair draw: 19.4)."""
    counts = Counter((config, position) for seed in range(2000)
                     for position, config in enumerate(round_order(4, seed, 0)))
    assert len(counts) == 16 and all(420 <= n <= 580 for n in counts.values()), counts


def test_rounds_have_independent_orders() -> None:
    """Round r's order depends on the seed and r alone: more rounds keep the earlier ones."""
    assert [round_order(6, 3, r) for r in range(3)] == [round_order(6, 3, r) for r in range(3)]
    three = rounds_of(expanded({"exp.repeat": 3}))
    five = rounds_of(expanded({"exp.repeat": 5}))
    assert five[:3] == three


# --- reproducible: resume, print then run ----------------------------------------------------

def test_the_order_is_the_same_for_the_same_plan_and_seed() -> None:
    """A stopped sweep run again expands to the same order (sys.timestamp differs each time
    the CLI builds a plan: it must not matter), so skipping the runs done resumes it in order."""
    first = expanded({"exp.repeat": 4, "sys.timestamp": "20260101-000000"})
    again = expanded({"exp.repeat": 4, "sys.timestamp": "20260102-120000"})
    assert order(first) == order(again)
    assert [e["exp.log_file"] for e in first] == [e["exp.log_file"] for e in again]
    other = expanded({"exp.repeat": 4, "exp.order_seed": 1})
    assert order(other) != order(first) and sorted(order(other)) != sorted(order(first))


@pytest.mark.parametrize("mode", ["random", "fixed", "sequential"])
def test_a_printed_plan_keeps_its_order(mode: str) -> None:
    """``print``'s output used as a plan: every run carries its place and keeps it."""
    printed = expanded({"exp.repeat": 3, "exp.interleave": mode})
    config = _config({})
    assert list(expand_plan(iter(printed), config.specs, ENVIRON)) == printed


def test_a_printed_plan_missing_runs_gets_them_in_later_rounds() -> None:
    printed = expanded({"exp.repeat": 3})
    kept = [e for e in printed if e["exp.repeat_index"] < 2]
    config = _config({})
    again = list(expand_plan(iter(kept), config.specs, ENVIRON))
    assert again[:len(kept)] == kept
    assert sorted(map(config_of, again[len(kept):])) == sorted(set(map(config_of, printed)))


# --- the other orders and the plans they leave alone -----------------------------------------

@pytest.mark.parametrize("mode", ["random", "fixed", "sequential"])
def test_a_plan_without_repeats_keeps_its_plan_order(mode: str) -> None:
    config = _config({"exp.interleave": mode})
    built = list(build_plan(config))
    plan = list(expand_plan(iter(built), config.specs, ENVIRON))
    assert plan == [expand_experiment(e, config.specs, ENVIRON) for e in built]
    assert {e["exp.round_position"] for e in plan} == {-1}


def test_fixed_is_the_round_robin_of_before() -> None:
    plan = expanded({"exp.repeat": 3, "exp.interleave": "fixed"})
    configs = [config_of(e) for e in expanded({})]
    assert order(plan) == [(r, p, *c) for r in range(3) for p, c in enumerate(configs)]


def test_sequential_runs_each_experiment_back_to_back() -> None:
    plan = expanded({"exp.repeat": 3, "exp.interleave": "sequential"})
    configs = [config_of(e) for e in expanded({})]
    assert order(plan) == [(r, p, *c) for p, c in enumerate(configs) for r in range(3)]


@pytest.mark.parametrize("mode", ["random", "fixed"])
def test_experiments_that_run_once_come_first_in_random_mode(mode: str) -> None:
    """Single runs stream in plan order; random rounds follow the whole plan (round 0 too),
    fixed streams each run 0 where it is in the plan (as before)."""
    variables = {"exp.model": ["a", "b", "c"]}
    twice = {"exp.repeat": "$(2 if '${exp.model}' != 'b' else 1)$", "exp.interleave": mode}
    plan = [(e["exp.model"], e["exp.repeat_index"], e["exp.round_position"])
            for e in expanded(twice, variables)]
    if mode == "fixed":
        assert plan == [("a", 0, 0), ("b", 0, -1), ("c", 0, 1), ("a", 1, 0), ("c", 1, 1)]
    else:
        assert plan[0] == ("b", 0, -1)
        assert [(index, p) for _, index, p in plan[1:]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        assert {m for m, *_ in plan[1:3]} == {m for m, *_ in plan[3:]} == {"a", "c"}


def test_experiments_that_run_once_stream_before_the_plan_is_read() -> None:
    config = _config({"exp.repeat": "$(2 if '${exp.model}' == 'b' else 1)$"},
                     {"exp.model": ["a", "b", "c"]})
    read: list[str] = []

    def plan() -> Any:
        for experiment in build_plan(config):
            read.append(experiment["exp.model"])
            yield experiment

    runs = expand_plan(plan(), config.specs, ENVIRON)
    assert (next(runs)["exp.model"], read) == ("a", ["a"])
    assert (next(runs)["exp.model"], read) == ("c", ["a", "b", "c"])


def test_the_order_parameters_leave_the_experiment_id_alone() -> None:
    ids = {tuple(e["exp.id"] for e in expanded({"exp.repeat": 2, **params})
                 if e["exp.repeat_index"] == 0 and e["exp.model"] == "a"
                 and e["exp.replica_batch"] == 1 and e["exp.phase"] == "training")
           for params in ({}, {"exp.interleave": "fixed"}, {"exp.order_seed": 9},
                          {"exp.interleave": "sequential"})}
    assert len(ids) == 1


# --- errors ---------------------------------------------------------------------------------

Check = Callable[[], Plan]


@pytest.mark.parametrize("params,variables,message", [
    pytest.param({"exp.repeat": 2, "exp.order_seed": -1}, None,
                 "parameter 'exp.order_seed': -1 is not an integer from 0 to 9223372036854775807 "
                 "(the seed of the rounds' random order); give one, e.g. -Pexp.order_seed=7",
                 id="negative-seed"),
    pytest.param({"exp.repeat": 2, "exp.interleave": "shuffle"}, None,
                 "parameter 'exp.interleave': value 'shuffle' is not allowed; allowed values: random, "
                 "fixed, sequential", id="unknown-mode"),
    pytest.param({"exp.repeat": 2}, {"exp.model": ["a", "b"], "exp.interleave": ["random",
                                                                                "fixed"]},
                 "parameter 'exp.interleave': 'fixed' here, 'random' in an earlier repeated "
                 "experiment; a plan's repeated runs share one order, so give it once for the "
                 "whole plan, e.g. -Pexp.interleave=random", id="two-modes"),
    pytest.param({"exp.repeat": 2}, {"exp.model": ["a", "b"], "exp.order_seed": [1, 2]},
                 "parameter 'exp.order_seed': 2 here, 1 in an earlier repeated experiment",
                 id="two-seeds"),
])
def test_a_bad_order_is_one_line_naming_the_parameter(params: dict[str, Any],
                                                      variables: dict[str, Any] | None,
                                                      message: str) -> None:
    with pytest.raises(ExpansionError) as err:
        expanded(params, variables)
    assert str(err.value).startswith(message)
    assert err.value.param == message.split("'")[1]


def test_an_undeclared_order_is_checked_by_the_engine_too() -> None:
    """A plan without the default declarations (no domain, no cast) still gets one line."""
    plan = [{"exp.model": "a", "exp.repeat": 2, "exp.interleave": "shuffle"}]
    with pytest.raises(ExpansionError, match="^parameter 'exp.interleave': 'shuffle' is not one "
                       "of random, fixed, sequential"):
        list(expand_plan(iter(plan), {}, {}))

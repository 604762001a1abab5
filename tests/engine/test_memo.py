"""Results of ``$(...)$`` memoised on the values they read (``dlbs.engine.memo``).

A plan's experiments evaluate each expression that reads other parameters once for each
combination of the values it read, not once an experiment; the memo must never give a result a
fresh evaluation would not: values that only look alike (``1``/``True``/``1.0``, ``0.0``/``-0.0``)
are told apart, identities and randomness are never memoised on, and a recalled expression
records the same dependencies and raises the same errors.
"""
from __future__ import annotations

import itertools
import sys
from typing import Any

import pytest

from dlbs.engine import evaluator, expand_experiment, expand_plan
from dlbs.engine import expand as expand_module
from dlbs.engine.memo import Memo, value_key
from dlbs.engine.resolver import Resolver
from dlbs.errors import ExpansionError


class _CountingSandbox(evaluator.Sandbox):
    """The sandbox, counting the evaluations that run (one sandbox each)."""

    runs = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).runs += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def sandboxes(monkeypatch: pytest.MonkeyPatch) -> type[_CountingSandbox]:
    """Count evaluations; start from an empty memo."""
    monkeypatch.setattr(evaluator, "Sandbox", _CountingSandbox)
    monkeypatch.setattr(evaluator, "_MEMO", Memo(evaluator._MEMO_LIMIT))
    _CountingSandbox.runs = 0
    return _CountingSandbox


def _expand(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(expand_plan(plan, {}, {"DLBS_PYTHON": "/usr/bin/python3"}))


def _grid(**values: list[Any]) -> list[dict[str, Any]]:
    """Experiments of every combination, the last name changing fastest."""
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*values.values())]


def test_an_expression_runs_once_per_combination_of_the_values_it_reads(
        sandboxes: type[_CountingSandbox]) -> None:
    # 'g' changes fastest, so 'n' is re-resolved in every experiment (as exp.gpus does).
    plan = [{**row, "n": "$(len(param('g').split(',')) * param('b'))$"}
            for row in _grid(b=[1, 2], g=["0", "0,1", "1", "2,3", "0,1,2,3"])] * 20
    out = _expand(plan)
    assert [row["n"] for row in out[:10]] == ["1", "2", "1", "2", "4", "2", "4", "2", "4", "8"]
    assert sandboxes.runs == 10  # 200 experiments, 10 combinations of (g, b)


@pytest.mark.parametrize("values", [
    pytest.param([1, True, 1.0, "1"], id="int-bool-float-text"),
    pytest.param([0, False, 0.0, -0.0, None, ""], id="zeros"),
    pytest.param([2, 2.0, 2 ** 70, float(2 ** 70)], id="big-numbers"),
])
def test_values_that_compare_equal_are_not_confused(values: list[Any]) -> None:
    plan = [{"v": v, "p": "$([param('v')])$"} for v in values] * 2
    fresh = [str([v]) for v in values] * 2
    assert [row["p"] for row in _expand(plan)] == fresh


def test_a_nan_is_never_memoised_on(sandboxes: type[_CountingSandbox]) -> None:
    plan = [{"v": float("nan"), "p": "$(param('v') in [param('v')])$", "i": i} for i in range(3)]
    assert {row["p"] for row in _expand(plan)} == {"True"}
    assert value_key(float("nan")) is None


def test_an_expression_comparing_identities_is_evaluated_every_time(
        sandboxes: type[_CountingSandbox]) -> None:
    # Two equal texts may be one object or two: only equality follows from the values.
    plan = [{"a": a, "p": "$(param('a') is param('a'))$"} for a in ["x", "y"] * 3]
    assert {row["p"] for row in _expand(plan)} == {"True"}
    assert sandboxes.runs == 6


def test_a_comparison_with_none_true_or_false_is_memoised(
        sandboxes: type[_CountingSandbox]) -> None:
    plan = [{"a": a, "p": "$(param('a') is None or param('a') is True)$"}
            for a in [None, True, 1, None, True, 1]]
    assert [row["p"] for row in _expand(plan)] == ["True", "True", "False"] * 2
    assert sandboxes.runs == 3


def test_randomness_is_never_memoised() -> None:
    plan = [{"a": a, "p": "$(uuid.uuid4().hex + str(param('a')))$"} for a in [1, 2] * 3]
    assert len({row["p"] for row in _expand(plan)}) == 6


def test_the_branch_taken_decides_what_is_read_next(sandboxes: type[_CountingSandbox]) -> None:
    expression = "$(param('x') if param('k') == 'x' else param('y'))$"
    plan = [{"k": k, "x": x, "y": y, "p": expression}
            for k, x, y in [("x", 1, 2), ("y", 1, 2), ("x", 3, 2), ("y", 3, 4), ("x", 3, 4)]]
    assert [row["p"] for row in _expand(plan)] == ["1", "2", "3", "4", "3"]
    assert sandboxes.runs == 4  # the last one read k='x', x=3 as the third did


def test_a_recalled_result_records_what_it_read() -> None:
    # 'p' is memoised on (b=1); the third experiment changes 'c', which 'p' never read, then
    # 'b': the dependencies recorded on a recall must still make 'p' follow 'b'.
    plan = [{"b": b, "c": c, "p": "$(param('b') * 10)$"} for b, c in [(1, 0), (1, 1), (1, 2),
                                                                          (2, 2)]]
    _expand(plan[:1])
    out = _expand(plan)
    assert [row["p"] for row in out] == ["10", "10", "10", "20"]


def test_a_recalled_expression_raises_what_a_fresh_one_would() -> None:
    expression = "$(param('a') + param(param('which')))$"
    _expand([{"a": 1, "which": "b", "b": 2, "p": expression}])  # memoised: reads a, which, b
    with pytest.raises(ExpansionError, match=r"parameter 'p': undefined reference "
                                             r"param\('b'\); define it with -Pb=VALUE"):
        _expand([{"a": 1, "which": "b", "p": expression}])


def test_the_memo_is_keyed_on_the_python_too() -> None:
    plan = [{"a": 1, "p": "$(sys.executable + str(param('a')))$"}]
    first = next(expand_plan(plan, {}, {"DLBS_PYTHON": "/a/python"}))["p"]
    second = next(expand_plan(plan, {}, {"DLBS_PYTHON": "/b/python"}))["p"]
    assert (first, second) == ("/a/python1", "/b/python1")


def test_a_root_that_misses_every_time_is_given_up() -> None:
    memo = Memo(1_000)
    for index in range(200):  # what it reads changes every time (exp.log_file reads exp.id)
        trail: list[tuple[Any, Any]] = []
        assert memo.recall("root", lambda site, i=index: i, trail) is None
        memo.remember("root", [("site", index)], str(index))
    assert memo.roots["root"] is None and memo.steps < 200


def test_the_memo_is_emptied_when_full() -> None:
    memo = Memo(10)
    for index in range(30):
        memo.remember(("r", index), [("site", index)], "x")
    assert memo.steps <= 10


def test_keys_tell_apart_what_expressions_can() -> None:
    assert value_key(-0.0) != value_key(0.0) and value_key(1) != value_key(True) != \
        value_key(1.0)
    assert value_key("x" * 20_000) is None and value_key([1]) is None  # never memoised on


def test_a_value_naming_its_log_by_the_id_is_rendered_once_an_experiment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Like exp.log_file: it reads exp.id, whose hash leaves it out; rendering it while the hash
    # is pending only to stop at ${exp.id} cost a second rendering of every experiment.
    rendered: list[str] = []
    render = Resolver.render

    def counting(self: Resolver, parts: tuple, owner: str) -> str:
        rendered.append(owner)
        return render(self, parts, owner)
    monkeypatch.setattr(Resolver, "render", counting)
    plan = [{"exp.id": "", "m": m, "b": b, "log": "${m}_${exp.id}_$('b' + str(param('b')))$"}
            for m in ["x", "y"] for b in [1, 2, 3]]
    out = _expand(plan)
    # Twice only where nothing tells: the first experiment, and the fourth, where 'm', read
    # before exp.id, changed (it might not read exp.id any more).
    assert rendered.count("log") == 6 + 2
    assert [row["log"] for row in out] == [f"{row['m']}_{row['exp.id']}_b{row['b']}"
                                           for row in out]


@pytest.mark.parametrize("values", [pytest.param([0, 1], id="stops-reading-the-id"),
                                    pytest.param([1, 0], id="starts-reading-the-id")])
def test_a_value_that_reads_the_id_only_sometimes_is_hashed_as_alone(values: list[int]) -> None:
    # Whether 'p' reads exp.id depends on 'a', read first: the id of each experiment is the
    # one it has expanded alone (a value that reads exp.id is left out of the hash).
    plan = [{"exp.id": "", "a": a, "p": "$('x' if param('a') else param('exp.id'))$"}
            for a in values]
    alone = [expand_experiment(experiment, {}, {})["exp.id"] for experiment in plan]
    assert [row["exp.id"] for row in expand_plan(plan, {}, {})] == alone


# A plan's group of re-resolved names (``Resolver.resolve_group``): 'g' changes fastest, and
# 'n', 'm', 'k' and 'label' are computed from it (as exp.num_local_gpus and the rest are from
# exp.gpus), so each experiment re-resolves them together.
_GROUP = {"n": "$(len(param('g').split(',')))$", "m": "$(int(param('n')) * param('b'))$",
          "k": "${m}x${n}", "label": "$('many' if int(param('m')) > 2 else 'few')$"}


def _renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The owners of the templates rendered from now on."""
    rendered: list[str] = []
    render = Resolver.render

    def counting(self: Resolver, parts: tuple, owner: str) -> str:
        rendered.append(owner)
        return render(self, parts, owner)
    monkeypatch.setattr(Resolver, "render", counting)
    return rendered


def _alone(plan: list[dict[str, Any]], environ: dict[str, str] | None = None
           ) -> list[dict[str, Any]]:
    return [expand_experiment(experiment, {}, environ or {}) for experiment in plan]


def test_a_group_is_resolved_once_per_combination_of_what_it_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plan = [{**row, **_GROUP} for row in _grid(b=[1, 2], g=["0", "0,1", "1", "2,3", "0,1,2"])]
    plan *= 20  # 200 experiments, 10 combinations of (b, g)
    alone = _alone(plan)
    rendered = _renders(monkeypatch)
    assert list(expand_plan(plan, {}, {})) == alone
    assert rendered.count("k") <= 10 + 1  # once per combination (and the first experiment)


def test_a_recalled_group_records_what_it_read() -> None:
    # The group is recalled for (b=1, g='0'); then 'b' changes alone: the dependencies the
    # recall recorded must make the group follow 'b'.
    plan = [{"b": b, "g": g, **_GROUP} for b, g in
            [(1, "0"), (1, "0,1"), (1, "0"), (1, "0,1"), (2, "0,1"), (2, "0"), (3, "0")]]
    assert list(expand_plan(plan, {}, {})) == _alone(plan)


@pytest.mark.parametrize("values", [
    pytest.param([1, True, 1.0, "1"], id="int-bool-float-text"),
    pytest.param([0, False, 0.0, -0.0, None, ""], id="zeros"),
])
def test_a_group_tells_apart_values_that_compare_equal(values: list[Any]) -> None:
    plan = [{"v": v, "g": g, "p": "$([param('v'), param('g')])$", "q": "${p}${v}",
             "r": "$(str(param('q')) + param('g'))$"} for v in values for g in ["a", "b"]] * 2
    assert list(expand_plan(plan, {}, {})) == _alone(plan)


def test_a_group_comparing_identities_is_resolved_every_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plan = [{"a": a, "g": g, "p": "$(param('a') is param('g'))$", "q": "${p}${g}",
             "r": "${q}${a}"} for a in ["x", "y"] for g in ["x", "y"]] * 3
    alone = _alone(plan)
    rendered = _renders(monkeypatch)
    assert list(expand_plan(plan, {}, {})) == alone
    assert rendered.count("p") == len(plan)


def test_a_group_using_randomness_is_resolved_every_time() -> None:
    plan = [{"g": g, "p": "$(uuid.uuid4().hex + param('g'))$", "q": "${p}", "r": "${q}"}
            for g in ["a", "b"]] * 3
    assert len({row["r"] for row in expand_plan(plan, {}, {})}) == len(plan)


def test_a_recalled_group_reads_the_environment_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = [{"g": g, "p": "${E}-${g}", "q": "$(param('p') + param('E'))$", "r": "${q}${g}"}
            for g in ["a", "b", "c"]] * 3
    environ = {"E": "e"}
    assert list(expand_plan(plan, {}, environ)) == _alone(plan, environ)


def test_a_recalled_group_raises_what_a_fresh_one_would() -> None:
    # The group of 'g' is memoised for '1' and '2'; with '0' it fails as it does alone.
    plan = [{"g": g, "p": "$(10 // int(param('g')))$", "q": "${p}", "r": "${q}${g}"}
            for g in ["1", "2", "1", "2", "0"]]
    with pytest.raises(ExpansionError) as alone:
        expand_experiment(plan[-1], {}, {})
    with pytest.raises(ExpansionError) as together:
        list(expand_plan(plan, {}, {}))
    assert str(together.value) == str(alone.value)
    assert "ZeroDivisionError" in str(alone.value)


def test_a_group_reading_a_name_in_another_form_follows_its_value() -> None:
    # '${ｍ}' (full-width) reads 'm': the group of 'g' is memoised with m=1 for both values of
    # 'g'; once 'm' is 2, changing 'g' alone must not recall the values computed with m=1.
    plan = [{"m": m, "g": g, "p": "${\uff4d}${g}", "q": "${p}", "r": "${q}"}
            for m, g in [(1, "a"), (1, "b"), (1, "a"), (2, "a"), (2, "b")]]
    out = list(expand_plan(plan, {}, {}))
    assert [row["r"] for row in out] == ["1a", "1b", "1a", "2a", "2b"]
    assert out == _alone(plan)


def test_a_value_read_by_the_id_after_a_group_is_rendered_once_an_experiment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 'dev' is re-resolved with the GPU list but keeps its value: 'log', which reads it before
    # exp.id, would stop at exp.id again, so it is rendered once the id is known, not before.
    plan = [{"exp.id": "", "g": g, "n": "$(len(param('g')))$",
             "dev": "$('gpu' if int(param('n')) > 0 else 'cpu')$", "log": "${dev}_${exp.id}"}
            for g in ["0", "0,1", "1"]] * 4
    alone = _alone(plan)
    rendered = _renders(monkeypatch)
    assert list(expand_plan(plan, {}, {})) == alone
    assert rendered.count("log") == len(plan) + 1  # twice only in the first experiment


def test_a_group_raises_the_error_plan_order_gives_first() -> None:
    # With g='zz', 'log' (before 'late' in the plan) fails first, though the names that read
    # exp.id are resolved after the others; 'late' fails too.
    plan = [{"exp.id": "", "g": g, "a": 1, "b": 2, "early": "${g}!", "log": "${${g}}_${exp.id}",
             "late": "$(1 // (len(param('g')) - 2))$"} for g in ["a", "b", "a", "zz"]]
    with pytest.raises(ExpansionError) as alone:
        expand_experiment(plan[-1], {}, {})
    with pytest.raises(ExpansionError) as together:
        list(expand_plan(plan, {}, {}))
    assert str(together.value) == str(alone.value)
    assert "parameter 'log': reference ${${g}} resolves to undefined" in str(alone.value)


def test_the_memo_is_emptied_when_its_texts_pass_the_budget() -> None:
    memo = Memo(1_000_000, budget=1_000)
    for index in range(30):
        memo.remember(("r", index), [("site", "v" * 90 + str(index))], "x" * 100)
        assert memo.chars <= 1_000
    memo.remember("big", [("site", "v")], "x" * 2_000)  # alone over the budget: not kept
    assert "big" not in memo.roots and memo.chars <= 1_000


def test_a_plan_whose_memo_passes_its_text_budget_expands_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    budget, peak, emptied = 20_000, [0], [0]

    class Watched(Memo):
        def remember(self, *args: Any, **kwargs: Any) -> None:
            before = self.chars
            super().remember(*args, **kwargs)
            emptied[0] += self.chars < before
            peak[0] = max(peak[0], self.chars)
    long = "w" * 900
    plan = [{**row, "p": "${g}" + long, "q": "${p}${b}", "r": "$(param('q') + param('g'))$"}
            for row in _grid(b=[1, 2, 3], g=["0", "0,1", "1", "2,3", "0,1,2"])] * 4
    alone = _alone(plan)
    monkeypatch.setattr(expand_module, "Memo", Watched)
    monkeypatch.setattr(expand_module, "GROUP_TEXT_BUDGET", budget)
    assert list(expand_plan(plan, {}, {})) == alone
    assert 0 < peak[0] <= budget and emptied[0] > 0  # it would have held more


def test_a_plan_comparing_identities_after_a_recall_reads_as_without_the_memo(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The review's case: 'my.a' is recalled (the memo's object of 'my.w''s value), then 'my.z'
    # compares it by identity with the current 'my.w': it must read as without the memo.
    params = {"my.w": "$(param('my.u')[:2])$", "my.q": "qq", "my.a": "${${my.v}}",
              "my.b": "${my.v}1", "my.c": "${my.v}2",
              "my.z": "$(param('my.a') is param('my.w') if param('my.t') == 2 else 'n')$"}
    plan = [{**params, **row} for row in
            _grid(**{"my.u": ["ppA", "ppB"], "my.t": [1, 2], "my.v": ["my.w", "my.q", "my.w"]})]
    with_memo = list(expand_plan(plan, {}, {}))
    monkeypatch.setattr(expand_module, "GROUP_MIN", len(plan[0]))  # no group is memoised
    without = list(expand_plan(plan, {}, {}))
    assert with_memo == without == _alone(plan)
    assert [row["my.z"] for row in with_memo][9] == "True"


def _chain_plan(levels: int) -> list[dict[str, Any]]:
    """The review's chain: 'my.top' reads the name 'my.start' gives; through 'my.a0' that is
    a chain of ``levels`` references, re-resolved as a group with 'my.x1' and 'my.x2'."""
    params: dict[str, Any] = {"my.top": "${${my.start}}"}
    for index in range(levels, -1, -1):
        params[f"my.a{index}"] = f"${{my.a{index + 1}}}" if index < levels else "${my.v}"
    params.update({"my.short": "s", "my.x1": "${my.top}1", "my.x2": "${my.top}2"})
    return [{**params, **row} for row in _grid(**{"my.start": ["my.short", "my.a0"],
                                                  "my.v": [1, 2]})]


def _deepest_chain(group_min: int, offset: int) -> int:
    """The most levels of ``_chain_plan`` that expand with ``GROUP_MIN`` at ``group_min``,
    called from ``offset`` frames deeper (a level takes a few frames: each offset meets the
    stack's limit at another frame of a level)."""
    if offset:
        return _deepest_chain(group_min, offset - 1)
    expand_module.GROUP_MIN = group_min
    low, high = 10, 200
    while high - low > 1:
        middle = (low + high) // 2
        try:
            list(expand_plan(_chain_plan(middle), {}, {}))
            low = middle
        except ExpansionError as err:
            assert "reference chain too deep" in str(err)
            high = middle
    return low


def test_a_reference_chain_fails_at_the_depth_it_fails_without_the_memo(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The group's path (and its redo in plan order) calls through more functions than plain
    # expansion: the deepest chain must be the same with the memo as without (10**9: no group
    # is memoised), from every place on the stack.
    monkeypatch.setattr(expand_module, "GROUP_MIN", expand_module.GROUP_MIN)  # restored after
    limit, group_min = sys.getrecursionlimit(), expand_module.GROUP_MIN
    sys.setrecursionlimit(400)
    try:
        for offset in range(8):
            assert _deepest_chain(group_min, offset) == _deepest_chain(10**9, offset), offset
    finally:
        sys.setrecursionlimit(limit)

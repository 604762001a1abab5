"""The search (``dlbs.bisect.search``): the first bad revision of a list, with a judge that
knows, and with revisions it cannot judge (skipped or inconclusive)."""
from __future__ import annotations

import math

import pytest

from dlbs.bisect.search import (
    INCONCLUSIVE,
    SAME,
    SKIP,
    SLOWER,
    Judgement,
    find_first_bad,
    next_index,
)


def judge_knowing(culprit: int, unjudged: frozenset[int] = frozenset(), word: str = SKIP):
    def judge(revision: str) -> Judgement:
        if int(revision) in unjudged:
            return Judgement(word)
        return Judgement(SLOWER if int(revision) >= culprit else SAME)
    return judge


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 63, 64])
def test_every_culprit_is_found_in_at_most_ceil_log2_n_steps(n: int) -> None:
    revisions = [str(i) for i in range(1, n + 1)]  # after good 0; the last is the known bad
    for culprit in range(1, n + 1):
        result = find_first_bad(revisions, judge_knowing(culprit))
        assert result.first_bad == str(culprit)
        assert result.suspects == [str(culprit)]
        assert len(result.steps) <= math.ceil(math.log2(n)) if n > 1 else not result.steps


def test_the_known_bad_revision_is_never_asked() -> None:
    asked = []
    result = find_first_bad(["1", "2", "3"], lambda r: asked.append(r) or Judgement(SAME))
    assert result.first_bad == "3" and "3" not in asked


@pytest.mark.parametrize("word", [SKIP, INCONCLUSIVE])
def test_a_revision_not_judged_is_left_out_and_a_neighbour_asked(word: str) -> None:
    revisions = [str(i) for i in range(1, 16)]
    first = next_index(-1, len(revisions) - 1, set())
    assert first is not None
    result = find_first_bad(revisions, judge_knowing(11, frozenset({first + 1}), word))
    assert result.first_bad == "11"
    assert result.steps[0].judgement.verdict == word


def test_skipped_neighbours_of_the_culprit_leave_the_suspects_not_a_guess() -> None:
    revisions = [str(i) for i in range(1, 17)]
    result = find_first_bad(revisions, judge_knowing(9, frozenset({8, 9})))
    assert result.first_bad is None and not result.found
    # 10 was judged slower; 8 and 9 could not be judged, so either may be the first bad one
    assert result.suspects == ["8", "9", "10"]
    assert {s.revision for s in result.steps if s.judgement.verdict == SKIP} == {"8", "9"}


@pytest.mark.parametrize("low,high,left_out,expected", [
    pytest.param(-1, 7, set(), 3, id="middle, lower on a tie"),
    pytest.param(-1, 7, {3}, 2, id="skipped middle: nearest, lower first"),
    pytest.param(-1, 7, {2, 3}, 4, id="then the upper neighbour"),
    pytest.param(3, 4, set(), None, id="adjacent ends: done"),
    pytest.param(2, 5, {3, 4}, None, id="all left out"),
])
def test_next_index(low: int, high: int, left_out: set[int], expected: int | None) -> None:
    assert next_index(low, high, left_out) == expected


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to bisect"):
        find_first_bad([], judge_knowing(1))

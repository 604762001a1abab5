"""The bisection: the first bad revision of an ordered list, asking a judge about one
revision at a time.

Pure: no git, no processes, no files. ``find_first_bad(revisions, judge)`` takes the revisions
after the known good one, oldest first, the last being the known bad one, and a
``judge(revision) -> Judgement``. A ``slower`` verdict moves the bad end to the revision, a
``same`` verdict the good end; an ``inconclusive`` or ``skip`` verdict leaves the revision out
(as ``git bisect skip`` does) and the next revision asked is the one left nearest the middle.
When every revision between the ends has been left out, the result names the revisions the
first bad one is among instead of guessing one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: The candidate is slower than good beyond the threshold: it has the regression.
SLOWER = "slower"
#: The candidate is confidently below the threshold: it does not have the regression.
SAME = "same"
#: The interval still straddles the threshold after the most rounds allowed.
INCONCLUSIVE = "inconclusive"
#: The candidate could not be measured (setup or runs failed).
SKIP = "skip"
VERDICTS = (SLOWER, SAME, INCONCLUSIVE, SKIP)


@dataclass(frozen=True)
class Judgement:
    """What one step found about a candidate: the verdict, the ratio of geometric mean run
    times candidate / good with its interval (``None`` when not measured), the rounds
    measured and a note (why skipped, why inconclusive)."""

    verdict: str
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    rounds: int = 0
    note: str = ""
    runs: tuple[int, int] = (0, 0)  # successful runs of good and of the candidate


@dataclass(frozen=True)
class Step:
    """One revision asked, and what the judge said."""

    revision: str
    judgement: Judgement
    role: str = "bisect"  # "check": the known bad one, measured before the search


@dataclass
class BisectResult:
    """The first bad revision (``None`` when the skipped revisions leave several), the
    revisions it is among (one when found), and every step in the order asked."""

    first_bad: str | None
    suspects: list[str]
    steps: list[Step] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when the first bad revision is pinned down to one."""
        return self.first_bad is not None


def next_index(low: int, high: int, left_out: set[int]) -> int | None:
    """The index strictly between ``low`` (good) and ``high`` (bad) nearest the middle that
    was not left out (the lower one on a tie); ``None`` when none is left."""
    middle = (low + high) / 2
    open_ = [i for i in range(low + 1, high) if i not in left_out]
    return min(open_, key=lambda i: (abs(i - middle), i)) if open_ else None


def find_first_bad(revisions: Sequence[str], judge: Callable[[str], Judgement]
                   ) -> BisectResult:
    """Bisect ``revisions`` (after the good one, oldest first; the last is the known bad one,
    not asked again) with ``judge``; return the first bad revision and the steps."""
    if not revisions:
        raise ValueError("no revision after the good one: nothing to bisect")
    low, high, left_out = -1, len(revisions) - 1, set[int]()
    steps: list[Step] = []
    while (index := next_index(low, high, left_out)) is not None:
        judgement = judge(revisions[index])
        steps.append(Step(revisions[index], judgement))
        if judgement.verdict == SLOWER:
            high = index
        elif judgement.verdict == SAME:
            low = index
        else:
            left_out.add(index)
    suspects = list(revisions[low + 1:high + 1])
    return BisectResult(suspects[0] if len(suspects) == 1 else None, suspects, steps)

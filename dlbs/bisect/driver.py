"""A whole bisection of a repository: check bad against good, then search, each step in its
own worktree and interleaved session.

The check comes first: bad must be confidently slower than good (threshold 0), else there is
nothing to bisect and the bisection stops saying so. Half the slowdown it measured is the
threshold of the search's steps unless ``threshold`` is given. Worktrees are removed after
each step and all of them at the end, also on an error or Ctrl-C. ``say`` gets one line per
step as it ends.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dlbs.bisect.errors import BisectError, SkipRevision
from dlbs.bisect.git import SHORT, Worktrees, check_repository, describe, resolve, revisions_between
from dlbs.bisect.search import SAME, SKIP, SLOWER, BisectResult, Judgement, Step, find_first_bad
from dlbs.bisect.session import Session, busy_said, measure_step, run_setup
from dlbs.bisect.verdict import (
    ALPHA,
    TRIM,
    check_in_rounds,
    describe_test,
    judge_in_rounds,
    threshold_from_check,
    with_note,
)


@dataclass
class Request:
    """What to bisect and how: the repository, the two ends, the setup command, the rounds
    schedule, the level and test (``paired``, ``trim``: :func:`dlbs.bisect.verdict.describe_test`),
    a fixed threshold (None: half the check's slowdown), and
    whether a failed setup stops the bisection (else the revision is skipped)."""

    repo: Path
    good: str
    bad: str
    schedule: Sequence[int]
    setup: str | None = None
    alpha: float = ALPHA
    paired: bool = False
    threshold: float | None = None
    stop_on_setup_failure: bool = False
    trim: float = TRIM


@dataclass
class Bisection:
    """What a bisection found: the result, the check step, the threshold used, every
    revision's ``git log --oneline`` line, the ends, and the step's test in words."""

    result: BisectResult
    check: Step
    threshold: float
    good: str
    bad: str
    candidates: int
    names: dict[str, str] = field(default_factory=dict)
    test: str = ""

    @property
    def steps(self) -> list[Step]:
        """The check, then the search's steps."""
        return [self.check, *self.result.steps]


def line(step: Step, number: int) -> str:
    """One step as a line of progress."""
    j = step.judgement
    ratio = (f"ratio {j.ratio:.4f} [{j.low:.4f}, {j.high:.4f}]"
             if j.ratio is not None and j.low is not None and j.high is not None else "no ratio")
    note = f"; {j.note}" if j.note else ""
    return (f"step {number} ({step.role}): {step.revision[:SHORT]}: {j.verdict}, {ratio}, "
            f"{j.rounds} rounds{note}")


class Bisector:
    """Runs one bisection (``run``) in a session's folders."""

    def __init__(self, request: Request, session: Session, say: Callable[[str], None]) -> None:
        self.request, self.session, self.say = request, session, say
        self.repo = check_repository(request.repo)
        self.good = resolve(self.repo, request.good, "--good")
        self.bad = resolve(self.repo, request.bad, "--bad")
        self.revisions = revisions_between(self.repo, self.good, self.bad)
        self.steps = 0

    def run(self) -> Bisection:
        """Check, then search; the worktrees are gone when it returns or raises."""
        with Worktrees(self.repo) as trees:
            self.session.checkouts = trees.root
            self._checkout(trees, self.good, fatal=True)
            check = Step(self.bad, self._judge(trees, self.bad, 0.0, fatal=True), "check")
            self.say(line(check, 0))
            if check.judgement.verdict != SLOWER:
                raise BisectError(self._not_slower(check.judgement))
            threshold = self.request.threshold
            if threshold is None:
                threshold = threshold_from_check(check.judgement)
            result = find_first_bad(self.revisions,
                                    lambda rev: self._step(trees, rev, threshold))
        names = {rev: describe(self.repo, rev) for rev in {self.good, self.bad,
                                                            *result.suspects}}
        return Bisection(result, check, threshold, self.good, self.bad, len(self.revisions),
                         names, describe_test(self.request.paired, self.request.trim))

    def _step(self, trees: Worktrees, revision: str, threshold: float) -> Judgement:
        judgement = self._judge(trees, revision, threshold)
        self.say(line(Step(revision, judgement), self.steps - 1))
        return judgement

    def _checkout(self, trees: Worktrees, revision: str, fatal: bool = False) -> Path:
        path = trees.add(revision)
        if self.request.setup:
            log = self.session.output / "setup" / f"{revision[:SHORT]}.log"
            try:
                run_setup(self.request.setup, path, revision, log)
            except SkipRevision as err:
                if fatal or self.request.stop_on_setup_failure:
                    raise BisectError(str(err)) from None
                raise
        return path

    def _judge(self, trees: Worktrees, revision: str, threshold: float,
               fatal: bool = False) -> Judgement:
        """One step: check the revision out, set it up, measure it against good in rounds."""
        number, self.steps = self.steps, self.steps + 1
        folder = self.session.output / "steps" / f"{number:02d}-{revision[:SHORT]}"
        try:
            self._checkout(trees, revision, fatal)
            measure = measure_step(self.session, self.good, revision, number, folder)
            level = (self.request.schedule, self.request.alpha, self.request.paired)
            judgement = (check_in_rounds(measure, *level, trim=self.request.trim) if fatal
                         else judge_in_rounds(measure, threshold, *level,
                                              trim=self.request.trim))
            if judgement.verdict not in (SLOWER, SAME):  # the load's part in it, counted
                judgement = with_note(judgement, busy_said(*measure.busy))
        except SkipRevision as err:
            if fatal:
                raise BisectError(f"{revision[:SHORT]}: {err}") from None
            judgement = Judgement(SKIP, note=str(err))
        finally:
            trees.remove(revision)
        return judgement

    def _not_slower(self, check: Judgement) -> str:
        shown = (f"ratio bad/good {check.ratio:.4f} [{check.low:.4f}, {check.high:.4f}]"
                 if check.ratio is not None and check.low is not None and check.high is not None
                 else "no ratio")
        return (f"--bad {self.bad[:SHORT]} is not confidently slower than --good "
                f"{self.good[:SHORT]} after {check.rounds} rounds ({shown}, {check.verdict}): "
                "nothing to bisect; measure more rounds (--max-rounds) or check the plan"
                + (f" ({check.note})" if check.note else ""))

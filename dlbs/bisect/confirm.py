"""``dlbs regressions --confirm``: each flagged regression measured again before it is reported.

For each regression the gate flagged, the experiment is rebuilt from the stored facts of a run
of its newest point (``dlbs.bisect.rebuild``), and its last good and first bad code versions
(``exp.code_version``, revisions of ``--repo``) run interleaved in one session, each in its own
throw-away worktree, through ``dlbs bisect``'s session (``dlbs.bisect.session``) and judged by
its verdict (``dlbs.bisect.verdict``: the ``--compare-by`` statistics, more rounds until
confident). The question is the bisection's: is the first bad version's run time nearer the
flagged slowdown than no change? The threshold is half the flagged slowdown.

A change is ``confirmed`` (slower), ``not_confirmed`` (same, or still inconclusive after the
last round) or ``not_rebuildable`` (a serving run, missing parameters, a code version that is
not a revision of the repository, a re-run whose runs failed): then it was not checked and
stays a flagged regression. Never prints; the command reports.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbs.bisect.errors import BisectError
from dlbs.bisect.git import SHORT, Worktrees, resolve
from dlbs.bisect.rebuild import NotRebuildable, as_options, differences, plan_parameters
from dlbs.bisect.search import SAME, SKIP, SLOWER
from dlbs.bisect.session import CHECKOUT, Session, check_session, measure_step
from dlbs.bisect.verdict import ALPHA, judge_in_rounds

CONFIRMED, NOT_CONFIRMED, NOT_REBUILDABLE = "confirmed", "not_confirmed", "not_rebuildable"


class PlanRefused(BisectError):
    """The plan options cannot measure two code versions (they do not use the checkout, or
    give several experiments a version): the same for every change, so the command stops,
    as a usage error (exit 2: exit 1 is the gate's "regression")."""

    exit_code = 2


@dataclass
class Confirmation:
    """What the re-run of one change said: ``ratio`` is the first bad version's run time over
    the last good one's in the re-run's session, ``low``-``high`` its interval, ``threshold``
    the slowdown above which it confirms; ``reason`` says why it was not re-run or judged."""

    status: str
    reason: str = ""
    verdict: str | None = None
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    rounds: int = 0
    runs: tuple[int, int] = (0, 0)
    logs: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason or None, "verdict": self.verdict,
                "ratio": self.ratio,
                "interval": None if self.low is None else [self.low, self.high],
                "threshold": self.threshold, "rounds": self.rounds, "runs": list(self.runs),
                "logs": self.logs}

    def said(self) -> str:
        """One phrase: ``re-run ratio 1.0512 [1.0301, 1.0728] after 5 rounds (slower)``."""
        if self.status == NOT_REBUILDABLE:
            return f"not re-run: {self.reason}"
        shown = (f"re-run ratio {self.ratio:.4f} [{self.low:.4f}, {self.high:.4f}]"
                 if self.ratio is not None and self.low is not None and self.high is not None
                 else "re-run: no ratio")
        note = f"; {self.reason}" if self.reason else ""
        return f"{shown} after {self.rounds} rounds ({self.verdict}{note})"


@dataclass
class Flagged:
    """One regression to confirm: its name, its two code versions, the flagged time ratio
    (first bad / last good, > 1) and the stored facts of a run of its newest point."""

    name: str
    last_good: str
    first_bad: str
    slowdown: float
    facts: Mapping[str, Any]


@dataclass
class Confirmer:
    """Re-runs flagged regressions of one repository (``confirm_all``): ``options`` are the
    user's plan options (``--config``/``-P`` as a plan namespace), ``parse`` turns a list of
    plan options into such a namespace, ``expand``/``validate`` are the CLI's plan loading
    and check (as ``dlbs bisect``'s), ``defaults`` the declared parameters' default values."""

    repo: Path
    output: Path
    options: argparse.Namespace
    parse: Callable[[list[str]], argparse.Namespace]
    expand: Callable[[argparse.Namespace], list[dict[str, Any]]]
    defaults: Mapping[str, Any]
    schedule: Sequence[int]
    alpha: float = ALPHA
    validate: Callable[[list[dict[str, Any]]], object] | None = None
    runner_log: Any = None
    given: list[str] = field(default_factory=list)

    def confirm_all(self, flagged: Sequence[Flagged], say: Callable[[str], None]
                    ) -> list[Confirmation]:
        """Each change's confirmation, in order; the worktrees are gone when it returns."""
        out = []
        with Worktrees(self.repo) as trees:
            for number, one in enumerate(flagged):
                done = self._confirm(trees, number, one)
                say(f"confirm {number}: {one.name} {one.last_good} -> {one.first_bad}: "
                    f"{done.status}: {done.said()}")
                out.append(done)
        return out

    def _confirm(self, trees: Worktrees, number: int, one: Flagged) -> Confirmation:
        threshold = (one.slowdown - 1.0) / 2.0
        try:
            parameters = plan_parameters(one.facts, self.defaults, self.given)
            good = self._revision(one.last_good)
            bad = self._revision(one.first_bad)
        except NotRebuildable as err:
            return Confirmation(NOT_REBUILDABLE, str(err), threshold=threshold)
        folder = self.output / "runs" / f"{number:02d}-{bad[:SHORT]}"
        session = self._session(trees, parameters, one.facts)
        try:
            for revision in (good, bad):
                trees.add(revision)
            judgement = judge_in_rounds(measure_step(session, good, bad, number, folder),
                                        threshold, self.schedule, self.alpha,
                                        can_pair=False)  # regressions has no --paired
        except NotRebuildable as err:
            return Confirmation(NOT_REBUILDABLE, str(err), threshold=threshold,
                                logs=str(folder))
        except PlanRefused:
            raise
        except BisectError as err:  # good's runs failed
            return Confirmation(NOT_REBUILDABLE, f"the re-run failed: {err}",
                                threshold=threshold, logs=str(folder))
        finally:
            trees.remove(good)
            trees.remove(bad)
        return self._judged(judgement, threshold, folder)

    def _judged(self, judgement: Any, threshold: float, folder: Path) -> Confirmation:
        if judgement.verdict == SKIP:
            return Confirmation(NOT_REBUILDABLE, f"the re-run failed: {judgement.note}",
                                threshold=threshold, logs=str(folder))
        status = CONFIRMED if judgement.verdict == SLOWER else NOT_CONFIRMED
        reason = "" if judgement.verdict in (SLOWER, SAME) else judgement.note
        return Confirmation(status, reason, judgement.verdict, judgement.ratio, judgement.low,
                            judgement.high, threshold, judgement.rounds, judgement.runs,
                            str(folder))

    def _revision(self, version: str) -> str:
        try:
            return resolve(self.repo, version, "exp.code_version")
        except BisectError:
            raise NotRebuildable(f"exp.code_version {version} is not a revision of "
                                 f"{self.repo}") from None

    def _session(self, trees: Worktrees, parameters: Mapping[str, Any],
                 facts: Mapping[str, Any]) -> Session:
        """A bisect session whose plan is the rebuilt parameters, then the user's options;
        each expansion is checked against the stored facts before anything runs."""
        options = self.parse([*(f"--config={c}" for c in self.options.configs),
                              *(f"-P{p}" for p in as_options(parameters)),
                              *(f"-P{p}" for p in self.options.params)])

        def expand(args: argparse.Namespace) -> list[dict[str, Any]]:
            experiments = self.expand(args)
            versions = _versions(args)
            try:
                check_session(experiments, versions, trees.root)
            except BisectError as err:
                raise PlanRefused(str(err)) from None
            for experiment in experiments:
                found = differences(experiment, facts, self.defaults, [*self.given, CHECKOUT])
                if found:
                    raise NotRebuildable("the rebuilt plan is not the stored run's: "
                                         + "; ".join(found[:3]))
            return experiments

        return Session(options, self.output, expand, trees.root, self.validate,
                       runner_log=self.runner_log)


def _versions(args: argparse.Namespace) -> list[str]:
    """The two code versions a look's options measure (the ``-V`` the session added)."""
    import json

    for option in reversed(args.variables):
        name, _, value = str(option).partition("=")
        if name.strip() == "exp.code_version":
            return [str(v) for v in json.loads(value)]
    raise PlanRefused("no exp.code_version variable in the re-run's options")


def time_ratio(change: float, higher_is_better: bool) -> float:
    """The flagged change as a run-time ratio new / old (> 1 for a slowdown): a throughput
    change ``c`` is a time ratio ``1 / (1 + c)``, a time change ``1 + c``."""
    ratio = 1.0 / (1.0 + change) if higher_is_better else 1.0 + change
    return ratio if math.isfinite(ratio) else math.inf

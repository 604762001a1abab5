"""``dlbs bisect``: find the first revision of a repository that made a benchmark slower.

``search`` is the bisection itself (pure: an ordered list of revisions and a judge in, the
first bad revision and the steps out); ``verdict`` turns the run times of one interleaved
session (good against candidate) into a step's verdict with the comparison statistics of
``dlbs report --compare-by``, measuring more rounds until the verdict is confident;
``git`` makes the temporary worktrees; ``session`` runs one step's session through the
runner; ``simulate`` and ``synthetic`` are the simulated judge and the synthetic repository
that the tests, ``benchmarks/bench_bisect.py`` and docs/bisect.md use.
"""
from __future__ import annotations

from dlbs.bisect.search import (
    INCONCLUSIVE,
    SAME,
    SKIP,
    SLOWER,
    BisectResult,
    Judgement,
    Step,
    find_first_bad,
)

__all__ = ["INCONCLUSIVE", "SAME", "SKIP", "SLOWER", "BisectResult", "Judgement", "Step",
           "find_first_bad"]

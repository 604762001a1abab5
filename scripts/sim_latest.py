"""Seeded simulation of ``dlbs regressions --latest``: false alarms without a change and drops
of the newest point found, through the command's own code (``dlbs.db.history.point`` builds
each point from its runs, ``latest_changes`` judges: Benjamini-Hochberg over the series).

The histories are :func:`benchstats.histories.histories` (run CV 1-3%, 3-5 runs a point,
session offsets 0.25-1x the run CV, two outliers a series, no step); only the newest point and
the 20 before it are read (``benchstats.latest.WINDOW``). ``--old-se`` also measures the
standard error the database used before issue 30 (the point's t interval over 2 x 1.96), to
show what it cost. The figures of docs/database.md ("regressions --latest") come from:

    python scripts/sim_latest.py --old-se              # 3-5 runs a point; ~2 min, one core
    python scripts/sim_latest.py --old-se --runs 3 3   # 3 runs a point
    python scripts/sim_latest.py --old-se --runs 2 2   # 2 runs a point
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1]
                                                              / "python")]

from benchstats.histories import HistoryCase, histories
from benchstats.latest import WINDOW, judge_latest

from dlbs.db.history import Z95, Point, Series, latest_changes, point
from dlbs.db.store import RunRecord

METRIC, AXIS = "results.throughput", "exp.code_version"
DROPS = (0.05, 0.07, 0.10, 0.15)


def old_se(p: Point) -> float:
    """The standard error before issue 30: the t interval's log width over 2 x 1.96."""
    if not (math.isfinite(p.low) and math.isfinite(p.high) and p.low > 0):
        return math.nan
    return p.value * (math.log(p.high) - math.log(p.low)) / (2 * Z95)


def build(case: HistoryCase, count: int, seed: int, drop: float = 0.0,
          se_of: Callable[[Point], float] | None = None) -> list[Series]:
    """``count`` series of the newest ``WINDOW + 1`` points, each point built from its runs
    by ``dlbs.db.history.point``; the newest point's runs lowered by ``drop``."""
    h = histories(case, count, seed)
    assert h.samples is not None
    out = []
    for s in range(count):
        points = []
        first = case.points - (WINDOW + 1)
        for i in range(first, case.points):
            scale = 1.0 - drop if i == case.points - 1 else 1.0
            runs = [RunRecord(k, "", "k", {METRIC: float(v) * scale, "results.status": "ok"},
                              None, None)
                    for k, v in enumerate(h.samples[s, i]) if math.isfinite(v)]
            found = point(f"v{i:03d}", runs, METRIC)
            assert found is not None
            if se_of is not None:
                found.se = se_of(found)
            points.append(found)
        out.append(Series(str(s), {"series": s}, points))
    return out


def raw_level(series: list[Series], min_change: float) -> float:
    """Share of series whose newest point the test alone (no BH) calls a change at 5%; with
    ``min_change`` > 0: whose interval also lies wholly beyond it."""
    hits = 0
    for one in series:
        pts = one.points
        found = judge_latest([p.value for p in pts], [p.se for p in pts],
                             [p.runs for p in pts], min_change=min_change).latest
        assert found is not None
        hits += found.p_value < 0.05 and (min_change == 0 or found.verdict == "beyond")
    return hits / len(series)


def found_share(series: list[Series], min_change: float) -> float:
    """Share of series whose newest point ``dlbs regressions --latest`` reports as a
    regression (BH at 5% over the series, the interval wholly beyond ``min_change``)."""
    judged = latest_changes(series, METRIC, AXIS, min_change, 0.05)
    return sum(c.direction == "regression" for c in judged.changes) / len(series)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=2000, help="series without a change")
    parser.add_argument("--drops", type=int, default=1000, help="series per drop size")
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--runs", type=int, nargs=2, default=(3, 5), metavar=("LO", "HI"),
                        help="runs a point, uniform inclusive (default 3 5)")
    parser.add_argument("--old-se", action="store_true",
                        help="also with the standard error before issue 30")
    args = parser.parse_args()
    variants: list[tuple[str, Callable[[Point], float] | None]] = [("runs' own se", None)]
    if args.old_se:
        variants.append(("old se (t interval / 2 x 1.96)", old_se))
    for name, se_of in variants:
        print(f"== {name}")
        runs = tuple(args.runs)
        for label, case in (("normal runs", HistoryCase(steps=(0,), runs=runs)),
                            ("t3 runs", HistoryCase(steps=(0,), tails="t3", runs=runs)),
                            ("session offsets AR(1) phi 0.5",
                             HistoryCase(steps=(0,), session_phi=0.5, runs=runs))):
            series = build(case, args.null, args.seed, se_of=se_of)
            line = f"  no change, {label}: raw test alarms {raw_level(series, 0.0):.1%}"
            if label == "normal runs":
                line += (f"; min-change 5%: {raw_level(series, 0.05):.1%} before BH, "
                         f"{found_share(series, 0.05):.1%} after")
            print(line)
        for drop in DROPS:
            series = build(HistoryCase(steps=(0,), runs=runs), args.drops, args.seed + 1, drop,
                           se_of)
            print(f"  newest point {drop:.0%} lower: found {found_share(series, 0.05):.1%} "
                  f"(min-change 5%), {found_share(series, 0.0):.1%} (min-change 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

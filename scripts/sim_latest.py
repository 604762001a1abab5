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
    python scripts/sim_latest.py --compare --runs 3 3  # before beside after (issue 56, item 5)
    python scripts/sim_latest.py --ceiling --runs 3 3  # the most any spread estimate can give
    python scripts/sim_latest.py --speed               # CPU time of the statistics, each method
    python scripts/sim_latest.py --missed --runs 2 2   # drops missed, and those named too noisy
    python scripts/sim_latest.py --grid                # run CV x session CV, 3 runs (~6 min)
    python scripts/sim_latest.py --grid --models normal --outliers 0 --drops 2000
                                                       # the review's cells (pooled's power)

Without ``--method`` the figures are those of the default method (``prediction`` since the
review of issue 56, item 5; ``pooled`` before it, ``weighted`` before issue 56), each at the
``--alpha`` default it had (:data:`METHOD_ALPHA`). ``--compare`` judges each series alone (the
gate of one configuration: Benjamini-Hochberg over one series is the test itself), the honest
rate per history: the figures without it judge each set of series together, and BH over
2,000 series without a change almost never alarms.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1]
                                                              / "python")]

import numpy as np
from benchstats.histories import HistoryCase, histories
from benchstats.latest import ALPHA, METHODS, WINDOW, judge_latest, judge_latest_many

from dlbs.db.history import Point, Series, latest_changes, point
from dlbs.db.pointvalue import Z95
from dlbs.db.store import RunRecord

METRIC, AXIS = "results.throughput", "exp.code_version"
DROPS = (0.05, 0.07, 0.10, 0.15)
#: Each method's ``--alpha`` default when it was the command's method (``prediction``: now).
METHOD_ALPHA = {"prediction": ALPHA, "pooled": 0.05, "weighted": 0.05}


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


def raw_level(series: list[Series], min_change: float, method: str = "weighted") -> float:
    """Share of series whose newest point the test alone (no BH) calls a change at the
    method's level (:data:`METHOD_ALPHA`); with ``min_change`` > 0: whose verdict is also
    ``beyond``. ``pooled``: ``p_beyond`` below the level."""
    level, hits = METHOD_ALPHA[method], 0
    for one in series:
        pts = one.points
        found = judge_latest([p.value for p in pts], [p.se for p in pts],
                             [p.runs for p in pts], min_change=min_change,
                             method=method).latest
        assert found is not None
        hits += (found.p_beyond < level if method == "pooled" else
                 found.p_value < level and (min_change == 0 or found.verdict == "beyond"))
    return hits / len(series)


def found_share(series: list[Series], min_change: float, method: str = "weighted",
                direction: str = "regression") -> float:
    """Share of series whose newest point ``dlbs regressions --latest`` reports as a change
    in ``direction`` (``any``: either), all the series judged together (BH over them at the
    method's ``--alpha`` default)."""
    judged = latest_changes(series, METRIC, AXIS, min_change, METHOD_ALPHA[method], method)
    return sum(direction in ("any", c.direction) for c in judged.changes) / len(series)


def alone(series: list[Series], min_change: float, method: str,
          direction: str = "any") -> int:
    """How many series ``dlbs regressions --latest`` reports a change of when each is the
    only series of its gate (BH over one series: the test at the method's ``--alpha``
    default, the honest per-history rate; all the series at once, BH over 2,000 without a
    change, alarms almost never)."""
    return sum(any(direction in ("any", c.direction)
                   for c in latest_changes([one], METRIC, AXIS, min_change,
                                           METHOD_ALPHA[method], method).changes)
               for one in series)


def _cases(runs: tuple[int, int]) -> list[tuple[str, HistoryCase]]:
    return [("normal runs", HistoryCase(steps=(0,), runs=runs)),
            ("t3 runs", HistoryCase(steps=(0,), tails="t3", runs=runs)),
            ("session offsets AR(1) phi 0.5", HistoryCase(steps=(0,), session_phi=0.5,
                                                          runs=runs)),
            ("noisy days (10% of points, runs 5x noisier)", HistoryCase(steps=(0,), noisy=0.1,
                                                                        runs=runs))]


def _side_by_side(counts: dict[str, int], total: int) -> str:
    return ", ".join(f"{m} {c} of {total} ({c / total:.1%})" for m, c in counts.items())


def compare(args: argparse.Namespace) -> None:
    """The methods side by side (``weighted``, Criterion's rule; ``pooled``, the test against
    the band; ``prediction``, the test of no change), each series judged alone at the default
    ``--min-change`` and the method's ``--alpha``: false alarms (either direction) without a
    change and 10%-and-other drops found, under each noise model."""
    runs = tuple(args.runs)
    print(f"== each series judged alone (BH over one), --min-change 0.05, runs a point "
          f"{runs[0]}-{runs[1]}: weighted, pooled, prediction (--alpha "
          f"{', '.join(f'{METHOD_ALPHA[m]:g}' for m in METHODS[::-1])})")
    for label, case in _cases(runs):
        series = build(case, args.null, args.seed)
        counts = {m: alone(series, 0.05, m) for m in METHODS[::-1]}
        print(f"  no change, {label}: false alarms {_side_by_side(counts, args.null)}")
    for label, case in _cases(runs):
        for drop in DROPS if label == "normal runs" else (0.10,):
            series = build(case, args.drops, args.seed + 1, drop)
            counts = {m: alone(series, 0.05, m, "regression") for m in METHODS[::-1]}
            print(f"  newest point {drop:.0%} lower, {label}: found "
                  f"{_side_by_side(counts, args.drops)}")


def ceiling(runs: tuple[int, int], drop: float = 0.10, count: int = 200_000,
            seed: int = 30) -> None:
    """What no estimate of the spread can beat: the share of drops found when each series'
    point variance (session offset plus runs' noise, the histories' own distributions) is
    known exactly, by Criterion's rule (the 95% interval beyond 5%: 1.96) and by a one-sided
    test at 5% against the band (1.645). The newest point against the mean of ``WINDOW``."""
    case = HistoryCase(runs=runs)
    rng = np.random.default_rng(seed)
    cv = rng.uniform(case.run_cv[0], case.run_cv[1], count)
    n = rng.integers(runs[0], runs[1] + 1, count)
    session = rng.uniform(case.session[0], case.session[1], count)
    sd = np.sqrt((cv * session) ** 2 + cv ** 2 / n)
    d = math.log1p(-drop) + sd * rng.standard_normal(count)
    spread = sd * math.sqrt(1.0 + 1.0 / WINDOW)
    for name, z in (("Criterion's rule (95% interval beyond 5%)", 1.959964),
                    ("one-sided test at 5% against the band", 1.644854)):
        found = float(np.mean(d + z * spread < math.log1p(-0.05)))
        print(f"  variance known, {drop:.0%} drop, {runs[0]}-{runs[1]} runs: {name}: "
              f"{found:.1%}")


#: ``--grid``: run CV x session CV (the sd of a point's session offset, absolute): the docs'
#: claim (run CV 1-3%, offsets up to 2%) and, beyond it, offsets as large as the run CV at 3%.
GRID = [(cv, session) for cv in (0.01, 0.02, 0.03) for session in (0.0, 0.01, 0.015, 0.02)] \
    + [(0.03, 0.03)]
#: ``--grid``'s noise models: runs normal or t3, session offsets independent or AR(1) along
#: the axis; every one with the histories' two outlying points a series (sessions gone wrong).
GRID_MODELS: dict[str, dict[str, Any]] = {
    "normal": {}, "t3 runs": {"tails": "t3"}, "AR(1) sessions": {"session_phi": 0.5}}


def grid(args: argparse.Namespace) -> None:
    """Each cell of :data:`GRID` at 3 runs a point, each series judged alone (BH over one)
    at the default ``--alpha`` and ``--min-change 0.05``, before (``pooled``) beside after
    (``prediction``): false alarms without a change (gate failures: regressions reported;
    and changes of either direction), 10% drops found, 3% drops reported (within the band),
    and the share of 10%-drop histories the command calls too noisy for a 10% drop."""
    print(f"== 3 runs a point, each series alone, --min-change 0.05, --alpha {ALPHA:g}; "
          f"{args.null} histories without a change (seed {args.seed}), {args.drops} a drop "
          f"(seed {args.seed + 1}); before (pooled) -> after (prediction)")
    models = GRID_MODELS if args.models == "all" else {"normal": {}}
    for label, extra in models.items():
        for cv, session in GRID:
            case = HistoryCase(steps=(0,), runs=(3, 3), run_cv=(cv, cv),
                               session=(session / cv, session / cv),
                               outliers=args.outliers, **extra)
            print(f"  {label}, run CV {cv:.0%}, session CV {session:.1%}: "
                  + _grid_cell(case, args), flush=True)


def _grid_cell(case: HistoryCase, args: argparse.Namespace) -> str:
    null = build(case, args.null, args.seed)
    drops = build(case, args.drops, args.seed + 1, 0.10)
    small = build(case, args.drops, args.seed + 2, 0.03)
    cells = []
    for what, series, direction, count in (("gate fails", null, "regression", args.null),
                                           ("any alarm", null, "any", args.null),
                                           ("10% found", drops, "regression", args.drops),
                                           ("3% reported", small, "regression", args.drops)):
        before, after = (alone(series, 0.05, m, direction) / count for m in ("pooled",
                                                                             "prediction"))
        cells.append(f"{what} {before:.1%} -> {after:.1%}")
    return "; ".join(cells) + f"; too noisy for 10% {_too_noisy(drops):.1%}"


def _too_noisy(series: list[Series]) -> float:
    """Share of ``series`` whose newest point, judged alone, could not find a 10% drop 4
    times in 5 (``Latest.too_noisy``, what the command tells the user)."""
    flags = []
    for one in series:
        pts = one.points
        found = judge_latest([p.value for p in pts], [p.se for p in pts],
                             [p.runs for p in pts]).latest
        assert found is not None
        flags.append(found.too_noisy)
    return float(np.mean(flags))


def missed(args: argparse.Namespace) -> None:
    """10% drops of the newest point under each noise model at ``--runs``, each series judged
    alone by the default method: found, missed, and of those missed how many the command
    names too noisy for a 10% drop (``Latest.too_noisy``: a note on stderr, a line in the
    markdown, JUnit, JSON and ``db page``), so that a miss is not silent."""
    runs = tuple(args.runs)
    print(f"== 10% drops, runs a point {runs[0]}-{runs[1]}, each series alone, --min-change "
          f"0.05, --alpha {ALPHA:g}; {args.drops} series a model (seed {args.seed + 1})")
    for label, case in _cases(runs):
        series = build(case, args.drops, args.seed + 1, 0.10)
        found = named = 0
        for one in series:
            hit = alone([one], 0.05, "prediction", "regression") > 0
            pts = one.points
            latest = judge_latest([p.value for p in pts], [p.se for p in pts],
                                  [p.runs for p in pts]).latest
            assert latest is not None
            found += hit
            named += (not hit) and latest.too_noisy
        left = args.drops - found
        print(f"  {label}: found {found} of {args.drops} ({found / args.drops:.1%}); missed "
              f"{left}, of which named too noisy {named} ({named / max(left, 1):.1%}); "
              f"missed silently {left - named} ({(left - named) / args.drops:.1%})", flush=True)


def speed(repeats: int = 3) -> None:
    """CPU seconds of the statistics alone for 3,500 histories of 21 points (the window of
    ``bench_db.py``'s --latest case), each method, ``repeats`` times: the command's whole
    time is ``benchmarks/bench_db.py --only latest``'s."""
    h = histories(HistoryCase(steps=(0,), points=WINDOW + 1), 3500, 1)
    many = [(h.values[i], h.se[i], h.n_runs[i]) for i in range(3500)]
    for method in METHODS[::-1]:
        times = []
        for _ in range(repeats):
            start = time.process_time()
            judge_latest_many(many, method=method)
            times.append(time.process_time() - start)
        print(f"  judge_latest_many, 3,500 histories, {method}: "
              f"{min(times):.2f}-{max(times):.2f} s CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=2000, help="series without a change")
    parser.add_argument("--drops", type=int, default=1000, help="series per drop size")
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--runs", type=int, nargs=2, default=(3, 5), metavar=("LO", "HI"),
                        help="runs a point, uniform inclusive (default 3 5)")
    parser.add_argument("--old-se", action="store_true",
                        help="also with the standard error before issue 30")
    parser.add_argument("--compare", action="store_true",
                        help="only the methods side by side, each series judged alone "
                             "(issue 56, item 5)")
    parser.add_argument("--method", default=METHODS[0], choices=METHODS,
                        help="the method of the figures without --compare (default pooled; "
                             "weighted: before issue 56)")
    parser.add_argument("--ceiling", action="store_true",
                        help="only the share found with each point's variance known")
    parser.add_argument("--grid", action="store_true",
                        help="only the noise grid at 3 runs a point, before beside after "
                             "(issue 56, item 5's review)")
    parser.add_argument("--models", default="all", choices=("all", "normal"),
                        help="--grid's noise models (default all)")
    parser.add_argument("--outliers", type=int, default=2,
                        help="--grid: outlying points (sessions gone wrong) in a history of "
                             "100, of which the newest 21 are read (default 2)")
    parser.add_argument("--missed", action="store_true",
                        help="only the 10%% drops missed, and how many of those the command "
                        "names too noisy for a 10%% drop (issue 56 item 5, 2 runs a point)")
    parser.add_argument("--speed", action="store_true",
                        help="only the CPU time of the statistics for 3,500 histories")
    args = parser.parse_args()
    if args.missed:
        missed(args)
        return 0
    if args.speed:
        speed()
        return 0
    if args.grid:
        grid(args)
        return 0
    if args.ceiling:
        ceiling(tuple(args.runs))
        return 0
    if args.compare:
        compare(args)
        return 0
    variants: list[tuple[str, Callable[[Point], float] | None]] = [("runs' own se", None)]
    if args.old_se:
        variants.append(("old se (t interval / 2 x 1.96)", old_se))
    method = args.method
    for name, se_of in variants:
        print(f"== {name}, method {method}")
        runs = tuple(args.runs)
        for label, case in _cases(runs):
            series = build(case, args.null, args.seed, se_of=se_of)
            line = (f"  no change, {label}: raw test alarms "
                    f"{raw_level(series, 0.0, method):.1%}")
            if label == "normal runs":
                line += (f"; min-change 5%: {raw_level(series, 0.05, method):.1%} before BH, "
                         f"{found_share(series, 0.05, method, 'any'):.1%} after")
            print(line)
        for drop in DROPS:
            series = build(HistoryCase(steps=(0,), runs=runs), args.drops, args.seed + 1, drop,
                           se_of)
            print(f"  newest point {drop:.0%} lower: found "
                  f"{found_share(series, 0.05, method):.1%} (min-change 5%), "
                  f"{found_share(series, 0.0, method):.1%} (min-change 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

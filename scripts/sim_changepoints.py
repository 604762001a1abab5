"""Seeded simulation of change points in histories: precision, recall and false alarms of
``benchstats.find_changes`` (the statistics of ``dlbs regressions``), and of Apache Otava and
MongoDB's E-Divisive when they are installed, on the same histories.

Histories come from :mod:`benchstats.histories`: 100 points, each the mean of 3-5 runs at a
run CV of 1-3% with a session offset of 0.25-1x the run CV, two outliers at 2-4x the point
noise, steps of 2-10% (a third of the series none, a third one, a third two). A detection
counts when its first bad point is within +-2 points of a true step (each step matched once).

    python scripts/sim_changepoints.py [--count 1500] [--write]

``--write`` replaces the text between ``<!-- sim_changepoints:begin -->`` and
``<!-- sim_changepoints:end -->`` in docs/measurements/report-statistics.md. The comparison
needs ``apache-otava`` and ``signal-processing-algorithms`` (benchmarks side only; benchstats never imports them):
without them their rows say "not installed". A few minutes on one core.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "scripts"))

from benchstats.changepoints import find_changes
from benchstats.histories import Histories, HistoryCase, histories
from doctables import markdown, write_between

BEGIN, END = "<!-- sim_changepoints:begin -->", "<!-- sim_changepoints:end -->"
DOC = ROOT / "docs" / "measurements" / "report-statistics.md"
TOLERANCE = 2
#: Bins of |step| / run CV.
BINS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 5.0), (5.0, math.inf))
SIZE_BINS = ((0.02, 0.05), (0.05, 0.07), (0.07, 0.10))

Detector = Callable[[Histories, int], list[int]]


def ours(min_change: float, intervals: bool = True) -> Detector:
    """find_changes with each point's interval (or without: se unknown, n_runs unknown)."""
    def detect(h: Histories, s: int) -> list[int]:
        se = h.se[s] if intervals else np.full(h.se.shape[1], np.nan)
        found = find_changes(h.values[s], se, h.n_runs[s] if intervals else None,
                             min_change=min_change)
        return [c.first_bad for c in found.changes]
    return detect


def otava(min_change: float) -> Detector | None:
    """Apache Otava's Hunter algorithm (split + merge, its defaults: window 50, p 0.001)."""
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        return None

    def detect(h: Histories, s: int) -> list[int]:
        cps, _ = compute_change_points(list(map(float, h.values[s])), window_len=50,
                                       max_pvalue=0.001, min_magnitude=min_change)
        return [int(c.index) for c in cps]
    return detect


def edivisive() -> Detector | None:
    """MongoDB's E-Divisive means (signal-processing-algorithms; its defaults, seeded)."""
    try:
        from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive
    except ImportError:
        return None

    def detect(h: Histories, s: int) -> list[int]:
        np.random.seed(s)  # its permutations use numpy's global generator
        return [int(i) for i in e_divisive(h.values[s], pvalue=0.05, permutations=100)]
    return detect


@dataclass
class Tally:
    """Counts over a set of histories."""

    detections: int = 0
    true: int = 0
    null_series: int = 0
    null_alarms: int = 0
    null_series_alarmed: int = 0
    found_by_bin: np.ndarray | None = None
    steps_by_bin: np.ndarray | None = None
    found_by_size: np.ndarray | None = None
    steps_by_size: np.ndarray | None = None
    big_detections: int = 0  # in series whose steps are all >= 2x the run CV
    big_true: int = 0
    seconds: float = 0.0
    series: int = 0


def _bin(x: float, bins: tuple[tuple[float, float], ...]) -> int:
    return next((i for i, (lo, hi) in enumerate(bins) if lo <= x < hi), len(bins) - 1)


def _match(found: list[int], truth: list[int]) -> set[int]:
    """Indexes of ``truth`` matched by a detection within the tolerance (each once)."""
    pairs = sorted((abs(f - t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)
                   if abs(f - t) <= TOLERANCE)
    used_f: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return used_t


def _count(t: Tally, h: Histories, s: int, found: list[int]) -> None:
    steps = h.truth[s]
    matched = _match(found, [p for p, _ in steps])
    t.detections += len(found)
    t.true += len(matched)
    if not steps:
        t.null_series += 1
        t.null_alarms += len(found)
        t.null_series_alarmed += bool(found)
    big = all(abs(size) / h.run_cv[s] >= 2.0 for _, size in steps)
    if big:
        t.big_detections += len(found)
        t.big_true += len(matched)
    for j, (_, size) in enumerate(steps):
        assert t.found_by_bin is not None and t.steps_by_bin is not None
        assert t.found_by_size is not None and t.steps_by_size is not None
        b, z = _bin(abs(size) / h.run_cv[s], BINS), _bin(abs(size), SIZE_BINS)
        t.steps_by_bin[b] += 1
        t.found_by_bin[b] += j in matched
        t.steps_by_size[z] += 1
        t.found_by_size[z] += j in matched


def tally(detect: Detector, h: Histories) -> Tally:
    """Run one detector over every history."""
    t = Tally(found_by_bin=np.zeros(len(BINS)), steps_by_bin=np.zeros(len(BINS)),
              found_by_size=np.zeros(len(SIZE_BINS)), steps_by_size=np.zeros(len(SIZE_BINS)))
    start = time.perf_counter()
    found = [detect(h, s) for s in range(len(h.truth))]
    t.seconds, t.series = time.perf_counter() - start, len(h.truth)
    for s, f in enumerate(found):
        _count(t, h, s, f)
    return t


def _pct(a: float, b: float) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "-"


def _recall(t: Tally) -> float:
    assert t.steps_by_bin is not None
    return float(t.true / t.steps_by_bin.sum())


def _big_recall(t: Tally) -> str:
    assert t.found_by_bin is not None and t.steps_by_bin is not None
    return _pct(t.found_by_bin[2:].sum(), t.steps_by_bin[2:].sum())


def summary_row(name: str, t: Tally) -> dict[str, str]:
    """One method's line of the main table."""
    return {"method": name, "precision": _pct(t.true, t.detections),
            "recall": f"{100 * _recall(t):.1f}%",
            "precision, steps >= 2x": _pct(t.big_true, t.big_detections),
            "recall, steps >= 2x": _big_recall(t),
            "false alarms / 100 no-change series": f"{100 * t.null_alarms / t.null_series:.1f}",
            "no-change series alarmed": _pct(t.null_series_alarmed, t.null_series),
            "ms / series": f"{1000 * t.seconds / t.series:.1f}"}


def bin_rows(tallies: dict[str, Tally], by_size: bool) -> list[dict[str, str]]:
    """Recall per bin of step size (relative to the run CV, or in percent)."""
    bins = SIZE_BINS if by_size else BINS
    rows = []
    for b, (lo, hi) in enumerate(bins):
        label = (f"{100 * lo:.0f}-{100 * hi:.0f}%" if by_size
                 else f"{lo:g}-{hi:g}x" if math.isfinite(hi) else f">= {lo:g}x")
        row = {"step" if by_size else "step / run CV": label}
        steps = 0.0
        for name, t in tallies.items():
            found = t.found_by_size if by_size else t.found_by_bin
            total = t.steps_by_size if by_size else t.steps_by_bin
            assert found is not None and total is not None
            row[name], steps = _pct(found[b], total[b]), float(total[b])
        row["steps"] = f"{steps:.0f}"
        rows.append(row)
    return rows


def _size_recall(t: Tally, first_bin: int) -> str:
    assert t.found_by_size is not None and t.steps_by_size is not None
    return _pct(t.found_by_size[first_bin:].sum(), t.steps_by_size[first_bin:].sum())


def _alarms(t: Tally) -> str:
    return f"{100 * t.null_alarms / t.null_series:.1f}" if t.null_series else "-"


HARD: dict[str, HistoryCase] = {
    "the issue's histories (iid sessions, normal runs)": HistoryCase(),
    "runs with Student t3 noise": HistoryCase(tails="t3"),
    "no outliers": HistoryCase(outliers=0),
    "10% of points on noisy days (runs 5x noisier)": HistoryCase(noisy=0.1),
    "25% of points on noisy days (runs 5x noisier)": HistoryCase(noisy=0.25),
    "session offsets 1-2x the run CV": HistoryCase(session=(1.0, 2.0)),
    "session offsets AR(1) phi 0.5": HistoryCase(session_phi=0.5),
    "session offsets AR(1) phi 0.9": HistoryCase(session_phi=0.9),
    "pulses: a step undone 6 points later": HistoryCase(steps=(0, 2), pulse=6),
    "pulses: a step undone 15 points later": HistoryCase(steps=(0, 2), pulse=15),
    "30 points (steps >= 10 from the ends)": HistoryCase(points=30, spacing=10),
    "drift of 5% over 100 points, no step": HistoryCase(steps=(0,), drift=math.log(1.05)),
    "drift of 10% over 100 points, no step": HistoryCase(steps=(0,), drift=math.log(1.10)),
}


def hard_row(name: str, case: HistoryCase, count: int, seed: int) -> dict[str, str]:
    """Ours at min_change 0 and 5% on one hard case."""
    h = histories(case, count, seed)
    zero, five = tally(ours(0.0), h), tally(ours(0.05), h)
    blind = tally(ours(0.0, intervals=False), h)
    return {"histories": name,
            "alarms / 100 no-change series (min_change 0 / 5%)":
                f"{_alarms(zero)} / {_alarms(five)}",
            "precision (0 / 5%)": f"{_pct(zero.true, zero.detections)} / "
                                  f"{_pct(five.true, five.detections)}",
            "recall, steps >= 2x run CV (0)": _big_recall(zero),
            "recall, steps >= 7% (5%)": _size_recall(five, 2),
            "without intervals (0): alarms / precision / recall >= 2x":
                f"{_alarms(blind)} / {_pct(blind.true, blind.detections)} / {_big_recall(blind)}"}


def methods() -> dict[str, Detector | None]:
    """Every method of the comparison (None: not installed)."""
    return {"ours, min_change 0": ours(0.0),
            "ours, min_change 5%": ours(0.05),
            "ours without the intervals, min_change 0": ours(0.0, intervals=False),
            "Otava (Hunter), min_magnitude 0": otava(0.0),
            "Otava (Hunter), min_magnitude 5%": otava(0.05),
            "E-Divisive (MongoDB), p 0.05": edivisive()}


def tables(count: int, hard_count: int, seed: int) -> str:
    """Every table, as markdown, with the command that made them."""
    h = histories(HistoryCase(), count, seed)
    tallies = {name: tally(d, h) for name, d in methods().items() if d is not None}
    missing = [name for name, d in methods().items() if d is None]
    main = [summary_row(name, t) for name, t in tallies.items()]
    main += [{**{k: "not installed" for k in main[0]}, "method": name} for name in missing]
    hard = [hard_row(name, case, hard_count, seed + 1 + i)
            for i, (name, case) in enumerate(HARD.items())]
    return (f"Generated by `python scripts/sim_changepoints.py --write` ({count} seeded "
            f"histories for the comparison, {hard_count} per hard case; seed {seed}).\n\n"
            + markdown(main) + "\n\nRecall by step size relative to the run CV:\n\n"
            + markdown(bin_rows(tallies, by_size=False))
            + "\n\nRecall by step size:\n\n" + markdown(bin_rows(tallies, by_size=True))
            + "\n\nThe hard cases (ours):\n\n" + markdown(hard) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="histories compared (1500)")
    parser.add_argument("--hard-count", type=int, default=600, help="histories per hard case")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--write", action="store_true", help="write into docs/measurements/"
                        "report-statistics.md")
    args = parser.parse_args()
    text = tables(args.count, args.hard_count, args.seed)
    print(text)
    if args.write:
        write_between(DOC, BEGIN, END, text)


if __name__ == "__main__":
    main()

"""Seeded simulation of comparison tables: false verdicts and power of ``dlbs report --compare``
and ``--compare-by`` under the policies they offer; writes the table of
docs/measurements/report-statistics.md.

Each table has ``CELLS`` experiments; each run's log time is its level plus a session offset
(one per side and cell, or one fixed offset for the whole session), a round effect (shared by
the two sides' runs of one round of an interleaved session) and run noise (normal, or Student
t3 for heavy tails), scaled to the stated run CV. The cells are judged with the same
``benchstats`` functions and the same ``dlbs.reports.verdicts.Policy`` the report uses.

    python scripts/sim_compare.py [--tables 1000] [--markdown]
    python scripts/sim_compare.py --coverage --tables 300   # the compare interval's coverage

``--coverage`` measures, on A/A tables under session shifts, how often the interval a
comparison shows covers the true ratio 1 (``judge_table``, as the report shows it) and the
runs' own interval (no session variance, as shown before issue 30). Random session shifts
and sides of several sessions: ``benchmarks/sim_sessions.py``.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field

import numpy as np
from benchstats import band_p_value, interval, judge, paired_log_diff, welch_log_diff

from dlbs.reports.verdicts import MIN_RUNS, Policy, Runs, judge_table

CELLS = 20


@dataclass(frozen=True)
class Case:
    """One line of the table."""

    name: str
    runs: int
    run_cv: float
    change: float = 1.0  # new is this many times faster in the changed cells
    changed: int = 0  # cells that changed (the first ones); 0: A/A
    policy: Policy = field(default_factory=Policy)
    session_sd: float = 0.0  # sd of each side's session offset, per cell (log scale)
    session_fixed: float = 0.0  # one offset of the new session, all cells (relative)
    round_share: float = 0.0  # share of the run variance that is a round effect
    tails: str = "normal"


def _noise(rng: np.random.Generator, shape: tuple[int, ...], tails: str) -> np.ndarray:
    if tails == "t3":  # unit variance: t3 has variance 3
        return rng.standard_t(3, shape) / math.sqrt(3.0)
    return rng.standard_normal(shape)


def _log_times(case: Case, tables: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log run times of base and new, each ``(tables, CELLS, runs)``."""
    rng = np.random.default_rng(seed)
    shape = (tables, CELLS, case.runs)
    sd = math.log1p(case.run_cv)
    rounds = rng.standard_normal((tables, 1, case.runs)) * sd * math.sqrt(case.round_share)
    own = sd * math.sqrt(1.0 - case.round_share)
    base = own * _noise(rng, shape, case.tails) + rounds
    new = own * _noise(rng, shape, case.tails) + rounds
    base += rng.standard_normal((tables, CELLS, 1)) * case.session_sd
    new += rng.standard_normal((tables, CELLS, 1)) * case.session_sd
    new += math.log1p(case.session_fixed)
    new[:, :case.changed] -= math.log(case.change)
    return base, new


def simulate(case: Case, tables: int, seed: int) -> tuple[float, float, float]:
    """(tables with any false verdict, false verdicts per unchanged cell, verdicts found per
    changed cell)."""
    base, new = _log_times(case, tables, seed)
    any_false = false = found = 0
    for t in range(tables):
        verdicts = _judge(np.exp(base[t]), np.exp(new[t]), case.policy)
        wrong = sum(verdicts[case.changed:])
        any_false += wrong > 0
        false += wrong
        found += sum(verdicts[:case.changed])
    unchanged = tables * (CELLS - case.changed)
    return (any_false / tables, false / unchanged if unchanged else math.nan,
            found / (tables * case.changed) if case.changed else math.nan)


def _judge(base: np.ndarray, new: np.ndarray, policy: Policy) -> list[bool]:
    p_values = []
    for b, n in zip(base.tolist(), new.tolist()):
        if policy.paired:
            d = paired_log_diff(list(zip(b, n)), policy.extra_var)
        else:
            d = welch_log_diff(b, n, policy.extra_var)
        p_values.append(band_p_value(d, policy.band) if len(b) >= MIN_RUNS else math.nan)
    return judge(p_values, policy.alpha, policy.correction).rejected


def coverage(case: Case, tables: int, seed: int) -> tuple[float, float]:
    """Share of cells whose interval covers the true ratio (1: an A/A case): the runs' own
    interval (Welch's t, no session variance: what the report showed before issue 30) and the
    interval the report shows (``judge_table``: the session variance assumed or estimated,
    issue 56), both at the table's adjusted level."""
    base, new = _log_times(case, tables, seed)
    without = shown = cells = 0
    for t in range(tables):
        evidence = [Runs(dict(enumerate(np.exp(b).tolist())), dict(enumerate(np.exp(n).tolist())))
                    for b, n in zip(base[t], new[t])]
        judged, level = judge_table(evidence, case.policy)
        for runs, (_, low, high, _, _) in zip(evidence, judged):
            if low is None or high is None:
                continue
            lo, hi = float(low), float(high)  # type: ignore[arg-type]
            own = interval(welch_log_diff(list(runs.base.values()), list(runs.new.values())),
                           level)
            cells += 1
            shown += lo <= 1.0 <= hi
            without += own.ci_low <= 1.0 <= own.ci_high
    return without / cells, shown / cells


APART = Policy()
ONE = Policy(apart=False)
CASES: list[Case] = [
    # the table's error control (same session: no allowance)
    Case("A/A, one session, BH", 3, 0.03, policy=ONE),
    Case("A/A, one session, Holm", 3, 0.03, policy=Policy(apart=False, correction="holm")),
    Case("A/A, one session, no correction", 3, 0.03, policy=Policy(apart=False, correction="none")),
    Case("A/A, one session, BH, t3 run noise", 3, 0.03, policy=ONE, tails="t3"),
    Case("A/A, two folders (assumed 2% session CV), BH", 3, 0.03, policy=APART),
    Case("10% in all 20 cells, two folders, BH", 5, 0.03, 1.10, 20, APART),
    Case("10% in all 20 cells, two folders, Holm", 5, 0.03, 1.10, 20, Policy(correction="holm")),
    Case("10% in all 20 cells, one session, BH", 5, 0.03, 1.10, 20, ONE),
    Case("10% in 1 of 20 cells, two folders, BH", 5, 0.03, 1.10, 1, APART),
    Case("10% in 5 of 20 cells, two folders, BH", 5, 0.03, 1.10, 5, APART),
    # sessions apart: same code, the new session offset
    Case("A/A, sessions 2% apart (fixed), 5 runs", 5, 0.03, policy=APART, session_fixed=0.02),
    Case("A/A, sessions 2% apart (fixed), 3 runs", 3, 0.03, policy=APART, session_fixed=0.02),
    Case("A/A, sessions 2% apart (fixed), run CV 1%", 5, 0.01, policy=APART, session_fixed=0.02),
    Case("A/A, session difference sd 2%, 5 runs", 5, 0.03, policy=APART,
         session_sd=0.02 / math.sqrt(2)),
    Case("A/A, session difference sd 2%, run CV 1%", 5, 0.01, policy=APART,
         session_sd=0.02 / math.sqrt(2)),
    Case("A/A, session sd 2% per side, run CV 1%", 5, 0.01, policy=APART, session_sd=0.02),
    Case("A/A, session sd 2% per side, --session_cv 0.02", 5, 0.01,
         policy=Policy(session_cv=0.02), session_sd=0.02),
    Case("10% in all cells, sessions 2% apart (fixed)", 5, 0.03, 1.10, 20, APART,
         session_fixed=0.02),
    # one session, interleaved (--compare-by): Welch or paired, with or without round effects
    Case("5% in all cells, one session, Welch", 5, 0.02, 1.05, 20, ONE),
    Case("5% in all cells, one session, paired", 5, 0.02, 1.05, 20, Policy(apart=False,
                                                                          paired=True)),
    Case("5% in all cells, one session, rounds 50%, Welch", 5, 0.02, 1.05, 20, ONE,
         round_share=0.5),
    Case("5% in all cells, one session, rounds 50%, paired", 5, 0.02, 1.05, 20,
         Policy(apart=False, paired=True), round_share=0.5),
    Case("5% in 1 of 20 cells, one session, Welch", 5, 0.02, 1.05, 1, ONE),
    Case("5% in all cells, one session, Welch, --min_change 0.005", 5, 0.02, 1.05, 20,
         Policy(apart=False, min_change=0.005)),
    Case("5% in all cells, one session, Welch, --min_change 0.01", 5, 0.02, 1.05, 20,
         Policy(apart=False, min_change=0.01)),
    Case("A/A, one session, rounds 50%, paired", 5, 0.02, policy=Policy(apart=False, paired=True),
         round_share=0.5),
]


#: A/A cases of the coverage table (``--coverage``): sessions apart by a fixed or a random
#: offset, at run CV 1% and 3%, 5 runs a side, the default policy of two folders.
COVERAGE_CASES: list[Case] = [
    Case("no session shift", 5, 0.01, policy=APART),
    Case("sessions 2% apart (fixed)", 5, 0.01, policy=APART, session_fixed=0.02),
    Case("sessions 2% apart (fixed)", 5, 0.03, policy=APART, session_fixed=0.02),
    Case("session difference sd 2%", 5, 0.01, policy=APART, session_sd=0.02 / math.sqrt(2)),
    Case("session difference sd 2%", 5, 0.03, policy=APART, session_sd=0.02 / math.sqrt(2)),
    Case("session sd 2% per side", 5, 0.01, policy=APART, session_sd=0.02),
    Case("session sd 2% per side", 5, 0.03, policy=APART, session_sd=0.02),
    Case("session sd 2% per side, --session_cv 0.02", 5, 0.01, policy=Policy(session_cv=0.02),
         session_sd=0.02),
]


def print_coverage(tables: int) -> None:
    """The coverage of the compare interval on A/A tables (before and now)."""
    print(f"A/A {CELLS}-cell tables, {tables} tables a line, 5 runs a side; intervals at the "
          "table's adjusted level (BH, --alpha 0.05); share of cells whose interval covers the "
          "true ratio 1\n")
    print("| sessions | run CV | runs' own interval (before issue 30) | interval shown (now) |")
    print("| --- | ---: | ---: | ---: |")
    for number, case in enumerate(COVERAGE_CASES):
        without, shown = coverage(case, tables, seed=1000 + number)
        before = _pct(without)
        print(f"| {case.name} | {case.run_cv:.0%} | {before} | {_pct(shown)} |")


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--coverage", action="store_true",
                        help="print the coverage of the compare interval instead (A/A tables)")
    args = parser.parse_args()
    if args.coverage:
        print_coverage(args.tables)
        return 0
    print(f"{CELLS}-cell tables, {args.tables} tables a line; --alpha 0.05; band = --min_change "
          "0; two folders: a 2% session CV assumed (issue 56)\n")
    print("| case | runs a side | run CV | tables with a false verdict | false verdicts per "
          "unchanged cell | changes found per changed cell |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for number, case in enumerate(CASES):
        tables_false, cell_false, found = simulate(case, args.tables, seed=number)
        print(f"| {case.name} | {case.runs} | {case.run_cv:.0%} | "
              f"{_pct(tables_false) if case.changed < CELLS else ''} | {_pct(cell_false)} | "
              f"{_pct(found)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

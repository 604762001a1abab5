"""Why the runs of a sweep are ordered in random rounds: an A/A simulation of the three orders.

Two identical configurations (A/A: the true times are equal) run ``ROUNDS`` times each in one
session of ``2 x ROUNDS`` consecutive runs, in the order ``exp.interleave`` gives
(``sequential``: A A A A A B B B B B; ``fixed``: A B A B ...; ``random``: each round in the
order :func:`dlbs.engine.rounds.round_order` draws, one ``exp.order_seed`` per session;
``random, seed 0``: every session with the default seed 0, hence one and the same order). The
machine adds to every run's log time: iid noise (run CV 2%) and one of

- ``none``: nothing else;
- ``drift``: a linear slow-down of 5% over the session (thermal, a filling page cache);
- ``period 2``: +-2% alternating run by run, at a random phase (a periodic neighbour whose
  period is the length of a round: Abedi & Brecht, ICPE 2017, section 4, show fixed
  interleaving aligning with such periods);
- ``step``: +5% from a random run on (a neighbour's job starts).

Each session gives the A/A offset: mean log time of A minus that of B, in %; it should be 0.
The table gives its mean over ``SESSIONS`` sessions (the bias of the order), its SD (what a
comparison must absorb as noise) and how often it exceeds 2% (a 2% "difference" in identical
code). No statistical test is made here: the verdicts are ``dlbs report``'s business.

    python benchmarks/sim_run_order.py [--sessions 4000] [--rounds 5]

Prints a Markdown table (the one in docs/measurements/report-statistics.md, "Interleaved rounds (RMIT)").
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from dlbs.engine.rounds import round_order

SESSIONS, ROUNDS, RUN_CV = 4000, 5, 0.02
ORDERS = ("sequential", "fixed", "random", "random, seed 0")
Effect = Callable[[np.random.Generator, int, int], np.ndarray]


def orders(name: str, sessions: int, rounds: int) -> np.ndarray:
    """Which configuration (0: A, 1: B) each slot of each session runs: (sessions, 2 x rounds)."""
    if name == "sequential":
        row = [0] * rounds + [1] * rounds
        return np.tile(row, (sessions, 1))
    if name == "fixed":
        return np.tile([0, 1] * rounds, (sessions, 1))
    seeds = [0] * sessions if name.endswith("seed 0") else range(sessions)
    return np.array([[c for r in range(rounds) for c in round_order(2, seed, r)]
                     for seed in seeds])


def _none(rng: np.random.Generator, sessions: int, slots: int) -> np.ndarray:
    return np.zeros((sessions, slots))


def _drift(rng: np.random.Generator, sessions: int, slots: int) -> np.ndarray:
    return np.tile(np.log1p(0.05 * np.arange(slots) / slots), (sessions, 1))


def _period2(rng: np.random.Generator, sessions: int, slots: int) -> np.ndarray:
    phase = rng.integers(0, 2, size=(sessions, 1))
    return np.log1p(0.02 * np.where((np.arange(slots) + phase) % 2 == 0, 1.0, -1.0))


def _step(rng: np.random.Generator, sessions: int, slots: int) -> np.ndarray:
    start = rng.integers(1, slots, size=(sessions, 1))
    return np.where(np.arange(slots) >= start, np.log1p(0.05), 0.0)


EFFECTS: dict[str, Effect] = {"none": _none, "drift 5%": _drift, "period 2, +-2%": _period2,
                              "step +5%": _step}


def offsets(order: str, effect: str, sessions: int = SESSIONS, rounds: int = ROUNDS,
            seed: int = 19) -> np.ndarray:
    """The A/A offset (%) of each simulated session: mean log time of A minus B, x 100."""
    rng = np.random.default_rng(seed)
    slots = 2 * rounds
    log_time = EFFECTS[effect](rng, sessions, slots) + rng.normal(0, RUN_CV, (sessions, slots))
    which = orders(order, sessions, rounds)
    a = np.where(which == 0, log_time, 0).sum(axis=1) / rounds
    b = np.where(which == 1, log_time, 0).sum(axis=1) / rounds
    return 100 * (a - b)


def table(sessions: int, rounds: int) -> str:
    """The Markdown table: one row per machine effect, mean / SD / P(|offset| > 2%) per order."""
    head = "| machine effect | " + " | ".join(f"{o}: mean, SD, >2%" for o in ORDERS) + " |"
    lines = [head, "| --- |" + " --- |" * len(ORDERS)]
    for effect in EFFECTS:
        cells = []
        for order in ORDERS:
            off = offsets(order, effect, sessions, rounds)
            cells.append(f"{off.mean():+.2f}%, {off.std(ddof=1):.2f}%, "
                         f"{np.mean(np.abs(off) > 2):.0%}")
        lines.append(f"| {effect} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(f"A/A offset of {args.rounds} runs a side, run CV {RUN_CV:.0%}, "
          f"{args.sessions} sessions\n")
    print(table(args.sessions, args.rounds))


if __name__ == "__main__":
    main()

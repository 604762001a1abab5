"""How often the fleet verdict (``benchstats.fleet``) names a slow node, and how often it fails a
healthy one: simulated fleets of 8 to 1,024 nodes.

Healthy nodes' figures are lognormal around one value with a node-to-node spread ``--noise``
(CV; 0.5%, 1% and 2% by default: from one GPU's call-to-call 0.2% to two H100s 1-3% apart); a
slow node is ``--slow`` (5%) below. For each fleet size and spread it prints:

- **found**: the share of fleets with one slow node in which that node failed (goal >= 95% at
  >= 16 nodes);
- **false per 1,000**: failed healthy nodes per 1,000 healthy nodes, in the same fleets (goal
  <= 1);
- **any false**: the share of all-healthy fleets with any failure (the stated family-wise
  rate, at most 5%).

    .venv/bin/python benchmarks/sim_fleet.py [--fleets 400] [--seed 7]

``--small``: fleets of 2, 3 and 4 nodes, judged as ``dlbs accept`` judges them
(:func:`dlbs.accept.verdict.judge_checks`: too few for the t comparison, so a node fails
against its peers only when its best run is below half of the best node's figure). Each node
gives ``--repeat`` runs (3, as ``dlbs accept``), each lognormal around the node's own figure at
the same spread; it prints the share of all-healthy fleets with any failure (the family-wise
false-alarm rate), the share of fleets in which a node 5% slower is named, and in which a node
at 0.4x (a gross fault) is named.

``--checks K`` (K >= 2): each node gives K independent figures and the fleet is judged as
``dlbs accept`` judges a plan of K checks (:func:`dlbs.accept.verdict.judge_checks`: each check
held to its share of the false-alarm rates, 5% / K); the slow node is slow on one check; a node
fails when any check fails it. ``--sizes`` limits the fleet sizes.

A benchmark, not a test (``tests/benchstats/test_fleet.py`` holds fast checks of the same).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from benchstats.fleet import judge_fleet

SIZES = (8, 16, 64, 256, 1024)


def fleet(rng: np.random.Generator, nodes: int, noise: float, slow: float | None
          ) -> dict[str, list[float]]:
    """Figures of one fleet (node ``n0`` is the slow one when ``slow`` is given)."""
    values = 1000.0 * np.exp(rng.normal(0.0, noise, nodes))
    if slow is not None:
        values[0] *= 1.0 - slow
    return {f"n{i}": [float(v)] for i, v in enumerate(values)}


def trial(rng: np.random.Generator, nodes: int, noise: float, slow: float, fleets: int
          ) -> tuple[float, float, float]:
    """(found, false failures per 1,000 healthy nodes, share of healthy fleets with any)."""
    found = false = healthy = any_false = 0
    for _ in range(fleets):
        verdict = judge_fleet(fleet(rng, nodes, noise, slow), "figure")
        failed = {n.node for n in verdict.failed}
        found += "n0" in failed
        false += len(failed - {"n0"})
        healthy += nodes - 1
        clean = judge_fleet(fleet(rng, nodes, noise, None), "figure")
        any_false += bool(clean.failed)
    return found / fleets, 1000.0 * false / healthy, any_false / fleets


def checks_trial(rng: np.random.Generator, nodes: int, noise: float, slow: float, fleets: int,
                 checks: int) -> tuple[float, float, float]:
    """As :func:`trial` for fleets judged on ``checks`` independent checks by the rule
    ``dlbs accept`` uses; the slow node is slow on the first check only."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dlbs.accept.verdict import judge_checks

    def figures(slowed: float | None) -> dict[str, dict[str, list[float]]]:
        per_check = [fleet(rng, nodes, noise, slowed if c == 0 else None) for c in range(checks)]
        return {f"n{i}": {f"c{c}": per_check[c][f"n{i}"] for c in range(checks)}
                for i in range(nodes)}

    found = false = healthy = any_false = 0
    for _ in range(fleets):
        failed = {v.node for v in judge_checks(figures(slow), {})[0] if v.failed}
        found += "n0" in failed
        false += len(failed - {"n0"})
        healthy += nodes - 1
        any_false += any(v.failed for v in judge_checks(figures(None), {})[0])
    return found / fleets, 1000.0 * false / healthy, any_false / fleets


SMALL_SIZES = (2, 3, 4)
SMALL_SPREADS = (0.005, 0.01, 0.02, 0.1, 0.2, 0.3)
#: How slow a gross fault is in ``--small`` (0.4x its peers).
GROSS = 0.6


def small_fleet(rng: np.random.Generator, nodes: int, spread: float, repeat: int,
                slow: float | None) -> dict[str, dict[str, list[float]]]:
    """Figures of one small fleet as ``dlbs accept`` gathers them (node -> check -> runs);
    node ``n0`` is ``slow`` slower when given."""
    means = 1000.0 * np.exp(rng.normal(0.0, spread, nodes))
    if slow is not None:
        means[0] *= 1.0 - slow
    runs = means[:, None] * np.exp(rng.normal(0.0, spread, (nodes, repeat)))
    return {f"n{i}": {"figure": [float(v) for v in row]} for i, row in enumerate(runs)}


def small_trial(rng: np.random.Generator, nodes: int, spread: float, repeat: int,
                slow: float, fleets: int) -> tuple[float, float, float]:
    """(share of healthy fleets with any failure, share of fleets whose ``slow`` node is
    named, share whose gross fault is named), each through the rule ``dlbs accept`` uses."""
    from dlbs.accept.verdict import judge_checks

    def failed(figures: dict[str, dict[str, list[float]]]) -> set[str]:
        return {v.node for v in judge_checks(figures, {})[0] if v.failed}

    any_false = found = gross = 0
    for _ in range(fleets):
        any_false += bool(failed(small_fleet(rng, nodes, spread, repeat, None)))
        found += "n0" in failed(small_fleet(rng, nodes, spread, repeat, slow))
        gross += "n0" in failed(small_fleet(rng, nodes, spread, repeat, GROSS))
    return any_false / fleets, found / fleets, gross / fleets


def small(args: argparse.Namespace) -> int:
    """The ``--small`` table."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    rng = np.random.default_rng(args.seed)
    print(f"fleets of 2-4 nodes, {args.repeat} runs a node; {args.fleets} fleets a cell; seed "
          f"{args.seed}")
    print(f"{'nodes':>6} {'spread':>7} {'any false':>10} {f'{args.slow:.0%} slower found':>17} "
          f"{f'{1 - GROSS:.1f}x found':>11}")
    for spread in args.noise:
        for nodes in SMALL_SIZES:
            any_false, found, gross = small_trial(rng, nodes, spread, args.repeat, args.slow,
                                                  args.fleets)
            print(f"{nodes:>6} {spread:>7.1%} {any_false:>10.2%} {found:>17.1%} {gross:>11.1%}",
                  flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fleets", type=int, default=400, help="fleets per cell")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slow", type=float, default=0.05, help="how much slower (0.05: 5%%)")
    parser.add_argument("--noise", type=float, nargs="+", default=None,
                        help="spreads (CV; default 0.005 0.01 0.02, with --small also 0.1 0.2 "
                        "0.3)")
    parser.add_argument("--small", action="store_true",
                        help="fleets of 2-4 nodes, judged by dlbs accept's rule for them")
    parser.add_argument("--repeat", type=int, default=3, help="--small: runs a node")
    parser.add_argument("--checks", type=int, default=1,
                        help="independent checks a node, judged as dlbs accept judges them")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="fleet sizes (default 8 16 64 256 1024)")
    args = parser.parse_args()
    if args.small:
        args.noise = args.noise or list(SMALL_SPREADS)
        return small(args)
    args.noise = args.noise or [0.005, 0.01, 0.02]
    rng = np.random.default_rng(args.seed)
    print(f"a node {args.slow:.0%} slower; {args.fleets} fleets a cell; seed {args.seed}"
          + (f"; {args.checks} checks a node, the slow one on one" if args.checks > 1 else ""))
    print(f"{'nodes':>6} {'spread':>7} {'found':>7} {'false/1000':>11} {'any false':>10}")
    for noise in args.noise:
        for nodes in args.sizes:
            found, false, any_false = (
                checks_trial(rng, nodes, noise, args.slow, args.fleets, args.checks)
                if args.checks > 1 else trial(rng, nodes, noise, args.slow, args.fleets))
            print(f"{nodes:>6} {noise:>7.1%} {found:>7.1%} {false:>11.2f} {any_false:>10.1%}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

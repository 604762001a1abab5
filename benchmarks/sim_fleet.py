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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fleets", type=int, default=400, help="fleets per cell")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slow", type=float, default=0.05, help="how much slower (0.05: 5%%)")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.005, 0.01, 0.02])
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"a node {args.slow:.0%} slower; {args.fleets} fleets a cell; seed {args.seed}")
    print(f"{'nodes':>6} {'spread':>7} {'found':>7} {'false/1000':>11} {'any false':>10}")
    for noise in args.noise:
        for nodes in SIZES:
            found, false, any_false = trial(rng, nodes, noise, args.slow, args.fleets)
            print(f"{nodes:>6} {noise:>7.1%} {found:>7.1%} {false:>11.2f} {any_false:>10.1%}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

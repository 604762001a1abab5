"""Seeded series of iteration times for the hard cases, the proof of this package's statistics.

Responsibility: generate, vectorised over many series, the series users produce (independent
noise, AR(1) with phi 0.5 and 0.9, Student-t(3) noise with 2% stalls of 2-4x or of 3-10x
(garbage collection, OS jitter), a linear drift, a warm-up) with their true steady mean, so
that ``scripts/sim_series.py`` (the tables in docs/measurements/report-statistics.md) and
``tests/benchstats`` measure one thing. It analyses nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Mean iteration time of every simulated series (arbitrary units, e.g. ms).
MEAN = 100.0
#: Share of stalls in the heavy-tailed cases, and their default factor range.
OUTLIER_RATE, OUTLIER_LOW, OUTLIER_HIGH = 0.02, 2.0, 4.0


@dataclass(frozen=True)
class Case:
    """One kind of series: noise CV, AR(1) coefficient, heavy tails, drift, warm-up."""

    name: str
    cv: float = 0.05
    phi: float = 0.0
    heavy: bool = False         # Student-t(3) noise (same SD) with 2% stalls ...
    stall_low: float = OUTLIER_LOW    # ... of this factor ...
    stall_high: float = OUTLIER_HIGH  # ... to this one (uniform)
    drift: float = 0.0          # total relative change, linear over the whole series
    warmup: float = 0.0         # share of the series (at least 2 iterations) that runs 3x slow

    @property
    def stationary(self) -> bool:
        """Whether the process (after any warm-up) has one mean."""
        return self.drift == 0.0

    @property
    def true_mean(self) -> float:
        """The process mean of the steady part (stalls included)."""
        if self.heavy:
            return MEAN * (1.0 - OUTLIER_RATE
                           + OUTLIER_RATE * (self.stall_low + self.stall_high) / 2)
        return MEAN


CASES = {case.name: case for case in (
    Case("iid"), Case("ar0.5", phi=0.5), Case("ar0.9", phi=0.9),
    Case("t3+outliers", heavy=True),
    Case("t3+stalls3-10x", heavy=True, stall_low=3.0, stall_high=10.0), Case("drift10%", cv=0.03, drift=0.10),
    Case("warmup", warmup=0.1),
)}


def _noise(rng: np.random.Generator, count: int, n: int, case: Case) -> np.ndarray:
    if case.heavy:  # Student-t(3) scaled to unit variance
        return rng.standard_t(3, size=(count, n)) / np.sqrt(3.0)
    return rng.standard_normal((count, n))


def series(case: Case, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` series of ``n`` iteration times (rows), seeded; AR(1) noise starts in its
    stationary distribution."""
    rng = np.random.default_rng(seed)
    shocks = _noise(rng, count, n, case)
    noise = np.empty_like(shocks)
    noise[:, 0] = shocks[:, 0]
    scale = np.sqrt(1.0 - case.phi ** 2)
    for i in range(1, n):
        noise[:, i] = case.phi * noise[:, i - 1] + scale * shocks[:, i]
    out = MEAN * (1.0 + case.cv * noise)
    if case.drift:
        out += MEAN * case.drift * np.arange(n) / max(n - 1, 1)
    if case.heavy:
        stalls = rng.random((count, n)) < OUTLIER_RATE
        out *= np.where(stalls, rng.uniform(case.stall_low, case.stall_high, (count, n)), 1.0)
    if case.warmup:
        out[:, :max(2, int(case.warmup * n))] *= 3.0
    return np.maximum(out, 1e-3 * MEAN)

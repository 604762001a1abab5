"""Seeded synthetic histories that prove :mod:`benchstats.changepoints`.

A history has ``points`` points along an axis (code versions, nightlies); each point is the
mean of 3-5 runs measured in one session. A run's log value is the level (with 0, 1 or 2 steps
of 2-10% at known places, or a drift), plus the session's offset (one per point, scaled to the
run CV; optionally AR(1) along the axis), plus run noise at the series' run CV (1-3%; normal or
Student t3). A point's standard error comes from its own runs (sd / sqrt(n)), so it knows
nothing of the session offset, as a real point's interval does not. A few points are
outliers: shifted by 2-4 times the point's total noise; optionally a share of points is
measured on a noisy day (its runs scatter ``noisy_factor`` times more, and its interval says
so). Vectorised over series; nothing here
judges anything.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Histories", "HistoryCase", "histories"]


@dataclass(frozen=True)
class HistoryCase:
    """How one set of histories is made (relative sizes; the defaults are the issue's)."""

    points: int = 100
    run_cv: tuple[float, float] = (0.01, 0.03)  # per series, uniform
    runs: tuple[int, int] = (3, 5)  # per point, uniform inclusive
    session: tuple[float, float] = (0.25, 1.0)  # session sd / run CV, per series
    session_phi: float = 0.0  # AR(1) of the session offsets along the axis
    tails: str = "normal"  # or "t3": run noise
    step_size: tuple[float, float] = (0.02, 0.10)  # |relative step|, uniform, random sign
    steps: tuple[int, ...] = (0, 1, 2)  # steps per series, cycled over the series
    margin: int = 10  # no step nearer the ends
    spacing: int = 15  # least points between two steps
    outliers: int = 2  # points per series
    outlier_size: tuple[float, float] = (2.0, 4.0)  # times the point's total noise sd
    drift: float = 0.0  # total relative drift over the history (log-linear)
    noisy: float = 0.0  # share of points measured on a noisy day: run CV times noisy_factor
    noisy_factor: float = 5.0
    pulse: int = 0  # > 0: a series with two steps gets a pulse this long (the second undoes it)


@dataclass(frozen=True)
class Histories:
    """``values``, ``se``, ``n_runs`` (series x points), each series' ``run_cv`` and its true
    steps ``truth[s]``: (first index at the new level, relative size) pairs; ``samples``
    (series x points x runs, NaN past a point's runs): the runs themselves, outliers
    included, for a caller that builds its points from runs (``scripts/sim_latest.py``)."""

    values: np.ndarray
    se: np.ndarray
    n_runs: np.ndarray
    run_cv: np.ndarray
    truth: list[list[tuple[int, float]]]
    samples: np.ndarray | None = None


def _positions(rng: np.random.Generator, case: HistoryCase, k: int) -> list[int]:
    while True:  # rejection: k positions in the allowed range, spaced
        pos = sorted(int(p) for p in rng.integers(case.margin, case.points - case.margin + 1, k))
        if all(b - a >= case.spacing for a, b in itertools.pairwise(pos)):
            return pos


def _levels(rng: np.random.Generator, case: HistoryCase,
            count: int) -> tuple[np.ndarray, list[list[tuple[int, float]]]]:
    levels = np.zeros((count, case.points))
    truth: list[list[tuple[int, float]]] = []
    for s in range(count):
        k = case.steps[s % len(case.steps)]
        sizes = rng.uniform(*case.step_size, k) * rng.choice([-1.0, 1.0], k)
        places = _positions(rng, case, k)
        if case.pulse and k == 2:  # both edges at least margin from the ends
            start = int(rng.integers(case.margin, case.points - case.margin - case.pulse + 1))
            places = [start, start + case.pulse]
            sizes[1] = 1.0 / (1.0 + sizes[0]) - 1.0
        steps = list(zip(places, (float(x) for x in sizes)))
        for at, size in steps:
            levels[s, at:] += math.log1p(size)
        truth.append(steps)
    levels += case.drift * np.linspace(0.0, 1.0, case.points)
    return levels, truth


def _sessions(rng: np.random.Generator, case: HistoryCase, sd: np.ndarray) -> np.ndarray:
    count, n = sd.shape[0], case.points
    e = rng.standard_normal((count, n))
    if case.session_phi:
        phi = case.session_phi
        for i in range(1, n):
            e[:, i] = phi * e[:, i - 1] + math.sqrt(1.0 - phi * phi) * e[:, i]
    return e * sd[:, None]


def _run_noise(rng: np.random.Generator, case: HistoryCase, shape: tuple[int, ...]) -> np.ndarray:
    if case.tails == "t3":  # unit variance: t3 has variance 3
        return rng.standard_t(3, shape) / math.sqrt(3.0)
    return rng.standard_normal(shape)


def histories(case: HistoryCase, count: int, seed: int) -> Histories:
    """``count`` seeded histories of ``case``."""
    rng = np.random.default_rng(seed)
    levels, truth = _levels(rng, case, count)
    cv = rng.uniform(*case.run_cv, count)
    session_sd = cv * rng.uniform(*case.session, count)
    offsets = _sessions(rng, case, session_sd)
    runs = rng.integers(case.runs[0], case.runs[1] + 1, (count, case.points))
    most = case.runs[1]
    point_cv = cv[:, None] * np.where(rng.random((count, case.points)) < case.noisy,
                                      case.noisy_factor, 1.0)
    noise = _run_noise(rng, case, (count, case.points, most)) * point_cv[:, :, None]
    logs = (levels + offsets)[:, :, None] + noise
    present = np.arange(most)[None, None, :] < runs[:, :, None]
    samples = np.where(present, np.exp(logs), np.nan)
    values = np.nanmean(samples, axis=2)
    se = np.nanstd(samples, axis=2, ddof=1) / np.sqrt(runs)
    point_sd = np.sqrt(session_sd[:, None] ** 2 + point_cv ** 2 / runs)
    for _ in range(case.outliers):
        at = rng.integers(0, case.points, count)
        size = rng.uniform(*case.outlier_size, count) * rng.choice([-1.0, 1.0], count)
        rows = np.arange(count)
        values[rows, at] *= np.exp(size * point_sd[rows, at])
        samples[rows, at, :] *= np.exp(size * point_sd[rows, at])[:, None]
    return Histories(values, se, runs.astype(float), cv, truth, samples)

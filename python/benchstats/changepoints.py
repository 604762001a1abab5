"""Change points in a history of measurements, each point with its own interval.

A history is one configuration's results along an axis (code versions, nightlies, dates):
``values[i]`` is point i's estimate (a throughput, a mean time), ``se[i]`` its standard error
from its own interval, ``n_runs[i]`` the runs behind it. :func:`find_changes` finds the steps
in it and confirms each one only when the points before and after differ significantly *and*
by more than ``min_change`` (Criterion's rule: the whole 95% interval of the change beyond
+-min_change).

The method, on log values (a change is a ratio ``new / old``):

1. **Weights from each point's interval plus the scatter between points.** Point i gets the
   weight ``1 / (s_i^2 + tau^2)``: ``s_i`` its own relative standard error (as asv weights its
   step detection by each point's precision), ``tau^2`` a between-point (session, day)
   variance estimated from the history itself, as a random-effects meta-analysis does
   (DerSimonian & Laird 1986, Controlled Clinical Trials 7). The estimate is robust and blind
   to steps: the median of successive differences scaled by their own variance
   ``s_i^2 + s_{i+1}^2 + 2 tau^2`` must be that of a standard normal's absolute value (von
   Neumann's successive differences, 1941, Ann. Math. Statist. 12; a step or an outlier
   moves only one or two differences). So points with tiny intervals but real day-to-day
   scatter are not over-trusted. Standard errors from few runs are noisy: with ``n_runs`` each
   run variance is shrunk towards the history's median with ``PRIOR_DF`` prior degrees of
   freedom (Smyth 2004, Stat. Appl. Genet. Mol. Biol. 3: moderated variances); an unknown
   (NaN) standard error takes the median's place.
2. **Seeded binary segmentation with a permutation test** (the scheme of E-Divisive means,
   Matteson & James 2014, JASA 109, and of Hunter/Otava, Fleming et al. 2023, ICPE, over the
   seeded intervals of Kovacs, Li, Buhlmann & Munk 2023, Biometrika 110): in a segment, the
   weighted mean-shift statistic ``(mean_right - mean_left)^2 / (1/W_left + 1/W_right)`` is
   computed for every split of the segment and of its seeded sub-intervals (lengths m/2, m/4,
   ... shifted by half their length), so a short pulse (a change undone a few points later)
   is compared with its near neighbours instead of being diluted in the whole segment. The
   best one is significant when it beats the maxima of seeded permutations of the segment's
   (value, weight) pairs: the p-value is ``(1 + #perm >= observed) / (B + 1)``, so the test is
   corrected for the choice among all candidate comparisons whatever the noise's
   distribution, as long as the points are exchangeable. Permutations stop early when the
   p-value can no longer reach ``alpha`` (Besag & Clifford 1991, Biometrika 78). Each side
   keeps >= ``MIN_SIDE`` points; the split found cuts the segment and both parts are searched
   again.
3. **Confirmation between neighbours.** Each candidate is judged against the segments up to
   its neighbouring candidates: the difference of weighted mean logs with Hartung & Knapp's
   variance (Knapp & Hartung 2003, Stat. Med. 22: the model variance times
   ``max(1, q)``, ``q`` the weighted residual scatter of both segments, with Student's t on
   ``n_left + n_right - 2`` degrees of freedom), so the interval widens when the points scatter
   more than their weights say. A candidate whose 95% interval of ``new/old - 1`` is not wholly
   beyond +-``min_change`` is dropped (the weakest first, then the others are judged again,
   as Hunter re-evaluates after a merge) and kept in :attr:`ChangeSearch.dropped` with its
   verdict: ``small`` (the interval inside +-min_change) or ``unclear`` (it straddles a bound).

Deterministic: the permutations come from a fixed seed (:data:`SEED`). Not judged: fewer than
``MIN_POINTS`` usable points; no change can have fewer than ``MIN_SIDE`` usable points on
either side, so the first and last ``MIN_SIDE - 1`` points are never a ``first_bad``.
Where it stops being valid (docs/measurements/report-statistics.md, "Change points in a history"): drifts (found as
one or more steps), autocorrelated histories (neighbouring points sharing a session offset
are not exchangeable: false alarms), steps smaller than about twice the point-to-point spread,
pulses shorter than about 6 points.

Pure functions on numbers: nothing here knows about logs, databases or the command line.
May import the standard library and numpy only.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from benchstats.tdist import t_critical

__all__ = ["ALPHA", "MIN_POINTS", "MIN_SIDE", "PERMUTATIONS", "SEED", "Change", "ChangeSearch",
           "between_variance", "between_variances", "find_changes"]

#: Seed of the permutations: the same history always gives the same answer.
SEED = 20140101
#: Family-wise error level of each segment's test over all its candidate splits.
ALPHA = 0.005
#: Permutations per test at ``ALPHA`` (more for a smaller alpha: ``2 / alpha - 1``; fewer
#: when the p-value can no longer reach ``alpha``).
PERMUTATIONS = 399
#: Least usable points on each side of a change.
MIN_SIDE = 5
#: Least usable points for a history to be judged at all: below 12 the permutation test
#: cannot reach ``ALPHA`` (the exact p-value of the most extreme 5 | 5 split is 2 / 252).
MIN_POINTS = 12
#: Prior degrees of freedom of the moderated run variances (Smyth 2004).
PRIOR_DF = 4.0
#: The median of |N(0, 1)|: the scale of the successive differences.
_HALF_NORMAL_MEDIAN = 0.6744897501960817
#: Least variance of a point on the log scale (1e-6 relative): no point gets infinite weight.
_VAR_FLOOR = 1e-12
#: Permutations of the first stage (Besag & Clifford's early stop).
_FIRST_STAGE = 99


@dataclass(frozen=True)
class Change:
    """One change between ``last_good`` and ``first_bad`` (indexes into the history).

    ``change`` is ``new / old - 1`` of the segments' weighted geometric means
    (``mean_before``, ``mean_after``), ``ci`` its 95% interval, ``p_value`` the permutation
    p-value of the split (corrected over the candidate comparisons of the segment in which it
    was found; never below ``1 / (PERMUTATIONS + 1)`` at the default ``alpha``),
    ``direction`` ``regression`` or ``improvement``, ``points_before`` / ``points_after`` the
    usable points of the two segments compared, and
    ``verdict`` ``confirmed`` (reported), ``small`` (interval inside +-min_change) or
    ``unclear`` (interval across a bound)."""

    last_good: int
    first_bad: int
    change: float
    ci: tuple[float, float]
    p_value: float
    direction: str
    mean_before: float
    mean_after: float
    points_before: int
    points_after: int
    verdict: str = "confirmed"


@dataclass(frozen=True)
class ChangeSearch:
    """What :func:`find_changes` found: the confirmed ``changes`` (in axis order), the
    significant splits ``dropped`` for their size, ``not_judged`` (why the history was not
    judged, else None), the usable ``points`` and ``between_sd`` (tau, relative: the
    estimated point-to-point spread beyond the points' own intervals; NaN when not judged)."""

    changes: list[Change]
    dropped: list[Change] = field(default_factory=list)
    not_judged: str | None = None
    points: int = 0
    between_sd: float = math.nan


def _floats(xs: Sequence[float] | np.ndarray | None, n: int, name: str) -> np.ndarray:
    if xs is None:
        return np.full(n, np.nan)
    arr = np.asarray(xs, dtype=float).reshape(-1)
    if arr.size != n:
        raise ValueError(f"find_changes: {name} has {arr.size} entries, values has {n}")
    return arr


def _usable(values: np.ndarray, excluded: Iterable[int] | None) -> np.ndarray:
    """Indexes of the points that count: finite, not excluded."""
    keep = np.isfinite(values)
    if excluded is not None:
        listed = np.asarray(list(excluded))
        if listed.dtype == bool:
            raise ValueError("find_changes: excluded takes indexes, not a mask")
        drop = listed.astype(int)
        if drop.size and (drop.min() < 0 or drop.max() >= values.size):
            raise ValueError(f"find_changes: excluded index out of range 0..{values.size - 1}")
        keep[drop] = False
    if np.any(values[keep] <= 0):
        raise ValueError("find_changes: values must be positive (exclude failed points)")
    return np.flatnonzero(keep)


def _point_variances(values: np.ndarray, se: np.ndarray, n_runs: np.ndarray) -> np.ndarray:
    """Each point's own variance of its log value, moderated when ``n_runs`` is known and
    imputed (the history's median) when its standard error is unknown."""
    s2 = (se / values) ** 2
    s2[~(se >= 0)] = np.nan
    known_n = np.isfinite(n_runs) & (n_runs >= 1)
    run_var = s2 * np.where(known_n, n_runs, np.nan)
    prior = np.nanmedian(run_var) if np.any(np.isfinite(run_var)) else math.nan
    if math.isfinite(prior):
        df = np.where(known_n, n_runs - 1.0, 0.0)
        own = np.where(np.isfinite(run_var), run_var, prior)
        own_df = np.where(np.isfinite(run_var), df, 0.0)
        moderated = (own_df * own + PRIOR_DF * prior) / (own_df + PRIOR_DF)
        s2 = np.where(known_n, moderated / np.where(known_n, n_runs, 1.0), s2)
    fill = np.nanmedian(s2) if np.any(np.isfinite(s2)) else 0.0
    return np.where(np.isfinite(s2), s2, fill)


def between_variance(logs: np.ndarray, s2: np.ndarray) -> float:
    """tau^2: the variance between points beyond their own ``s2``, from successive
    differences (robust to steps and outliers; 0 when the intervals explain the scatter)."""
    d = np.abs(np.diff(logs))
    pair = s2[:-1] + s2[1:]
    if d.size < 3:
        return 0.0

    def scaled_median(tau2: float) -> float:
        # np.median's value (the mean of the two middle values for an even count), without
        # its per-call overhead: this runs 40 times per history
        ordered = np.sort(d / np.sqrt(np.maximum(pair + 2.0 * tau2, _VAR_FLOOR)))
        middle = ordered.size // 2
        return float(ordered[middle]) if ordered.size % 2 else \
            float((ordered[middle - 1] + ordered[middle]) / 2.0)

    if scaled_median(0.0) <= _HALF_NORMAL_MEDIAN:
        return 0.0
    low, high = 0.0, float(np.max(d)) ** 2
    for _ in range(40):  # bisection on tau: 1e-12 relative of the largest difference
        mid = 0.5 * (low + high)
        low, high = (mid, high) if scaled_median(mid) > _HALF_NORMAL_MEDIAN else (low, mid)
    return 0.5 * (low + high)


def between_variances(histories: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """:func:`between_variance` of many ``(logs, s2)`` histories at once, the same values bit
    for bit: one bisection over a matrix (a row a history, padded with NaN, which sorts last,
    after any NaN or infinity of the history itself) instead of 40 sorts of each history
    apart. ``regressions --latest`` judges thousands of histories; this is most of its
    statistics. :func:`between_variance` stays the reference (a test holds them equal)."""
    out = [0.0] * len(histories)
    rows: list[tuple[int, np.ndarray, np.ndarray]] = []
    for i, (logs, s2) in enumerate(histories):
        d = np.abs(np.diff(logs))
        if d.size >= 3:
            rows.append((i, d, s2[:-1] + s2[1:]))
    if not rows:
        return out
    width = max(d.size for _, d, _ in rows)
    diffs = np.full((len(rows), width), np.nan)
    pairs = np.ones((len(rows), width))
    for r, (_, d, pair) in enumerate(rows):
        diffs[r, :d.size] = d
        pairs[r, :d.size] = pair
    sizes = np.array([d.size for _, d, _ in rows])
    middle, odd, at = sizes // 2, sizes % 2 == 1, np.arange(len(rows))

    def scaled_medians(tau2: np.ndarray) -> np.ndarray:
        ordered = np.sort(diffs / np.sqrt(np.maximum(pairs + 2.0 * tau2[:, None], _VAR_FLOOR)),
                          axis=1)
        upper, lower = ordered[at, middle], ordered[at, middle - 1]
        return np.where(odd, upper, (lower + upper) / 2.0)

    spread = ~(scaled_medians(np.zeros(len(rows))) <= _HALF_NORMAL_MEDIAN)  # NaN: as alone
    low = np.zeros(len(rows))
    high = np.array([float(np.max(d)) ** 2 for _, d, _ in rows])
    for _ in range(40):  # the bisection of between_variance, every history in step
        mid = 0.5 * (low + high)
        above = scaled_medians(mid) > _HALF_NORMAL_MEDIAN
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    tau2 = 0.5 * (low + high)
    for r, (i, _, _) in enumerate(rows):
        if spread[r]:
            out[i] = float(tau2[r])
    return out


@lru_cache(maxsize=256)
def _triples(m: int, min_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, split, end) of every candidate comparison in a segment of ``m`` points: the
    seeded intervals of Kovacs et al. (2023) -- layer j has ``2^j - 1`` intervals of length
    ``m / 2^(j-1)``, each shifted by half its length -- and every split leaving ``min_side``
    points on each side of it."""
    starts: list[int] = []
    splits: list[int] = []
    ends: list[int] = []
    layer = 0
    while m / 2 ** layer >= 2 * min_side:
        length = round(m / 2 ** layer)
        count = 2 ** (layer + 1) - 1
        for i in range(count):
            s = round(i * (m - length) / max(count - 1, 1))
            ks = range(s + min_side, s + length - min_side + 1)
            starts += [s] * len(ks)
            splits += list(ks)
            ends += [s + length] * len(ks)
        layer += 1
    return np.array(starts), np.array(splits), np.array(ends)


def _split_statistics(y: np.ndarray, w: np.ndarray, min_side: int) -> np.ndarray:
    """Rows of (value, weight) orderings -> the mean-shift statistic of each candidate
    comparison of :func:`_triples`, one row each."""
    zero = np.zeros((*y.shape[:-1], 1))
    cw = np.concatenate([zero, np.cumsum(w, axis=-1)], axis=-1)
    cwy = np.concatenate([zero, np.cumsum(w * y, axis=-1)], axis=-1)
    s, k, e = _triples(y.shape[-1], min_side)
    wl, sl = cw[..., k] - cw[..., s], cwy[..., k] - cwy[..., s]
    wr, sr = cw[..., e] - cw[..., k], cwy[..., e] - cwy[..., k]
    diff = sr / wr - sl / wl
    return diff * diff / (1.0 / wl + 1.0 / wr)


def _permuted_maxima(y: np.ndarray, w: np.ndarray, count: int, rng: np.random.Generator,
                     min_side: int) -> np.ndarray:
    order = rng.permuted(np.tile(np.arange(y.size), (count, 1)), axis=1)
    return np.max(_split_statistics(y[order], w[order], min_side), axis=1)


def _permutations(alpha: float) -> int:
    """Permutations of a test at ``alpha``: enough for one exceedance to stay below it."""
    return max(PERMUTATIONS, math.ceil(2.0 / alpha) - 1)


def _best_split(y: np.ndarray, w: np.ndarray, rng: np.random.Generator, alpha: float,
                min_side: int) -> tuple[int, float]:
    """(left size of the best split, its permutation p-value) of one segment."""
    stats = _split_statistics(y, w, min_side)
    best = int(np.argmax(stats))
    split = int(_triples(y.size, min_side)[1][best])
    observed = stats[best] * (1.0 - 1e-12)  # ties (equal statistics) count as exceeding
    total = _permutations(alpha)
    first = int(np.sum(_permuted_maxima(y, w, _FIRST_STAGE, rng, min_side) >= observed))
    if (1.0 + first) / (total + 1.0) > alpha:  # cannot reach alpha any more
        return split, (1.0 + first) / (_FIRST_STAGE + 1.0)
    rest = _permuted_maxima(y, w, total - _FIRST_STAGE, rng, min_side)
    return split, (1.0 + first + int(np.sum(rest >= observed))) / (total + 1.0)


def _segment(y: np.ndarray, w: np.ndarray, alpha: float, min_side: int) -> dict[int, float]:
    """Seeded binary segmentation: {first index of a new segment: its p-value}."""
    rng = np.random.default_rng(SEED)
    found: dict[int, float] = {}
    todo = [(0, y.size)]
    while todo:
        start, end = todo.pop()
        if end - start < 2 * min_side:
            continue
        split, p = _best_split(y[start:end], w[start:end], rng, alpha, min_side)
        if p <= alpha:
            found[start + split] = p
            todo += [(start + split, end), (start, start + split)]
    return found


@dataclass(frozen=True)
class _Step:
    """A candidate judged between its neighbours (log scale)."""

    at: int
    diff: float
    low: float
    high: float
    t: float
    mean_before: float
    mean_after: float
    before: int
    after: int


def _weighted(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """(weighted mean, total weight, weighted squared residuals)."""
    total = float(np.sum(w))
    mean = float(np.sum(w * y)) / total
    return mean, total, float(np.sum(w * (y - mean) ** 2))


def _judge_step(y: np.ndarray, w: np.ndarray, start: int, at: int, end: int) -> _Step:
    """The difference of weighted mean logs of ``[start, at)`` and ``[at, end)`` with Hartung
    and Knapp's interval (model variance times max(1, q), Student's t)."""
    ml, wl, rl = _weighted(y[start:at], w[start:at])
    mr, wr, rr = _weighted(y[at:end], w[at:end])
    df = end - start - 2
    q = (rl + rr) / df
    se = math.sqrt(max(1.0, q) * (1.0 / wl + 1.0 / wr))
    half = t_critical(df) * se
    diff = mr - ml
    return _Step(at, diff, diff - half, diff + half, abs(diff) / se, ml, mr, at - start,
                 end - at)


def _verdict(step: _Step, min_change: float) -> str:
    low, high = math.expm1(step.low), math.expm1(step.high)
    if low > min_change or high < -min_change:
        return "confirmed"
    if -min_change <= low and high <= min_change:
        return "small"
    return "unclear"


def _judge_all(y: np.ndarray, w: np.ndarray, cuts: list[int]) -> list[_Step]:
    bounds = [0, *cuts, y.size]
    return [_judge_step(y, w, bounds[i], bounds[i + 1], bounds[i + 2])
            for i in range(len(cuts))]


def _confirm(y: np.ndarray, w: np.ndarray, cuts: list[int],
             min_change: float) -> tuple[list[_Step], list[tuple[_Step, str]]]:
    """Drop the weakest candidate that fails the min_change rule until all pass."""
    dropped: list[tuple[_Step, str]] = []
    while True:
        steps = _judge_all(y, w, cuts)
        failing = [s for s in steps if _verdict(s, min_change) != "confirmed"]
        if not failing:
            return steps, dropped
        weakest = min(failing, key=lambda s: s.t)
        dropped.append((weakest, _verdict(weakest, min_change)))
        cuts = [c for c in cuts if c != weakest.at]


def _change(step: _Step, keep: np.ndarray, p: float, higher_is_better: bool,
            verdict: str) -> Change:
    better = (step.diff > 0) == higher_is_better
    return Change(
        last_good=int(keep[step.at - 1]), first_bad=int(keep[step.at]),
        change=math.expm1(step.diff), ci=(math.expm1(step.low), math.expm1(step.high)),
        p_value=p, direction="improvement" if better else "regression",
        mean_before=math.exp(step.mean_before), mean_after=math.exp(step.mean_after),
        points_before=step.before, points_after=step.after, verdict=verdict)


def find_changes(values: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray,
                 n_runs: Sequence[float] | np.ndarray | None = None, *,
                 min_change: float = 0.05, alpha: float = ALPHA,
                 min_side: int = MIN_SIDE, min_points: int = MIN_POINTS,
                 excluded: Iterable[int] | None = None,
                 higher_is_better: bool = True) -> ChangeSearch:
    """The confirmed changes of one history (see the module's docstring for the method).

    ``values[i]`` > 0 is point i's estimate, ``se[i]`` its standard error (NaN: unknown),
    ``n_runs[i]`` its runs (None: unknown; then the standard errors are taken as they are).
    Points whose value is NaN or whose index is in ``excluded`` are skipped but keep their
    indexes. ``higher_is_better`` (throughput) makes a drop a regression; False (time) a rise.
    A history with fewer than ``min_points`` usable points is not judged
    (``ChangeSearch.not_judged`` says why)."""
    if not 0.0 < alpha < 1.0 or min_change < 0 or min_side < 2:
        raise ValueError("find_changes: needs 0 < alpha < 1, min_change >= 0, min_side >= 2")
    vals = _floats(values, len(values), "values")
    ses, runs = _floats(se, vals.size, "se"), _floats(n_runs, vals.size, "n_runs")
    keep = _usable(vals, excluded)
    enough = max(min_points, 2 * min_side)
    if keep.size < enough:
        return ChangeSearch([], not_judged=(
            f"{keep.size} usable points, fewer than {enough}: a change needs {min_side} points "
            f"on each side and the permutation test {enough} in all"), points=keep.size)
    y = np.log(vals[keep])
    s2 = _point_variances(vals[keep], ses[keep], runs[keep])
    tau2 = between_variance(y, s2)
    w = 1.0 / np.maximum(s2 + tau2, _VAR_FLOOR)
    found = _segment(y, w, alpha, min_side)
    steps, dropped = _confirm(y, w, sorted(found), min_change)
    return ChangeSearch(
        changes=[_change(s, keep, found[s.at], higher_is_better, "confirmed") for s in steps],
        dropped=sorted((_change(s, keep, found[s.at], higher_is_better, v) for s, v in dropped),
                       key=lambda c: c.first_bad),
        points=keep.size, between_sd=math.sqrt(tau2))

"""Short runs with rare stalls, and the adaptive stop's work: old and new rules side by side
(issue 56, items 2 and 3).

**Intervals** (item 2): seeded series through ``benchstats.analyze`` as the benchmark judges a
run: Student-t(3) noise (CV 5%) with 2% stalls of 3-10x (``benchstats.simulate``'s
``t3+stalls3-10x``; the truth is the process's long-run mean, stalls included) at n = 50, 100,
150, 200; independent normal times (CV 5%) and independent lognormal times (sigma 0.1, 0.3,
0.5: CV 10-53%; sigma 0.3 is the case whose short windows the old heavy-tail rule withheld
25% of) at n = 100, 150, 200. Per cell: how often an interval is given, the coverage of
those given (Wilson's 95% interval) and why the others were withheld. Goals: coverage of the
intervals given >= 93% for the stalls at 50, 100, 200; an interval in >= 80% of independent
normal and lognormal (sigma 0.3) runs from n = 100.
Issue 56's second pass (2026-11-29) adds the processes of ``PROCESS_CELLS``, made here: lognormal
sigma 0.5 with 1% stalls (the case the first pass left at 22.9% given), lognormal sigma 0.7 and
1.0, t3 with 2% stalls under AR(1) noise (phi 0.5) or a warm-up, t3 with 1% stalls, and
lognormal 0.3 and normal times with 1% stalls; and a table (:func:`best_coverage`) of the most
any rule can cover where the goal keeps an interval for 80% of the stall-free windows.
``--intervals-only`` skips the stop (a few minutes instead of tens).
``--holes COUNT`` (issue 56, the third review's holes, 2026-11-29) prints given / coverage at
n = 50, 100, 150, 200, 400 for the processes of ``HOLE_CELLS`` (:func:`hole_rows`): stalls in
bursts of 4 consecutive iterations (the same 2% share), stalls whose slowness decays over 3
iterations, independent normal times of CV 2-20%, a +5% linear drift at CV 3% and 5%
(covered when the interval holds the run's end level), beside the goal's process; with
``--baseline REV`` the old rules on the same series; ``--seed`` moves every cell's seed.

**The stop** (item 3): ``benchstats.run_until`` with ``StopRule(10, target)``. Quiet process
(independent normal, CV 10%) at 5% and 2% targets: the mean iterations of the adaptive runs
over the fixed count with the same promise (the smallest count whose runs meet the target,
by ``benchstats.analyze``, in 95% of 1,000 runs: ``bench_time_to_precision.required_count``); goal
<= 1.0. Stalls (t3, CV 10%, 2% of 3-10x) at a 5% target: coverage at the stop, goal >= 93%.
The mixed-noise sweep of ``bench_time_to_precision.py --simulate`` (six Gaussian processes,
CV 2.5-20%: one fixed count sized for the noisiest against the adaptive stop per
configuration): goal <= 0.5.

``--baseline REV`` runs the same cells on ``python/benchstats`` of a git revision (extracted
to a temporary folder and imported in its own process) and prints both.

    python benchmarks/bench_short_run_stalls.py [--count 2000] [--stops 500] [--baseline 833adfa]
                                                [--intervals-only]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: The revision before issue 56's rules (the 200-iteration stop floor, the heavy-tail rule).
BASELINE = "833adfa"


def _import_path(folder: str | None) -> None:
    """Put the benchstats to measure first on the path (``folder``/python, or this tree's)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "python"))
    if folder:  # loaded by hand: the editable install's finder would map the name to this tree
        package = Path(folder) / "python" / "benchstats"
        spec = importlib.util.spec_from_file_location(
            "benchstats", package / "__init__.py", submodule_search_locations=[str(package)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchstats"] = module
        spec.loader.exec_module(module)


def wilson(hits: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval of a proportion."""
    if n == 0:
        return math.nan, math.nan
    z, p = 1.959964, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def interval_cell(name: str, rows: np.ndarray, truth: float) -> dict[str, Any]:
    """Given share, coverage of those given and the reasons of the others, for ``rows``."""
    from benchstats import analyze
    given = covered = 0
    reasons: dict[str, int] = {}
    for values in rows:
        found = analyze(values)
        if math.isnan(found.ci_low):
            reasons[found.ci_withheld] = reasons.get(found.ci_withheld, 0) + 1
            continue
        given += 1
        covered += found.ci_low <= truth <= found.ci_high
    return {"case": name, "n": rows.shape[1], "count": len(rows), "given": given,
            "covered": covered, "coverage_ci": wilson(covered, given), "reasons": reasons}


#: The processes added in issue 56's second pass (2026-11-29), each made here (not by
#: ``benchstats.simulate``, so that the baseline's package runs them too): (case, noise,
#: stall share, AR(1) phi, warm-up share, sizes). Noise "t3" and "normal" are of CV 5%;
#: "lognormal S" is exp(S z). Stalls are 3-10x (uniform); a warm-up runs 3x slow.
PROCESS_CELLS = (
    ("lognormal 0.5 + 1% stalls 3-10x", "lognormal 0.5", 0.01, 0.0, 0.0, (50, 100, 150, 200)),
    ("lognormal 0.7", "lognormal 0.7", 0.0, 0.0, 0.0, (100, 150, 200)),
    ("lognormal 1.0", "lognormal 1.0", 0.0, 0.0, 0.0, (100, 150, 200)),
    ("t3 + 2% stalls 3-10x, AR(1) 0.5", "t3", 0.02, 0.5, 0.0, (50, 100, 200)),
    ("t3 + 2% stalls 3-10x, warm-up 10%", "t3", 0.02, 0.0, 0.1, (50, 100, 200)),
    ("t3 + 1% stalls 3-10x", "t3", 0.01, 0.0, 0.0, (50, 100, 150, 200)),
    ("lognormal 0.3 + 1% stalls 3-10x", "lognormal 0.3", 0.01, 0.0, 0.0, (100, 200)),
    ("normal + 1% stalls 3-10x", "normal", 0.01, 0.0, 0.0, (100, 200)),
)
STALL_LOW, STALL_HIGH = 3.0, 10.0


def process_rows(noise: str, rate: float, phi: float, warmup: float, n: int, count: int,
                 seed: int) -> tuple[np.ndarray, float]:
    """``count`` seeded series of ``n`` iteration times of one process, and its true mean
    (the long-run mean of the steady part, stalls included)."""
    rng = np.random.default_rng(seed)
    if noise.startswith("lognormal"):
        sigma = float(noise.split()[1])
        shocks = rng.standard_normal((count, n))
        mean = 100.0 * math.exp(sigma * sigma / 2)
    else:
        sigma, mean = 0.0, 100.0
        shocks = (rng.standard_t(3, size=(count, n)) / math.sqrt(3.0) if noise == "t3"
                  else rng.standard_normal((count, n)))
    ar = np.empty_like(shocks)
    ar[:, 0] = shocks[:, 0]
    for i in range(1, n):
        ar[:, i] = phi * ar[:, i - 1] + math.sqrt(1.0 - phi * phi) * shocks[:, i]
    base = 100.0 * np.exp(sigma * ar) if sigma else 100.0 * (1.0 + 0.05 * ar)
    stalls = rng.random((count, n)) < rate
    rows = base * np.where(stalls, rng.uniform(STALL_LOW, STALL_HIGH, (count, n)), 1.0)
    if warmup:
        rows[:, :max(2, int(warmup * n))] *= 3.0
    truth = mean * (1.0 - rate + rate * (STALL_LOW + STALL_HIGH) / 2)
    return np.maximum(rows, 0.1), truth


#: The third review's processes (issue 56, 2026-11-29): (case, kind, CV) for :func:`hole_rows`.
HOLE_CELLS = (
    ("t3 + 2% stalls 3-10x (the goal)", "stalls", 0.05),
    ("t3 + 2% stalls 3-10x in bursts of 4 (a)", "bursts", 0.05),
    ("t3 + 2% stalls 3-10x decaying over 3 (b)", "decaying", 0.05),
    ("normal, CV 15% (c)", "normal", 0.15),
    ("normal, CV 20% (c)", "normal", 0.20),
    ("normal, CV 2% (d)", "normal", 0.02),
    ("normal, CV 5% (d)", "normal", 0.05),
    ("normal, CV 10% (d)", "normal", 0.10),
    ("lognormal 0.5", "lognormal", 0.5),
    ("+5% drift, CV 3%: end level (e)", "drift", 0.03),
    ("+5% drift, CV 5%: end level (e)", "drift", 0.05),
)
#: Iterations in one burst of stalls (a), and over which a decaying stall's slowness fades (b).
BURST, DECAY = 4, 3


def hole_rows(kind: str, cv: float, n: int, count: int, seed: int) -> tuple[np.ndarray, float]:
    """``count`` seeded series of one of ``HOLE_CELLS``' processes, and the truth: the
    long-run mean (stalls included), or the end level of a drift.

    * ``stalls``: t3 noise of CV ``cv``, each iteration stalled 3-10x with probability 2%;
    * ``bursts``: the same noise, a burst of ``BURST`` consecutive stalled iterations (one
      factor of 3-10x each) starting with probability ``1 - 0.98^(1/BURST)``: 2% of
      iterations stalled, in the stationary state (bursts may begin before the window);
    * ``decaying``: the same noise, a stall of 3-10x starting with probability 2% whose excess
      ``f - 1`` is ``1, 2/3, 1/3`` of itself over ``DECAY`` iterations (overlaps add);
    * ``normal``: independent normal times of CV ``cv``;
    * ``lognormal``: exp(``cv`` z) times 100;
    * ``drift``: normal noise of CV ``cv`` around a level rising linearly by 5% over the run:
      the truth is the level at its end."""
    rng = np.random.default_rng(seed)
    if kind == "lognormal":
        return 100.0 * np.exp(cv * rng.standard_normal((count, n))), 100.0 * math.exp(cv * cv / 2)
    if kind in ("normal", "drift"):
        rows = 100.0 * (1.0 + cv * rng.standard_normal((count, n)))
        if kind == "normal":
            return np.maximum(rows, 0.1), 100.0
        return np.maximum(rows + 5.0 * np.arange(n) / max(n - 1, 1), 0.1), 105.0
    base = 100.0 * (1.0 + cv * rng.standard_t(3, size=(count, n)) / math.sqrt(3.0))
    mean_factor = (STALL_LOW + STALL_HIGH) / 2
    if kind == "stalls":
        factor = np.where(rng.random((count, n)) < 0.02,
                          rng.uniform(STALL_LOW, STALL_HIGH, (count, n)), 1.0)
        return np.maximum(base * factor, 0.1), 100.0 * (0.98 + 0.02 * mean_factor)
    lead = BURST - 1 if kind == "bursts" else DECAY - 1
    starts = rng.random((count, n + lead)) < (1.0 - 0.98 ** (1.0 / BURST) if kind == "bursts"
                                               else 0.02)
    size = rng.uniform(STALL_LOW, STALL_HIGH, (count, n + lead))
    excess = np.zeros((count, n + lead))
    if kind == "bursts":
        factor = np.ones((count, n + lead))
        for i in range(n + lead):  # the latest burst covering i sets its factor
            for back in range(BURST - 1, -1, -1):
                if i - back >= 0:
                    hit = starts[:, i - back]
                    factor[hit, i] = size[hit, i - back]
        rows = base * factor[:, lead:]
        return np.maximum(rows, 0.1), 100.0 * (0.98 + 0.02 * mean_factor)
    for step in range(DECAY):
        share = (DECAY - step) / DECAY
        excess[:, step:] += np.where(starts, (size - 1.0) * share, 0.0)[:, :n + lead - step]
    rows = base * (1.0 + excess[:, lead:])
    decay_sum = sum((DECAY - step) / DECAY for step in range(DECAY))
    return np.maximum(rows, 0.1), 100.0 * (1.0 + 0.02 * (mean_factor - 1.0) * decay_sum)


def hole_cells(count: int, seed: int) -> list[dict[str, Any]]:
    """Every ``HOLE_CELLS`` process at 50, 100, 150, 200, 400 iterations, seeded from ``seed``."""
    cells = []
    for k, (name, kind, cv) in enumerate(HOLE_CELLS):
        for n in (50, 100, 150, 200, 400):
            rows, truth = hole_rows(kind, cv, n, count, seed + 1000 * k + n)
            cells.append(interval_cell(name, rows, truth))
    return cells


def interval_cells(count: int) -> list[dict[str, Any]]:
    """Every interval cell, seeded."""
    from benchstats.simulate import CASES, series
    stalls, cells = CASES["t3+stalls3-10x"], []
    for n in (50, 100, 150, 200):
        cells.append(interval_cell(stalls.name, series(stalls, n, count, 5600 + n),
                                   stalls.true_mean))
    for n in (100, 150, 200):
        cells.append(interval_cell("iid", series(CASES["iid"], n, count, 5700 + n), 100.0))
        for sigma in (0.1, 0.3, 0.5):
            rng = np.random.default_rng(5800 + n + int(100 * sigma))
            rows = 100.0 * np.exp(sigma * rng.standard_normal((count, n)))
            cells.append(interval_cell(f"lognormal {sigma}", rows,
                                       100.0 * math.exp(sigma * sigma / 2)))
    for k, (name, noise, rate, phi, warmup, sizes) in enumerate(PROCESS_CELLS):
        for n in sizes:
            rows, truth = process_rows(noise, rate, phi, warmup, n, count, 6100 + 50 * k + n)
            cells.append(interval_cell(name, rows, truth))
    return cells


def best_coverage(noise: str, rate: float, n: int, count: int, seed: int,
                  given: float = 0.8) -> dict[str, Any]:
    """The most any rule can cover with stalls of share ``rate`` over ``noise`` whose
    stall-free windows get an interval in at least ``given`` of runs (the issue's goal for
    independent times): a window that caught no stall (``(1 - rate)^n`` of them) is a window
    of the stall-free process, nothing in it tells them apart; of those given, at most the
    share whose interval (``benchstats.autocorr.mean_interval``) reaches the stalled
    process's mean covers it. Bound: every window that caught a stall given and covered."""
    from benchstats.autocorr import mean_interval
    rows, _ = process_rows(noise, 0.0, 0.0, 0.0, n, count, seed)
    truth = process_rows(noise, rate, 0.0, 0.0, 2, 1, 0)[1]
    intervals = [mean_interval(v) for v in rows]
    reach = sum(bool(m.low <= truth <= m.high) for m in intervals)
    clean = (1.0 - rate) ** n
    hits = clean * min(given, reach / count) + (1.0 - clean)
    return {"case": f"{noise} + {rate:.0%} stalls", "n": n, "clean": clean,
            "reach": reach / count, "bound": hits / (clean * given + 1.0 - clean)}


def quiet_ratio(target: float, series_count: int, seed: int) -> dict[str, Any]:
    """Adaptive iterations over the fixed count with the same promise, iid CV 10%."""
    from bench_time_to_precision import ar1_draw, required_count, stop_outcomes
    from benchstats import StopRule
    need = required_count(ar1_draw(0.01, 0.10, 0.0), target, draws=1000, seed=seed)
    rows = stop_outcomes(0.01, 0.10, 0.0, StopRule(10, target, max_time=100.0),
                         series_count, seed + 1)
    mean_n = rows["work_mean_s"] / 0.01
    return {"target": target, "fixed": need, "adaptive_mean": mean_n,
            "ratio": mean_n / need if need else None, "coverage": rows["coverage"]}


def stall_stop(series_count: int, seed: int) -> dict[str, Any]:
    """Coverage at the stop for t3 + 2% stalls of 3-10x, CV 10%, 5% target."""
    from benchstats import StopRule, analyze, run_until
    from benchstats.simulate import Case, series
    case = Case("stalls", cv=0.10, heavy=True, stall_low=3.0, stall_high=10.0)
    covered = met = 0
    counts = []
    for values in series(case, 6000, series_count, seed):
        position = [0]

        def chunk(k: int, values: np.ndarray = values, position: list[int] = position
                  ) -> list[float]:
            start = position[0]
            position[0] += k
            return [float(v) for v in values[start:start + k]]

        times, hit = run_until(chunk, StopRule(10, 0.05, max_time=float(values[:5000].sum())))
        found = analyze(times)
        met += hit
        counts.append(len(times))
        covered += bool(hit and found.ci_low <= case.true_mean <= found.ci_high)
    return {"met": met, "covered": covered, "coverage_ci": wilson(covered, met),
            "median_n": statistics.median(counts)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Everything, on the benchstats first on the path."""
    if args.holes:
        return {"intervals": hole_cells(args.holes, args.seed)}
    from bench_time_to_precision import simulate_sweep
    out: dict[str, Any] = {"intervals": interval_cells(args.count)}
    if args.intervals_only:
        return out
    out["quiet"] = [quiet_ratio(t, args.stops, 11 + i) for i, t in enumerate((0.05, 0.02))]
    out["stalls"] = stall_stop(args.stops, 77)
    sweep = simulate_sweep(0.05, 10, max(100, args.stops // 2), 300, 0)
    out["sweep"] = {"fixed_count": sweep["fixed_count"], "ratio": sweep["ratio"]}
    return out


def baseline(rev: str, args: argparse.Namespace) -> dict[str, Any]:
    """The same measurements on ``python/benchstats`` of ``rev``, in a process of its own."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "python/benchstats"],
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="dlbs-stalls-") as folder:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        done = subprocess.run([sys.executable, __file__, "--json", "--benchstats", folder,
                               "--count", str(args.count), "--stops", str(args.stops),
                               "--holes", str(args.holes), "--seed", str(args.seed)]
                              + (["--intervals-only"] if args.intervals_only else []),
                              check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def _given(cell: dict[str, Any]) -> str:
    low, high = cell["coverage_ci"]
    cover = "-" if not cell["given"] else (
        f"{cell['covered'] / cell['given']:.1%} [{low:.1%}, {high:.1%}]")
    return f"{cell['given'] / cell['count']:.1%} / {cover}"


def _reasons(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(cell["reasons"].items())) or "-"


def report(new: dict[str, Any], old: dict[str, Any] | None) -> str:
    """Markdown tables, old beside new where there is a baseline."""
    head = "| case | n | old: given / coverage of those given | new: given / coverage of those given | new: withheld (why) |"
    lines = [head, "|" + " --- |" * 5]
    olds = old["intervals"] if old else [None] * len(new["intervals"])
    for cell, before in zip(new["intervals"], olds, strict=True):
        lines.append(f"| {cell['case']} | {cell['n']} | {_given(before) if before else '-'} | "
                     f"{_given(cell)} | {_reasons(cell)} |")
    if "quiet" not in new:
        return "\n".join(lines)
    lines += ["", "| stop | old | new |", "| --- | --- | --- |"]
    for i, q in enumerate(new["quiet"]):
        o = old["quiet"][i] if old else None
        lines.append(f"| iid CV 10%, target {q['target']:g}: adaptive mean / fixed count "
                     f"(95% of runs meet) | {_ratio(o)} | {_ratio(q)} |")
    lines.append(f"| t3 + 2% stalls of 3-10x, CV 10%, target 0.05: coverage at the stop | "
                 f"{_stop(old['stalls']) if old else '-'} | {_stop(new['stalls'])} |")
    lines.append(f"| mixed-noise sweep: adaptive work / one fixed count for the noisiest | "
                 f"{_sweep(old['sweep']) if old else '-'} | {_sweep(new['sweep'])} |")
    return "\n".join(lines)


def _ratio(q: dict[str, Any] | None) -> str:
    if q is None or q["ratio"] is None:
        return "-"
    return f"{q['ratio']:.2f} ({q['adaptive_mean']:.0f} / {q['fixed']})"


def _stop(s: dict[str, Any]) -> str:
    low, high = s["coverage_ci"]
    rate = s["covered"] / s["met"] if s["met"] else math.nan
    return f"{rate:.1%} [{low:.1%}, {high:.1%}], median n {s['median_n']:.0f}"


def _sweep(s: dict[str, Any]) -> str:
    return "-" if s["ratio"] is None else f"{s['ratio']:.3f} (fixed count {s['fixed_count']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="series per interval cell")
    parser.add_argument("--stops", type=int, default=500, help="adaptive runs per stop cell")
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"git revision of the old rules (default {BASELINE}; '' for none)")
    parser.add_argument("--intervals-only", action="store_true",
                        help="the interval cells (item 2) and the bound table only, not the stop")
    parser.add_argument("--confirm", type=int, default=0, metavar="COUNT",
                        help="only the cells at the goal's edge again on fresh seeds, COUNT "
                        "series each (this tree's benchstats)")
    parser.add_argument("--edge", type=int, default=0, metavar="COUNT",
                        help="only the window-length edge of robust.TAIL_MIN_N (60, the limit "
                        "before 2026-11-29's review, beside today's), COUNT series a cell")
    parser.add_argument("--holes", type=int, default=0, metavar="COUNT",
                        help="only the third review's processes (HOLE_CELLS: bursts, decaying "
                        "stalls, normal CV 2-20%%, a 5%% drift) at 50-200 iterations, COUNT "
                        "series a cell, beside --baseline's rules")
    parser.add_argument("--seed", type=int, default=56000,
                        help="first seed of the --holes cells (default 56000)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--benchstats", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _import_path(args.benchstats)
    if args.json:
        print(json.dumps(measure(args), default=float))
        return 0
    if args.confirm:
        print(confirm_cells(args.confirm))
        return 0
    if args.edge:
        print(edge_table(args.edge))
        return 0
    old = baseline(args.baseline, args) if args.baseline else None
    print(report(measure(args), old))
    if not args.holes:
        print()
        print(bound_table(args.count))
    return 0


def edge_table(count: int, seed: int = 40000) -> str:
    """Given / coverage of t3 + 2% stalls 3-10x (plain and AR(1) 0.5) at 50-150 iterations and
    the share of independent normal and lognormal 0.5 runs given an interval at 100 and 150,
    with ``robust.TAIL_MIN_N`` at 60 (before 2026-11-29) and at today's value; seeds from
    ``seed`` (not those the limit was chosen on, 9000 and up)."""
    from benchstats import robust
    from benchstats.simulate import CASES, series
    today, stalls = robust.TAIL_MIN_N, CASES["t3+stalls3-10x"]
    head = ("| TAIL_MIN_N | n | t3 + 2% stalls: given / covered | with AR(1) 0.5 | iid normal "
            "given | lognormal 0.5 given |")
    lines = [head, "| --- | --- | --- | --- | --- | --- |"]
    try:
        for limit in dict.fromkeys((60, today)):
            robust.TAIL_MIN_N = limit
            for n in (50, 60, 65, 70, 75, 80, 90, 100, 150):
                plain = interval_cell("t3", series(stalls, n, count, seed + n), stalls.true_mean)
                rows, truth = process_rows("t3", 0.02, 0.5, 0.0, n, count, seed + 7 + n)
                ar = interval_cell("ar", rows, truth)
                iid = ln = "-"
                if n >= 100:
                    iid = _given(interval_cell("iid", series(CASES["iid"], n, count,
                                                             seed + 13 + n), 100.0))
                    rng = np.random.default_rng(seed + 17 + n)
                    ln = _given(interval_cell("ln", 100.0 * np.exp(0.5 * rng.standard_normal(
                        (count, n))), 100.0 * math.exp(0.125)))
                lines.append(f"| {limit} | {n} | {_covered(plain)} | {_covered(ar)} | {iid} | "
                             f"{ln} |")
    finally:
        robust.TAIL_MIN_N = today
    return "\n".join(lines)


def _covered(cell: dict[str, Any]) -> str:
    low, _ = cell["coverage_ci"]
    return (f"{100 * cell['given'] / cell['count']:.0f}% / "
            f"{100 * cell['covered'] / max(cell['given'], 1):.1f}% [{100 * low:.1f}]")


def confirm_cells(count: int) -> str:
    """The cells at the goal's edge on fresh seeds (not those of the table): lognormal 0.5
    with 1% stalls at 100, 150, 200 and t3 with 2% stalls at 100 (plain, AR(1) 0.5, a
    warm-up), ``count`` series each."""
    lines = ["| process (fresh seeds) | n | given / coverage of those given |", "| --- | --- | --- |"]
    cells = [("lognormal 0.5 + 1% stalls 3-10x", "lognormal 0.5", 0.01, 0.0, 0.0, n, 77000 + n)
             for n in (100, 150, 200)]
    cells += [(name, "t3", 0.02, phi, warmup, 100, 78000) for name, phi, warmup in (
        ("t3 + 2% stalls 3-10x, AR(1) 0.5", 0.5, 0.0),
        ("t3 + 2% stalls 3-10x, warm-up 10%", 0.0, 0.1), ("t3 + 2% stalls 3-10x", 0.0, 0.0))]
    for name, noise, rate, phi, warmup, n, seed in cells:
        rows, truth = process_rows(noise, rate, phi, warmup, n, count, seed)
        lines.append(f"| {name} | {n} | {_given(interval_cell(name, rows, truth))} |")
    return "\n".join(lines)


#: The processes whose stall-free windows the issue's goal gives an interval in >= 80% of runs,
#: with stalls: (noise, stall share, n) for :func:`best_coverage`.
BOUND_CELLS = (("normal", 0.01, 100), ("normal", 0.01, 200), ("normal", 0.02, 100),
               ("lognormal 0.3", 0.01, 100), ("lognormal 0.3", 0.01, 200))


def bound_table(count: int) -> str:
    """The most coverage any rule can give where stall-free windows must keep 80%."""
    lines = [("| process | n | windows without a stall | their interval reaches the mean "
              "with stalls | best coverage of any rule giving 80% of stall-free windows |"),
             "|" + " --- |" * 5]
    for k, (noise, rate, n) in enumerate(BOUND_CELLS):
        cell = best_coverage(noise, rate, n, count, 6900 + 10 * k + n)
        lines.append(f"| {cell['case']} | {n} | {cell['clean']:.1%} | {cell['reach']:.1%} | "
                     f"{cell['bound']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

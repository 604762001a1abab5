"""The comparison's verdicts, checked by a seeded simulation of runs built like real ones.

Each simulated run is a separate "process" of ``ITERATIONS`` timed iterations: a run-level
multiplicative shift (lognormal, ``run_cv``: placement, frequency, neighbours; 3% by default,
1% and 6% checked too), a warm-up of 1-5 iterations 1.5-8x slower and decaying, AR(1)
iteration noise (phi 0.3-0.8, CV 3-15%) and 1% spikes of 1.5-3x. (This 2-core machine's
100-200 iteration runs of AlexNet OWT and ResNet-18 had iteration CV 3-15%, lag-1
autocorrelation 0-0.4 and a run-to-run CV of the run means of 1.3-2.5%: the simulation is
noisier than that.) Optionally a session shift (``session_cv``, one per side and experiment):
the two sets of runs were made at different times. Each series goes through the benchmark's
own steady-state code (``steady.analyze``: MSER warm-up detection, the mean over the steady
window is ``results.time``; ``test_simulated_facts_are_the_benchmarks`` keeps that equal to
what ``timing.summarize`` writes), and the records, one report of 400 experiments a side, go
through the real ``compare_records``.

Requirements: unchanged code (A/A) gives ``faster``/``slower`` in at most 5% of pairs, with 1,
2, 3 or 5 runs a side (1 run: never a verdict); a real 10% change with 5 runs a side is found
in at least 80% of pairs at a run-level CV of 3%. ``pytest -s`` prints the figures, with what
the alternative rule "CI clear of 1 and a point change of at least 2%" gives on the same tables
(the numbers behind the choice of rule); they are quoted in
docs/measurements/report-statistics.md and in the report's note (``POWER_NOTE``).
"""
from __future__ import annotations

import functools
import math
import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from benchstats import analyze, runs_for_power
from benchstats.steady import warmup_length
from pytorch_benchmarks.run.timing import summarize

from dlbs.reports.build import compare_records
from dlbs.reports.compare import POWER_NOTE
from dlbs.reports.verdicts import Policy

PAIRS = 400
ITERATIONS = 100
#: Runs a side simulated; a comparison with fewer runs a side uses the first ones.
MOST_RUNS = 5
BATCH = 16
Records = list[dict[str, Any]]
#: Issue 19 judges a table's cells together (BH), widens the band by a session allowance for
#: two folders and made the default band 0. This file measures the per-cell rule as it was
#: designed (each cell at 95%, a 1% band, one session), so it pins that policy; the table-level
#: goals are tests/reports/test_compare_tables.py's and scripts/sim_compare.py's.
PER_CELL = Policy(min_change=0.01, correction="none", apart=False)
MIN_CHANGE = PER_CELL.min_change


def iteration_times(rng: random.Random, level: float) -> list[float]:
    """One run's timed iterations (seconds) around ``level``."""
    phi, cv = rng.uniform(0.3, 0.8), rng.uniform(0.03, 0.15)
    warm, slow = rng.randint(1, 5), rng.uniform(1.5, 8.0)
    noise, times = rng.gauss(0.0, cv), []
    for i in range(ITERATIONS):
        # AR(1) whose stationary standard deviation is ``cv``
        noise = phi * noise + rng.gauss(0.0, cv) * math.sqrt(1.0 - phi * phi)
        factor = 1.0 + (slow - 1.0) * math.exp(-3.0 * i / warm) if i < warm else 1.0
        spike = rng.uniform(1.5, 3.0) if rng.random() < 0.01 else 1.0
        times.append(max(level * factor * spike * (1.0 + noise), level * 0.2))
    return times


def steady_mean(ms: list[float]) -> float:
    """``analyze(ms).mean`` (the mean over MSER's steady window), without the rest of the
    analysis (intervals, stationarity, medians: two thirds of this file's CPU, unused here);
    ``test_simulated_facts_are_the_benchmarks`` keeps it equal to what the benchmark writes."""
    warmup, _ = warmup_length(ms)
    return float(np.asarray(ms[warmup:], dtype=float).mean())


def run_record(times_s: list[float], model: str, index: int) -> dict[str, Any]:
    """The record of one run, as the parser gives it; ``results.time`` is the steady mean."""
    ms = [t * 1000.0 for t in times_s]
    mean = steady_mean(ms)
    return {"exp.model": model, "exp.phase": "training", "exp.replica_batch": BATCH,
            "exp.effective_batch": BATCH, "exp.num_replicas": 1, "exp.device_type": "cpu",
            "exp.dtype": "float32", "exp.repeat_index": index, "results.status": "ok",
            "results.time": mean, "results.throughput": BATCH * 1000.0 / mean,
            "results.time_data": ms}


@functools.cache
def side(run_cv: float, change: float, session_cv: float, role: str,
         most_runs: int = MOST_RUNS) -> tuple[Any, ...]:
    """``PAIRS`` experiments (one model each, of different sizes) of ``most_runs`` runs; times
    divided by ``change``. Seeded by the arguments (a string seed is stable across runs)."""
    rng = random.Random(f"{run_cv}/{change}/{session_cv}/{role}/{most_runs}")
    records = []
    for pair in range(PAIRS):
        true = 0.01 * (1 + pair % 7) / change * math.exp(rng.gauss(0.0, session_cv))
        for index in range(most_runs):
            level = true * math.exp(rng.gauss(0.0, run_cv))
            records.append(run_record(iteration_times(rng, level), f"m{pair}", index))
    return tuple(records)


def first_runs(records: tuple[Any, ...], runs: int) -> Records:
    return [r for r in records if r["exp.repeat_index"] < runs]


def run_times(records: tuple[Any, ...]) -> dict[str, list[float]]:
    by_model: dict[str, list[float]] = {}
    for record in records:
        by_model.setdefault(record["exp.model"], []).append(record["results.time"])
    return by_model


def total_cv(records: tuple[Any, ...]) -> float:
    """Run-to-run CV of ``results.time`` within each experiment, averaged (the real spread)."""
    return statistics.fmean(statistics.stdev(v) / statistics.fmean(v)
                            for v in run_times(records).values())


def table(runs: int, run_cv: float, change: float, session_cv: float = 0.0,
          most_runs: int = MOST_RUNS) -> pd.DataFrame:
    """The comparison of ``PAIRS`` pairs: base vs new, new ``change`` times faster."""
    base = first_runs(side(run_cv, 1.0, session_cv, "base", most_runs), runs)
    new = first_runs(side(run_cv, change, session_cv, "new", most_runs), runs)
    data = compare_records(base, new, policy=PER_CELL).tables[0].data
    assert len(data) == PAIRS
    return data


def point_rule(data: pd.DataFrame, threshold: float = 0.02) -> Counter[str]:
    """The alternative rule: CI clear of 1 and a point change of at least ``threshold``."""
    counts: Counter[str] = Counter()
    for low, high, speedup in zip(data["CI low"], data["CI high"], data["Speedup"]):
        if low is not None and low > 1.0 and speedup >= 1.0 + threshold:
            counts["faster"] += 1
        elif high is not None and high < 1.0 and speedup <= 1.0 / (1.0 + threshold):
            counts["slower"] += 1
    return counts


def describe(runs: int, run_cv: float, session_cv: float) -> str:
    spread = total_cv(side(run_cv, 1.0, session_cv, "base"))
    session = f", sessions {session_cv:.0%} apart" if session_cv else ""
    return f"runs={runs} run_cv={run_cv:.0%} (total run-to-run CV {spread:.1%}){session}"


@pytest.mark.parametrize("runs,run_cv,session_cv", [
    pytest.param(1, 0.03, 0.0, id="1-run"),
    pytest.param(2, 0.03, 0.0, id="2-runs"),
    pytest.param(3, 0.03, 0.0, id="3-runs"),
    pytest.param(5, 0.03, 0.0, id="5-runs"),
    pytest.param(5, 0.01, 0.0, id="5-runs-quiet"),
    pytest.param(3, 0.06, 0.0, id="3-runs-noisy"),
    pytest.param(5, 0.06, 0.0, id="5-runs-noisy"),
    pytest.param(3, 0.03, 0.01, id="3-runs-sessions-apart"),
    pytest.param(5, 0.03, 0.01, id="5-runs-sessions-apart"),
])
def test_unchanged_code_rarely_gets_a_verdict(runs: int, run_cv: float,
                                              session_cv: float) -> None:
    data = table(runs, run_cv, 1.0, session_cv)
    counts = Counter(str(v) for v in data["Verdict"])
    false = counts["faster"] + counts["slower"]
    print(f"\nA/A {describe(runs, run_cv, session_cv)}: {dict(counts)}; false verdicts "
          f"{false / PAIRS:.1%} (point rule {sum(point_rule(data).values()) / PAIRS:.1%})")
    assert false / PAIRS <= 0.05
    if runs == 1:
        assert counts == Counter({"no verdict: 1 run on a side": PAIRS})
        assert data["CI low"].isna().all() and data["Speedup"].notna().all()


@pytest.mark.parametrize("runs,run_cv,floor", [
    pytest.param(1, 0.03, 0.0, id="1-run"),
    pytest.param(3, 0.03, 0.3, id="3-runs"),
    pytest.param(5, 0.01, 0.8, id="5-runs-quiet"),
    pytest.param(5, 0.03, 0.8, id="5-runs"),
    pytest.param(5, 0.06, 0.3, id="5-runs-noisy"),
])
def test_a_real_ten_percent_change_is_found(runs: int, run_cv: float, floor: float) -> None:
    """>= 80% with 5 runs at a run-level CV of 3%; on a noisier machine 5 runs are too few,
    which the report's "Runs needed" column says (a lower floor there; the figure is printed).
    """
    data = table(runs, run_cv, 1.10)
    counts = Counter(str(v) for v in data["Verdict"])
    needed = [int(v) for v in data["Runs needed (planning)"] if v is not None]
    print(f"\n10% faster, {describe(runs, run_cv, 0.0)}: {dict(counts)}; found "
          f"{counts['faster'] / PAIRS:.1%} (point rule {point_rule(data)['faster'] / PAIRS:.1%})"
          f"; runs needed where unresolved: median {statistics.median(needed) if needed else '-'}")
    assert counts["slower"] == 0
    assert counts["faster"] / PAIRS >= floor
    if runs == 1:
        assert counts == Counter({"no verdict: 1 run on a side": PAIRS})


def test_runs_needed_gives_the_power_it_promises() -> None:
    """At a run-level CV of 6%, a pilot of 5 runs a side says how many runs find a 10% change
    with 80% power (``benchstats.runs_for_power``, the formula behind "Runs needed"); that many
    runs find it in about 80% of pairs."""
    base, new = run_times(side(0.06, 1.0, 0.0, "base")), run_times(side(0.06, 1.0, 0.0, "new"))
    needed = [runs_for_power(base[m], new[m], 0.10, MIN_CHANGE) for m in base]
    runs = int(statistics.median(n for n in needed if n is not None))
    found = Counter(table(runs, 0.06, 1.10, most_runs=runs)["Verdict"])["faster"] / PAIRS
    print(f"\npilot of 5 runs at run_cv=6%: {runs} runs a side needed (median); with them, "
          f"found {found:.1%}")
    assert 0.7 <= found <= 0.95


def test_simulated_facts_are_the_benchmarks() -> None:
    """``results.time`` of a simulated run is what the benchmark itself would write."""
    rng = random.Random(3)
    for index in range(20):
        times = iteration_times(rng, 0.05)
        facts = summarize(times, samples_per_iteration=BATCH)
        record = run_record(times, "m", index)
        assert record["results.time"] == pytest.approx(facts["results.time"], rel=1e-12)
        assert record["results.time"] == analyze([t * 1000.0 for t in times]).mean
        assert record["results.throughput"] == pytest.approx(facts["results.throughput"])


def test_the_power_quoted_in_the_report_is_the_one_measured() -> None:
    """The report's note quotes the default policy's power as scripts/sim_compare.py measured
    it (the generated table in docs/measurements/report-statistics.md, moved there from
    docs/reports.md), not this file's per-cell rule."""
    docs = (Path(__file__).parents[2] / "docs" / "measurements" / "report-statistics.md"
            ).read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines()
               if line.startswith("| 10% in all 20 cells, two folders, BH |"))
    found = row.rstrip(" |").rsplit("|", 1)[1].strip()
    assert f"found in {found} of cells with 5 runs a side at run CV 3%" in POWER_NOTE

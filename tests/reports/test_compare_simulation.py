"""The comparison's verdicts, checked by a seeded simulation of runs built like real ones.

Each simulated run is a separate "process": a run-level multiplicative shift (lognormal,
``run_cv``: placement, frequency, neighbours), a warm-up of 1-5 iterations 1.5-8x slower and
decaying, AR(1) iteration noise (phi 0.3-0.7, CV 2-8%), and 1% spikes of 1.5-3x, 50 timed
iterations. Calibrated on this 2-core machine: 100-200 iteration runs of AlexNet OWT and
ResNet-18 had iteration CV 3-15% (higher under load), lag-1 autocorrelation 0-0.4 and a
run-to-run CV of the run means of 1.3-2.5%; ``run_cv`` 2% plus the iteration noise gives a
total run-to-run CV of about 3% (printed by the tests). Each
series goes through the benchmark's own steady-state code (``timing.summarize``: MSER warm-up
detection, mean over the steady window) to give the facts a log would hold, and the records
go through the real ``compare_records``. A/A pairs must give ``faster``/``slower`` in at most
5% of pairs; a real 10% change with 5 runs a side must be found in at least 80%.
Figures measured here are quoted in docs/reports.md and in the report's note.
"""
from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from typing import Any

import pytest
from pytorch_benchmarks.timing import summarize

from dlbs.reports.build import compare_records

PAIRS = 400
ITERATIONS = 50


def iteration_times(rng: random.Random, level: float) -> list[float]:
    """One run's timed iterations (seconds) around ``level``."""
    phi, cv = rng.uniform(0.3, 0.7), rng.uniform(0.02, 0.08)
    warm, slow = rng.randint(1, 5), rng.uniform(1.5, 8.0)
    noise, times = rng.gauss(0.0, cv), []
    for i in range(ITERATIONS):
        noise = phi * noise + rng.gauss(0.0, cv) * math.sqrt(1.0 - phi * phi)
        factor = 1.0 + (slow - 1.0) * math.exp(-3.0 * i / warm) if i < warm else 1.0
        spike = rng.uniform(1.5, 3.0) if rng.random() < 0.01 else 1.0
        times.append(max(level * factor * spike * (1.0 + noise), level * 0.2))
    return times


def run_record(rng: random.Random, model: str, index: int, level: float) -> dict[str, Any]:
    """The facts of one run, as the benchmark would write them."""
    facts = summarize(iteration_times(rng, level), samples_per_iteration=16)
    return {"exp.model": model, "exp.phase": "training", "exp.replica_batch": 16,
            "exp.effective_batch": 16, "exp.num_replicas": 1, "exp.device_type": "cpu",
            "exp.dtype": "float32", "exp.repeat_index": index, "results.status": "ok",
            **facts}


def side(rng: random.Random, runs: int, run_cv: float, change: float) -> list[dict[str, Any]]:
    """``PAIRS`` experiments (one model each) of ``runs`` runs; times divided by ``change``."""
    records = []
    for pair in range(PAIRS):
        true = 0.1 * (1 + pair % 7)  # experiments of different sizes
        for index in range(runs):
            level = true / change * math.exp(rng.gauss(0.0, run_cv))
            records.append(run_record(rng, f"m{pair}", index, level))
    return records


def total_cv(records: list[dict[str, Any]]) -> float:
    """Run-to-run CV of ``results.time`` within each experiment, averaged (the real spread)."""
    by_model: dict[str, list[float]] = {}
    for record in records:
        by_model.setdefault(record["exp.model"], []).append(record["results.time"])
    cvs = [statistics.stdev(v) / statistics.fmean(v) for v in by_model.values() if len(v) > 1]
    return statistics.fmean(cvs) if cvs else math.nan


def verdicts(runs: int, run_cv: float, change: float, seed: int) -> Counter[str]:
    """Verdict counts over ``PAIRS`` pairs: base vs new, new ``change`` times faster."""
    rng = random.Random(seed)
    base, new = side(rng, runs, run_cv, 1.0), side(rng, runs, run_cv, change)
    table = compare_records(base, new).tables[0].data
    print(f"  (total run-to-run CV of results.time: {total_cv(base):.1%})")
    return Counter(str(v) for v in table["Verdict"])


@pytest.mark.parametrize("runs,run_cv", [(1, 0.02), (2, 0.02), (3, 0.02), (5, 0.01),
                                         (5, 0.02), (5, 0.05)])
def test_aa_pairs_rarely_give_a_verdict(runs: int, run_cv: float) -> None:
    counts = verdicts(runs, run_cv, 1.0, seed=runs * 100 + int(run_cv * 100))
    false = counts["faster"] + counts["slower"]
    print(f"A/A runs={runs} run_cv={run_cv:.0%}: {dict(counts)}; false verdicts "
          f"{false / PAIRS:.1%}")
    assert sum(counts.values()) == PAIRS
    assert false / PAIRS <= 0.05
    if runs == 1:
        assert counts == Counter({"no verdict: 1 run on a side": PAIRS})


@pytest.mark.parametrize("run_cv,floor", [(0.01, 0.8), (0.02, 0.8), (0.05, 0.3)])
def test_a_real_ten_percent_change_is_found_with_five_runs(run_cv: float, floor: float) -> None:
    """>= 80% at this machine's spread; at a noisier machine's (total CV ~5-6%) 5 runs are too
    few, which the report's "Runs needed" column says (floor there: the figure is printed)."""
    counts = verdicts(5, run_cv, 1.10, seed=7 + int(run_cv * 100))
    print(f"10% change, 5 runs, run_cv={run_cv:.0%}: {dict(counts)}; power "
          f"{counts['faster'] / PAIRS:.1%}")
    assert counts["slower"] == 0
    assert counts["faster"] / PAIRS >= floor

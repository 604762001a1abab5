"""``--max_batch_time``: the search for the largest batch ends at its time limit, says so, and
keeps the largest batch that fit so far (a lower bound, never a number meaning something else).

The time limit is hit deterministically: batch 1 always runs to its end, so a limit far below
any probe's time (a microsecond) ends the search right after it; and a probe that never ends
(a step that sleeps) is cut at the limit whatever the machine's load.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.options import parse_args
from pytorch_benchmarks.run.maxbatch import probers, searches

from .conftest import documented
from .test_max_batch import ROOT, SMALL, run_script


def test_a_search_cut_by_time_keeps_the_largest_fit_and_says_so(tmp_path: Path) -> None:
    code, facts, err = run_script(tmp_path, *SMALL, "--memory_budget_mb", "300",
                                  "--max_batch_time", "0.000001")
    assert code == 0 and facts["results.status"] == "ok", (facts.get("results.error"), err)
    # Batch 1 always runs to its end; past the limit no other probe starts.
    assert [(p["batch"], p["fits"]) for p in facts["results.max_batch_probes"]] == [(1, True)]
    assert facts["results.max_batch"] == 1 and facts["results.max_batch_timed_out"] is True
    assert facts["results.max_batch_capped"] is False
    assert facts["exp.max_batch_time"] == 0.000001
    (warning,) = [w for w in facts["exp.warnings"] if "--max_batch_time" in w]
    assert "stopped at --max_batch_time (1e-06 s) after 1 probe:" in warning
    assert "results.max_batch 1 is the largest batch that fit so far, a lower bound" in warning
    assert facts["exp.effective_batch"] == 1  # the timed run is at the batch found
    doc = (ROOT / "docs" / "log-format.md").read_text()
    assert not [key for key in facts if not documented(key, doc)]


def test_a_search_within_its_time_says_it_was_not_cut(tmp_path: Path) -> None:
    env = {"DLBS_MAX_BATCH_LIMIT": "4", "DLBS_MAX_BATCH_BUDGET_MB": "300"}
    code, facts, err = run_script(tmp_path, *SMALL, env=env)
    assert code == 0, (facts.get("results.error"), err)
    assert facts["results.max_batch_timed_out"] is False and facts["exp.max_batch_time"] == 600
    assert not [w for w in facts.get("exp.warnings", []) if "--max_batch_time" in w]


def stalled_at(first_stall: int) -> Callable[[int], float]:
    """A pure-Python step that fits up to ``first_stall`` - 1 and never ends from there (this
    process has computed with torch: its forked children must not)."""
    def step(batch: int) -> float:
        while batch >= first_stall:
            time.sleep(60)
        return 0.0
    return step


def scripted_clock(readings: list[float]) -> Callable[[], float]:
    """The search's clock, read once at its start and once before each probe after batch 1:
    the probes that fit get ample time, the one that stalls half a second, however long each
    really took on this machine."""
    ticks = iter(readings)
    return lambda: next(ticks)


@pytest.mark.parametrize("first_stall, readings, probed, found", [
    pytest.param(2, [0, 999.5], [(1, True), (2, None)], 1, id="cut-in-the-doubling"),
    pytest.param(6, [0, 0, 0, 0, 999.5], [(1, True), (2, True), (4, True), (8, False), (6, None)],
                 4, id="cut-in-the-bisection"),
])
def test_a_cpu_probe_running_at_the_limit_is_stopped(first_stall: int, readings: list[float],
                                                      probed: list[Any], found: int) -> None:
    def step(batch: int) -> float:
        if batch >= 8:
            raise MemoryError("stand-in: does not fit")
        return stalled_at(first_stall)(batch)

    prober = probers.ForkProber(step, 256 << 20, benchmarks.classify, benchmarks.one_line)
    start = time.monotonic()
    result = searches.search(prober, 4096, time_limit=1000, clock=scripted_clock(readings))
    assert time.monotonic() - start < 120  # a hang guard: the stalled child was killed
    assert [(p.batch, p.fits) for p in result.probes] == probed
    assert (result.max_batch, result.timed_out, result.capped) == (found, True, False)
    cut = result.probes[-1]
    assert cut.reason == "stopped after 0.5 s, at the search's time limit (--max_batch_time)"
    assert cut.fact()["fits"] is None


@pytest.mark.parametrize("elapsed, probed, timed_out", [
    pytest.param([0, 0, 0, 0], [1, 2, 4, 8, 6, 5], False, id="within-the-limit"),
    pytest.param([0, 11], [1], True, id="batch-1-took-the-whole-limit"),
    pytest.param([0, 0, 0, 10.5], [1, 2, 4], True, id="limit-between-probes"),
])
def test_no_probe_starts_past_the_limit(elapsed: list[float], probed: list[int],
                                        timed_out: bool) -> None:
    ticks = iter(elapsed + [elapsed[-1]] * 20)  # the clock: one reading per probe after 1

    def probe(batch: int, timeout: float | None) -> searches.Probe:
        assert (timeout is None) == (batch == 1)  # batch 1 is never cut; the others are
        return searches.Probe(batch, batch < 6, 0.0, None if batch < 6 else "no")

    result = searches.search(probe, 4096, time_limit=10, clock=lambda: next(ticks))
    assert [p.batch for p in result.probes] == probed and result.timed_out is timed_out
    assert result.max_batch == max(p.batch for p in result.probes if p.fits)


def test_no_time_limit_gives_probes_no_timeout() -> None:
    seen: list[float | None] = []

    def probe(batch: int, timeout: float | None) -> searches.Probe:
        seen.append(timeout)
        return searches.Probe(batch, batch < 3, 0.0)

    result = searches.search(probe, 4096, time_limit=0)
    assert [p.batch for p in result.probes] == [1, 2, 4, 3] and result.max_batch == 2
    assert seen == [None] * 4 and not result.timed_out


@pytest.mark.parametrize("value, ok", [("0", True), ("1e300", True), ("-1", False),
                                       ("nan", False), ("inf", False), ("ten", False)])
def test_max_batch_time_is_a_finite_number_of_seconds(value: str, ok: bool) -> None:
    if ok:
        assert parse_args(["--max_batch_time", value]).max_batch.time == float(value)
    else:
        with pytest.raises(SystemExit):
            parse_args(["--max_batch_time", value])
    assert parse_args([]).max_batch.time == 600.0

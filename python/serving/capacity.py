"""Capacity under an SLO: the highest load (request rate, or concurrency) at which a chosen
share of the requests meets the SLO, with a 95% interval from repeated trials.

A trial is a search over load steps, each one serving run at a fixed load: a step *meets* when
its SLO attainment (the share of its requests, failed ones included, with TTFT and TPOT within
the limits) is at least ``percentile / 100``, i.e. the ``percentile``-th percentile of the
requests meets the SLO. From its start the trial moves by a factor until one step meets and
another does not (the bracket), then halves the bracket (geometric midpoints for a rate,
integer ones for a concurrency) until its half-width is within ``tolerance`` of its middle, or
``max_steps`` steps were run. The trial's capacity is the bracket's midpoint (a concurrency:
the highest that met). The first trial starts at the given load and moves by doubling; a later
trial starts at the mean of the trials before it and moves by ``1 + 4 * tolerance`` (then its
square, and so on, up to doubling), which brackets it in two or three steps.

The capacity is the trials' geometric mean with Student's t interval over the logarithms of
their capacities (two trials at least; a capacity is a ratio-scale figure, and its interval
never reaches below zero): the interval covers how much the figure moves from one trial to the next (arrivals, the
server's state, the bisection's resolution), not a bias that every trial shares. Short steps
have one: a step's attainment is skewed (a burst of arrivals sinks it, nothing lifts it above
1), so at the true capacity a step of 100 requests meets more often than not, and bisection on
met / missed lands above the capacity: +10.5% at 100 requests a step, +4.9% at 200, +1.1% at
1,000 on a simulated M/M/1 server, where the interval covered the true capacity in 81%, 84%
and 98% of searches; on an M/G/4 server with heavy-tailed service +34%, +18% and +3.7%,
covering 48%, 63% and 89% (``benchmarks/sim_capacity.py``). The empty queue each step starts
from is the smaller part on M/M/1 (a step's mean attainment at the capacity is 0.906 instead
of 0.900), not on M/G/4 (0.935; its median 0.960).
A search with steps under :data:`UNBIASED_STEP` requests says so (``results.capacity_warning``).

Pure: a step is a callable ``(trial, load) -> StepResult``; ``loadgen.py --search`` runs them.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchstats.samples import summarize

UNITS = {"rate": "requests/s", "concurrency": "requests in flight"}
#: The largest factor between two steps before the capacity is bracketed (a step at a tenth of
#: the load runs ten times as long).
MAX_MOVE = 2.0
#: Requests a step needs before the search's bias stays near 1% (``benchmarks/sim_capacity.py``).
UNBIASED_STEP = 1000


@dataclass(frozen=True)
class Goal:
    """What the search looks for and how far it may go."""

    unit: str = "rate"            # "rate" or "concurrency"
    percentile: float = 90.0      # the share of requests (%) that must meet the SLO
    tolerance: float = 0.03       # the bracket's half-width over its middle
    max_steps: int = 8            # load steps a trial may run
    trials: int = 3
    lowest: float = 0.0           # the lowest load a step may offer (a rate below it would
                                  # wait past the run's duration for its first request)
    step_requests: int = 0        # requests a step sends (0: not known, no warning)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"serve.search: {self.unit!r} is not one of {', '.join(UNITS)}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"serve.slo_percentile: {self.percentile!r} must be in (0, 100]")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"serve.search_tolerance: {self.tolerance!r} must be in (0, 1)")
        if self.max_steps < 2:
            raise ValueError(f"serve.search_max_steps: {self.max_steps} must be at least 2")
        if self.trials < 1:
            raise ValueError(f"serve.search_trials: {self.trials} must be at least 1")

    @property
    def integer(self) -> bool:
        return self.unit == "concurrency"


@dataclass(frozen=True)
class StepResult:
    """One load step: its SLO attainment and the facts kept in the search's record."""

    attainment: float
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trial:
    """One search: its capacity (None when no step met, or every step met), the bracket
    ``(highest load met, lowest load missed)`` and whether it reached the tolerance."""

    capacity: float | None
    met: float | None
    missed: float | None
    converged: bool
    steps: list[dict[str, Any]]


def converged(met: float | None, missed: float | None, goal: Goal) -> bool:
    if met is None or missed is None or missed <= met:
        return False
    if goal.integer:
        return missed - met <= 1
    return (missed - met) / (missed + met) <= goal.tolerance


def _next_load(met: float | None, missed: float | None, load: float, factor: float,
               goal: Goal) -> float:
    if met is not None and missed is not None:
        if goal.integer:
            return float(math.floor((met + missed) / 2))
        return math.sqrt(met * missed)
    if missed is None:  # every step met: higher
        return float(max(load + 1, math.ceil(load * factor))) if goal.integer else load * factor
    return float(max(1, math.floor(load / factor))) if goal.integer else load / factor


def search_trial(step: Callable[[int, float], StepResult], trial: int, start: float,
                 factor: float, goal: Goal,
                 out_of_time: Callable[[], bool] | None = None) -> Trial:
    """One trial from ``start``, moving by ``factor`` (squared at each move the same way, at
    most :data:`MAX_MOVE`) until bracketed, then bisecting; a step already run is never cut,
    but none starts once ``out_of_time()`` (``serve.search_max_seconds``)."""
    met: float | None = None
    missed: float | None = None
    load = float(math.ceil(start)) if goal.integer else start
    steps: list[dict[str, Any]] = []
    move = factor
    for _ in range(goal.max_steps):
        if steps and out_of_time is not None and out_of_time():
            break
        result = step(trial, load)
        ok = result.attainment >= goal.percentile / 100 - 1e-12
        steps.append({"trial": trial, "load": load, "attainment": result.attainment,
                      "met": ok, **result.facts})
        if ok:
            met = load if met is None else max(met, load)
        else:
            missed = load if missed is None else min(missed, load)
        if converged(met, missed, goal):
            break
        if goal.integer and not ok and load <= 1:
            break  # not even one request at a time meets it
        if len(steps) >= 2 and (met is None or missed is None):
            move = min(move * move, MAX_MOVE)  # still unbracketed: bigger moves, up to 2x
        load = _next_load(met, missed, load, move, goal)
        if load < goal.lowest:
            break  # lower would wait past the run's duration: the capacity is below it
    if met is not None and missed is not None:
        capacity = met if goal.integer else math.sqrt(met * missed)
    else:
        capacity = None
    return Trial(capacity, met, missed, converged(met, missed, goal), steps)


def check_start(start: float, unit: str) -> None:
    """ValueError naming the parameter when a search of ``unit`` ("rate" or "concurrency")
    cannot start at ``start``."""
    if not start > 0:
        name = "serve.request_rate" if unit == "rate" else "serve.concurrency"
        raise ValueError(f"{name}: the search starts at it (the load its first step offers): "
                         "give one above 0")


def search(step: Callable[[int, float], StepResult], start: float, goal: Goal,
           progress: Callable[[str], None] | None = None,
           out_of_time: Callable[[], bool] | None = None
           ) -> tuple[list[Trial], dict[str, Any]]:
    """Every trial, and the ``results.capacity*`` facts; once ``out_of_time()`` no step starts
    (the first always runs) and the facts say so in ``results.capacity_note``."""
    check_start(start, goal.unit)
    cut: list[bool] = []  # a step or trial the cap kept from starting (not a finish past it)

    def cutting() -> bool:
        if out_of_time is not None and out_of_time():
            cut.append(True)
            return True
        return False

    warning = short_step_warning(goal.step_requests)
    if progress and warning:
        progress(f"serve: warning: {warning}")
    trials: list[Trial] = []
    for index in range(goal.trials):
        if trials and cutting():
            break
        found = [t.capacity for t in trials if t.capacity is not None]
        begin, factor = ((sum(found) / len(found), 1 + 4 * goal.tolerance) if found else
                         (start, 2.0))
        trial = search_trial(step, index, begin, factor, goal, cutting)
        trials.append(trial)
        if progress:
            found_text = (f"{_text(trial.capacity)} {UNITS[goal.unit]}"
                          if trial.capacity is not None else "no capacity (not bracketed)")
            progress(f"serve: capacity trial {index + 1}/{goal.trials}: {found_text} in "
                     f"{len(trial.steps)} steps")
    facts = capacity_facts(trials, goal)
    if cut:
        stopped = (f"stopped at serve.search_max_seconds after {len(trials)} of {goal.trials} "
                   f"trials and {facts['results.capacity_steps']} steps: the figures are what "
                   "it had")
        if progress:
            progress(f"serve: {stopped}")
        # the note may already say why the capacity is null: both are kept, the stop first
        facts["results.capacity_note"] = "; ".join(
            [stopped, *([facts["results.capacity_note"]] if facts.get("results.capacity_note")
                        else [])])
    return trials, facts


def _text(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def capacity_facts(trials: list[Trial], goal: Goal) -> dict[str, Any]:
    capacities = [t.capacity for t in trials]
    known = [c for c in capacities if c is not None and c > 0]
    facts: dict[str, Any] = {
        "results.capacity_unit": UNITS[goal.unit],
        "results.capacity_trials": capacities,
        "results.capacity_brackets": [[t.met, t.missed] for t in trials],
        "results.capacity_converged": all(t.converged for t in trials),
        "results.capacity_steps": sum(len(t.steps) for t in trials),
        "results.capacity_max_steps": max(len(t.steps) for t in trials),
        "results.slo_percentile": goal.percentile,
        "results.search_steps": [s for t in trials for s in t.steps],
    }
    warning = short_step_warning(goal.step_requests)
    if warning:
        facts["results.capacity_warning"] = warning
    if len(known) < len(trials) or not known:
        facts["results.capacity"] = None
        facts["results.capacity_ci95"] = None
        facts["results.capacity_note"] = _why_none(trials, goal)
        return facts
    stats = summarize([math.log(c) for c in known])
    facts["results.capacity"] = math.exp(stats.mean)
    facts["results.capacity_ci95"] = (None if math.isnan(stats.ci_low) else
                                      [math.exp(stats.ci_low), math.exp(stats.ci_high)])
    if len(known) < 2:
        facts["results.capacity_note"] = "one trial: no interval (serve.search_trials >= 2)"
    return facts


def short_step_warning(step_requests: int) -> str | None:
    """Why a capacity from steps of ``step_requests`` requests is too high, or None when the
    steps are long enough (or their length is not known)."""
    if not 0 < step_requests < UNBIASED_STEP:
        return None
    return (f"steps of {step_requests} requests overstate the capacity: a short step's SLO "
            "attainment is skewed, so a step at the capacity meets more often than not "
            "(+10.5% at 100 requests a step, +4.9% at 200, +1.1% at 1,000 on a simulated "
            "M/M/1 server, the interval covering 81%, 84% and 98%; +34%, +18% and +3.7%, "
            "covering 48%, 63% and 89%, on an M/G/4 server whose service times have a heavy "
            "tail: benchmarks/sim_capacity.py); "
            f"give serve.num_requests >= {UNBIASED_STEP}")


def _why_none(trials: list[Trial], goal: Goal) -> str:
    for t in trials:
        if t.met is None:
            lowest = min(s["load"] for s in t.steps)
            return (f"trial {t.steps[0]['trial'] + 1}: no step met the SLO, down to {lowest:g} "
                    f"{UNITS[goal.unit]}: the capacity is below it (a lower start, or a looser SLO)")
        if t.missed is None:
            highest = max(s["load"] for s in t.steps)
            return (f"trial {t.steps[0]['trial'] + 1}: every step met the SLO, up to {highest:g} "
                    f"{UNITS[goal.unit]}: the capacity is above it (a higher start, or more "
                    "serve.search_max_steps)")
    return "no trial bracketed the capacity"

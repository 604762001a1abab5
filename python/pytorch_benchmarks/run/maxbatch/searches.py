"""The search for the largest batch that fits, as pure arithmetic over a prober.

Responsibility: which batch to probe next (doubling, then bisection; a search near a hint; the
two parts of a compiled search), the time limit, and the outcome (:class:`Search`). A probe is
a callable (:data:`Prober`) that says whether one batch fits; this module never runs one
itself, so it imports no torch, reads no ``/proc`` file and starts no process (the probers do:
:mod:`.probers`). Tested with fake probers and a scripted clock.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A prober: runs one probe at ``batch``, stopping it after ``timeout`` seconds where it can
#: (None: no limit).
Prober = Callable[[int, "float | None"], "Probe"]


@dataclass
class Probe:
    """One short run at ``batch``: whether it fit (None: stopped at the time limit before it
    could tell), its wall time (s), why not, and, in a compiled search on a GPU, the graph
    it ran (``static``: its own batch's, as the timed run compiles; ``dynamic``: one graph
    for every batch, see :func:`compiled_search`)."""

    batch: int
    fits: bool | None
    seconds: float
    reason: str | None = None
    graph: str | None = None

    def fact(self) -> dict[str, Any]:
        """The probe as an entry of ``results.max_batch_probes``."""
        entry: dict[str, Any] = {"batch": self.batch, "fits": self.fits,
                                 "seconds": round(self.seconds, 3)}
        if self.reason is not None:
            entry["reason"] = self.reason
        if self.graph is not None:
            entry["graph"] = self.graph
        return entry


@dataclass
class Search:
    """The outcome: the largest batch that fit (0: none), whether it is the limit (a lower
    bound), whether the time limit ended the search (a lower bound too), and every probe in
    the order run. A compiled search on a GPU adds the largest batch its dynamic graph fit
    (``dynamic_max_batch``) and whether ``max_batch`` was probed with the timed run's own,
    static graph (``confirmed``: false only when the time limit came first)."""

    max_batch: int
    capped: bool
    probes: list[Probe] = field(default_factory=list)
    timed_out: bool = False
    confirmed: bool = True
    dynamic_max_batch: int | None = None


class _TimeUp(Exception):
    """The search's time limit is over (raised inside the searches only)."""


class _Probing:
    """The probes of a search so far, and its deadline (``clock`` time; None: none): runs a
    probe, keeps it, tells ``seen``; raises :class:`_TimeUp` when no probe may start or one
    was stopped. The first probe of a search is never cut when ``uncut_first``; ``keep``
    (of the probes so far) is seconds before the deadline kept for what comes after."""

    def __init__(self, probe: Prober, seen: Callable[[Probe], None] | None,
                 deadline: float | None, clock: Callable[[], float],
                 uncut_first: bool = True,
                 keep: Callable[[list[Probe]], float] | None = None) -> None:
        self.probe, self.seen, self.deadline, self.clock = probe, seen, deadline, clock
        self.uncut_first, self.keep = uncut_first, keep
        self.probes: list[Probe] = []
        #: The largest batch that fit so far (0: none): what a time-out keeps.
        self.best = 0

    def fits(self, batch: int) -> bool:
        """Probe ``batch``: whether it fit."""
        timeout = None
        if self.deadline is not None and (self.probes or not self.uncut_first):
            kept = self.keep(self.probes) if self.keep is not None else 0.0
            timeout = self.deadline - kept - self.clock()
            if timeout <= 0:
                raise _TimeUp
        outcome = self.probe(batch, timeout)
        self.probes.append(outcome)
        if self.seen is not None:
            self.seen(outcome)
        if outcome.fits is None:
            raise _TimeUp
        if outcome.fits:
            self.best = max(self.best, batch)
        return outcome.fits

    def bisect(self, fit: int, fail: int) -> int:
        """The largest batch that fits between ``fit`` (fits) and ``fail`` (does not; 0: none
        seen), where ``fail`` - ``fit`` > 1 calls for probes."""
        while fail and fail - fit > 1:
            middle = (fit + fail) // 2
            if self.fits(middle):
                fit = middle
            else:
                fail = middle
        return fit


def search(probe: Prober, limit: int, seen: Callable[[Probe], None] | None = None,
           time_limit: float = 0.0, clock: Callable[[], float] = time.monotonic,
           keep: Callable[[list[Probe]], float] | None = None) -> Search:
    """Double from 1 until a probe does not fit or ``limit`` fits, then bisect; ``seen`` is
    told of each probe as it ends. ``time_limit`` > 0: seconds from now after which no probe
    starts and a running one is told to stop (batch 1 always runs to its end); ``keep``: the
    seconds of it kept for what follows the search, from the probes so far."""
    if limit < 1:
        raise ValueError(f"the largest batch to try must be >= 1, got {limit}")
    probing = _Probing(probe, seen, clock() + time_limit if time_limit > 0 else None, clock,
                       keep=keep)
    fit, fail, batch = 0, 0, 1
    try:
        while True:
            if not probing.fits(batch):
                fail = batch
                break
            fit = batch
            if batch >= limit:
                break
            batch = min(batch * 2, limit)
        fit = probing.bisect(fit, fail)
    except _TimeUp:  # the largest batch that fit, the bisection's included
        return Search(max_batch=probing.best, capped=False, probes=probing.probes,
                      timed_out=True)
    return Search(max_batch=fit, capped=fit >= limit, probes=probing.probes)


def search_near(probe: Prober, hint: int, limit: int, floor: int,
                seen: Callable[[Probe], None] | None = None, deadline: float | None = None,
                clock: Callable[[], float] = time.monotonic) -> Search:
    """The largest batch that fits, searched from ``hint`` (expected at or near the edge):
    ``hint`` first, then steps of 1, 2, 4... up while batches fit (to ``limit`` at most) or
    down while they do not (to ``floor``, a batch known to fit, not probed again), then a
    bisection; ``hint`` and ``hint`` + 1 settle an edge the hint had right. ``deadline``
    (``clock`` time): no probe starts past it, the first included; a time-out keeps the
    largest batch that fit so far (``floor`` if none)."""
    if not 1 <= floor <= hint <= limit:
        raise ValueError(f"a search near batch {hint} needs 1 <= floor ({floor}) <= hint <= "
                         f"limit ({limit})")
    probing = _Probing(probe, seen, deadline, clock, uncut_first=False)
    try:
        fit, fail = _walk_from(probing, hint, limit, floor)
        fit = probing.bisect(fit, fail)
    except _TimeUp:
        return Search(max_batch=max(floor, probing.best), capped=False, probes=probing.probes,
                      timed_out=True)
    return Search(max_batch=fit, capped=fit >= limit, probes=probing.probes)


def _walk_from(probing: _Probing, hint: int, limit: int, floor: int) -> tuple[int, int]:
    """The first part of :func:`search_near`: from ``hint``, steps of 1, 2, 4... up while
    batches fit or down while they do not; returns the largest batch seen to fit and the
    smallest seen not to (0: none) for the bisection."""
    fit, fail, step = floor, 0, 1
    if hint == floor or probing.fits(hint):
        fit = hint
        while fit < limit:
            batch = min(fit + step, limit)
            if not probing.fits(batch):
                fail = batch
                break
            fit, step = batch, step * 2
    else:
        fail = hint
        while fail - step > floor:
            if probing.fits(fail - step):
                fit = fail - step
                break
            fail, step = fail - step, step * 2
    return fit, fail


def compiled_search(dynamic: Prober, static: Prober, limit: int,
                    seen: Callable[[Probe], None] | None = None, time_limit: float = 0.0,
                    clock: Callable[[], float] = time.monotonic, *,
                    reset: Callable[[], None]) -> Search:
    """The search for ``--compile`` on a GPU, in two parts, so that it costs a few compiles
    instead of one a probe (the H100 run compiled resnet50 for 47 s a probe):

    1. :func:`search` with the ``dynamic`` prober, whose probes keep the compiler's graphs:
       batch 1 compiles its static graph (dynamo always specialises a size of 1), batch 2 a
       graph with a dynamic batch dimension that the larger probes reuse;
    2. the compiler's graphs are forgotten (``reset``: the probers'
       :func:`~pytorch_benchmarks.run.maxbatch.probers.reset_compiler`, a required argument so
       that this module needs no torch), then :func:`search_near` the edge found, with the
       ``static`` prober (each probe compiles its own batch's graph, as the timed run does,
       and forgets it): two probes when the dynamic graph had the edge right.

    ``results.max_batch`` is then of the static graph, the one the timed run compiles: it fit,
    and the batch above it did not. Part 1 stops early enough to keep, of ``time_limit``, two
    of batch 1's probes (a static compile and two steps each) for part 2. When part 2 still
    gets no probe in, the result is the dynamic graph's edge, not confirmed (``confirmed``
    false; batch 1's graph is static, so batch 1 is always confirmed). ``dynamic_max_batch``
    is None when no probe ran a dynamic graph (batch 2 did not fit, or the limit is 1)."""
    def for_part_2(probes: list[Probe]) -> float:
        return 2 * probes[0].seconds if probes else 0.0

    deadline = clock() + time_limit if time_limit > 0 else None
    first = search(_labelled(dynamic, True), limit, seen, time_limit, clock, for_part_2)
    reset()
    dynamic_edge = max((p.batch for p in first.probes if p.graph == "dynamic" and p.fits),
                       default=None)
    if first.max_batch == 0:
        return Search(max_batch=0, capped=False, probes=first.probes)
    second = search_near(_labelled(static, False), first.max_batch, limit, 1, seen, deadline,
                         clock)
    probes = first.probes + second.probes
    if not second.probes and first.max_batch > 1:  # no time for a static probe
        return Search(max_batch=first.max_batch, capped=False, probes=probes, timed_out=True,
                      confirmed=False, dynamic_max_batch=dynamic_edge)
    return Search(max_batch=second.max_batch, capped=second.capped, probes=probes,
                  timed_out=first.timed_out or second.timed_out,
                  dynamic_max_batch=dynamic_edge)


def _labelled(prober: Prober, dynamic_above_1: bool) -> Prober:
    """``prober`` whose probes say the graph they ran: ``dynamic`` above batch 1 when
    ``dynamic_above_1`` (dynamo specialises a size of 1), else ``static``."""
    def run(batch: int, timeout: float | None) -> Probe:
        outcome = prober(batch, timeout)
        outcome.graph = "dynamic" if dynamic_above_1 and batch > 1 else "static"
        return outcome
    return run


def time_out_warning(found: Search, time_limit: float) -> str:
    """What a search ended by ``--max_batch_time`` found: a lower bound, and how far up (of
    the graph the timed run runs: not a compiled search's dynamic one)."""
    failed = [p.batch for p in found.probes if p.fits is False and p.graph != "dynamic"]
    above = (f"batch {min(failed)} did not fit" if failed
             else "no larger batch was seen not to fit")
    plural = "s" if len(found.probes) != 1 else ""
    return (f"--batch_size max: the search stopped at --max_batch_time ({time_limit:g} s) after "
            f"{len(found.probes)} probe{plural}: results.max_batch {found.max_batch} is the "
            f"largest batch that fit so far, a lower bound ({above}); raise --max_batch_time to "
            "search further")

"""The order of repeated runs (``exp.repeat`` > 1): randomized rounds, round-robin or back to back.

A plan whose experiments each run once keeps its plan order: nothing here applies to it.
Runs of the experiments that repeat are placed in *rounds*: round r holds run r
(``exp.repeat_index`` r) of every experiment with more than r runs. ``exp.interleave`` says
how the runs are ordered:

- ``random`` (the default): every round runs each experiment once, in a fresh random order per
  round (randomized multiple interleaved trials, RMIT: Abedi & Brecht, "Conducting Repeatable
  Experiments in Highly Variable Cloud Computing Environments", ICPE 2017). Round r's order is
  a Fisher-Yates shuffle driven by ``random.Random`` seeded from ``exp.order_seed`` and r
  (:func:`round_order`): the same plan and seed give the same order on every machine and every
  run of the plan, so a stopped sweep resumes in the order it started with.
- ``fixed``: round-robin in plan order (every experiment's run 0, then every run 1, ...);
  run 0 of each experiment streams as the plan is read (the order dlbs used before).
- ``sequential``: all runs of one experiment back to back, experiments in plan order.

Every run the engine places carries ``exp.round_position``: its place (0-based) among the runs
of its round, in the order they run; with ``exp.repeat_index`` (the round), ``exp.interleave``
and ``exp.order_seed`` it goes into the run's log, so a reader can rebuild the order. A run that
carries a position already (``print``'s output used as a plan) or a non-zero
``exp.repeat_index`` is given by the plan: it keeps its place, and it is not placed again.

Pure: no clock, no global random state, no files, no environment.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from dlbs.engine.model import shown
from dlbs.errors import ExpansionError

INTERLEAVE, ORDER_SEED, ROUND_POSITION = "exp.interleave", "exp.order_seed", "exp.round_position"
MODES = ("random", "fixed", "sequential")
DEFAULT_MODE = "random"
#: ``exp.round_position`` of a run no round placed (an experiment that runs once).
UNPLACED = -1
MAX_SEED = 2**63 - 1


def interleave_mode(experiment: Mapping[str, Any]) -> str:
    """``exp.interleave`` of an expanded experiment (``random`` when absent); an
    ``ExpansionError`` unless it is one of :data:`MODES`."""
    value = experiment.get(INTERLEAVE, DEFAULT_MODE)
    if value not in MODES:
        raise ExpansionError(f"parameter '{INTERLEAVE}': {shown(value)} is not one of "
                             f"{', '.join(MODES)} (the order of repeated runs); give one, e.g. "
                             f"-P{INTERLEAVE}=fixed", param=INTERLEAVE)
    return str(value)


def order_seed(experiment: Mapping[str, Any]) -> int:
    """``exp.order_seed`` of an expanded experiment (0 when absent); an ``ExpansionError``
    unless it is an integer from 0 to 2**63 - 1."""
    value = experiment.get(ORDER_SEED, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ExpansionError(f"parameter '{ORDER_SEED}': {shown(value)} is not an integer from 0 "
                             f"to {MAX_SEED} (the seed of the rounds' random order); give one, "
                             f"e.g. -P{ORDER_SEED}=7", param=ORDER_SEED)
    return value


def round_position(experiment: Mapping[str, Any]) -> int:
    """``exp.round_position`` of an expanded experiment (:data:`UNPLACED` when absent)."""
    value = experiment.get(ROUND_POSITION, UNPLACED)
    if isinstance(value, bool) or not isinstance(value, int) or value < UNPLACED:
        raise ExpansionError(f"parameter '{ROUND_POSITION}': {shown(value)} is not an integer "
                             f">= {UNPLACED} (set by the plan: leave it out)", param=ROUND_POSITION)
    return value


def round_order(size: int, seed: int, round_index: int) -> list[int]:
    """The order of a round of ``size`` runs: a permutation of ``range(size)``.

    A Fisher-Yates shuffle drawing from ``random.Random`` seeded with the first 8 bytes of
    ``sha256("dlbs-round/<seed>/<round_index>")``: each round has its own stream (the order of
    round r does not depend on the rounds before it), and only ``Random.random()`` is used,
    whose sequence for an integer seed Python keeps across versions (``shuffle`` and
    ``randrange`` are not promised to stay the same).
    """
    digest = hashlib.sha256(f"dlbs-round/{seed}/{round_index}".encode()).digest()
    import random  # only for repeated runs (about 1 ms of every start-up)

    draw = random.Random(int.from_bytes(digest[:8], "big")).random
    order = list(range(size))
    for i in range(size - 1, 0, -1):
        j = int(draw() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


class Rounds:
    """The experiments of a plan that repeat, gathered while the plan is read, and the order
    of their runs (one ``exp.interleave`` and ``exp.order_seed`` for the whole plan)."""

    def __init__(self) -> None:
        self.experiments: list[tuple[dict[str, Any], int, Any]] = []  # (raw, runs, exp.id)
        self.given: set[tuple[Any, Any]] = set()  # (exp.id, exp.repeat_index) the plan holds
        self.mode: str | None = None
        self.seed = 0
        self._streamed = 0  # runs 0 placed while the plan is read (``fixed``)

    def add(self, raw: dict[str, Any], output: Mapping[str, Any], count: int,
            run_id: Any, given: bool) -> int | None:
        """Gather an experiment with ``count`` > 1 runs whose run 0 is ``output`` (``given``:
        the plan holds that run as such). Return run 0's position when it runs now (``fixed``
        mode, not given), else ``None`` (it comes from :meth:`later_runs`)."""
        self._agree(output)
        self.experiments.append((raw, count, run_id))
        if given or self.mode != "fixed":
            return None
        self.given.add((run_id, 0))
        self._streamed += 1
        return self._streamed - 1

    def _agree(self, output: Mapping[str, Any]) -> None:
        """Take the plan's order mode and seed from its first repeated experiment; refuse a
        later one that asks for another (one sweep has one order)."""
        mode, seed = interleave_mode(output), order_seed(output)
        if self.mode is None:
            self.mode, self.seed = mode, seed
            return
        for name, first, value in ((INTERLEAVE, self.mode, mode), (ORDER_SEED, self.seed, seed)):
            if value != first:
                raise ExpansionError(
                    f"parameter '{name}': {shown(value)} here, {shown(first)} in an earlier "
                    "repeated experiment; a plan's repeated runs share one order, so give it "
                    f"once for the whole plan, e.g. -P{name}={first}", param=name)

    def later_runs(self) -> Iterator[tuple[dict[str, Any], int, int]]:
        """The runs not placed yet, in order, as (raw experiment, exp.repeat_index, position)."""
        if self.mode == "sequential":
            yield from self._sequential()
            return
        rounds = max((count for _, count, _ in self.experiments), default=1)
        for index in range(rounds):
            active = [raw for raw, count, run_id in self.experiments
                      if index < count and (run_id, index) not in self.given]
            order = (round_order(len(active), self.seed, index) if self.mode == "random"
                     else range(len(active)))
            for position, which in enumerate(order):
                yield active[which], index, position

    def _sequential(self) -> Iterator[tuple[dict[str, Any], int, int]]:
        """All runs of one experiment back to back; the position is the experiment's place in
        round r's plan order, as if the rounds were run round-robin."""
        seen: dict[int, int] = {}  # round -> runs of it placed so far
        for raw, count, run_id in self.experiments:
            for index in range(count):
                if (run_id, index) not in self.given:
                    position = seen.get(index, 0)
                    seen[index] = position + 1
                    yield raw, index, position

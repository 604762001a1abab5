"""The between-node pairs of ``dlbs accept PARTITION --checks ...,pair`` measured on Slurm and
judged: the ring's pairs as one job array (:func:`dlbs.accept.fleetjob.pair_script`), the
pairs judged as a fleet of pairs (:func:`dlbs.accept.verdict.judge_checks`: the reference
range, the fleet's t with 5 pairs or more, the peer rule below that), the failing pairs put on
their nodes (:mod:`dlbs.accept.pairs`), with a second array of bisection pairs when needed.

Starts Slurm jobs (through :mod:`dlbs.accept.fleetjob`); the rules are those modules'.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from safeio import atomic_write_text

from dlbs.accept import fleetjob
from dlbs.accept.pairs import (
    CHECK,
    Pair,
    bisection_pairs,
    blame,
    good_partner,
    key,
    ring_pairs,
    settle,
)
from dlbs.accept.verdict import CheckVerdict, Reference, judge_checks, said_line


@dataclass
class PairOutcome:
    """The nodes' verdicts on ``pair_busbw``, a line a pair, each node's pairs' figures."""

    verdicts: list[CheckVerdict] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    runs: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PairJob:
    """Where and how the pairs' arrays run."""

    partition: str
    python: str
    folder: Path
    workdir: Path
    time_limit: str | None
    timeout_s: float
    repeat: int = 1
    plan: Path | None = None    # the suite's plan file (the all-reduce's sizes)


def _run(job: PairJob, pairs: Sequence[Pair], round_name: str, say: Callable[[str], None]
         ) -> tuple[dict[str, list[float]], dict[str, str]]:
    """One array of pairs run; each pair's figure by key, and why for those without one."""
    folder = job.folder / round_name
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "pairs.sbatch"
    atomic_write_text(script, fleetjob.pair_script(pairs, job.partition, job.python, folder,
                                                   job.workdir, job.time_limit, job.repeat,
                                                   job.plan))
    array = fleetjob.submit_pinned(script, [",".join(p) for p in pairs], folder, "pair",
                                   [folder / f"pair-{i}-rank{r}.json"
                                    for i in range(len(pairs)) for r in (0, 1)])
    say(f"dlbs accept: job array {array}: {len(pairs)} pair(s) of nodes ({round_name}: "
        f"{', '.join(key(p) for p in pairs)})")
    fleetjob.wait(array, len(pairs), job.timeout_s, say)
    return fleetjob.gather_pairs(array, pairs, folder)


def _judged(figures: Mapping[str, list[float]], lost: Mapping[str, str],
            references: Mapping[str, Reference]) -> tuple[dict[str, str], dict[str, str], str]:
    """Every pair's line (by key), the failing ones' reasons, and what the comparison of the
    pairs could judge (:func:`dlbs.accept.verdict.said_line`)."""
    verdicts, fleets = judge_checks({p: {CHECK: runs} for p, runs in figures.items()},
                                    references, {CHECK: "GB/s"})
    said = said_line(fleets[0], figures).replace("node", "pair") if fleets else ""
    lines = {v.node: v.why for v in verdicts}
    failed = {v.node: v.why for v in verdicts if v.failed}
    lines.update(lost)
    failed.update(lost)
    return lines, failed, said


def measure_pairs(nodes: Sequence[str], job: PairJob, references: Mapping[str, Reference],
                  say: Callable[[str], None], suspects: Collection[str] = ()) -> PairOutcome:
    """The ring's pairs measured and judged, failing pairs bisected to their nodes
    (``suspects``: the nodes that failed their own checks, for a pair no bisection can
    split)."""
    pairs = ring_pairs(nodes)
    if not pairs:
        return PairOutcome(lines=[f"{CHECK}: {len(nodes)} node(s) measured: no pair to measure"])
    figures, lost = _run(job, pairs, "pairs", say)
    lines, failed, fleet_said = _judged(figures, lost, references)
    found = blame(pairs, failed)
    at_fault = dict(found.at_fault)
    said = [f"pair {p}: {'FAIL: ' if p in failed else ''}{line}" for p, line in lines.items()]
    said += [fleet_said] if fleet_said else []
    if found.unresolved:
        partner = good_partner(pairs, failed, found.unresolved)
        second: dict[str, str] = {}
        second_failed: dict[str, str] = {}
        if partner is not None:
            extra = bisection_pairs(found.unresolved, partner)
            more, more_lost = _run(job, extra, "bisection", say)
            healthy = {p: v for p, v in figures.items() if p not in failed}
            judged, bad, _ = _judged({**healthy, **more}, more_lost, references)
            second = {key(p): judged.get(key(p), "not measured") for p in extra}
            second_failed = {k: bad[k] for k in second if k in bad}
            said += [f"pair {p} (bisection): {'FAIL: ' if p in second_failed else ''}{line}"
                     for p, line in second.items()]
            for pair, runs in more.items():
                figures[pair] = figures.get(pair, []) + runs
        at_fault.update(settle(found.unresolved, partner, failed, second, second_failed,
                               suspects))
    outcome = PairOutcome(lines=said)
    for node in nodes:
        mine = [p for p in figures if node in p.split("+")]
        outcome.runs[node] = [v for p in mine for v in figures[p]]
        why = at_fault.get(node) or (f"{CHECK}: " + "; ".join(
            f"{p} {statistics.median(figures[p]):.4g} GB/s" for p in mine) + ": ok")
        outcome.verdicts.append(CheckVerdict(node, CHECK, node in at_fault, why))
    return outcome

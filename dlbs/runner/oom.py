"""OOM-aware batch sweeps: after a batch runs out of memory, larger ones of its kind are skipped.

DLBS kept a file of failed batch sizes; here the logs are the memory. Experiments of one kind
(same framework, model, phase, precision and device layout) share a smallest batch known to
run out of memory: from the logs of the plan's experiments when the sweep starts (so the
knowledge survives a resume) and from each experiment that ends ``oom`` during it. A later
experiment of that kind whose ``exp.replica_batch`` is at least that batch is skipped with the
reason, unless ``exp.ignore_past_errors`` is true (DLBS's switch).

An experiment whose ``exp.replica_batch`` is ``"max"`` (the benchmark finds the largest batch
that fits) is neither: it is never skipped (it searches below an OOM by itself) and its outcome
is never remembered (its probes stop at their own failures, and on a CPU they ran in a memory
budget that experiments of a fixed batch do not have).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dlbs.experiment import Experiment
from dlbs.params import catalogue
from dlbs.runner import runlog

#: How the reason of a skip for memory starts (the summary lists those one by one).
OOM_SKIP = "replica batch"
#: What makes two experiments "of one kind" for memory: model, phase, precision, layout
#: (config/*.json: ``roles.memory_kind``).
KIND_KEYS = catalogue.memory_kind()


def kind(exp: Experiment) -> tuple[str, ...]:
    """The memory kind of an experiment (as text, so that any value can be a key)."""
    raw = exp.raw
    return tuple(str(raw.get(key)) for key in KIND_KEYS)


def batch_of(exp: Experiment) -> int | None:
    """``exp.replica_batch`` as an int, or None when it is not one (``"max"``: see above)."""
    value = exp.replica_batch
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class OomMemory:
    """The smallest batch known to run out of memory, per kind of experiment."""

    def __init__(self) -> None:
        self.smallest: dict[tuple[str, ...], tuple[int, str]] = {}  # kind -> (batch, log)

    def learn_from_logs(self, experiments: Iterable[Experiment]) -> None:
        """Read the complete logs of ``experiments`` that exist; remember their OOMs."""
        for exp in experiments:
            log = Path(exp.log_file)
            if batch_of(exp) is None or not log.name or not log.is_file():
                continue
            try:
                status = runlog.read_tail_facts(log).get("results.status")
            except OSError:
                continue
            if status == "oom":
                self.note(exp, "oom", str(log))

    def note(self, exp: Experiment, status: str, log_file: str | None) -> None:
        """An experiment ended with ``status``: remember it when it ran out of memory."""
        batch = batch_of(exp)
        if status != "oom" or batch is None:
            return
        known = self.smallest.get(kind(exp))
        if known is None or batch < known[0]:
            self.smallest[kind(exp)] = (batch, str(log_file or ""))

    def reason_to_skip(self, exp: Experiment) -> str | None:
        """Why ``exp`` is skipped (a batch at least as large ran out of memory), or None."""
        if exp.run.ignore_past_errors:
            return None
        batch, known = batch_of(exp), self.smallest.get(kind(exp))
        if batch is None or known is None or batch < known[0]:
            return None
        return (f"replica batch {batch} >= {known[0]}, which ran out of memory "
                f"({Path(known[1]).name}); -Pexp.ignore_past_errors=true runs it anyway")

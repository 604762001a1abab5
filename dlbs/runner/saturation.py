"""Rate sweeps that stop at saturation (``serve.stop_at_saturation``, issue 55, item 5).

After a serving run of a rate sweep ends saturated (its log's ``results.saturated``), the
higher rates of the same series that have not started are skipped with the reason, as
:mod:`dlbs.runner.oom` skips larger batches after an OOM. A series is the serving experiments
that differ only in ``serve.request_rate`` (and ``serve.seed``); rates at or below the
saturated one still run (repeats included). Only when the switch is on, only for rate sweeps
(``serve.search`` none: a search finds its own limit).
"""
from __future__ import annotations

from pathlib import Path

from dlbs.experiment import Experiment
from dlbs.params import catalogue
from dlbs.runner import runlog

#: How the reason of a skip for saturation starts (the summary counts them by it).
SATURATION_SKIP = "saturated"
#: What tells one series from another: every parameter of the load but its rate
#: (config/*.json: ``roles.load_series``).
SERIES_KEYS = catalogue.load_series()


def _rate(exp: Experiment) -> float | None:
    return exp.serving.rate


def applies(exp: Experiment) -> bool:
    """Whether ``exp`` is a rate-sweep run under ``serve.stop_at_saturation``."""
    return (exp.serves and exp.serving.stop_at_saturation
            and str(exp.serving.search or "none") == "none" and bool(exp.serving.rate))


def series(exp: Experiment) -> tuple[str, ...]:
    raw = exp.raw
    return tuple(str(raw.get(key)) for key in SERIES_KEYS)


class SaturationMemory:
    """The lowest rate known to saturate, per series."""

    def __init__(self) -> None:
        self.lowest: dict[tuple[str, ...], tuple[float, str]] = {}

    def note(self, exp: Experiment, log_file: str | None) -> None:
        """A run ended: remember its rate when its log says it was saturated."""
        rate = _rate(exp)
        if not applies(exp) or rate is None or not log_file or not Path(log_file).is_file():
            return
        try:
            # a serving log is a few KB: the fact is the client's, before the trailer
            saturated = runlog.read_output_facts(Path(log_file), 0).get("results.saturated")
        except OSError:
            return
        known = self.lowest.get(series(exp))
        if saturated is True and (known is None or rate < known[0]):
            self.lowest[series(exp)] = (rate, log_file)

    def reason_to_skip(self, exp: Experiment) -> str | None:
        """Why ``exp`` is skipped (a lower rate of its series saturated), or None."""
        rate, known = _rate(exp), self.lowest.get(series(exp))
        if not applies(exp) or rate is None or known is None or rate <= known[0]:
            return None
        return (f"{SATURATION_SKIP} at {known[0]:g} requests/s ({Path(known[1]).name}), "
                f"request rate {rate:g} not run: serve.stop_at_saturation")

"""A node acceptance as runs of the results database (``dlbs accept --db URL``): one run a node
x check, its figure ``accept.value`` (the median of the node's runs), the verdict and its
reason, the target and the Slurm job; so a node's history is one ``dlbs history`` away::

    dlbs history --db URL -Paccept.node=n1 -Paccept.check=matmul_fp32 --metric accept.value

Pure: verdicts and figures in, facts out (the CLI stores them).
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from dlbs.accept.verdict import CheckVerdict, Reference

#: The ``exp.phase`` of an acceptance run: no benchmark's phase, so no report of training or
#: inference runs pools them with its own.
PHASE = "accept"
#: Fewest accepted runs of a check a reference row is taken from (a node x acceptance each).
MIN_ACCEPTED = 3
#: A row from accepted runs sets its floor at this share of their lowest figure, as the shipped
#: rows do (about half the lowest: a floor that names a broken node, not a slow one).
FLOOR_SHARE = 0.5


def accept_facts(verdicts: Sequence[CheckVerdict],
                 figures: Mapping[str, Mapping[str, Sequence[float]]],
                 units: Mapping[str, str], target: str, job_id: str,
                 started: str, device: str = "cpu",
                 settings: Mapping[str, Mapping[str, str] | None] | None = None
                 ) -> list[dict[str, Any]]:
    """The facts of each node x check judged in one acceptance started at ``started`` (ISO
    8601, UTC), ``units`` check -> unit, ``device`` the model the reference rows were
    taken for, ``settings`` check -> the settings its figure was measured at
    (``accept.settings``, what a reference row taken from the run records): ``results.status``
    ``ok`` with a figure, ``not_measured`` without one (a node whose task left none, the
    burn-in's counters)."""
    rows = []
    for verdict in verdicts:
        runs = [float(v) for v in figures.get(verdict.node, {}).get(verdict.check, [])]
        facts: dict[str, Any] = {
            "exp.phase": PHASE, "exp.start_time": started, "hw.hostname": verdict.node,
            "accept.node": verdict.node, "accept.check": verdict.check,
            "accept.verdict": "fail" if verdict.failed else "pass" if verdict.judged else
            "not_judged", "accept.why": verdict.why,
            "accept.target": target, "accept.job_id": job_id, "accept.device": device,
            "results.status": "ok" if runs else "not_measured",
        }
        if runs:
            facts.update({"accept.value": statistics.median(runs), "accept.runs": runs,
                          "accept.unit": units.get(verdict.check, "")})
            measured_at = (settings or {}).get(verdict.check)
            if measured_at is not None:
                facts["accept.settings"] = dict(measured_at)
        rows.append(facts)
    return rows


def references_from_runs(runs: Sequence[Mapping[str, Any]], device: str, url: str,
                         settings: Mapping[str, Mapping[str, str] | None]
                         ) -> tuple[dict[str, Reference], list[str]]:
    """Reference rows from a database's accepted runs (``accept.verdict`` pass, a figure) of
    ``device`` measured at the settings of ``settings`` (check -> the settings its figure is
    measured at now; a run that records other settings, or none, is left out): per check with
    at least :data:`MIN_ACCEPTED` of them, a floor at :data:`FLOOR_SHARE` of their lowest
    figure, and where it came from (the database, how many runs, their dates, the lowest
    figure), with its settings; and a line for each check whose accepted runs were left out
    for their settings."""
    by_check: dict[str, list[Mapping[str, Any]]] = {}
    elsewhere: dict[str, int] = {}
    for facts in runs:
        if (facts.get("accept.verdict") == "pass" and facts.get("accept.device") == device
                and isinstance(facts.get("accept.value"), (int, float))
                and facts["accept.value"] > 0):
            check = str(facts.get("accept.check"))
            wanted = settings.get(check)
            if wanted is None or facts.get("accept.settings") != dict(wanted):
                elsewhere[check] = elsewhere.get(check, 0) + 1
                continue
            by_check.setdefault(check, []).append(facts)
    lines = [f"references: {check}: {count} accepted run(s) in {url} measured at other "
             f"settings than these ({_settings_said(settings.get(check))}) or recording none: "
             "not used" for check, count in sorted(elsewhere.items()) if check in settings]
    rows = {}
    for check, accepted in sorted(by_check.items()):
        if len(accepted) < MIN_ACCEPTED:
            continue
        lowest = min(float(f["accept.value"]) for f in accepted)
        dates = sorted(str(f.get("exp.start_time", ""))[:10] for f in accepted)
        rows[check] = Reference(
            check, FLOOR_SHARE * lowest, str(accepted[0].get("accept.unit", "")),
            f"{len(accepted)} accepted runs in {url}, {dates[0]} to {dates[-1]}, lowest "
            f"{lowest:.4g}", settings=tuple(sorted(dict(settings[check] or {}).items())))
    return rows, lines


def _settings_said(settings: Mapping[str, str] | None) -> str:
    """Settings in words: ``name value, ...``."""
    if not settings:
        return "unknown"
    return ", ".join(f"{name} {value or repr('')}" for name, value in settings.items())

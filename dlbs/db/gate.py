"""The CI gate's outputs beside ``dlbs regressions``' table, JSON and exit code: a markdown
summary for a pull-request comment here, a JUnit XML document in :mod:`dlbs.db.gate_junit`
(what CI systems already read).

Every figure is the one the table and the JSON give: a change and its interval are formatted
by :func:`change_cells` (the table's cells too) from the :class:`~dlbs.db.changes.Found`
objects the search returned, and the JUnit failure's text is the change's own ``as_json()``;
nothing here computes a statistic. Counts are those of the command's summary line.

Pure: renders text and bytes; it never opens, writes or prints anything (``dlbs.cli.regressions``
writes the files, whole or not at all).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchstats.changepoints import ALPHA, MIN_POINTS, MIN_SIDE
from benchstats.latest import GOAL_DROP, MIN_HISTORY, POWER, WINDOW

from dlbs.db.busy import BUSY_LEGEND
from dlbs.db.changes import NOTHING_JUDGED_EXIT
from dlbs.db.history import Broken, Found, Judged, unsteady_newest
from dlbs.db.records import canonical
from dlbs.reports.model import MARK_BUSY

#: The JUnit test suite's name (and the markdown headline's).
SUITE = "dlbs regressions"
#: Not-judged series listed by name in the markdown; the rest are counted.
LISTED = 20
#: What markdown would read as markup in a table cell or a list item.
_MARKUP = re.compile(r"([\\`*_{}\[\]<>&|~])")


@dataclass(frozen=True)
class Rerun:
    """``--confirm``'s re-runs: each flagged regression's ``confirmation`` object (its JSON)
    by (series key, last good, first bad), and those the re-run did not confirm as (name,
    change, confirmation): left out of the gate's judged changes, listed apart."""

    confirmations: dict[tuple[str, str, str], dict[str, Any]]
    unconfirmed: list[tuple[str, Found, dict[str, Any]]]

    def of(self, change: Found) -> dict[str, Any] | None:
        """The change's confirmation (None: not re-run, an improvement)."""
        return self.confirmations.get((canonical(change.parameters), change.last_good,
                                       change.first_bad))


@dataclass(frozen=True)
class Gate:
    """What one ``dlbs regressions`` call judged, and how: ``names`` maps each series' key
    (the canonical text of its parameters) to its name in the table, in the series' order;
    ``alpha`` is None without ``--latest`` (every change point is searched for instead);
    ``note`` names the runs left out (``Loaded.note``), or is empty; ``rerun`` is
    ``--confirm``'s (None without it: every output as before)."""

    names: dict[str, str]
    judged: Judged
    metric: str
    axis: str
    min_change: float
    alpha: float | None = None
    note: str = ""
    rerun: Rerun | None = None
    #: ``--latest``: the series whose newest runs computed wrong numbers (they fail)
    broken: tuple[Broken, ...] = ()
    #: the busy mark's counts, as on stderr (``1 of 5 newest points from busy runs; 1 of 1
    #: changes name a point from busy runs``; ``dlbs.db.busy``), "" when no point is marked
    busy: str = ""
    #: ``--latest``: the keys of the series whose newest point has a run made on a busy
    #: machine
    busy_newest: frozenset[str] = frozenset()


@dataclass
class Outcome:
    """One series' verdict: its changes, or why it was not judged, and whether its newest
    runs computed wrong numbers."""

    name: str
    changes: list[Found] = field(default_factory=list)
    not_judged: str | None = None
    broken: Broken | None = None
    #: ``--latest``: judged, no change, and too noisy for a ``GOAL_DROP`` drop: the drop it
    #: would find ``POWER`` of the time (``Judged.noisy``)
    noisy: float | None = None
    #: ``--latest``: a run of its newest point was made on a busy machine
    busy_newest: bool = False

    @property
    def regressions(self) -> list[Found]:
        return [c for c in self.changes if c.direction == "regression"]


def change_cells(change: Found) -> tuple[str, str, str]:
    """The relative change, its 95% interval and its p-value as the table prints them."""
    low, high = change.ci
    return f"{change.change:+.1%}", f"[{low:+.1%}, {high:+.1%}]", f"{change.p_value:.3g}"


def outcomes(gate: Gate) -> list[Outcome]:
    """Each series' outcome, in the order of the series."""
    found = {key: Outcome(name) for key, name in gate.names.items()}
    for parameters, why in gate.judged.not_judged:
        found[canonical(parameters)].not_judged = why
    for change in gate.judged.changes:
        found[canonical(change.parameters)].changes.append(change)
    for parameters, detectable in gate.judged.noisy:
        found[canonical(parameters)].noisy = detectable
    for one in gate.broken:
        key = canonical(one.parameters)
        found.setdefault(key, Outcome(gate.names.get(key, key))).broken = one
    for key in gate.busy_newest:
        if key in found:
            found[key].busy_newest = True
    return list(found.values())


def _count(judged: Judged, direction: str) -> int:
    return sum(c.direction == direction for c in judged.changes)


def percent(fraction: float) -> str:
    """5% for 0.05, 2.5% for 0.025: the figure given, not rounded to a whole percent."""
    return f"{fraction * 100:.6g}%"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def method(gate: Gate) -> str:
    """One sentence: what was judged, how, at which level and minimum change."""
    rule = (f"a change is reported only when its whole 95% interval lies beyond "
            f"±{percent(gate.min_change)} (`--min-change {gate.min_change:g}`)")
    if gate.alpha is None:
        how = (f"change points anywhere in each series (a permutation test at level {ALPHA:g}, "
               f"at least {MIN_SIDE} points on each side of a change)")
    else:
        how = (f"the newest point of each series against up to {WINDOW} points before it "
               f"(at least {MIN_HISTORY}; `--latest`; the spread of a point from the whole "
               f"window: its runs' pooled spread and the points' own)")
        rule = latest_rule(gate.min_change, gate.alpha)
    return f"{_code(gate.metric)} along {_code(gate.axis)}: {how}; {rule}."


def latest_rule(min_change: float, alpha: float) -> str:
    """``--latest``'s rule in words (the markdown's method and the note on stderr): the test
    of no change decides, ``--min-change`` is a floor on the estimate."""
    return (f"a change is reported when the test of no change rejects it (two-sided, the "
            f"newest point's prediction interval; Benjamini-Hochberg over the judged series "
            f"at `--alpha {alpha:g}`) and its estimate lies beyond ±{percent(min_change)} "
            f"(`--min-change {min_change:g}`: a floor on the estimate, so a real change a "
            f"little inside it is now and then reported)")


def noisy_said(detectable: float) -> str:
    """Why a judged series without a change does not promise that it would have caught a
    ``GOAL_DROP`` drop (``Judged.noisy``), and what to do."""
    return (f"too noisy to find a {percent(GOAL_DROP)} drop {percent(POWER)} of the time: "
            f"its history's spread lets it find a drop of {detectable:.1%} that often; more "
            "runs a point or a quieter machine narrow it")


#: The ``direction`` of a JSON object of ``regressions --latest --format json`` for a judged
#: series without a change that is too noisy for a ``GOAL_DROP`` drop (:func:`noisy_json`).
TOO_NOISY = "too noisy"


def noisy_json(parameters: dict[str, Any], detectable: float, metric: str,
               axis: str) -> dict[str, Any]:
    """A JSON object beside the changes (``regressions --latest --format json``) for a judged
    series too noisy for a ``GOAL_DROP`` drop (``Judged.noisy``): the figure the other outputs
    give (``detectable_drop``: the drop it would find ``POWER`` of the time) and their
    sentence (``note``: :func:`noisy_said`); a series that passes, not a change."""
    return {"direction": TOO_NOISY, "parameters": parameters, "metric": metric, "axis": axis,
            "too_noisy": True, "goal_drop": GOAL_DROP, "power": POWER,
            "detectable_drop": detectable, "note": noisy_said(detectable)}


def nothing_judged(judged: Judged, series: int, latest: bool, axis: str) -> str:
    """The one line ``dlbs regressions`` says when it judged no series: why, what to do, and
    its exit code (:data:`~dlbs.db.changes.NOTHING_JUDGED_EXIT`), so that a CI log does not
    read the empty verdict as a pass."""
    unsteady = len(unsteady_newest(judged))
    short = len(judged.not_judged) - unsteady
    need = (f"--latest needs {MIN_HISTORY} points before the newest" if latest else
            f"a change-point search needs {MIN_POINTS} points, {MIN_SIDE} on each side of a "
            f"change; --latest needs {MIN_HISTORY + 1}")
    why = [f"{short} too short: {need}"] if short else []
    todo = [f"store runs of more {axis} values (or widen -P and --since)"] if short else []
    if unsteady:
        why.append(f"{unsteady} with one unsteady newest run")
        todo.append("run each unsteady newest point again, on a quiet machine")
    return (f"nothing judged: none of the {_plural(series, 'series', 'series')} could be "
            f"judged ({'; '.join(why)}); {' and '.join(todo)} before gating on them; exit "
            f"{NOTHING_JUDGED_EXIT}, not a pass")


def headline(gate: Gate) -> str:
    """The counts of the summary line on stderr, as one sentence."""
    judged = gate.judged
    unsteady = len(unsteady_newest(judged))
    short = len(judged.not_judged) - unsteady
    return (f"{_plural(len(gate.names), 'series', 'series')}, {judged.judged} judged, "
            f"{_plural(_count(judged, 'regression'), 'regression')}, "
            f"{_plural(_count(judged, 'improvement'), 'improvement')}, "
            f"{len(judged.not_judged)} not judged ({short} too short, {unsteady} with an "
            "unsteady newest run)"
            + (f", {len(judged.noisy)} too noisy for a {percent(GOAL_DROP)} drop"
               if judged.noisy else "")
            + (f", {_plural(len(gate.broken), 'series', 'series')} whose newest runs computed "
               "wrong numbers" if gate.broken else ""))


def _title(gate: Gate) -> str:
    regressions = _count(gate.judged, "regression")
    if gate.broken:
        wrong = f"{_plural(len(gate.broken), 'series', 'series')} with wrong numbers"
        return f"{_plural(regressions, 'regression')} and {wrong} found" if regressions \
            else f"{wrong} found"
    if regressions:
        return f"{_plural(regressions, 'regression')} found"
    if not gate.judged.judged:
        return "nothing judged"
    return "no regression"


def _md(text: object) -> str:
    """Text as literal markdown: markup characters escaped, one line."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: object) -> str:
    """Text as a code span that cannot end early or split a table row."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|") + "`"


def busy_mark(change: Found) -> str:
    """`` #`` after a change that names a point with a run made on a busy machine."""
    return f" {MARK_BUSY}" if change.busy else ""


def _change_row(name: str, change: Found) -> str:
    shown, interval, p_value = change_cells(change)
    verdict = f"**{change.direction}**" if change.direction == "regression" else change.direction
    cells = [verdict, _md(name), _code(change.metric),
             f"{_md(change.last_good)} -> {_md(change.first_bad)}{busy_mark(change)}", shown,
             interval, p_value, f"{change.runs_before} -> {change.runs_after}"]
    return "| " + " | ".join(cells) + " |"


def _change_table(gate: Gate, found: Sequence[Outcome]) -> list[str]:
    rows = [_change_row(one.name, c) for one in found for c in one.changes]
    if not rows:
        if not gate.judged.judged:
            return ["No series was judged, so this says nothing about regressions."]
        none = (f"No regression and no improvement beyond ±{percent(gate.min_change)} in the "
                f"{_plural(gate.judged.judged, 'judged series', 'judged series')}.")
        return [none]
    old = ("old: the geometric mean of the points before the newest (those more than 3.5 "
           "scaled MADs from their median left out), up to the one named; new: the newest "
           "point; p-value: of no change, the one judged (Benjamini-Hochberg at --alpha), "
           "the estimate then beyond the floor"
           if gate.alpha is not None else
           "old and new: the weighted geometric means of the points before the change (up to "
           "the one named) and from it on")
    head = (f"| verdict | configuration | metric | old -> new ({_code(gate.axis)}) | change "
            "| 95% interval | p-value | runs |")
    return [head, "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |", *rows, "",
            f"(change: new / old - 1; {old}.)"]


def _busy_lines(gate: Gate, found: Sequence[Outcome]) -> list[str]:
    """The busy mark's legend and counts (``dlbs regressions``' note on stderr, word for
    word), where a point is marked, and the series whose newest point is marked but which
    no change row names."""
    if not gate.busy:
        return []
    quiet = [one for one in found
             if one.busy_newest and not any(c.busy for c in one.changes)]
    lines = [_md(f"{BUSY_LEGEND} ({gate.busy})")]
    if quiet:
        lines += ["", f"Newest point marked {MARK_BUSY}:", ""]
        lines += [f"- {_md(one.name)}" for one in quiet[:LISTED]]
        if len(quiet) > LISTED:
            lines.append(f"- ... and {len(quiet) - LISTED} more (the JUnit file has each one)")
    return lines


def _not_judged(found: Sequence[Outcome]) -> list[str]:
    skipped = [one for one in found if one.not_judged is not None]
    if not skipped:
        return []
    lines = ["**Not judged:**", ""]
    lines += [f"- {_md(one.name)}: {_md(one.not_judged)}" for one in skipped[:LISTED]]
    if len(skipped) > LISTED:
        lines.append(f"- ... and {len(skipped) - LISTED} more (the JUnit file has each one)")
    return lines


def _noisy_lines(found: Sequence[Outcome]) -> list[str]:
    noisy = [one for one in found if one.noisy is not None]
    if not noisy:
        return []
    lines = [(f"**Too noisy for a {percent(GOAL_DROP)} drop** (passing, but the gate could "
              "have missed one):"), ""]
    lines += [f"- {_md(one.name)}: {_md(noisy_said(one.noisy))}"
              for one in noisy[:LISTED] if one.noisy is not None]
    if len(noisy) > LISTED:
        lines.append(f"- ... and {len(noisy) - LISTED} more (the JUnit file has each one)")
    return lines


def rerun_said(confirmation: dict[str, Any]) -> str:
    """What a re-run said, in words: ``re-run: first bad / last good run time 1.0512 [1.0301,
    1.0728] after 5 rounds (slower; confirmed)``, or why it was not re-run."""
    if confirmation["status"] == "not_rebuildable":
        return f"not re-run ({confirmation['reason']}): kept as a flagged regression"
    interval = confirmation.get("interval")
    ratio = confirmation.get("ratio")
    shown = (f"{ratio:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"
             if ratio is not None and interval and None not in interval else "no ratio")
    note = f"; {confirmation['reason']}" if confirmation.get("reason") else ""
    word = confirmation["status"].replace("_", " ")
    return (f"re-run: first bad / last good run time {shown} after {confirmation['rounds']} "
            f"rounds ({confirmation['verdict']}{note}; {word})")


def _rerun_lines(gate: Gate, found: Sequence[Outcome]) -> list[str]:
    rerun = gate.rerun
    if rerun is None:
        return []
    lines = [("**Re-run (`--confirm`):** each flagged regression's last good and first bad "
             "code versions measured again, interleaved in one session; confirmed when the "
             "first bad one's run time is above last good's by more than half the flagged "
             "slowdown."), ""]
    for one in found:
        for change in one.regressions:
            said = rerun.of(change)
            if said is not None:
                lines.append(f"- {_md(one.name)} ({_md(change.last_good)} -> "
                             f"{_md(change.first_bad)}): {_md(rerun_said(said))}")
    if rerun.unconfirmed:
        lines += ["", (f"**Not confirmed by the re-run** ({len(rerun.unconfirmed)}; flagged, "
                      "not failing the gate):"), ""]
        lines += [f"- {_md(name)} ({_md(change.last_good)} -> {_md(change.first_bad)}, "
                  f"flagged {change_cells(change)[0]} {change_cells(change)[1]}): "
                  f"{_md(rerun_said(said))}" for name, change, said in rerun.unconfirmed]
    return lines


def broken_said(one: Broken, axis: str) -> str:
    """What a series' broken newest version is, in words."""
    runs = "run" if one.runs == 1 else "runs"
    return (f"the newest {axis} {one.axis_value} has {one.runs} {runs} stored {one.status} "
            "(a loss or output not finite, or off its float32 reference under "
            "--check_numerics): its speed enters no point, and the gate fails on it")


def _broken_lines(gate: Gate, found: Sequence[Outcome]) -> list[str]:
    wrong = [one for one in found if one.broken is not None]
    if not wrong:
        return []
    return ["**Wrong numbers in the newest version** (failing the gate):", "",
            *(f"- {_md(one.name)}: {_md(broken_said(one.broken, gate.axis))}"
              for one in wrong if one.broken is not None)]


def markdown(gate: Gate) -> str:
    """The summary for a pull-request comment (GitHub-flavoured markdown)."""
    found = outcomes(gate)
    parts = [[f"### {SUITE}: {_title(gate)}", "", f"**{headline(gate)}.**", "",
              f"Judged: {method(gate)}"], _broken_lines(gate, found), _change_table(gate, found),
             _busy_lines(gate, found), _rerun_lines(gate, found), _noisy_lines(found),
             _not_judged(found)]
    if gate.note:
        parts.append([f"Note: {_md(gate.note)}."])
    return "\n\n".join("\n".join(part) for part in parts if part) + "\n"

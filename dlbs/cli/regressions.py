"""``dlbs regressions``: change points in every stored history, each point weighted by its own
interval, confirmed only beyond ``--min-change``; exit 1 when a regression is found, 3 when
no series could be judged (too short: an empty verdict is not a pass).
``--markdown`` and ``--junit`` write the same verdicts as files beside the output
(``dlbs.db.gate``), each whole or not at all; they change neither the output nor the exit.
``--confirm`` measures each flagged regression again before reporting it
(``dlbs.cli.confirm_args``, ``dlbs.bisect.confirm``): one the re-run does not confirm is
listed apart and does not fail the gate."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from safeio import atomic_write_bytes, check_writable_target

from dlbs.cli.confirm_args import add_confirm_arguments
from dlbs.cli.dbargs import (
    add_alpha,
    add_db,
    add_filters,
    check_alpha,
    check_min_change,
    emit,
    filters,
    terminal_text,
)
from dlbs.errors import UsageError

if TYPE_CHECKING:
    from dlbs.db.gate import Gate

HELP = ("find regressions (and improvements) in every stored history; exit 1 on a regression, "
        "3 when no series could be judged, 2 on a usage error")
EXAMPLE = "dlbs regressions --db sqlite:///results.db --by exp.code_version --format json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    add_filters(parser)
    parser.add_argument("--format", default="table", choices=("table", "json"),
                        help="json: a list of objects, one per change, then one per series "
                        "whose newest runs computed wrong numbers (direction 'numerics') and, "
                        "with --latest, one per series too noisy for a 10%% drop (direction "
                        "'too noisy')")
    parser.add_argument("--metric", default="results.throughput", help="the fact to judge")
    parser.add_argument("--by", default=None, metavar="AXIS",
                        help="the axis the histories run along (a fact, or 'date'); default "
                             "exp.code_version, or the date when no run has one")
    parser.add_argument("--since", default=None, metavar="DATE",
                        help="only runs on or after this date (ISO 8601, e.g. 2026-11-01)")
    parser.add_argument("--min-change", "--min_change", dest="min_change", type=float,
                        default=0.05, help="smallest relative change reported (default 0.05)")
    parser.add_argument("--latest", action="store_true",
                        help="judge only the newest point of each series against the points "
                             "before it (a CI gate for the run just made): a test of no "
                             "change, Benjamini-Hochberg over the series at --alpha, and the "
                             "estimate beyond --min-change")
    add_alpha(parser, "with --latest: false discovery rate over the series (0.015; one series "
                      "alone: a regression claimed without a change in under 2 histories of "
                      "100)")
    parser.add_argument("--markdown", default=None, metavar="FILE",
                        help="also write a markdown summary (a pull-request comment) to FILE")
    parser.add_argument("--junit", default=None, metavar="FILE",
                        help="also write a JUnit XML file to FILE: a testcase per series, a "
                             "failure per regression, skipped when not judged")
    add_confirm_arguments(parser)

#: What the summary line's counts judged (without and with ``--latest``), named so that they
#: are not read as the other's: ``db page`` shows both, and on one database they differ (a
#: history too short for a change point may have a newest point to judge).
QUESTIONS = ("histories: change points anywhere in each series",
             "newest points: each series' newest point against the points before it")


def run(args: argparse.Namespace) -> int:
    from dlbs.db import open_store
    from dlbs.db.history import judge_newest, load_series_on_axis, regressions

    since = _since(args.since)
    check_min_change(args.min_change)
    if args.latest:
        check_alpha(args.alpha)
    outputs = _outputs(args)
    confirmer = None
    if args.confirm and args.by is None:  # it re-runs code versions: never the date fallback
        args.by = "exp.code_version"
    if args.confirm:
        from dlbs.cli.confirm_args import confirmer_of
        confirmer = confirmer_of(args)
    else:
        _refuse_confirm_options(args)
    store = open_store(args.db, readonly=True)
    try:
        if args.latest:  # the newest points only (db page judges them with the same call)
            newest = judge_newest(store, filters(args), args.metric, args.by, args.min_change,
                                  args.alpha, since)
            loaded, args.by, fallback = newest.loaded, newest.axis, newest.fallback
            judged, broken = newest.judged, newest.broken
        else:
            loaded, args.by, fallback = load_series_on_axis(store, filters(args), args.metric,
                                                            args.by, since=since)
            judged, broken = regressions(loaded.series, args.metric, args.by,
                                         args.min_change), []
        if fallback:
            print(f"note: {fallback}", file=sys.stderr)
        marks = _busy_marks(store, loaded.series, judged, bool(args.latest))
    finally:
        store.close()
    series = loaded.series
    names = _names([*series, *_unseen(broken, series)])
    if confirmer is not None:
        kept = _report_confirmed(args, confirmer, loaded, judged, names, outputs, broken,
                                 marks)
        _said_broken(broken, names, args.by)
        return _exit(args, kept, broken, len(loaded.series))
    if outputs:
        _write_outputs(outputs, _gate(args, names, judged, loaded.note(args.metric, args.by),
                                      broken=broken, marks=marks))
    if args.format == "json":
        emit([c.as_json() for c in judged.changes]
             + [b.as_json() for b in broken] + _noisy_json(args, judged), "json")
    else:
        rows = _marked([_row(c, names[_key(c.parameters)], marks.of(c)) for c in judged.changes])
        if rows:
            emit(rows, "table")
    _summary(args, loaded, judged, names)
    marks.say()
    _said_broken(broken, names, args.by)
    return _exit(args, judged, broken, len(loaded.series))


def _noisy_json(args: argparse.Namespace, judged: Any) -> list[dict[str, Any]]:
    """``--latest``: one JSON object per judged series too noisy for a 10% drop, the figure
    and sentence stderr, the markdown, the JUnit file and ``db page`` give
    (:func:`dlbs.db.gate.noisy_json`)."""
    from dlbs.db.gate import noisy_json

    return [noisy_json(parameters, detectable, args.metric, args.by)
            for parameters, detectable in getattr(judged, "noisy", [])]


def _exit(args: argparse.Namespace, judged: Any, broken: list[Any], series: int) -> int:
    """The exit code (:func:`dlbs.db.changes.gate_exit`), and, when no series was judged,
    the one line that says why and what to do: an empty verdict is not a pass."""
    from dlbs.db.changes import NOTHING_JUDGED_EXIT, gate_exit
    from dlbs.db.gate import nothing_judged

    code = gate_exit(judged, broken)
    if code == NOTHING_JUDGED_EXIT:
        print(nothing_judged(judged, series, bool(args.latest), args.by), file=sys.stderr)
    return code


def _unseen(broken: list[Any], series: list[Any]) -> list[Any]:
    """The series of ``broken`` that have no point (every run of theirs computed wrong
    numbers): named beside the others."""
    from types import SimpleNamespace

    seen = {_key(one.parameters) for one in series}
    return [SimpleNamespace(parameters=b.parameters) for b in broken
            if _key(b.parameters) not in seen]


def _said_broken(broken: list[Any], names: dict[str, str], axis: str) -> None:
    """One stderr line per series whose newest runs computed wrong numbers."""
    from dlbs.db.gate import broken_said

    for one in broken:
        print(f"numerics: {terminal_text(names.get(_key(one.parameters), 'a series'))}: "
              f"{broken_said(one, axis)}", file=sys.stderr)


def _summary(args: argparse.Namespace, loaded: Any, judged: Any, names: dict[str, str]) -> None:
    """The summary line and the notes on stderr."""
    from benchstats.estimate import ESTIMATOR_LEGEND

    from dlbs.db.history import unsteady_newest

    unsteady = unsteady_newest(judged)
    short = len(judged.not_judged) - len(unsteady)
    others = (f", {len(unsteady)} with an unsteady newest run not judged" if unsteady else "")
    print(f"{len(loaded.series)} series, {judged.judged} judged, {short} too short "
          f"to judge{others}; {sum(c.direction == 'regression' for c in judged.changes)} "
          "regression(s), "
          f"{sum(c.direction == 'improvement' for c in judged.changes)} improvement(s) beyond "
          f"{args.min_change:.0%} ({QUESTIONS[bool(args.latest)]})", file=sys.stderr)
    print(f"note: a point is the {ESTIMATOR_LEGEND}; a change is the ratio of such means",
          file=sys.stderr)
    if args.latest:
        from dlbs.db.gate import LISTED, latest_rule, noisy_said

        print(f"note: {latest_rule(args.min_change, args.alpha)}".replace("`", ""),
              file=sys.stderr)
        for parameters, detectable in judged.noisy[:LISTED]:  # passing, but could miss one
            print(f"note: {terminal_text(names.get(_key(parameters), 'a series'))}: "
                  f"{noisy_said(detectable)}", file=sys.stderr)
        if len(judged.noisy) > LISTED:
            print(f"note: ... and {len(judged.noisy) - LISTED} more series too noisy (the "
                  "JUnit file has each one)", file=sys.stderr)
    if loaded.left_out:
        print(f"note: {loaded.note(args.metric, args.by)}", file=sys.stderr)
    if unsteady:
        for parameters, why in unsteady:
            print(f"note: {terminal_text(names.get(_key(parameters), 'a series'))}: {why}",
                  file=sys.stderr)  # a name read from logs: its escapes shown, not run


def _report_confirmed(args: argparse.Namespace, confirmer: Any, loaded: Any, judged: Any,
                      names: dict[str, str], outputs: dict[str, str],
                      broken: list[Any], marks: BusyMarks) -> Any:
    """--confirm: re-run each flagged regression, then report: the confirmed ones and those
    not re-run (not rebuildable) as the gate's regressions, the others apart (stderr, the
    files, and every change with its ``confirmation`` in the JSON). Returns the verdicts
    kept (the exit code is theirs: a regression that stays fails the gate)."""
    from dlbs.bisect.confirm import NOT_CONFIRMED
    from dlbs.cli.confirm_args import flagged_of, say
    from dlbs.db.gate import Rerun
    from dlbs.db.history import Judged

    flagged = [c for c in judged.changes if c.direction == "regression"]
    with (confirmer.output / "runner.txt").open("a") as runner_log:
        confirmer.runner_log = runner_log
        done = confirmer.confirm_all(flagged_of(args, loaded.series, flagged, names), say)
    confirmations = {id(c): one for c, one in zip(flagged, done)}
    dropped = [c for c in flagged if confirmations[id(c)].status == NOT_CONFIRMED]
    gone = {id(c) for c in dropped}
    kept = Judged([c for c in judged.changes if id(c) not in gone], judged.judged,
                  judged.not_judged)
    rerun = Rerun({_change_key(c): one.as_json() for c, one in zip(flagged, done)},
                  [(names[_key(c.parameters)], c, confirmations[id(c)].as_json())
                   for c in dropped])
    if outputs:
        _write_outputs(outputs, _gate(args, names, kept, loaded.note(args.metric, args.by),
                                      rerun, broken, marks))
    if args.format == "json":
        emit([{**c.as_json(), "confirmation": rerun.of(c)} for c in judged.changes]
             + [b.as_json() for b in broken] + _noisy_json(args, judged), "json")
    else:
        rows = _marked([{**_row(c, names[_key(c.parameters)], marks.of(c)),
                         "confirmation": _confirmation_cell(confirmations.get(id(c)))}
                        for c in kept.changes])
        if rows:
            emit(rows, "table")
    _summary(args, loaded, judged, names)
    marks.say()
    for change, one in zip(flagged, done):
        if one.status != "confirmed":
            what = ("not confirmed" if one.status == NOT_CONFIRMED else
                    "not re-run, kept as a flagged regression")
            say(f"{what}: {names[_key(change.parameters)]} {change.last_good} -> "
                f"{change.first_bad}: {one.said()}")
    statuses = [one.status for one in done]
    say(f"confirm: {statuses.count('confirmed')} of {len(done)} regression(s) confirmed by "
        f"a re-run, {statuses.count(NOT_CONFIRMED)} not confirmed, "
        f"{statuses.count('not_rebuildable')} not re-run (kept); logs: {confirmer.output}")
    return kept


def _change_key(change: Any) -> tuple[str, str, str]:
    return (_key(change.parameters), change.last_good, change.first_bad)


def _confirmation_cell(one: Any) -> str:
    if one is None:
        return ""
    if one.ratio is None or one.low is None or one.high is None:
        return one.status
    return f"{one.status} x{one.ratio:.3f} [{one.low:.3f}, {one.high:.3f}]"


def _refuse_confirm_options(args: argparse.Namespace) -> None:
    given = [option for option, value in (("--repo", args.repo), ("--output", args.output),
                                          ("--plan-param", args.plan_params),
                                          ("--plan-config", args.plan_configs)) if value]
    if given:
        raise UsageError(f"{', '.join(given)}: only with --confirm (the re-run of each flagged "
                         "regression); add --confirm or leave them out")


def _names(series: list[Any]) -> dict[str, str]:
    """Each series' name in the table (by its parameters' canonical text), telling apart those
    that differ in a setting beyond the model (``configuration_names``)."""
    from dlbs.db.history import configuration_names
    from dlbs.db.records import canonical

    parameters = [one.parameters for one in series]
    return dict(zip(map(canonical, parameters), configuration_names(parameters)))


def _key(parameters: dict[str, Any]) -> str:
    from dlbs.db.records import canonical

    return canonical(parameters)


def _row(change: Any, name: str, mark: str = "") -> dict[str, Any]:
    from dlbs.db.gate import change_cells

    shown, interval, p_value = change_cells(change)  # the markdown's and JUnit's cells too
    return {"direction": change.direction, "configuration": name,
            "last_good": change.last_good, "first_bad": change.first_bad,
            "change": shown, "ci": interval, "p_value": p_value,
            "together": len(change.affected_together), "mark": mark}


def _marked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, without their ``mark`` column when no row is marked."""
    if any(row["mark"] for row in rows):
        return rows
    return [{k: v for k, v in row.items() if k != "mark"} for row in rows]


@dataclass
class BusyMarks:
    """Which changes name a point with a run made on a busy machine (``#``), and the
    newest points judged (``--latest``, with their series) to count such runs among."""

    marks: dict[int, str]
    newest: list[tuple[Any, Any]]

    def of(self, change: Any) -> str:
        return self.marks.get(id(change), "")

    def counts(self) -> str:
        """``1 of 5 newest points from busy runs; 1 of 2 changes name a point from busy
        runs``, or ``""`` when nothing is marked (the legend's counts, every output's)."""
        from dlbs.db.busy import busy_count

        busy = sum(1 for mark in self.marks.values() if mark)
        counts = [busy_count([p for _, p in self.newest], "newest points")]
        if busy:
            counts.append(f"{busy} of {len(self.marks)} changes name a point from busy runs")
        return "; ".join(c for c in counts if c)

    def busy_newest(self) -> frozenset[str]:
        """The keys (``_key``) of the series whose newest point judged is marked."""
        return frozenset(_key(one.parameters) for one, p in self.newest if p.busy)

    def say(self) -> None:
        """The mark's legend and counts on stderr, where any point is marked."""
        from dlbs.db.busy import BUSY_LEGEND

        said = self.counts()
        if said:
            print(f"note: {BUSY_LEGEND} ({said})", file=sys.stderr)


def _busy_marks(store: Any, series: list[Any], judged: Any, latest: bool) -> BusyMarks:
    """Mark the points the changes name, and with ``--latest`` each newest point judged,
    busy or not (``dlbs.db.busy``): the other points are not read (a history of 100,000
    runs would read every run's facts)."""
    from dlbs.db.busy import change_marks, change_points, mark_busy, newest_points

    newest = newest_points(series) if latest else []
    named = [pair for pairs in change_points(series, judged.changes) for pair in pairs]
    mark_busy(store, series, [*newest, *named])
    marks = change_marks(series, judged.changes)
    for change, mark in zip(judged.changes, marks):
        change.busy = bool(mark)  # in its JSON, and so in the JUnit failure's text
    return BusyMarks({id(c): m for c, m in zip(judged.changes, marks)}, newest)


def _outputs(args: argparse.Namespace) -> dict[str, str]:
    """``--markdown`` and ``--junit`` by option, each checked before the database is read: a
    name that holds a link, a folder or anything but a plain file, or a folder that is not
    there, is a one-line error now rather than after the judgement."""
    outputs = {option: path for option, path in (("--markdown", args.markdown),
                                                  ("--junit", args.junit)) if path}
    if len({os.path.abspath(path) for path in outputs.values()}) < len(outputs):
        raise UsageError("--markdown and --junit name the same file; give two files")
    for option, path in outputs.items():
        try:
            check_writable_target(path)
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise FileNotFoundError(errno.ENOENT, f"its folder {folder} does not exist", path)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, f"its folder {folder} is not writable", path)
        except OSError as err:
            raise _cannot_write(option, path, err) from None
    return outputs


def _gate(args: argparse.Namespace, names: dict[str, str], judged: Any, note: str,
          confirmed: Any = None, broken: list[Any] | None = None,
          marks: BusyMarks | None = None) -> Gate:
    from dlbs.db.gate import Gate

    return Gate(names, judged, args.metric, args.by, args.min_change,
                args.alpha if args.latest else None, note, confirmed, tuple(broken or ()),
                marks.counts() if marks else "",
                marks.busy_newest() if marks else frozenset())


def _write_outputs(outputs: dict[str, str], gate: Gate) -> None:
    """Each file whole or not at all (a fresh name renamed over it; a planted link refused)."""
    from dlbs.db.gate import markdown
    from dlbs.db.gate_junit import junit

    render = {"--markdown": lambda: markdown(gate).encode("utf-8"), "--junit": lambda: junit(gate)}
    for option, path in outputs.items():
        try:
            atomic_write_bytes(path, render[option]())
        except OSError as err:
            raise _cannot_write(option, path, err) from None


def _cannot_write(option: str, path: str, err: OSError) -> UsageError:
    # strerror: the reason alone (safeio's refusals too), not the path again
    return UsageError(f"{option} {path}: cannot write it: {err.strerror or err}")


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text}: not an ISO 8601 date; give e.g. 2026-11-01") from None
    return moment.replace(tzinfo=None)

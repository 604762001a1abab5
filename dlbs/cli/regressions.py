"""``dlbs regressions``: change points in every stored history, each point weighted by its own
interval, confirmed only beyond ``--min-change``; exit 1 when a regression is found."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from dlbs.cli.dbargs import add_db, add_filters, emit, filters
from dlbs.errors import UsageError

HELP = "find regressions (and improvements) in every stored history; exit 1 on a regression"
EXAMPLE = "dlbs regressions --db sqlite:///results.db --by exp.code_version --format json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    add_filters(parser)
    parser.add_argument("--format", default="table", choices=("table", "json"),
                        help="json: a list of objects, one per change")
    parser.add_argument("--metric", default="results.throughput", help="the fact to judge")
    parser.add_argument("--by", default="exp.code_version", metavar="AXIS",
                        help="the axis the histories run along (a fact, or 'date')")
    parser.add_argument("--since", default=None, metavar="DATE",
                        help="only runs on or after this date (ISO 8601, e.g. 2026-11-01)")
    parser.add_argument("--min-change", "--min_change", dest="min_change", type=float,
                        default=0.05, help="smallest relative change reported (default 0.05)")
    parser.add_argument("--latest", action="store_true",
                        help="judge only the newest point of each series against the points "
                             "before it (a CI gate for the run just made); Benjamini-Hochberg "
                             "over the series at --alpha")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="with --latest: false discovery rate over the series (0.05)")


def run(args: argparse.Namespace) -> int:
    from benchstats.latest import WINDOW

    from dlbs.db import open_store
    from dlbs.db.history import latest_changes, load_series, regressions, unsteady_newest

    since = _since(args.since)
    if not 0.0 <= args.min_change < 1.0:
        raise UsageError(f"--min-change {args.min_change}: give a fraction in [0, 1), e.g. 0.05")
    store = open_store(args.db, readonly=True)
    try:
        # --latest judges the newest point against the WINDOW before it: only those are read
        # (two more, so that versions first run at the same moment cannot change the window)
        loaded = load_series(store, filters(args), args.metric, args.by, since=since,
                             newest=WINDOW + 3 if args.latest else None)
    finally:
        store.close()
    series = loaded.series
    if args.latest:
        if not 0.0 < args.alpha < 1.0:
            raise UsageError(f"--alpha {args.alpha}: give a level in (0, 1), e.g. 0.05")
        judged = latest_changes(series, args.metric, args.by, args.min_change, args.alpha)
    else:
        judged = regressions(series, args.metric, args.by, args.min_change)
    names = _names(series)
    if args.format == "json":
        emit([c.as_json() for c in judged.changes], "json")
    else:
        rows = [_row(c, names[_key(c.parameters)]) for c in judged.changes]
        if rows:
            emit(rows, "table")
    unsteady = unsteady_newest(judged)
    short = len(judged.not_judged) - len(unsteady)
    others = (f", {len(unsteady)} with an unsteady newest run not judged" if unsteady else "")
    print(f"{len(series)} series, {judged.judged} judged, {short} too short "
          f"to judge{others}; {sum(c.direction == 'regression' for c in judged.changes)} "
          "regression(s), "
          f"{sum(c.direction == 'improvement' for c in judged.changes)} improvement(s) beyond "
          f"{args.min_change:.0%}", file=sys.stderr)
    if loaded.left_out:
        print(f"note: {loaded.note(args.metric, args.by)}", file=sys.stderr)
    if unsteady:
        for parameters, why in unsteady:
            print(f"note: {names.get(_key(parameters), 'a series')}: {why}", file=sys.stderr)
    return 1 if any(c.direction == "regression" for c in judged.changes) else 0


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


def _row(change: Any, name: str) -> dict[str, Any]:
    low, high = change.ci
    return {"direction": change.direction, "configuration": name,
            "last_good": change.last_good, "first_bad": change.first_bad,
            "change": f"{change.change:+.1%}", "ci": f"[{low:+.1%}, {high:+.1%}]",
            "p_value": f"{change.p_value:.3g}", "together": len(change.affected_together)}


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text}: not an ISO 8601 date; give e.g. 2026-11-01") from None
    return moment.replace(tzinfo=None)

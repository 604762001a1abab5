"""``dlbs db ingest|query|exclude|page|upgrade|rekey``: the results database (docs/database.md)."""
from __future__ import annotations

import argparse
import sys
from functools import cache
from typing import Any

from dlbs.cli.dbargs import (
    add_alpha,
    add_db,
    add_filters,
    add_format,
    check_alpha,
    check_min_change,
    emit,
    filters,
)
from dlbs.db.records import container_image, stored_status
from dlbs.logs.withheld import ci_withheld
from dlbs.params.identity import DERIVED

HELP = ("results database: ingest log folders, query runs, exclude runs, a page, upgrade the "
        "schema, key runs again by today's rules")
EXAMPLE = "dlbs db ingest --db sqlite:///results.db logs/first_sweep"

#: The actions that only read: they open the database read-only (a file one may only read).
READING = ("query", "page")
#: The commands that change a database they expect to exist (never create it on a misspelt
#: path): what each does, as "this command ..." says it.
CHANGING = {"upgrade": "upgrades an existing database", "rekey": "rekeys an existing database",
            "exclude": "marks runs of an existing database"}

COLUMNS = ("id", "model", "phase", "precision", "batch", "device", "device_count", "host",
           "framework_version", "container_image", "code_version", "date", "repeat", "status",
           "throughput", "time", "time_ci95", "ci_withheld", "excluded", "reason", "settings")


@cache
def shown_facts() -> frozenset[str]:
    """Facts shown in a column of their own (or drawn into one): never named again in
    ``settings``. Those of an indexed column shown (``dlbs.db.schema.INDEXED``, each
    parameter's ``db_column`` in config/*.json) and those ``container_image`` is drawn from
    (``dlbs.params.identity.DERIVED``); ``results.status`` among them is an outcome, left out
    of the settings before."""
    from dlbs.db.schema import INDEXED

    return frozenset({fact for fact, column in INDEXED.items() if column in COLUMNS}
                     | set(DERIVED["container_image"]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True,
                                metavar="ingest|query|exclude|page|upgrade|rekey")
    ingest = sub.add_parser("ingest", help="store every run of log folders (idempotent)")
    add_db(ingest)
    ingest.add_argument("inputs", nargs="+", metavar="FOLDER",
                        help="log folders (searched recursively), log files or parsed files")
    query = sub.add_parser("query", help="one row per stored run")
    add_db(query)
    add_filters(query)
    add_format(query)
    query.add_argument("--all-facts", action="store_true",
                       help="with json/jsonl: every fact of each run under 'facts'")
    exclude = sub.add_parser("exclude", help="leave runs out of history and regressions "
                                             "(they stay stored)")
    add_db(exclude)
    exclude.add_argument("run_ids", nargs="+", type=int, metavar="RUN_ID")
    exclude.add_argument("--reason", default=None, help="why (required to exclude)")
    exclude.add_argument("--include", action="store_true", help="undo: include the runs again")
    upgrade = sub.add_parser("upgrade", help="migrate the schema to the newest revision")
    add_db(upgrade)
    rekey = sub.add_parser("rekey", help="key every stored run by today's identity rules "
                                         "(after an upgrade whose changelog says keys changed)")
    add_db(rekey)
    rekey.add_argument("--dry-run", action="store_true",
                       help="count the runs whose key would change; write nothing")
    page = sub.add_parser("page", help="one self-contained HTML page: configurations, their "
                                       "history charts with intervals, the changes found")
    add_db(page)
    add_filters(page)
    page.add_argument("--output", required=True, metavar="DIR",
                      help="folder of the page (index.html)")
    page.add_argument("--metric", default="results.throughput")
    page.add_argument("--by", default=None, metavar="AXIS",
                      help="the axis (default exp.code_version, or the date when no run has one)")
    page.add_argument("--min-change", "--min_change", dest="min_change", type=float,
                      default=0.05)
    add_alpha(page, "the newest points' false discovery rate, as 'dlbs regressions --latest "
                    "--alpha' (0.015)")


def run(args: argparse.Namespace) -> int:
    from dlbs.db import open_store

    if args.what == "exclude" and not args.include:
        check_reason(args.reason)
    if args.what in CHANGING:
        from dlbs.db.connection import refuse_missing
        from dlbs.db.url import resolve
        refuse_missing(resolve(args.db), CHANGING[args.what])
    store = open_store(args.db, readonly=args.what in READING)
    try:
        if args.what == "ingest":
            return _ingest(store, args.inputs)
        if args.what == "query":
            return _query(store, args)
        if args.what == "exclude":
            count = (store.include(args.run_ids) if args.include
                     else store.exclude(args.run_ids, args.reason.strip()))
            print(f"{'included' if args.include else 'excluded'} {count} run(s) in {store.shown}",
                  file=sys.stderr)
            return 0
        if args.what == "page":
            return _page(store, args)
        if args.what == "rekey":
            return _rekey(store, args.dry_run)
        print(f"{store.shown}: schema at the newest revision", file=sys.stderr)
        return 0
    finally:
        store.close()


def check_reason(reason: str | None) -> None:
    """An exclusion's reason: one line of printable text. A line break, or an escape sequence
    (ESC, a bidi control), would be stored and then printed by every command that shows it."""
    from dlbs.errors import UsageError

    text = (reason or "").strip()
    if not text:
        raise UsageError("dlbs db exclude: give --reason TEXT (why these runs are left out)")
    bad = next((ch for ch in text if not ch.isprintable()), None)
    if bad is not None:
        raise UsageError(f"dlbs db exclude --reason: holds the control character "
                         f"{ascii(bad)[1:-1]}; give one line of plain text")


def _ingest(store: Any, inputs: list[str]) -> int:
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total or done % 500 == 0:
            print(f"\ringest: {done}/{total} files", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    result = store.ingest_paths(inputs, progress=progress)
    for problem in [*result.failed, *result.refused]:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{store.shown}: {result.added} new run(s), {result.existing} already stored, "
          f"{len(result.failed)} file(s) unreadable, {len(result.refused)} run(s) refused",
          file=sys.stderr)
    lost = result.failed or result.refused
    if lost and not (result.added or result.existing):
        print("error: dlbs db ingest stored nothing: every input was unreadable or refused "
              "(the warnings above say why)", file=sys.stderr)
        return 1
    return 0


def _rekey(store: Any, dry_run: bool) -> int:
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total:
            print(f"\rrekey: {done}/{total} runs read", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    found = store.rekey(dry_run=dry_run, progress=progress)
    if not found.changed:
        print(f"{store.shown}: every one of {found.runs} run(s) is keyed by today's rules; "
              "nothing changed", file=sys.stderr)
        return 0
    verb = "would change" if dry_run else "changed"
    series = (f"{found.series_before} series" if dry_run else
              f"series {found.series_before} -> {found.series_after}")
    print(f"{store.shown}: {found.runs} run(s) read; {verb} the keyed columns of "
          f"{found.changed} ({found.keys_changed} to another series); {series}"
          + ("; run again without --dry-run to write them" if dry_run else ""),
          file=sys.stderr)
    return 0


def row_of(record: Any, all_facts: bool = False) -> dict[str, Any]:
    facts = record.facts
    row = {
        "id": record.id, "model": facts.get("exp.model"), "phase": facts.get("exp.phase"),
        "precision": facts.get("exp.dtype"), "batch": facts.get("exp.replica_batch"),
        "device": facts.get("exp.device_type"), "device_count": facts.get("exp.num_replicas"),
        "host": facts.get("hw.hostname"), "framework_version": facts.get("exp.framework_version"),
        "container_image": container_image(facts),
        "code_version": facts.get("exp.code_version"),
        "date": record.date.isoformat() if record.date else None,
        "repeat": facts.get("exp.repeat_index"),
        "status": stored_status(facts),  # as stored and filtered on (not_finite: an ok run
        #                                  whose loss or outputs were not finite)
        "throughput": facts.get("results.throughput"), "time": facts.get("results.time"),
        "time_ci95": facts.get("results.time_ci95"),
        # why the interval is withheld (or, in older logs, not one to read): issue 30
        "ci_withheld": ci_withheld(facts), "excluded": record.excluded,
        "reason": record.reason,
    }
    if all_facts:
        row["facts"] = facts
    return row


def _parameters(facts: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters: its facts less outcomes (``results.*``), host facts (``hw.*``),
    what differs between runs by design (``RUN_BOOKKEEPING``: times, ids, paths) and what
    has a column of its own."""
    from dlbs.reports.differences import OUTCOMES, RUN_BOOKKEEPING

    return {k: v for k, v in facts.items() if "." in k
            and not k.startswith((*OUTCOMES, "hw.")) and k not in RUN_BOOKKEEPING | shown_facts()}


def _query(store: Any, args: argparse.Namespace) -> int:
    from dlbs.runner.progress import settings_text, varying_keys

    found = store.runs(filters(args))
    rows = [row_of(r, args.all_facts and args.format in ("json", "jsonl")) for r in found]
    # every parameter that varies among the rows shown, as the progress lines name them
    # (threads 1 and 2 of one model looked identical)
    params = [_parameters(r.facts) for r in found]
    varying = varying_keys(params)
    for row, facts in zip(rows, params):
        row["settings"] = settings_text(facts, varying)
    emit(rows, args.format, COLUMNS)
    return 0


def _page(store: Any, args: argparse.Namespace) -> int:
    from dlbs.db.history import judge_newest, load_series_on_axis, regressions
    from dlbs.db.page import render, write_page
    from dlbs.errors import UsageError

    if not args.output.strip():
        raise UsageError("dlbs db page --output '': give the folder to write the page into")
    check_min_change(args.min_change)
    check_alpha(args.alpha)
    loaded, args.by, fallback = load_series_on_axis(store, filters(args), args.metric, args.by)
    if fallback:
        print(f"note: {fallback}", file=sys.stderr)
    judged = regressions(loaded.series, args.metric, args.by, args.min_change)
    # the gate's verdicts, read and judged as 'regressions --latest' does: the same counts
    newest = judge_newest(store, filters(args), args.metric, args.by, args.min_change,
                          args.alpha)
    _mark_busy(store, loaded.series, newest)
    left_out = loaded.note(args.metric, args.by)
    page = write_page(args.output, render(loaded.series, judged, args.metric, args.by,
                                          store.shown, loaded.runs, left_out, newest))
    print(f"page: {page} ({len(loaded.series)} configurations, {len(judged.changes)} changes "
          f"in the histories; newest points: {newest.judged.judged} of "
          f"{len(newest.loaded.series)} judged, {_count(newest, 'regression')} regression(s), "
          f"{_count(newest, 'improvement')} improvement(s))", file=sys.stderr)
    if left_out:
        print(f"note: {left_out}", file=sys.stderr)
    return 0


def _mark_busy(store: Any, series: list[Any], newest: Any) -> None:
    """Mark each point of the histories, and the newest points and those the gate's changes
    name, with its runs made on a busy machine (``dlbs.db.busy``)."""
    from dlbs.db.busy import change_points, mark_busy, newest_points

    mark_busy(store, series)
    gate = newest.loaded.series
    named = [pair for pairs in change_points(gate, newest.judged.changes) for pair in pairs]
    mark_busy(store, gate, [*newest_points(gate), *named])


def _count(newest: Any, direction: str) -> int:
    return sum(c.direction == direction for c in newest.judged.changes)

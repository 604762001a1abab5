"""``dlbs report``: tables (and charts) of benchmark results from logs or parsed files.

Reads inputs with ``dlbs.logs``, builds a ``Report`` with ``dlbs.reports`` and writes it to
stdout (or ``--output_file``) as text, markdown, CSV, JSON or one HTML page; ``--plot DIR``
writes charts (PNG, SVG or PDF: ``--plot-format``). Diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeio import UnsafeFileError, atomic_write_bytes, atomic_write_text, check_writable_target

from dlbs.cli.argtypes import jobs
from dlbs.cli.parse import program
from dlbs.errors import DLBSError, ReportError, UsageError
from dlbs.logs.select import filter_records, parse_key_list, parse_query
from dlbs.logs.sources import load_records
from dlbs.reports import dlbs_json
from dlbs.reports.aggregate import NOISE_THRESHOLD
from dlbs.reports.build import KINDS, build_report, compare_by_records, compare_records
from dlbs.reports.model import Report
from dlbs.reports.provenance import provenance
from dlbs.reports.render import FORMATS, RENDERERS
from dlbs.reports.verdicts import ALPHA, CORRECTION, CORRECTION_NAMES, MIN_CHANGE, Policy

#: Chart formats of ``--plot-format`` (as ``dlbs.reports.plots.FORMATS``; that module imports
#: matplotlib, which only a report with charts needs).
CHART_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")

if TYPE_CHECKING:
    from dlbs.reports.plots import Chart

HELP = "report benchmark results as tables and charts (regular, weak/strong scaling, compare)"
EXAMPLE = ("dlbs report ./logs --recursive --type weak --format html --output_file report.html "
           "--plot charts/")
LOG = logging.getLogger("dlbs.report")
#: DLBS's reporter's report types, and ours that they are.
DLBS_KINDS = {"weak-scaling": "weak", "strong-scaling": "strong", "exploration": "regular"}
#: DLBS's reporter's --target_variable values.
TARGET_VARIABLES = ("results.time", "results.throughput")


def dlbs_aliases(args: argparse.Namespace) -> None:
    """Map DLBS reporter options onto ours: ``--summary_file`` is an input and its report
    types are ours. ``--target_variable`` changes nothing: our reports show throughput and
    time (regular) or throughput, speedup and efficiency (scaling), which DLBS's
    ``results.time`` gives alike (efficiency = time_1 / time_N at a fixed replica batch; a
    record without a throughput gets effective batch x 1000 / time). ``--query`` is DLBS's
    strict filter, ``--report_file`` DLBS's JSON of batch times (``dlbs_json``)."""
    args.inputs = [*args.inputs, *args.summary_file]
    args.kind = DLBS_KINDS.get(args.kind, args.kind)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``report``."""
    parser.prog = f"{program()} report"
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="log files, folders of logs, parsed files (.json, .jsonl, .csv...)")
    parser.add_argument("--recursive", action="store_true", help="search sub-folders too")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="read the runs from a results database (docs/database.md) instead "
                             "of logs; excluded runs are left out; with --compare, BASE and NEW "
                             "are JSON objects of facts, e.g. '{\"exp.code_version\": \"v1\"}'")
    parser.add_argument("--type", dest="kind", default="regular",
                        choices=[*KINDS, *DLBS_KINDS],
                        help="regular: model x device by replica batch; weak/strong: scaling by "
                             "number of devices; summary: statistics of every experiment "
                             "(DLBS's names weak-scaling, strong-scaling, exploration work too)")
    parser.add_argument("--summary_file", "--summary-file", action="append", default=[],
                        metavar="FILE", help="a parsed file to report on, as DLBS's reporter "
                                             "takes it (same as naming it as an INPUT)")
    parser.add_argument("--target_variable", "--target-variable", default=None,
                        choices=TARGET_VARIABLES,
                        help="DLBS's reporter option, accepted: our reports show throughput "
                             "and time, speedup and efficiency, which either variable gives")
    parser.add_argument("--rows", default=None, help="pivot rows (comma-separated columns)")
    parser.add_argument("--cols", default=None, help="pivot columns (comma-separated)")
    parser.add_argument("--value", default=None,
                        help="pivot value: throughput, time or any numeric log key")
    parser.add_argument("--compare", nargs=2, metavar=("BASE", "NEW"), default=None,
                        help="speedup of NEW over BASE per experiment (two sets of runs measured "
                             "in separate sessions), with an interval and a verdict judged over "
                             "the whole table")
    parser.add_argument("--compare-by", "--compare_by", nargs=3, dest="compare_by",
                        metavar=("PARAM", "BASE", "NEW"), default=None,
                        help="compare two values of one parameter within one session (the "
                             "INPUT logs of one interleaved sweep), e.g. --compare-by "
                             "exp.cpu_threads 1 2")
    parser.add_argument("--format", default="text", choices=FORMATS, help="output format")
    parser.add_argument("--output_file", "--output-file", default=None,
                        help="write the report here instead of stdout")
    parser.add_argument("--plot", metavar="DIR", default=None,
                        help="write the charts into DIR (PNG unless --plot-format says)")
    parser.add_argument("--plot-format", "--plot_format", dest="plot_format", action="append",
                        default=None, metavar="FORMATS",
                        help="with --plot: the charts' formats, comma-separated or the flag "
                             "repeated: png, svg (text as paths), pdf (fonts embedded); "
                             "default png")
    parser.add_argument("--noise_threshold", "--noise-threshold", type=float,
                        default=NOISE_THRESHOLD,
                        help="coefficient of variation above which a value is marked noisy "
                             "(default %(default)s)")
    parser.add_argument("--min_change", "--min-change", type=float, default=MIN_CHANGE,
                        help="with --compare/--compare-by: smallest relative change called "
                             "faster/slower: the whole interval must lie beyond 1 +/- this "
                             "(default %(default)s: any change the interval establishes)")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help="with --compare/--compare-by: error level of the table's verdicts "
                             "(default %(default)s)")
    parser.add_argument("--correction", default=CORRECTION, choices=list(CORRECTION_NAMES),
                        help="with --compare/--compare-by: multiple-comparison correction over "
                             "the cells judged: bh (Benjamini-Hochberg, false discovery rate; "
                             "default), holm (family-wise error rate), none")
    parser.add_argument("--session_cv", "--session-cv", type=float, default=None,
                        help="with --compare: the CV between sessions of the same code, known "
                             "from repeated sessions (e.g. 0.01), assumed for a side measured in "
                             "one session and added to its variance (default 0.0225); a side of two "
                             "or more sessions (sys.timestamp) has it estimated from its runs")
    parser.add_argument("--paired", action="store_true",
                        help="with --compare-by: a paired t over rounds (exp.repeat_index) in "
                             "place of Welch's t; more power when rounds differ a lot, less "
                             "when they do not (see docs/reports.md)")
    parser.add_argument("--filter_query", "--filter-query", default=None,
                        help="JSON object of key: condition selecting the experiments (a "
                             "record without the key is kept, as by DLBS's logparser)")
    parser.add_argument("--query", default=None, metavar="JSON",
                        help="DLBS's summary builder filter: as --filter_query, but a record "
                             "without the key is left out")
    parser.add_argument("--report_file", "--report-file", default=None, metavar="FILE",
                        help="also write DLBS's summary-builder JSON of batch times here "
                             "(--type exploration|regular, weak-scaling|weak, "
                             "strong-scaling|strong)")
    parser.add_argument("--ignore_errors", "--ignore-errors", action="store_true",
                        help="skip unusable files with a warning")
    parser.add_argument("--jobs", type=jobs, default=None, help="parser processes")


def _load(names: list[str], args: argparse.Namespace, query: dict[str, Any]
          ) -> list[dict[str, Any]]:
    if args.db:
        records = _db_records(args.db, names)
        names = [f"the database{' runs matching ' + ' '.join(names) if names else ''}"]
    else:
        records = load_records(names, args.recursive, args.jobs, args.ignore_errors)
    selected = list(filter_records(records, query))
    strict = parse_query(args.query, "--query")
    selected = list(filter_records(selected, strict, policy="strict", option="--query"))
    if not selected:
        if records:
            raise ReportError(f"no benchmark records in {', '.join(names)} match the filter")
        raise ReportError(f"no benchmark records in {', '.join(names)}")
    return selected


def _db_records(url: str, filters: list[str]) -> list[dict[str, Any]]:
    """The runs of a results database (excluded ones left out) as the log parser gives
    them, iteration times included; ``filters`` are JSON objects of facts (all must match)."""
    import json

    from dlbs.db import open_store

    wanted: dict[str, Any] = {}
    for text in filters:
        try:
            data = json.loads(text)
        except ValueError:
            raise UsageError(f"--db: '{text}' is not a JSON object of facts; give e.g. "
                             '\'{"exp.model": "resnet18"}\'') from None
        if not isinstance(data, dict):
            raise UsageError(f"--db: '{text}' is not a JSON object of facts")
        wanted.update(data)
    store = open_store(url, readonly=True)
    try:
        runs = store.runs(wanted, include_excluded=False)
        times = store.times([run.id for run in runs])
    finally:
        store.close()
    out = []
    for run in runs:
        record = dict(run.facts)
        if run.id in times:
            record["results.time_data"] = times[run.id]
        out.append(record)
    return out


def _pivot_args(args: argparse.Namespace) -> tuple[list[str], list[str], str] | None:
    rows, cols = parse_key_list(args.rows), parse_key_list(args.cols)
    if not (rows or cols or args.value):
        return None
    if not (rows and cols):
        raise UsageError("--rows and --cols go together (with an optional --value)")
    return rows, cols, args.value or "throughput"


def make_report(args: argparse.Namespace) -> Report:
    """Build the report the arguments ask for."""
    dlbs_aliases(args)
    query = parse_query(args.filter_query)
    parse_query(args.query, "--query")  # a bad one fails before any log is read
    pivot = _pivot_args(args)
    comparing = args.compare or args.compare_by
    if args.report_file and (comparing or pivot or args.kind not in dlbs_json.BATCH_TYPES):
        raise UsageError("--report_file writes DLBS's JSON of batch times of a --type "
                         "exploration (regular), weak-scaling or strong-scaling report")
    if args.compare and args.compare_by:
        raise UsageError("--compare and --compare-by are two ways to compare: choose one")
    if args.session_cv is not None and not args.compare:
        raise UsageError("--session_cv applies to --compare BASE NEW (separate sessions)")
    if args.paired and not args.compare_by:
        raise UsageError("--paired applies to --compare-by (runs paired by round in one session)")
    if args.db and args.inputs and not args.compare:
        raise UsageError("--db reads the runs from the database: drop the log inputs (filter "
                         "with --filter_query/--query)")
    if args.db and not args.compare:
        args.inputs = []
    if args.compare_by:
        if not args.inputs and not args.db:
            raise UsageError("--compare-by PARAM BASE NEW needs the logs of one session")
        records = _load(args.inputs, args, query)
        param, base_value, new_value = args.compare_by
        policy = Policy(args.min_change, args.alpha, args.correction, None, False, args.paired)
        report = compare_by_records(records, param, base_value, new_value,
                                    args.noise_threshold, policy)
        return _with_provenance(report, records, args.inputs)
    if args.compare:
        if args.inputs:
            raise UsageError("--compare BASE NEW takes its inputs itself; drop the other inputs")
        base, new = (_load([name], args, query) for name in args.compare)
        policy = Policy(args.min_change, args.alpha, args.correction, args.session_cv)
        report = compare_records(base, new, args.noise_threshold, policy=policy)
        if args.db:  # the sides are filters, not paths
            return _with_provenance(report, [*base, *new], [], _db_inputs(args.compare))
        return _with_provenance(report, [*base, *new], args.compare)
    if not args.inputs and not args.db:
        raise UsageError("name the logs or parsed files to report on (or --compare BASE NEW)")
    records = _load(args.inputs, args, query)
    report = build_report(records, args.kind, pivot, args.noise_threshold)
    return _with_provenance(report, records, args.inputs)


def _db_inputs(filters: list[str]) -> list[str]:
    """What a report from the database read, as its provenance says it: each side's filter
    as written (never the URL: it may hold a password)."""
    return [f"database runs matching {text}" for text in filters]


def _with_provenance(report: Report, records: list[dict[str, Any]], inputs: list[str],
                     read: list[str] | None = None) -> Report:
    """Attach where and how the records were measured (``inputs``: paths; ``read``: what
    was read instead, as it is shown), and which dlbs made the report."""
    from dlbs.runner.provenance import report_maker

    folders = [os.path.abspath(name) for name in inputs] + list(read or [])
    report.provenance = provenance(records, folders, report_maker())
    return report


def plot_formats(values: list[str] | None) -> list[str]:
    """The formats ``--plot-format`` names (each once, in order; default png); an unknown
    one is a usage error."""
    names = [name.strip().lower() for value in values or ["png"] for name in value.split(",")]
    bad = [name for name in names if name not in CHART_FORMATS]
    if bad:
        raise UsageError(f"--plot-format: unknown format '{','.join(bad)}'; choose from "
                         f"{', '.join(CHART_FORMATS)} (comma-separated, e.g. png,svg,pdf)")
    return list(dict.fromkeys(names))


def _charts(report: Report, args: argparse.Namespace, formats: list[str]) -> list[Chart]:
    """The report's charts when the HTML page or ``--plot`` needs them (else none): in the
    ``--plot`` formats, and PNG for the HTML page."""
    if args.format != "html" and not args.plot:
        return []
    from dlbs.reports.plots import charts  # matplotlib only when needed
    drawn = (formats if args.plot else []) + (["png"] if args.format == "html" else [])
    return charts(report, list(dict.fromkeys(drawn)))


def _render(report: Report, args: argparse.Namespace, made: list[Chart]) -> str:
    if args.format != "html":
        return RENDERERS[args.format](report)
    from dlbs.reports.html import to_html
    return to_html(report, made)


def _plot_error(folder: str, err: OSError) -> ReportError:
    why = str(err) if isinstance(err, UnsafeFileError) else (err.strerror or str(err))
    return ReportError(f"--plot: cannot write charts to '{folder}': {why}")


def _chart_paths(folder: str, made: list[Chart], formats: list[str]) -> list[Path]:
    """The chart files ``--plot`` writes, each refused before anything is written when
    something is planted at its name (or the folder's name holds something else)."""
    paths = [Path(folder) / chart.file_name(fmt) for chart in made for fmt in formats]
    try:
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise NotADirectoryError(20, "Not a directory", folder)
        for path in paths:
            check_writable_target(path)
    except OSError as err:
        raise _plot_error(folder, err) from None
    return paths


def _write_charts(folder: str, paths: list[Path], made: list[Chart], formats: list[str]
                  ) -> None:
    images = [chart.images[fmt] for chart in made for fmt in formats]  # as ``_chart_paths``
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for path, image in zip(paths, images):
            atomic_write_bytes(path, image)  # a fresh name renamed over it
    except OSError as err:
        raise _plot_error(folder, err) from None


def _write(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        atomic_write_text(path, text)  # a fresh name renamed over it; a planted link refused
    except OSError as err:
        raise DLBSError(f"cannot write report to '{path}': {err.strerror or err}") from None


def _check_targets(*paths: str | None) -> None:
    """Refuse, before anything is written, an output whose name holds a planted link, a FIFO
    or a directory (each file is refused again when it is written)."""
    for path in paths:
        if path:
            try:
                check_writable_target(path)
            except OSError as err:
                raise DLBSError(f"cannot write report to '{path}': {err.strerror or err}") \
                    from None


def run(args: argparse.Namespace) -> int:
    """Build, render and write the report (and its charts)."""
    from dlbs.reports.build import check_policy
    from dlbs.reports.verdicts import Policy

    if not args.noise_threshold >= 0:  # NaN included
        raise UsageError("--noise_threshold must be >= 0 (e.g. 0.05 for 5%)")
    # checked whatever the report's kind: a value out of range is a mistake even where it
    # would not be used (a review of issue 56 found '--alpha 2' accepted without a word)
    check_policy(Policy(args.min_change, args.alpha, args.correction, args.session_cv))
    formats = plot_formats(args.plot_format)
    if args.plot_format and not args.plot:
        raise UsageError("--plot-format applies to --plot DIR (the HTML page embeds PNG)")
    _check_targets(args.report_file, args.output_file)
    report = make_report(args)
    for line in report.warnings:  # runs left out of every statistic, by log (the note counts)
        LOG.warning("%s", line)
    made = _charts(report, args, formats)
    text = _render(report, args, made)
    summary = json.dumps(dlbs_json.summary_json(report), indent=4) + "\n" \
        if args.report_file else ""
    # Every output is checked before any is written: one refused, nothing is written.
    _check_targets(args.report_file, args.output_file)
    paths = _chart_paths(args.plot, made, formats) if args.plot else []
    if args.plot:  # before the report: a bad --plot folder fails with nothing written
        _write_charts(args.plot, paths, made, formats)
        LOG.info("wrote %d chart(s) to %s", len(paths), args.plot)
    if args.report_file:
        _write(summary, args.report_file)
    _write(text, args.output_file)
    return 0

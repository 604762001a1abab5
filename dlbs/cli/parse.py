"""``dlbs parse`` (also ``logparser``): parse experiment logs into a JSON, JSONL or CSV file.

Reads log files and folders, filters and projects the records, and writes them to
``--output_file`` (format from its name) or as JSON to stdout: ``logparser`` prints DLBS's
plain list of records (``json.dump(records, indent=4, sort_keys=True)``, as DLBS's logparser),
``dlbs parse`` the ``{"data": [...]}`` of a ``.json`` file. Warnings go to stderr. DLBS's
options are all accepted: ``--filter_query`` (a missing key matches, as DLBS's),
``--filter_params``, ``-P`` (parameters added, ``${key}`` naming a key of the record),
``--overwrite`` (an output file is always replaced, atomically).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from dlbs.cli.argtypes import jobs, positive_count
from dlbs.errors import UsageError
from dlbs.logs.parser import is_failed
from dlbs.logs.select import (
    extend,
    filter_records,
    having,
    parse_extension,
    parse_key_list,
    parse_query,
    project,
)
from dlbs.logs.sources import load_records
from dlbs.logs.store import (
    FORMATS,
    check_targets,
    dump_records,
    file_format,
    write_records,
)

HELP = "parse experiment logs into a JSON, JSONL or CSV file of records"
EXAMPLE = ("logparser ./logs --recursive --output_file results.json "
           "--filter_query '{\"exp.model\": [\"resnet50\", \"alexnet\"]}' "
           "--output_params 'exp.model,exp.replica_batch,results.*'")
FAILED_CHOICES = ("keep", "discard", "keep_separately")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``parse``."""
    # DLBS's logparser prints a plain list; ``dlbs parse`` the {"data": [...]} of a .json file
    parser.set_defaults(plain_list=parser.prog == "logparser")
    if parser.prog != "logparser":
        parser.prog = f"{program()} parse"
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="log files and folders of *.log files (and *.log.gz named "
                             "explicitly)")
    parser.add_argument("--recursive", action="store_true",
                        help="search folders and all their sub-folders")
    parser.add_argument("--output_file", "--output-file", default=None,
                        help=f"write records here; format from the name ({', '.join(FORMATS)}); "
                             "default: JSON on stdout")
    parser.add_argument("--output_params", "--output-params", default=None,
                        help="keep only these keys (comma-separated, globs allowed: 'results.*')")
    parser.add_argument("--filter_query", "--filter-query", default=None,
                        help="JSON object of key: condition; keep the records matching all "
                             "(a record without the key is kept, as in DLBS)")
    parser.add_argument("--filter_params", "--filter-params", default=None, metavar="KEYS",
                        help="keep only the records that have all these keys (comma-separated; "
                             "DLBS's option)")
    parser.add_argument("-P", dest="extend", action="append", default=[], metavar="JSON",
                        help="add parameters to every record kept, as DLBS's logparser: "
                             "-P'{\"exp.my_summary\": \"${exp.model_title} ${results.time}\"}' "
                             "(${key} is a key of the record; repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="DLBS's option, accepted: the output file is always replaced "
                             "(atomically)")
    parser.add_argument("--failed_benchmarks", "--failed-benchmarks", default="discard",
                        choices=FAILED_CHOICES,
                        help="what to do with failed benchmarks (status other than ok): "
                             "discard (DLBS's default; how many is said on stderr), keep, or "
                             "keep_separately (written to <output>_failed<ext>)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--benchmarks_per_file", "--benchmarks-per-file", type=positive_count,
                       default=None,
                       metavar="N", help="at most N records per output file: <output>_0<ext>, "
                                         "<output>_1<ext>... (as DLBS; needs --output_file)")
    split.add_argument("--num_output_files", "--num-output-files", type=positive_count,
                       default=None,
                       metavar="N", help="split the records evenly over N output files "
                                         "<output>_0<ext>... (as DLBS; needs --output_file)")
    parser.add_argument("--ignore_errors", "--ignore-errors", action="store_true",
                        help="skip unusable files (unreadable, not a log) with a warning")
    parser.add_argument("--jobs", type=jobs, default=None,
                        help="worker processes (default: all CPUs)")


def failed_path(output: str) -> str:
    """``results.json`` -> ``results_failed.json`` (the file for failed benchmarks)."""
    fmt = file_format(output) or Path(output).suffix
    return output[: len(output) - len(fmt)] + "_failed" + output[len(output) - len(fmt):]


def _split(records: list[dict[str, Any]], policy: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if policy == "keep":
        return records, []
    good = [r for r in records if not is_failed(r)]
    failed = [r for r in records if is_failed(r)] if policy == "keep_separately" else []
    return good, failed


def _check(args: argparse.Namespace) -> None:
    if args.output_file and file_format(args.output_file) is None:
        raise UsageError(f"--output_file '{args.output_file}': name must end with one of "
                         f"{', '.join(FORMATS)}")
    if args.failed_benchmarks == "keep_separately" and not args.output_file:
        raise UsageError("--failed_benchmarks keep_separately needs --output_file")
    for name in ("benchmarks_per_file", "num_output_files"):
        value = getattr(args, name)
        if value is not None and (value < 1 or not args.output_file):
            raise UsageError(f"--{name} needs a positive number and --output_file")


def split_outputs(records: list[dict[str, Any]], output: str, per_file: int | None,
                  num_files: int | None) -> list[tuple[str, list[dict[str, Any]]]]:
    """The output files and their records: one file, or DLBS's ``<stem>_<i><ext>`` parts."""
    if per_file is None and num_files is None:
        return [(output, records)]
    per = per_file or max(1, math.ceil(len(records) / (num_files or 1)))
    fmt = file_format(output) or ""
    stem = output[: len(output) - len(fmt)]
    chunks = [records[i:i + per] for i in range(0, len(records), per)] or [[]]
    return [(f"{stem}_{i}{fmt}", chunk) for i, chunk in enumerate(chunks)]


def program() -> str:
    """The name this command was called by, for usage lines: ``experimenter`` or ``dlbs``."""
    name = os.path.basename(sys.argv[0] or "")
    return "experimenter" if name.startswith("experimenter") else "dlbs"


def _extended(records: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [extend(r, params, str(r.get("exp.log_file", "a record"))) for r in records]


def run(args: argparse.Namespace) -> int:
    """Parse the inputs and write the records."""
    _check(args)
    query = parse_query(args.filter_query)
    required = parse_key_list(args.filter_params)
    params = parse_extension(args.extend)
    records = load_records(args.inputs, args.recursive, args.jobs, args.ignore_errors)
    selected = list(having(filter_records(records, query), required))
    good, failed = _split(selected, args.failed_benchmarks)
    if args.failed_benchmarks == "discard" and len(good) < len(selected):
        left = len(selected) - len(good)
        print(f"logparser: {left} failed benchmark{'s' if left > 1 else ''} (status other than "
              "ok) left out; --failed_benchmarks keep keeps them", file=sys.stderr)
    good, failed = _extended(good, params), _extended(failed, params)
    keys = parse_key_list(args.output_params)
    good = [project(r, keys) for r in good]
    if not args.output_file:
        if args.plain_list:  # DLBS's logparser prints a plain list
            json.dump(good, sys.stdout, indent=4, sort_keys=True)
            sys.stdout.write("\n")
        else:
            dump_records(good, ".json", sys.stdout)
        return 0
    outputs = split_outputs(good, args.output_file, args.benchmarks_per_file,
                            args.num_output_files)
    if args.failed_benchmarks == "keep_separately":
        outputs.append((failed_path(args.output_file), [project(r, keys) for r in failed]))
    check_targets(path for path, _ in outputs)  # one planted link: nothing is written
    written = []
    for path, part in outputs:
        write_records(part, path)
        written.append(path)
    if len(written) > 1:
        print(f"logparser: wrote {', '.join(written)}", file=sys.stderr)
    return 0

"""``experimenter print``: the expanded plan on stdout (JSON list, JSON lines or a table).

JSON and JSON lines are streamed: each experiment is written (and flushed) as soon as it is
expanded, so the first one appears at once and memory stays flat however large the plan. Only
data goes to stdout; diagnostics go to stderr. This module never runs anything.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from itertools import compress
from json.encoder import encode_basestring_ascii as encode_string
from operator import is_not
from typing import IO, Any

from dlbs.cli.planargs import add_plan_arguments, count_built_runs, load_experiments, open_plan
from dlbs.engine import build_plan, expand_experiment
from dlbs.engine.expand import repeat_count

HELP = "print the expanded plan (every experiment with all its parameters) as JSON"
EXAMPLE = ("experimenter print -Pexp.model=resnet50 -Vexp.replica_batch='[16, 32]' "
           "--format jsonl")

log = logging.getLogger(__name__)

#: Longest value shown in a table cell; longer values are cut with an ellipsis.
MAX_CELL = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plan options and the output format."""
    add_plan_arguments(parser)
    parser.add_argument("--format", choices=("json", "jsonl", "table"), default="json",
                        help="json: one JSON list (default); jsonl: one experiment a line; "
                             "table: the parameters that differ between experiments")
    parser.add_argument("--count", action="store_true",
                        help="print only the number of experiments in the plan")


def count_runs(args: argparse.Namespace) -> int:
    """Experiments the plan runs, repeats included, as ``print`` would list them (exact, and
    never refused by ``--max-experiments``: it is how to learn a plan's size).

    A plan built from configs whose ``exp.repeat`` values are literal is counted without
    building every experiment (``count_plan``: three 200-value variables, 8 million
    experiments, in a fraction of a second). Otherwise each built experiment is looked at, in
    constant memory, and only those whose ``exp.repeat`` is not a literal integer are
    expanded. A plan that gives single runs itself (an ``exp.repeat_index`` other than a
    literal 0, such as a plan printed by ``print``) is counted by expanding it all, since which
    runs it already holds decides what the plan adds.
    """
    source = open_plan(args)
    if source.config is not None:
        counted = count_built_runs(source.config)
        if counted is not None:
            return counted
        source.experiments = build_plan(source.config)
    count = 0
    for experiment in source.experiments:
        if experiment.get("exp.repeat_index", 0) != 0:
            args.max_experiments = 0  # counting, not refusing
            return sum(1 for _ in load_experiments(args))
        repeat = experiment.get("exp.repeat", 1)
        if isinstance(repeat, str):
            repeat = expand_experiment(experiment, source.specs, source.environ).get(
                "exp.repeat", 1)
        count += repeat_count({"exp.repeat": repeat})
    return count


def run(args: argparse.Namespace) -> int:
    """Print the plan in the chosen format; return 0 (1: the table showed a memory plan that
    cannot fit its ``exp.device_memory_gb``, refused on stderr as ``validate`` refuses it)."""
    started = time.perf_counter()
    out = sys.stdout
    refused: list[str] = []
    notes: list[str] = []
    if args.count:
        count = count_runs(args)
        out.write(f"{count}\n")
    elif args.format == "table":
        count = write_table(out, load_experiments(args, differs_here=notes.append), refused)
    else:
        writer = {"json": write_json, "jsonl": write_jsonl}[args.format]
        count = writer(out, load_experiments(args, differs_here=notes.append))
    out.flush()
    for note in notes:
        print(note, file=sys.stderr)
    log.info("%d experiments in %.2f s", count, time.perf_counter() - started)
    for line in refused:
        print(f"error: {line}", file=sys.stderr)
    return 1 if refused else 0


def write_jsonl(out: IO[str], experiments: Iterable[Mapping[str, Any]]) -> int:
    """Write one compact JSON object a line, flushing after each; return the count."""
    count = 0
    encode = LineEncoder().encode
    for experiment in experiments:
        out.write(encode(experiment) + "\n")
        out.flush()
        count += 1
    return count


#: Values whose JSON text follows from the object alone (none can change in place).
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: Values whose JSON text follows from their type and value (``==`` within a type): their text
#: is kept by place, type and value (a float is not: ``0.0 == -0.0``).
_KEYED = frozenset({str, int, bool, type(None)})
#: Texts kept at most (the plan's values that recur: a GPU list's, a batch's...), the longest
#: string value kept, and the most characters of texts kept (counted by their lengths).
_TEXTS_LIMIT, _TEXT_LENGTH, TEXTS_BUDGET = 50_000, 1_000, 8_000_000


class LineEncoder:
    """``json.dumps`` of one experiment after another, to the byte, re-encoding only the values
    that are not the very objects the previous experiment held: the experiments of a plan share
    most values (expansion hands on the unchanged ones), and encoding them all again was a
    third of ``print --format jsonl``'s time. A value that changed takes the text it had the
    last time it held that place (a GPU list's dozen values recur once the list does)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: list[Any] = []
        self.parts: list[str] = []
        self.containers: set[int] = set()  # where a list or dict is: encoded every time
        self.texts: dict[tuple[int, type, Any], str] = {}  # (place, type, value) -> its text
        self.chars = 0  # characters of the texts kept and of their values

    def encode(self, experiment: Mapping[str, Any]) -> str:
        """Return ``json.dumps(experiment)``."""
        keys, values = list(experiment), list(experiment.values())
        changed: Iterable[int]
        if keys != self.keys:
            self.keys, self.parts, self.containers, self.texts = keys, [""] * len(keys), set(), {}
            self.chars = 0
            changed = range(len(keys))
        else:
            changed = compress(range(len(values)), map(is_not, values, self.values))
            if self.containers:
                changed = {*changed, *self.containers}
        parts, containers, texts = self.parts, self.containers, self.texts
        for index in changed:
            value = values[index]
            kind = value.__class__
            if kind in _KEYED and (kind is not str or len(value) <= _TEXT_LENGTH):
                place = (index, kind, value)
                text = texts.get(place)
                if text is None:
                    text = _pair(keys[index], value)
                    chars = len(text) + (len(value) if kind is str else 0)
                    if len(texts) >= _TEXTS_LIMIT or self.chars + chars > TEXTS_BUDGET:
                        texts.clear()
                        self.chars = 0
                    texts[place] = text
                    self.chars += chars
                parts[index] = text
                containers.discard(index)
                continue
            parts[index] = _pair(keys[index], value)
            if kind in _SCALARS:
                containers.discard(index)
            else:
                containers.add(index)
        self.values = values
        return "{" + ", ".join(parts) + "}"


def _pair(key: Any, value: Any) -> str:
    """``"key": value`` as ``json.dumps`` writes it within an object."""
    if key.__class__ is not str or value.__class__ not in _SCALARS:
        return json.dumps({key: value})[1:-1]
    if value.__class__ is str:
        return f"{encode_string(key)}: {encode_string(value)}"
    return f"{encode_string(key)}: {json.dumps(value)}"


def write_json(out: IO[str], experiments: Iterable[Mapping[str, Any]]) -> int:
    """Write one JSON list, streamed element by element (indented); return the count."""
    count = 0
    for experiment in experiments:  # "[" comes with the first one: an error leaves stdout empty
        text = json.dumps(experiment, indent=2).replace("\n", "\n  ")
        out.write((",\n  " if count else "[\n  ") + text)
        out.flush()
        count += 1
    out.write("\n]\n" if count else "[]\n")
    return count


def write_table(out: IO[str], experiments: Iterable[Mapping[str, Any]],
                refused: list[str] | None = None) -> int:
    """Write a text table of the parameters whose values differ between experiments.

    A one-experiment plan (or one where nothing differs) is shown as name/value rows. A
    Llama training step's memory plan of a rank is a column; one that cannot fit its
    ``exp.device_memory_gb`` is marked ``refused`` there and its refusal (the benchmark's own
    line, with the smallest change that fits) goes to ``refused``.
    """
    rows = list(experiments)
    columns = varying_columns(rows)
    plans = _plans(rows, refused if refused is not None else [])
    if rows and not columns:
        extra = [[PLAN_COLUMN, plans[0]]] if plans[0] else []
        lines = _format_rows(["parameter", "value"],
                             [[name, _cell(value)] for name, value in rows[0].items()] + extra)
    else:
        shown = [PLAN_COLUMN] if any(plans) else []
        lines = _format_rows(["#"] + columns + shown,
                             [[str(index)] + [_cell(row.get(name)) for name in columns]
                              + ([plans[index]] if shown else [])
                              for index, row in enumerate(rows)])
    out.write("\n".join(lines) + "\n")
    return len(rows)


#: The column of a rank's memory plan (a Llama's training step), in GB.
PLAN_COLUMN = "memory plan GB/rank (10^9 B, a floor): w+g+o+act+buf, peak"


def _plans(rows: list[Mapping[str, Any]], refused: list[str]) -> list[str]:
    """Each experiment's memory plan of a rank, ``4.0+4.0+8.0+33.3+3.8, 45.2`` (the parts,
    then the peak; '' for none: the benchmark plans a Llama's training step only), with
    ``refused`` after it when the peak is above the experiment's ``exp.device_memory_gb``
    (whose refusal is added to ``refused``). Without that limit nothing is judged here: the
    device is the host's that runs it (``validate`` judges one this host runs)."""
    from dlbs.experiment import Experiment
    from dlbs.launchers.preflight import (
        PLAN_PARTS,
        benchmark_memory_plan,
        gb_text,
        memory_refusals,
    )

    texts = []
    for row in map(Experiment.of, rows):
        found = benchmark_memory_plan(row)
        if found is None:
            texts.append("")
            continue
        text = ("+".join(gb_text(found[p]) for p in PLAN_PARTS[:-1])
                + f", {gb_text(found['peak'])}")
        lines = memory_refusals(row)
        refused.extend(lines)
        texts.append(text + (" refused" if lines else ""))
    return texts


def varying_columns(rows: list[Mapping[str, Any]]) -> list[str]:
    """Return the parameter names whose values are not the same in every row, in first-seen
    order."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    first = rows[0] if rows else {}
    return [name for name in names
            if any(name not in row or row[name] != first.get(name) for row in rows)]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


def _format_rows(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return [line(header), line(["-" * width for width in widths])] + [line(row) for row in rows]

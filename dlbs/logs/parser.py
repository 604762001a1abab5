"""Turn one experiment log into one record: a flat ``{dotted.key: value}`` dict.

The line format is defined once, in ``pytorch_benchmarks.facts`` (``parse_fact``); this module
only walks a file's lines, keeps the last value of each key, turns malformed fact lines into
warnings (file and line) and marks truncated logs (a killed run) as failed. Damage stays local:
a line with a NUL byte or bytes that are not UTF-8, a value nested too deep, a non-finite
number (``NaN``, ``1e999``) or a value of the wrong type for a well-known key
(``results.time="abc"``; ``dlbs.logs.fact_types``) loses that line alone, with a warning
naming file and line; only a file that is mostly binary is refused whole. It never raises on a log's content and never
prints: warnings and errors are returned, so that worker processes can hand them back to the
caller. It must not import ``dlbs.reports``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from pytorch_benchmarks.facts import parse_fact
from safeio import read_capped_unpacked

from dlbs.logs.fact_types import MEASUREMENTS, is_measurement, type_problem

#: The runner's trailer always writes this key last; its absence means the run was cut short.
TRAILER_KEY = "results.exit_code"
#: The runner's header always has this key: a log without it was not written by a dlbs runner.
RUNNER_HEADER_KEY = "exp.runner_start_time"
#: Statuses a log can carry; anything but ``ok`` is a failed benchmark.
OK_STATUS = "ok"
FAILURE_STATUS = "failure"
#: DLBS's ``exp.status`` values that its logs carry for benchmarks that did not run or failed.
DLBS_STATUSES = ("skipped", "failure")
#: A damaged character: a NUL byte, or a byte that is not UTF-8 (read as a lone surrogate with
#: ``errors="surrogateescape"``, so it can never be mistaken for a character of the log).
_DAMAGE = re.compile("[\x00\udc80-\udcff]")
#: Suffix of a compressed log (``run.log.gz``).
GZIP_SUFFIX = ".gz"
#: Most bytes of one log read (or decompressed): logs hold kilobytes; a FIFO or a gzip bomb
#: named ``*.log`` must not take the machine's memory.
MAX_LOG_BYTES = 256 << 20
#: Damaged lines that held no fact are named one by one up to this many per file, then counted.
MAX_DAMAGED_NOISE_WARNINGS = 5


class ParseResult(NamedTuple):
    """What parsing one file gives: the record (``None`` when unusable), warnings, error."""

    path: str
    record: dict[str, Any] | None
    warnings: list[str]
    error: str | None


def _visible_text(line: str) -> str:
    """Return what a terminal shows of a line rewritten with carriage returns (progress bars)."""
    line = line.rstrip("\r")
    return line.rpartition("\r")[2] if "\r" in line else line


def _fact_text(line: str) -> str | None:
    """The line to hand to ``parse_fact`` if it may be a fact, else ``None`` (cheap checks)."""
    if "__" not in line:
        return None
    if "\r" in line:
        line = _visible_text(line)
    return line if line.lstrip(" \t")[:2] == "__" else None


class _Scan(NamedTuple):
    facts: dict[str, Any]
    warnings: list[str]
    good_lines: int          # fact lines read
    nul_lines: int           # lines holding a NUL byte
    lost_results: dict[str, int]  # a result's key -> the line of it that could not be read


_KEY = re.compile(r"\s*__(?P<key>[^=\s]*?)__\s*=")


def _damage(line: str) -> str:
    return "a NUL byte" if "\x00" in line else "bytes that are not UTF-8"


def _scan(text: str, source: str) -> _Scan:
    """Read every fact line of ``text``; one warning per line lost, naming file and line."""
    facts: dict[str, Any] = {}
    warnings: list[str] = []
    damaged_text = _DAMAGE.search(text) is not None
    good = nul_lines = 0
    noise: list[int] = []    # damaged lines that held no fact
    lost: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        damaged = damaged_text and _DAMAGE.search(line) is not None
        if damaged and "\x00" in line:
            nul_lines += 1
        # Fast path first: most fact lines start with '__' and most noise has no '__' at all.
        if line[:2] != "__" or "\r" in line:
            candidate = _fact_text(line) if "__" in line else None
            if candidate is None:
                if damaged:
                    noise.append(number)
                continue
            line = candidate
        if damaged:
            warnings.append(f"{source}:{number}: damaged fact line skipped: it holds "
                            f"{_damage(line)}")
            _note_lost(lost, line, number)
            continue
        try:
            fact = parse_fact(line, strict=True)
        except (ValueError, RecursionError) as err:
            warnings.append(f"{source}:{number}: malformed fact line skipped: {err}")
            _note_lost(lost, line, number)
            continue
        if fact is not None:
            problem = type_problem(*fact)
            if problem:  # a string where a number is expected never reaches a report
                warnings.append(f"{source}:{number}: malformed fact line skipped: {problem}")
                _note_lost(lost, line, number)
                continue
            facts[fact[0]] = fact[1]
            good += 1
    warnings.extend(f"{source}:{number}: damaged line ignored (NUL byte or bytes that are not "
                    "UTF-8); it held no fact" for number in noise[:MAX_DAMAGED_NOISE_WARNINGS])
    if len(noise) > MAX_DAMAGED_NOISE_WARNINGS:
        warnings.append(f"{source}: {len(noise) - MAX_DAMAGED_NOISE_WARNINGS} more damaged "
                        f"lines without facts ignored (last at line {noise[-1]})")
    return _Scan(facts, warnings, good, nul_lines, lost)


def _note_lost(lost: dict[str, int], line: str, number: int) -> None:
    """Remember a skipped line that held one of :data:`~dlbs.logs.fact_types.MEASUREMENTS`."""
    found = _KEY.match(line)
    if found and found["key"] in MEASUREMENTS:
        lost[found["key"]] = number


def mark_damaged_results(record: dict[str, Any], lost: dict[str, int],
                         source: str) -> str | None:
    """Mark a run failed when a line of one of its measurements
    (:data:`~dlbs.logs.fact_types.MEASUREMENTS`) could not be read and
    no other line gave that key a value > 0 (``__results.throughput__=NaN``, a cut or
    damaged line): its numbers would otherwise enter a mean without the one that was lost,
    or with the other key only. Return the warning, or ``None``."""
    missing = [(key, number) for key, number in lost.items()
               if not is_measurement(record.get(key))]
    if not missing or record.get("results.status") not in (None, OK_STATUS):
        return None
    where = ", ".join(f"{key} (line {number})" for key, number in missing)
    record["results.status"] = FAILURE_STATUS
    record["results.error"] = f"damaged log: unreadable {where}"
    return f"{source}: damaged results, marked failed: unreadable {where}"


def parse_lines(text: str, source: str) -> tuple[dict[str, Any], list[str]]:
    """Return the facts of ``text`` (last occurrence wins) and one warning per line lost."""
    scan = _scan(text, source)
    return scan.facts, scan.warnings


def judge_without_runner(record: dict[str, Any]) -> None:
    """Set the status of a log no dlbs runner wrote (DLBS's own logs, ``benchmarks.py
    --log_file`` alone) as DLBS read it: the benchmark's ``results.status`` when it wrote one;
    else a positive ``results.throughput`` or ``results.time`` is a success; else DLBS's
    ``exp.status`` ``skipped``/``failure``; else a failure (no results)."""
    if record.get("results.status"):
        return
    if any(_positive(record.get(key)) for key in MEASUREMENTS):
        record["results.status"] = OK_STATUS
    elif record.get("exp.status") in DLBS_STATUSES:
        record["results.status"] = record["exp.status"]
    else:
        record["results.status"] = FAILURE_STATUS
        record.setdefault("results.error", "no results in the log (no positive "
                                           "results.throughput or results.time)")



def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def mark_truncated(record: dict[str, Any], source: str) -> str | None:
    """Mark a record failed when its log was cut short; return the warning, or ``None``.

    Only a log our runner wrote (its header has ``exp.runner_start_time``) can be cut short:
    it is truncated when it has no ``results.status`` (the benchmark never finished) or no
    runner trailer (``results.exit_code``: the runner itself was killed). Its facts are kept.
    Other logs are read as DLBS read them (``judge_without_runner``).
    """
    if RUNNER_HEADER_KEY not in record:
        judge_without_runner(record)
        return None
    if "results.status" not in record:
        reason = "no results.status (benchmark did not finish)"
    elif TRAILER_KEY not in record:
        reason = f"no runner trailer ({TRAILER_KEY}); the run was killed"
    else:
        return None
    record["results.truncated"] = True
    if record.get("results.status") in (None, OK_STATUS):
        record["results.status"] = FAILURE_STATUS
    record.setdefault("results.error", f"truncated log: {reason}")
    return f"{source}: truncated log, marked failed: {reason}"


def name_log(record: dict[str, Any], source: str) -> None:
    """``exp.log_file`` is the file read, not the path the runner wrote in the log: a log
    copied to another folder is named by its copy (the written path, where it differs, is
    kept as ``exp.log_file_written``)."""
    written = record.get("exp.log_file")
    if written is not None and written != source:
        record["exp.log_file_written"] = written
    record["exp.log_file"] = source


def parse_text(text: str, source: str) -> ParseResult:
    """Parse a log's whole text; ``source`` names it in messages and fills ``exp.log_file``."""
    record, warnings, good, nul_lines, lost = _scan(text, source)
    # Text never holds NUL bytes: a file with as many lines holding them as facts is binary.
    # A good log with a few damaged lines (a crash's zero-filled tail) keeps its facts.
    if nul_lines and nul_lines >= good:
        return ParseResult(source, None, [], f"{source}: binary file, not an experiment log")
    if not record:
        return ParseResult(source, None, warnings,
                           f"{source}: no facts (__key__=value lines); not an experiment log")
    name_log(record, source)
    for note in (mark_truncated(record, source), mark_damaged_results(record, lost, source)):
        if note:
            warnings.append(note)
    return ParseResult(source, record, warnings, None)


def read_log_text(source: str) -> str:
    """The text of a log; a ``.gz`` log (DLBS's logparser reads ``*.log.gz``) is decompressed.
    Never blocks (a FIFO or a device named ``*.log`` is refused) and never holds more than
    :data:`MAX_LOG_BYTES`, read or decompressed. Raises ``OSError`` (a damaged gzip stream
    too)."""
    data = read_capped_unpacked(source, MAX_LOG_BYTES)
    # surrogateescape: bytes that are not UTF-8 are kept apart, so that the line holding
    # them is dropped (with a warning) instead of read with replacement characters.
    # and line ends as text mode reads them (universal newlines: \r\n and \r end a line)
    text = data.decode("utf-8", errors="surrogateescape")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_log(path: str | Path) -> ParseResult:
    """Read and parse one log file (``.gz`` ones too); an unreadable file gives an error, never
    an exception."""
    source = str(path)
    try:
        text = read_log_text(source)
    except OSError as err:
        return ParseResult(source, None, [], f"{source}: cannot read log: {err.strerror or err}")
    return parse_text(text, source)


def is_failed(record: dict[str, Any]) -> bool:
    """True when a record's benchmark did not succeed (any status but ``ok``)."""
    return record.get("results.status") != OK_STATUS

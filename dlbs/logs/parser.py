"""Turn one experiment log into one record: a flat ``{dotted.key: value}`` dict.

The line format is defined once, in ``pytorch_benchmarks.facts`` (``parse_fact``); this module
only walks a file's lines, keeps the last value of each key, turns malformed fact lines into
warnings (file and line) and marks truncated logs (a killed run) as failed. It never raises on
a log's content and never prints: warnings and errors are returned, so that worker processes can
hand them back to the caller. It must not import ``dlbs.reports``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from pytorch_benchmarks.facts import parse_fact

#: The runner's trailer always writes this key last; its absence means the run was cut short.
TRAILER_KEY = "results.exit_code"
#: The runner's header always has this key: a log without it was not written by a dlbs runner.
RUNNER_HEADER_KEY = "exp.runner_start_time"
#: Statuses a log can carry; anything but ``ok`` is a failed benchmark.
OK_STATUS = "ok"
FAILURE_STATUS = "failure"
#: DLBS's ``exp.status`` values that its logs carry for benchmarks that did not run or failed.
DLBS_STATUSES = ("skipped", "failure")


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


def parse_lines(text: str, source: str) -> tuple[dict[str, Any], list[str]]:
    """Return the facts of ``text`` (last occurrence wins) and one warning per malformed line."""
    facts: dict[str, Any] = {}
    warnings: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        # Fast path first: most fact lines start with '__' and most noise has no '__' at all.
        if line[:2] != "__" or "\r" in line:
            if "__" not in line:
                continue
            candidate = _fact_text(line)
            if candidate is None:
                continue
            line = candidate
        try:
            fact = parse_fact(line)
        except ValueError as err:
            warnings.append(f"{source}:{number}: malformed fact line skipped: {err}")
            continue
        if fact is not None:
            facts[fact[0]] = fact[1]
    return facts, warnings


def judge_without_runner(record: dict[str, Any]) -> None:
    """Set the status of a log no dlbs runner wrote (DLBS's own logs, ``benchmarks.py
    --log_file`` alone) as DLBS read it: the benchmark's ``results.status`` when it wrote one;
    else a positive ``results.throughput`` or ``results.time`` is a success; else DLBS's
    ``exp.status`` ``skipped``/``failure``; else a failure (no results)."""
    if record.get("results.status"):
        return
    if any(_positive(record.get(key)) for key in ("results.throughput", "results.time")):
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


def parse_text(text: str, source: str) -> ParseResult:
    """Parse a log's whole text; ``source`` names it in messages and fills ``exp.log_file``."""
    if "\x00" in text:
        return ParseResult(source, None, [], f"{source}: binary file, not an experiment log")
    record, warnings = parse_lines(text, source)
    if not record:
        return ParseResult(source, None, warnings,
                           f"{source}: no facts (__key__=value lines); not an experiment log")
    record.setdefault("exp.log_file", source)
    note = mark_truncated(record, source)
    if note:
        warnings.append(note)
    return ParseResult(source, record, warnings, None)


def parse_log(path: str | Path) -> ParseResult:
    """Read and parse one log file; an unreadable file gives an error, never an exception."""
    source = str(path)
    try:
        with open(source, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as err:
        return ParseResult(source, None, [], f"{source}: cannot read log: {err.strerror or err}")
    return parse_text(text, source)


def is_failed(record: dict[str, Any]) -> bool:
    """True when a record's benchmark did not succeed (any status but ``ok``)."""
    return record.get("results.status") != OK_STATUS

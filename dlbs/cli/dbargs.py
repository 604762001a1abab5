"""Options shared by the database commands (``db``, ``history``, ``regressions``): the URL,
the filters and the output formats."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from dlbs.errors import UsageError

FORMATS = ("table", "json", "csv", "jsonl")


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, metavar="URL",
                        help="database URL (sqlite:///results.db, postgresql+psycopg://user@host/"
                             "name); default $DLBS_DB")


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-P", dest="params", action="append", default=[], metavar="KEY=VALUE",
                        help="keep runs whose fact KEY equals VALUE (VALUE read as JSON when it "
                             "is, e.g. -Pexp.replica_batch=16, else as text); repeatable")
    parser.add_argument("--filter", default=None, metavar="JSON",
                        help='a JSON object of facts to match, e.g. \'{"exp.model": "resnet50"}\'')


def add_format(parser: argparse.ArgumentParser, default: str = "table",
               formats: Sequence[str] = FORMATS) -> None:
    more = ", markdown" if "markdown" in formats else ""
    parser.add_argument("--format", default=default, choices=formats,
                        help="output: an aligned table, JSON (a list of objects), CSV or JSON "
                             f"lines{more}")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def filters(args: argparse.Namespace) -> dict[str, Any]:
    """The filters of ``-P`` and ``--filter``; a one-line usage error for a malformed one."""
    found: dict[str, Any] = {}
    if args.filter:
        try:
            data = json.loads(args.filter)
        except json.JSONDecodeError as err:
            raise UsageError(f"--filter: not JSON ({err.msg}); give an object like "
                             '\'{"exp.model": "resnet50"}\'') from None
        if not isinstance(data, dict):
            raise UsageError("--filter: give a JSON object of fact names and values")
        found.update(data)
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-P {item}: expected KEY=VALUE, e.g. -Pexp.model=resnet50")
        found[key.strip()] = _value(value)
    for key, value in found.items():
        _check_text(key, value)
    return found


def _check_text(key: str, value: Any) -> None:
    """A filter no database can hold (bytes that are not UTF-8 on the command line, a lone
    surrogate escape in ``--filter``) is a usage error, never a driver's traceback."""
    try:
        json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        shown = ascii(f"{key}={value}")[1:-1]
        raise UsageError(f"filter {shown}: not UTF-8 text (bytes that are not UTF-8, or a lone "
                         "surrogate escape); no stored fact holds it") from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _csv_cell(value: Any) -> str:
    """A value in CSV: a float at full precision (``repr``: the digits JSON gives, and
    ``dlbs report``'s CSV), else as :func:`cell_text`."""
    return repr(value) if isinstance(value, float) else _cell(value)


def cell_text(value: Any) -> str:
    """A value as a table's cell: floats to 6 significant digits, lists and objects as
    JSON, None empty."""
    return _cell(value)


def terminal_text(text: str) -> str:
    """``text`` safe to print in a table on a terminal: every character that is not printable
    (a line break, ESC of an ANSI sequence, a bidi control) is shown as its escape (``\\n``,
    ``\\x1b``, ``\\u202e``). Stored free text (an exclusion's reason, a model or host name
    from a log) is anyone's: raw, it would break the row or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def emit(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> None:
    """Print rows (dicts) in ``fmt``."""
    columns = list(columns or (rows[0].keys() if rows else []))
    out = sys.stdout
    if fmt == "json":
        json.dump(list(rows), out, indent=1, default=str)
        out.write("\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
    elif fmt == "csv":
        from dlbs.logs.csvcells import CsvWriter

        writer = CsvWriter(out)  # the one CSV writer: formula-like cells are escaped
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
    else:
        cells = [[terminal_text(_cell(row.get(c))) for c in columns] for row in rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
        for r in cells:
            out.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")


def add_alpha(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--alpha``: the false discovery rate of the newest points' verdicts (``regressions
    --latest``, and ``db page``, which shows the same verdicts)."""
    from benchstats.latest import ALPHA

    parser.add_argument("--alpha", type=float, default=ALPHA, help=help_text)


def check_alpha(alpha: float) -> None:
    """``--alpha``: a level strictly between 0 and 1."""
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"--alpha {alpha}: give a level in (0, 1), e.g. 0.015")


def check_min_change(min_change: float) -> None:
    """``--min-change``: a fraction in [0, 1)."""
    if not 0.0 <= min_change < 1.0:
        raise UsageError(f"--min-change {min_change}: give a fraction in [0, 1), e.g. 0.05")

"""Render a ``Report`` as text (aligned, for a terminal), markdown, CSV or JSON.

Floats show ``Table.digits`` decimals in text and markdown, and 6 in CSV and JSON; a failed
cell shows its status (``failed``, ``oom``...), an empty one ``-`` (``null`` in JSON), never 0.
Pure: a report in, a string out.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from dlbs.logs.csvcells import CsvWriter
from dlbs.reports.differences import difference_lines
from dlbs.reports.model import (
    MARK_LEGEND,
    Report,
    Table,
    cell_ends,
    end_cell,
    formatted,
    is_missing,
    json_cell,
)
from dlbs.reports.provenance import provenance_lines

FORMATS: tuple[str, ...] = ("text", "markdown", "csv", "json", "html")


def level_names(index: pd.Index) -> list[str]:
    return [str(n) if n is not None else "" for n in index.names]


def row_keys(index: pd.Index) -> list[tuple[Any, ...]]:
    return [k if isinstance(k, tuple) else (k,) for k in index]


def column_names(table: Table) -> list[str]:
    """One heading per data column (multi-level columns joined with '/')."""
    return ["/".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in table.data.columns]


def _header_cells(table: Table) -> list[str]:
    """Row-dimension names, then data column names (prefixed by the columns' name)."""
    col_name = columns_title(table)
    cols = column_names(table)
    if col_name:
        cols = [f"{col_name} {c}" for c in cols]
    return [*level_names(table.data.index), *cols]


def terminal_safe(text: str) -> str:
    """``text`` with each character that is not printable (ESC, a bidi control) as its
    escape (``\\x1b``), a line break or tab as a space (the row stays one line): a
    cell's text is read from logs anyone may have written, whose escape sequences would
    drive the terminal the report is printed on."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " if ch.isspace()  # a line break: a space
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _text_rows(table: Table) -> list[list[str]]:
    shown = formatted(table)
    rows = shown.to_numpy().tolist()
    return [[terminal_safe(str(cell)) for cell in (*key, *row)]
            for key, row in zip(row_keys(shown.index), rows)]


def _aligned(header: list[str], rows: list[list[str]], left: list[bool]) -> list[str]:
    """Lines of a table whose columns are padded to one width, left- or right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [c.ljust(w) if left[i] else c.rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()
    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def _sparse(rows: list[list[str]], n_keys: int) -> list[list[str]]:
    """Blank a row key repeated from the row above (like pandas' sparsified index)."""
    out, previous = [], [""] * n_keys
    for row in rows:
        same = 0
        while same < n_keys - 1 and row[same] == previous[same]:
            same += 1
        out.append([""] * same + row[same:])
        previous = row[:n_keys]
    return out


def columns_title(table: Table) -> str:
    name = "/".join(level_names(table.data.columns)).strip("/")
    return "" if name == "None" else name


def table_text(table: Table) -> str:
    """An aligned text table with its title; the columns' name heads the value columns."""
    n_keys = table.data.index.nlevels
    rows = _sparse(_text_rows(table), n_keys)
    header = [terminal_safe(cell) for cell in (*level_names(table.data.index),
                                                *column_names(table))]
    text = [_is_text_column(table.data.iloc[:, c]) for c in range(table.data.shape[1])]
    body = _aligned(header, rows, [True] * n_keys + text)
    over = columns_title(table)
    if over:
        body.insert(0, " " * _key_width(body[1], n_keys) + over)
    return "\n".join([table.title, *body])


def _key_width(rule: str, n_keys: int) -> int:
    """Where the value columns start, from the dashes line."""
    position = 0
    for _ in range(n_keys):
        position = rule.index("  ", position) + 2 if "  " in rule[position:] else len(rule)
    return position


def _notes_text(report: Report, bullet: str, escape: Callable[[str], str] = str
                ) -> list[str]:
    return [f"{bullet}{escape(note)}" for note in report.notes]


#: Heading of a comparison's differing parameters (above its tables).
DIFFERENCES_HEADING = "Parameters that differ between base and new"


def _differences_text(report: Report, heading: str, bullet: str,
                      escape: Callable[[str], str] = str) -> list[str]:
    """A comparison's differing parameters, above its tables (nothing for other reports)."""
    lines = difference_lines(report.differences)
    return [heading, *(f"{bullet}{escape(line)}" for line in lines), ""] if lines else []


def _provenance_text(report: Report, heading: str, bullet: str,
                     escape: Callable[[str], str] = str) -> list[str]:
    """The provenance footer (nothing when the report has none)."""
    if not report.provenance:
        return []
    return ["", heading, *(f"{bullet}{escape(line)}"
                           for line in provenance_lines(report.provenance))]


def to_text(report: Report) -> str:
    """The report for a terminal: title, a comparison's differing parameters, aligned tables,
    notes, provenance."""
    parts = [report.title, "=" * len(report.title), ""]
    parts += _differences_text(report, f"{DIFFERENCES_HEADING}:", "  ")
    for table in report.tables:
        parts += [table_text(table), ""]
    parts += _notes_text(report, "")
    parts += _provenance_text(report, "Measured:", "  ", terminal_safe)  # names read from logs
    return "\n".join(parts).rstrip() + "\n"


#: What makes markup anywhere in a line (emphasis, code, links, HTML, strikethrough, a table's
#: cell border, an entity such as ``&amp;``); each is written after a backslash, which
#: CommonMark shows as the character itself. An ``_`` inside a word (``exp.num_batches``) is
#: no emphasis and stays as it is.
MD_INLINE = re.compile(r"([\\`*\[\]<~|]|&(?=#?\w+;)|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
#: What makes markup at the start of a line (a list item, a numbered item, a heading, a
#: quote, a rule, a setext underline): its punctuation is escaped.
MD_LINE_START = re.compile(r"^(\s*)([-+=#>]|\d+(?=[.)]))")


def md_inline(text: str) -> str:
    """``text`` as markdown inside a line (a table cell, a heading): markup characters
    escaped, line breaks as spaces."""
    return MD_INLINE.sub(r"\\\1", " ".join(text.splitlines()))


def md_text(text: str) -> str:
    """``text`` as one line of markdown that renders as ``text`` itself: markup characters
    escaped (a legend's ``* noisy`` is no nested list, ``# busy`` no heading), line breaks as
    spaces (a table cell, a list item is one line)."""
    line = md_inline(text)
    match = MD_LINE_START.match(line)
    if match is None:
        return line
    lead, start = match.group(1), match.group(2)
    if start[0].isdigit():  # ``1.`` starts a numbered list: escape its dot or parenthesis
        cut = len(lead) + len(start)
        return f"{line[:cut]}\\{line[cut:]}"
    return f"{lead}\\{line[len(lead):]}"


def _md_escape(text: str) -> str:
    """A markdown table cell: its text as written (``md_inline``; ``|`` escaped too)."""
    return md_inline(text)


def _is_text_column(column: pd.Series) -> bool:
    """True when every filled cell is text (a verdict, a status column): align it left."""
    filled = [v for v in column.tolist() if not is_missing(v)]
    return bool(filled) and all(isinstance(v, str) for v in filled)


def table_markdown(table: Table) -> str:
    """A GitHub-flavoured markdown table with its title as a heading."""
    n_keys = table.data.index.nlevels
    header = [terminal_safe(cell) for cell in _header_cells(table)]
    text = [_is_text_column(table.data.iloc[:, c]) for c in range(table.data.shape[1])]
    align = [":---"] * n_keys + [":---" if t else "---:" for t in text]
    lines = [f"### {md_inline(table.title)}", "", "| " + " | ".join(map(_md_escape, header)) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(map(_md_escape, row)) + " |" for row in _text_rows(table)]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    """The report as markdown (CommonMark with GitHub's tables): every text as written
    (``md_text``), so a legend item starts with its mark."""
    parts = [f"## {md_inline(report.title)}", ""]
    parts += _differences_text(report, f"### {DIFFERENCES_HEADING}\n", "- ", md_text)
    for table in report.tables:
        parts += [table_markdown(table), ""]
    parts += _notes_text(report, "- ", md_text)
    parts += _provenance_text(report, "### Provenance\n", "- ",
                              lambda line: md_text(terminal_safe(line)))
    return "\n".join(parts).rstrip() + "\n"


def _csv_value(value: Any, exact: bool = False) -> str:
    """A cell in CSV: the number as JSON gives it (:func:`json_cell`; ``repr``, the digits
    JSON and ``dlbs history`` give) or the status; marks are left out."""
    cell = json_cell(value, exact)
    return "" if cell is None else repr(cell) if isinstance(cell, float) else str(cell)


#: The blocks after a table with intervals in CSV (at its confidence, 95% but for a
#: comparison's adjusted one): each cell's interval's low and high end.
CI_BLOCKS = ("low", "high")


def _csv_ci_blocks(table: Table, title: str, buffer: io.StringIO, writer: CsvWriter) -> None:
    """A table's intervals in CSV: a block ``# <title> (95% interval low)`` and one ``(95%
    interval high)``
    of the table's rows and columns, each end a number at full precision or ``open``
    (``benchstats.shown_ends``), empty where the cell has no interval: the encoding of
    ``dlbs history --format csv`` (its ``ci_low``, ``ci_high``)."""
    if table.ci is None:
        return
    ends = [_ci_cells(table, table.ci, r) for r in range(table.data.shape[0])]
    if not any(cell is not None for row in ends for cell in row):
        return
    level = f"{100 * table.confidence:g}% interval"
    for side, name in enumerate(CI_BLOCKS):
        buffer.write(f"\n# {title} ({level} {name})\n")
        writer.writerow(_header_cells(table))
        for key, row in zip(row_keys(table.data.index), ends):
            writer.writerow([*map(str, key),
                             *("" if cell is None else _csv_value(cell[side], True)
                               for cell in row)])


def to_csv(report: Report) -> str:
    """Each table as a CSV block after a ``# title`` line; blocks separated by a blank line.

    Cells hold plain numbers or statuses, so marks (noisy, partial, numerics off...) are not in
    them: a table's ``csv_marks`` columns (a comparison's ``Base marks``, ``New marks``,
    ``Verdict marks``) follow the cells with the marks of those columns, and a table with any
    other mark is followed by a block ``# <title> (marks)`` of the same rows and columns
    holding each cell's marks; a table with intervals is followed by blocks ``# <title> (95%
    interval low)`` and ``(95% interval high)`` of its intervals' ends (numbers at full
    precision, ``open`` for an open end, empty for none: a table of intervals as text,
    ``low - high``, is that text and is left out); a block ``# Marks`` says what each mark
    used means, a last
    block ``# Notes`` holds the report's notes (the estimator's legend among them). Every
    cell, names and keys included (a model name is a user's value), goes through
    ``CsvWriter``: one a spreadsheet would run as a formula starts with ``'``.
    """
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    used: set[str] = set()
    tables = [table for table in report.tables if not table.intervals]
    for number, table in enumerate(tables):
        if number:
            buffer.write("\n")
        title = " ".join(table.title.splitlines())  # one line, whatever the title
        buffer.write(f"# {title}\n")
        marked = [list(table.data.columns).index(c) for c in table.csv_marks]
        writer.writerow([*_header_cells(table), *table.csv_marks.values()])
        for r, key in enumerate(row_keys(table.data.index)):
            cells = [_csv_value(value, table.is_exact(c))
                     for c, value in enumerate(table.data.iloc[r].tolist())]
            writer.writerow([*map(str, key), *cells, *(table.mark(r, c) for c in marked)])
        used.update(mark for c in marked for r in range(table.data.shape[0])
                    for mark in table.mark(r, c))
        if not table.csv_marks:
            used.update(_csv_marks_block(table, title, buffer, writer))
        _csv_ci_blocks(table, title, buffer, writer)
    legend = [(mark, text) for mark, text in MARK_LEGEND.items() if mark in used]
    if legend:
        buffer.write("\n# Marks\n")
        writer.writerow(["mark", "meaning"])
        for row in legend:
            writer.writerow(list(row))
    _csv_notes(report, buffer, writer)
    return buffer.getvalue()


def _csv_notes(report: Report, buffer: io.StringIO, writer: CsvWriter) -> None:
    """A last block ``# Notes``: the report's notes, one a row, as the other formats print
    them under the tables (the estimator's name and method among them: a CSV's numbers
    without it do not say what they are)."""
    marks = {f"{mark} {text}" for mark, text in MARK_LEGEND.items()}  # in ``# Marks``
    notes = [note for note in report.notes if note not in marks]
    if notes:
        buffer.write("\n# Notes\n")
        writer.writerow(["note"])
        for note in notes:
            writer.writerow([note])


def _csv_marks_block(table: Table, title: str, buffer: io.StringIO, writer: CsvWriter
                     ) -> set[str]:
    """The block of ``table``'s cell marks (same rows and columns), when it has any; the
    marks written."""
    shape = table.data.shape
    marks = [[table.mark(r, c) for c in range(shape[1])] for r in range(shape[0])]
    found = {mark for row in marks for cell in row for mark in cell}
    if found:
        buffer.write(f"\n# {title} (marks)\n")
        writer.writerow(_header_cells(table))
        for key, row in zip(row_keys(table.data.index), marks):
            writer.writerow([*map(str, key), *row])
    return found


def _ci_cells(table: Table, ci: tuple[pd.DataFrame, pd.DataFrame], r: int
              ) -> list[list[Any] | None]:
    """Row ``r``'s intervals: ``[low, high]`` a cell, each end a number at full precision or
    ``"open"`` (``benchstats.shown_ends``: the text shows it as ``>= low``; ``dlbs history``
    writes it so), ``null`` only for no interval."""
    low, high = ci
    cells: list[list[Any] | None] = []
    for c in range(table.data.shape[1]):
        ends = cell_ends(table.data.iat[r, c], low.iat[r, c], high.iat[r, c])
        cells.append(None if ends is None else [end_cell(end, table.is_exact(c)) for end in ends])
    return cells


def table_dict(table: Table) -> dict[str, Any]:
    """A table as plain data: index names, columns, and rows of keys, cells and marks; a
    table with intervals also each cell's interval's ends as numbers (``ci``)."""
    rows = []
    for r, key in enumerate(row_keys(table.data.index)):
        row = {"key": [json_cell(k) for k in key],
               "cells": [json_cell(v, table.is_exact(c))
                         for c, v in enumerate(table.data.iloc[r].tolist())],
               "marks": [table.mark(r, c) for c in range(table.data.shape[1])]}
        if table.ci is not None:
            row["ci"] = _ci_cells(table, table.ci, r)
        rows.append(row)
    return {"name": table.name, "title": table.title, "index": level_names(table.data.index),
            "columns_name": "/".join(level_names(table.data.columns)).strip("/"),
            "columns": [json_cell(c) for c in table.data.columns], "rows": rows}


def report_dict(report: Report) -> dict[str, Any]:
    """The report as plain data (for JSON and the HTML template)."""
    data: dict[str, Any] = {"kind": report.kind, "title": report.title}
    if report.differences is not None:  # a comparison's: first, as in the other formats
        data["differences"] = report.differences
    data.update({"notes": list(report.notes), "tables": [table_dict(t) for t in report.tables]})
    if report.provenance:
        data["provenance"] = report.provenance
    return data


def to_json(report: Report) -> str:
    """The report as JSON."""
    return json.dumps(report_dict(report), indent=1) + "\n"


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": to_text, "markdown": to_markdown, "csv": to_csv, "json": to_json,
}

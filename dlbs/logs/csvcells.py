"""The text of a CSV cell, safe to open in a spreadsheet, and back (OWASP's CSV injection rule).

Every CSV file dlbs writes (``logparser --output_file x.csv``, its ``_failed.csv``,
``report --format csv``) is written by ``CsvWriter``, which passes each cell through
``cell_text``. A spreadsheet runs a cell as a
formula when it starts with ``=``, ``+``, ``-``, ``@`` (``=cmd|'/C calc'!A0``), and some do
when it starts with a tab, CR or LF after trimming, or with the full-width forms of the four
signs; such a cell gets a ``'`` in front, which a spreadsheet shows as text. A number
(``-5``, ``-1.5e3``, ``+3``) is left as it is. JSON and JSONL outputs keep values exactly;
only CSV cells change. ``CsvWriter`` also quotes a cell that holds a CR: ``csv.writer`` quotes
only the characters of its line terminator (``\n``), and a spreadsheet that ends a row at a bare
CR would start a new row, and a formula, in the middle of the cell (``"x\r=cmd|..."``).

The escape is undone exactly on reading (``value_text``): a cell that starts with ``'`` and
whose text after its leading quotes is one a spreadsheet would run loses one ``'``. So that this
is never wrong, a value that already starts with quotes before such a text (``'=1``) gets one
more when written. ``value_text(cell_text(s)) == s`` for every string ``s``.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import IO

#: The first characters that make a spreadsheet read a cell as a formula (with their
#: full-width forms, which some spreadsheets take for the signs).
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
#: A number a spreadsheet reads as one: such a cell is never escaped (``-5`` stays a number).
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
QUOTE = "'"


def _runs_as_formula(text: str) -> bool:
    """Whether ``text``, with its leading quotes removed, starts as a formula (not a number)."""
    core = text.lstrip(QUOTE)
    return core[:1] in FORMULA_STARTS and _NUMBER.fullmatch(core) is None


def cell_text(text: str) -> str:
    """``text`` as a CSV cell: a ``'`` in front when a spreadsheet would run it."""
    return QUOTE + text if _runs_as_formula(text) else text


def is_escaped(cell: str) -> bool:
    """Whether ``cell`` was escaped by ``cell_text`` (its first ``'`` is the escape)."""
    return cell.startswith(QUOTE) and _runs_as_formula(cell[1:])


def value_text(cell: str) -> str:
    """The text a cell written by ``cell_text`` stands for."""
    return cell[1:] if is_escaped(cell) else cell


class CsvWriter:
    """A ``csv.writer`` for dlbs's CSV files: rows end in ``\n``, every cell goes through
    ``cell_text``, and a cell holding a CR or a LF is quoted."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._row = io.StringIO()
        # "\r\n" as the terminator makes csv quote a cell with either character; each row's
        # own terminator is then written as "\n".
        self._writer = csv.writer(self._row, lineterminator="\r\n")

    def writerow(self, cells: Iterable[str]) -> None:
        """Write one row of text cells."""
        self._row.seek(0)
        self._row.truncate()
        self._writer.writerow([cell_text(cell) for cell in cells])
        self._stream.write(self._row.getvalue()[:-2] + "\n")

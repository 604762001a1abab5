"""Write and read parsed records: ``.json``, ``.json.gz``, ``.jsonl`` and ``.csv`` files.

``.json`` (and ``.json.gz``) hold ``{"data": [record, ...]}`` like DLBS's logparser; a bare
list is read too. ``.jsonl`` holds one record per line. ``.csv`` has one column per key (the
union over records, sorted); lists and objects are written as JSON text; it is lossy on reading
(a cell that is valid JSON is read as JSON, an empty cell is a missing key). A cell that a
spreadsheet would run as a formula (``=cmd|'/C calc'!A0``) is written with a ``'`` in front and
read back as it was (``csvcells``). The format is chosen by the file name. This module does no parsing of logs and never prints. A damaged
parsed file (not UTF-8, a broken gzip stream, JSON nested too deep, a huge CSV cell) is a
``LogFormatError`` naming the file, never another exception.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from safeio import atomic_write, check_writable_target, read_capped_unpacked

from dlbs.errors import LogFormatError, UsageError
from dlbs.logs.csvcells import CsvWriter, is_escaped, value_text

LOG = logging.getLogger("dlbs.logs")

#: Suffixes of parsed-record files, longest first (``.json.gz`` before ``.json``).
FORMATS: tuple[str, ...] = (".json.gz", ".jsonl", ".json", ".csv")


def file_format(path: str | Path) -> str | None:
    """Return the format suffix of ``path`` (one of ``FORMATS``), or ``None``."""
    name = str(path).lower()
    return next((fmt for fmt in FORMATS if name.endswith(fmt)), None)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def write_csv(records: Sequence[dict[str, Any]], stream: IO[str]) -> None:
    """Write records as CSV with one column per key (union over records, sorted); a cell a
    spreadsheet would run as a formula is escaped (``csvcells``)."""
    columns = sorted({key for record in records for key in record})
    writer = CsvWriter(stream)
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_cell(record.get(key)) for key in columns])


def dump_records(records: Sequence[dict[str, Any]], fmt: str, stream: IO[str]) -> None:
    """Write ``records`` in format ``fmt`` (``.json``, ``.jsonl`` or ``.csv``) to ``stream``."""
    if fmt == ".csv":
        write_csv(records, stream)
    elif fmt == ".jsonl":
        stream.writelines(json.dumps(record) + "\n" for record in records)
    else:
        json.dump({"data": list(records)}, stream, indent=1)
        stream.write("\n")


def check_targets(paths: Iterable[str | Path]) -> None:
    """Refuse, before anything is written, an output name holding a planted link, a FIFO or a
    directory (``write_records`` refuses it again when it writes)."""
    for path in paths:
        try:
            check_writable_target(path)
        except OSError as err:
            raise LogFormatError(f"cannot write '{path}': {err.strerror or err}") from None


def write_records(records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write records to ``path`` in the format its name asks for: to a fresh temporary name
    beside it, renamed over it when whole (``safeio.atomic_write``), so a failed or
    interrupted write never leaves half a file behind, and a link planted at ``path`` is
    refused, never followed."""
    fmt = file_format(path)
    if fmt is None:
        raise UsageError(f"--output_file '{path}': name must end with one of "
                         f"{', '.join(FORMATS)}")
    try:
        if fmt == ".json.gz":
            with atomic_write(path, binary=True) as raw, \
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw) as packed, \
                    io.TextIOWrapper(packed, encoding="utf-8") as stream:
                dump_records(records, ".json", stream)
        else:
            with atomic_write(path) as stream:
                dump_records(records, fmt, stream)
    except OSError as err:
        raise LogFormatError(f"cannot write '{path}': {err.strerror or err}; "
                             "check the folder exists and is writable") from None
    except UnicodeEncodeError as err:  # only CSV writes text as it is (JSON escapes it)
        char = err.object[err.start:err.end]
        raise LogFormatError(f"cannot write '{path}': a value holds {char!r}, a lone surrogate "
                             "that has no UTF-8 form (bytes that were not UTF-8); write .json "
                             "or .jsonl, which keep it escaped") from None


def _csv_value(cell: str) -> Any:
    """A cell's value: an escaped cell is the text it stands for (always a string); else
    the JSON the cell holds, or its text."""
    if is_escaped(cell):
        return value_text(cell)
    try:
        return json.loads(cell)
    except (ValueError, RecursionError):
        return cell


def read_csv(stream: IO[str]) -> list[dict[str, Any]]:
    """Read records written by ``write_csv`` (empty cells are missing keys; escaped cells
    and column names read back as written, ``csvcells``)."""
    rows = csv.reader(stream)
    header = [value_text(name) for name in next(rows, [])]
    return [{key: _csv_value(cell) for key, cell in zip(header, row) if cell != ""}
            for row in rows if row]


def _records_of(data: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise LogFormatError(f"'{path}' is not a parsed-results file: expected "
                             "{\"data\": [records]} or a list of records")
    return data


def _read_jsonl(stream: IO[str], path: str) -> list[dict[str, Any]]:
    """The records of a JSON Lines file. Each line stands alone, as each fact line of a log
    does: a damaged one (a file cut mid-write, a stray byte) is skipped with a warning naming
    it, and the rest are read; a file with no usable line is an error."""
    records: list[dict[str, Any]] = []
    first: str | None = None
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problem = f"not a JSON record ({err.msg})"
        except RecursionError:
            problem = "not a usable record (JSON nested too deep)"
        else:
            if isinstance(record, dict):
                records.append(record)
                continue
            problem = f"not a record (a JSON {type(record).__name__}, not an object)"
        first = first or f"{path}:{number}: {problem}"
        LOG.warning("%s:%d: %s; line skipped", path, number, problem)
    if first and not records:
        raise LogFormatError(f"{first}: no usable record in the file")
    return _records_of(records, path)


def _load(stream: IO[str], fmt: str, path: str) -> list[dict[str, Any]]:
    if fmt == ".csv":
        return read_csv(stream)
    if fmt == ".jsonl":
        return _read_jsonl(stream, path)
    try:
        return _records_of(json.load(stream), path)
    except json.JSONDecodeError as err:
        raise LogFormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except RecursionError:
        raise LogFormatError(f"'{path}' is not a usable parsed-results file: JSON nested too "
                             "deep") from None


#: The most read of a parsed-results file, or decompressed from one (as for a log).
MAX_RECORDS_BYTES = 256 << 20


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read the records of a parsed-results file (format from the name): never blocking (a
    FIFO is refused) and at most :data:`MAX_RECORDS_BYTES`, read or decompressed."""
    fmt = file_format(path)
    if fmt is None:
        raise LogFormatError(f"'{path}' is not a parsed-results file (use {', '.join(FORMATS)})")
    try:
        data = read_capped_unpacked(path, MAX_RECORDS_BYTES)
        text = io.StringIO(data.decode("utf-8"), newline="")
        return _load(text, ".json" if fmt == ".json.gz" else fmt, str(path))
    except (OSError, EOFError) as err:
        raise LogFormatError(f"cannot read '{path}': {getattr(err, 'strerror', None) or err}") \
            from None
    except UnicodeDecodeError as err:
        raise LogFormatError(f"cannot read '{path}': not UTF-8 text (byte {err.start})") \
            from None
    except (zlib.error, csv.Error) as err:
        raise LogFormatError(f"cannot read '{path}': damaged ({err})") from None


def records_text(records: Iterable[dict[str, Any]], fmt: str = ".json") -> str:
    """Return records formatted as text (for stdout and tests)."""
    buffer = io.StringIO()
    dump_records(list(records), fmt, buffer)
    return buffer.getvalue()

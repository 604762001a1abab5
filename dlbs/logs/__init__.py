"""dlbs.logs: parse experiment logs into records (flat ``{dotted.key: value}`` dicts).

``parser`` reads one log, ``pool`` many in parallel, ``sources`` gathers inputs (files,
folders, parsed files), ``select`` filters and projects records, ``store`` writes and reads
parsed files. It must not import ``dlbs.reports``.
"""
from __future__ import annotations

from dlbs.logs.parser import ParseResult, is_failed, parse_log, parse_text
from dlbs.logs.sources import load_records

__all__ = ["ParseResult", "is_failed", "load_records", "parse_log", "parse_text"]

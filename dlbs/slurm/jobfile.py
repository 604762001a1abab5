"""The record of a submitted Slurm job beside its log (``<log>.job``).

The executor writes it when the job is submitted and removes it when the job's log is
complete; a later ``run`` adopts the job through it (never submitting it twice) and
``status`` reads it to ask Slurm how the job is doing.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safeio import atomic_write_text, open_for_read

JOB_SUFFIX = ".job"
#: A job id as dlbs records it: ``1234``, or ``1234_7`` for task 7 of job array 1234.
JOB_ID = re.compile(r"^\d+(?:_\d+)?$")


def job_file(log_file: str | Path) -> Path:
    """The file that names the Slurm job of a log being written (``<log>.job``)."""
    return Path(f"{log_file}{JOB_SUFFIX}")


def read_job_file(log_file: str | Path) -> dict[str, Any] | None:
    """The job record of ``log_file`` ({"job_id", "offset", ...}), or None (also when a link
    or a FIFO was planted at its name: another job is never adopted through it)."""
    try:
        with os.fdopen(open_for_read(job_file(log_file)), encoding="utf-8") as stream:
            record = json.loads(stream.read(1 << 16))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and JOB_ID.match(str(record.get("job_id", ""))) \
        else None


def write_job_file(log_file: Path, record: Mapping[str, Any]) -> None:
    """Write the job record atomically (a reader never sees half of it)."""
    atomic_write_text(job_file(log_file), json.dumps(dict(record)) + "\n")

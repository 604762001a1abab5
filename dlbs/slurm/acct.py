"""What Slurm's accounting says a job used, as ``slurm.sacct.*`` facts of its log.

After a job ends, ``sacct -j JOB -n -P`` gives one line for the job and one per step; the job
line gives ``State``, ``ExitCode``, ``Elapsed`` (seconds), ``NodeList``, ``AllocTRES`` and
``ConsumedEnergy`` (joules, where an energy plugin counts it), and the steps their ``MaxRSS``
(the largest is kept, in MiB). A cluster without accounting storage (the test cluster of
these machines: ``AccountingStorageType=accounting_storage/none``) gives nothing: then no
``slurm.sacct.*`` fact is written, only ``slurm.sacct_note`` saying why; nothing is guessed.
"""
from __future__ import annotations

import re
from typing import Any

from dlbs.errors import RunError
from dlbs.slurm import ctl

FIELDS = ("JobID", "State", "ExitCode", "ElapsedRaw", "NodeList", "MaxRSS", "AllocTRES",
          "ConsumedEnergyRaw")
_UNITS = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2}


def rss_mb(text: str) -> float | None:
    """``MaxRSS`` (``123456K``, ``1.5G``, bytes without a unit) in MiB, or None."""
    match = re.match(r"^(\d+(?:\.\d+)?)([KMGT]?)$", text.strip())
    if match is None:
        return None
    value = float(match.group(1))
    return value * _UNITS[match.group(2)] if match.group(2) else value / 1024.0 ** 2


def parse(job_id: str, text: str) -> list[tuple[str, Any]]:
    """The ``slurm.sacct.*`` facts of ``sacct -P`` output (``FIELDS``), or a note."""
    lines = [line.split("|") for line in text.splitlines() if line.strip()]
    lines = [parts for parts in lines if len(parts) == len(FIELDS)]
    job = [parts for parts in lines if parts[0] == job_id]
    if not job:
        return [("slurm.sacct_note", (f"sacct knows no job {job_id} yet (accounting may lag "
                                     "behind the job's end)"))]
    main = dict(zip(FIELDS, job[-1]))  # the last attempt of a requeued job
    facts: list[tuple[str, Any]] = [("slurm.sacct.state", main["State"].split()[0]),
                                    ("slurm.sacct.exit_code", main["ExitCode"])]
    if main["ElapsedRaw"].isdigit():
        facts.append(("slurm.sacct.elapsed_s", int(main["ElapsedRaw"])))
    if main["NodeList"] and main["NodeList"] != "None assigned":
        facts.append(("slurm.sacct.node_list", main["NodeList"]))
    if main["AllocTRES"]:
        facts.append(("slurm.sacct.alloc_tres", main["AllocTRES"]))
    if main["ConsumedEnergyRaw"].isdigit() and int(main["ConsumedEnergyRaw"]) > 0:
        facts.append(("slurm.sacct.consumed_energy_j", int(main["ConsumedEnergyRaw"])))
    steps = [rss_mb(parts[5]) for parts in lines if parts[0].startswith(f"{job_id}.")]
    known = [value for value in steps if value is not None]
    if known:
        facts.append(("slurm.sacct.max_rss_mb", round(max(known), 1)))
    return facts


def sacct_facts(job_id: str) -> list[tuple[str, Any]]:
    """What ``sacct`` says of ``job_id``, or ``slurm.sacct_note`` with why it says nothing."""
    try:
        text = ctl.run(["sacct", "-j", job_id, "-n", "-P", "-D", "-o", ",".join(FIELDS)])
    except RunError as err:
        return [("slurm.sacct_note", f"no accounting facts: {err}")]
    return parse(job_id, text)

"""``slurm.sacct.*`` facts from what sacct prints (issue 22). The test cluster keeps no
accounting (``accounting_storage/none``), so sacct's lines are given here as a real
accounting cluster prints them; the cluster's own answer (accounting disabled) gives a note
and no figure."""
from __future__ import annotations

import pytest

from dlbs.errors import RunError
from dlbs.slurm import acct as slurmacct

SACCT = """\
1234|COMPLETED|0:0|95|n[1-2]||billing=16,cpu=16,gres/gpu=8,mem=64G,node=2|53012
1234.batch|COMPLETED|0:0|95|n1|2048K||0
1234.0|COMPLETED|0:0|90|n[1-2]|1.5G||52000
"""


def test_the_job_line_and_the_largest_step_rss_become_facts() -> None:
    facts = dict(slurmacct.parse("1234", SACCT))
    assert facts == {"slurm.sacct.state": "COMPLETED", "slurm.sacct.exit_code": "0:0",
                     "slurm.sacct.elapsed_s": 95, "slurm.sacct.node_list": "n[1-2]",
                     "slurm.sacct.alloc_tres": "billing=16,cpu=16,gres/gpu=8,mem=64G,node=2",
                     "slurm.sacct.consumed_energy_j": 53012, "slurm.sacct.max_rss_mb": 1536.0}


def test_a_requeued_job_reports_its_last_attempt() -> None:
    text = ("77|PREEMPTED|0:15|30|n1||cpu=2|0\n77|CANCELLED by 0|0:15|12|n2||cpu=2|0\n")
    facts = dict(slurmacct.parse("77", text))
    assert facts["slurm.sacct.state"] == "CANCELLED" and facts["slurm.sacct.node_list"] == "n2"
    assert "slurm.sacct.consumed_energy_j" not in facts and "slurm.sacct.max_rss_mb" not in facts


def test_no_accounting_gives_a_note_and_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(argv: list[str], timeout: float = 0) -> str:
        raise RunError("sacct -j failed: Slurm accounting storage is disabled")

    monkeypatch.setattr(slurmacct.ctl, "run", refuse)
    assert slurmacct.sacct_facts("5") == [
        ("slurm.sacct_note", ("no accounting facts: sacct -j failed: Slurm accounting storage "
                             "is disabled"))]
    assert dict(slurmacct.parse("5", ""))["slurm.sacct_note"].startswith("sacct knows no job 5")


@pytest.mark.parametrize("text,mb", [("2048K", 2.0), ("1.5G", 1536.0), ("3M", 3.0),
                                     ("1048576", 1.0), ("", None), ("n/a", None)])
def test_max_rss_units(text: str, mb: float | None) -> None:
    assert slurmacct.rss_mb(text) == mb

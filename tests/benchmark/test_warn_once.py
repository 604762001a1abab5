"""Issue 58, item 4: a warning every rank would repeat (an ignored flag, decided from the
command line) is printed by rank 0 alone; a fallback that may be one rank's own is printed
by every rank. Every rank keeps the full list for ``exp.warnings``."""
from __future__ import annotations

import pytest
from pytorch_benchmarks.output.reporter import Reporter, same_on_every_rank

IGNORED = "--tp_degree 2 ignored: it is the tensor-parallel group of --parallelism fsdp_tp"
FALLBACK = "no energy figures: RAPL not readable"


def test_an_ignored_flag_is_said_by_rank_zero_alone(capsys: pytest.CaptureFixture[str]) -> None:
    other_rank = Reporter(destination="none", enabled=False)
    other_rank.warn(IGNORED)
    other_rank.warn(FALLBACK)
    assert capsys.readouterr().err == f"WARNING: {FALLBACK}\n"
    assert other_rank.warnings == [IGNORED, FALLBACK]
    rank_zero = Reporter(destination="none", enabled=True)
    rank_zero.warn(IGNORED)
    assert capsys.readouterr().err == f"WARNING: {IGNORED}\n"


def test_which_warnings_are_the_same_on_every_rank() -> None:
    assert same_on_every_rank("--num_gpus 2 ignored with --device cpu (use torchrun)")
    assert same_on_every_rank("--cudnn_fastest ignored: it applies to GPUs only")
    assert not same_on_every_rank(FALLBACK)
    assert not same_on_every_rank("--seq_len was cut: not ignored here")

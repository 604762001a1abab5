"""A measurement never fails the run: a FLOP count that raises (torch's attention formula
refusing a shape, memory running out in the counted step) leaves ``results.mfu`` null with a
note; and a batch found by ``--batch_size max`` is counted on a few samples, so that the
eager counted step of a compiled model cannot run out of memory at the batch that just fits."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from pytorch_benchmarks.measure import session
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.run.phases import TrainRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec
from torch import nn

from .conftest import FEW, TINY_MLP, RunBench

#: What torch 2.11's attention formula raised for llama's grouped-query attention.
TORCH_2_11_GQA = "sdpa_flop_count: query/key/value shapes are incompatible"
IN, OUT, BATCH = 8, 3, 16


def test_a_flop_count_that_raises_leaves_mfu_null_and_the_run_ok(
        run_bench: RunBench, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(step: Any, samples: int, tp: int = 1) -> float:
        raise AssertionError(TORCH_2_11_GQA)

    monkeypatch.setattr(session, "flops_per_sample", refuse)
    code, facts = run_bench(*TINY_MLP, *FEW, "--peak_tflops", "1")
    assert code == 0 and facts["results.status"] == "ok"
    assert facts["results.throughput"] > 0
    assert facts["results.mfu"] is None
    assert TORCH_2_11_GQA in facts["results.mfu_note"]
    assert "could not be counted" in facts["results.mfu_note"]
    assert "results.flops_per_sample" not in facts and "results.tflops" not in facts
    assert any(TORCH_2_11_GQA in w for w in facts["exp.warnings"])


class Recorder(nn.Module):
    """A linear layer that records the rows of every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(IN, OUT)
        self.rows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(x.shape[0])
        return self.linear(x)


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(BATCH, IN), torch.randint(0, OUT, (BATCH,))


def _measures(count_share: int | None, warnings: list[str]) -> Measurements:
    setup = DeviceSetup(torch.device("cpu"))
    return Measurements(MeasureSpec(peak_tflops=1.0), "m", BATCH, setup, DistContext(),
                        "training", warnings.append, count_share=count_share)


def test_a_searched_batch_is_counted_on_a_few_samples_with_the_same_flops_per_sample() -> None:
    model = Recorder()
    runner: Any = TrainRunner(model, _source, DeviceSetup(torch.device("cpu")))
    whole = _measures(None, [])
    whole.before_warmup(runner.step)
    few = _measures(2, [])
    few.before_warmup(runner.step)
    assert model.rows == [BATCH, 2]
    assert few.flops == whole.flops and whole.flops is not None and whole.flops > 0
    assert runner.source is _source  # put back
    runner.step()
    assert model.rows[-1] == BATCH


def test_memory_running_out_in_the_counted_step_is_a_note_not_the_runs_end() -> None:
    """CUDA's out-of-memory error in the eager counted step (a compiled model at the batch
    that just fits): the run goes on, without MFU."""
    def step() -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB "
                                          "(GPU 0; 79.11 GiB total capacity)")

    warnings: list[str] = []
    measures = _measures(None, warnings)
    measures.before_warmup(step)
    facts = measures.results(100.0, 10, BATCH, 1)
    assert facts["results.mfu"] is None
    assert "OutOfMemoryError: CUDA out of memory" in facts["results.mfu_note"]
    assert warnings and warnings[0].startswith("no MFU: the FLOPs of a step could not be counted")

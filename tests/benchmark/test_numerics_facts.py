"""The numerics beside every speed figure (issue "Fast and right"): a training run's loss at
its first and last timed steps, finite and decreasing over a short window (milabench's rule),
and an inference run's fingerprint of its outputs on its fixed batch (reports mark a run whose
loss or outputs were not finite: tests/reports/test_numerics_mark.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.run.phases import LOSS_WINDOW, InferRunner, TrainRunner
from pytorch_benchmarks.run.workload import _fingerprint_hook, _loss_hook
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
CPU = DeviceSetup(torch.device("cpu"))
ALONE = DistContext()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(8, 4, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


class Poisoned(nn.Module):
    """A linear classifier whose outputs turn NaN from its ``poison_at``-th forward pass on."""

    def __init__(self, poison_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.calls, self.poison_at = nn.Linear(4, 3), 0, poison_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.fc(x)
        if self.poison_at is not None and self.calls >= self.poison_at:
            out = out * float("nan")
        return out


def test_a_training_run_keeps_its_first_timed_loss_and_a_window_of_the_last() -> None:
    runner = TrainRunner(Poisoned(), _batch, CPU)
    runner.run(3, 20)  # warm-up losses are not the first timed one
    assert runner.timed_steps == 20 and len(runner.recent_losses) == LOSS_WINDOW
    facts = _loss_hook(runner, ALONE, CPU.device)([])
    assert facts["results.loss_finite"] is True and facts["results.loss_decreasing"] is True
    assert facts["results.loss_first"] > facts["results.loss_last"]
    assert facts["results.loss_last"] == pytest.approx(float(runner.last_loss))


def test_a_loss_that_turns_nan_is_not_finite_and_says_nothing_of_decreasing() -> None:
    runner = TrainRunner(Poisoned(poison_at=10), _batch, CPU)
    runner.run(2, 12)
    facts = _loss_hook(runner, ALONE, CPU.device)([])
    assert facts["results.loss_finite"] is False and facts["results.loss_decreasing"] is None


def test_one_timed_step_is_no_window() -> None:
    runner = TrainRunner(Poisoned(), _batch, CPU)
    runner.run(1, 1)
    facts = _loss_hook(runner, ALONE, CPU.device)([])
    assert facts["results.loss_first"] == facts["results.loss_last"]
    assert facts["results.loss_finite"] is True and facts["results.loss_decreasing"] is None


def test_the_inference_fingerprint_is_the_fixed_batchs_outputs_and_sees_a_nan() -> None:
    model = Poisoned()
    runner = InferRunner(model, _batch, CPU)
    runner.run(1, 3)
    facts = _fingerprint_hook(runner, ALONE, CPU.device)([])
    with torch.no_grad():
        expected = model.fc(_batch()[0]).double()
    assert facts["results.output_norm"] == pytest.approx(float(expected.norm()), rel=1e-6)
    assert facts["results.output_sum"] == pytest.approx(float(expected.sum()), rel=1e-6, abs=1e-9)
    assert facts["results.output_finite"] is True
    poisoned = InferRunner(Poisoned(poison_at=1), _batch, CPU)
    poisoned.run(0, 1)
    assert _fingerprint_hook(poisoned, ALONE, CPU.device)([])["results.output_finite"] is False


def _facts(*flags: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "deep_mnist", "--device",
                           "cpu", "--batch_size", "8", "--num_warmup_batches", "1", *flags],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line[2:].partition("__=")[0]: json.loads(line.partition("__=")[2])
            for line in done.stdout.splitlines() if line.startswith("__") and "__=" in line}


def test_the_benchmark_logs_the_numerics_of_both_phases_and_the_same_seed_the_same_print(
        ) -> None:
    train = _facts("--num_batches", "12")
    assert train["results.loss_finite"] is True and train["results.loss_decreasing"] is True
    assert "results.output_norm" not in train
    one, two = (_facts("--forward_only", "true", "--num_batches", "2") for _ in range(2))
    assert one["results.output_finite"] is True and "results.loss_first" not in one
    assert one["results.output_norm"] == two["results.output_norm"] > 0
    assert one["results.output_sum"] == two["results.output_sum"]

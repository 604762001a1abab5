"""FLOPs of a DataParallel run: its replicas' forwards run in threads the counter does not
see, so the count runs the plain module on one replica's share of the batch."""
from __future__ import annotations

import threading
from typing import Any

import pytest
import torch
from pytorch_benchmarks.measure.flops import count_step_flops, data_parallel_inner
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.run.phases import InferRunner, Runner, TrainRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec
from torch import nn

SHARE, REPLICAS, IN, HIDDEN, OUT = 2, 2, 8, 16, 3
FORWARD = 2 * (IN * HIDDEN + HIDDEN * OUT)  # per sample
TRAINING = 3 * FORWARD - 2 * IN * HIDDEN  # no gradient of the data


class ThreadedDataParallel(nn.DataParallel):
    """DataParallel's ``parallel_apply`` on a CPU: each replica's share of the batch runs in
    a thread of its own (with the caller's grad mode, as torch does), then the outputs are
    gathered."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module)  # no GPU: no device_ids, nothing replicated

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        grad_enabled = torch.is_grad_enabled()
        chunks = inputs[0].chunk(REPLICAS)
        outputs: list[Any] = [None] * len(chunks)

        def apply(index: int, chunk: torch.Tensor) -> None:
            with torch.set_grad_enabled(grad_enabled):
                outputs[index] = self.module(chunk)

        threads = [threading.Thread(target=apply, args=(i, c)) for i, c in enumerate(chunks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return torch.cat(outputs)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    rows = SHARE * REPLICAS  # DataParallel's batch: every replica's share
    return torch.randn(rows, IN), torch.randint(0, OUT, (rows,))


def _runner(phase: str, model: nn.Module) -> Runner:
    setup = DeviceSetup(torch.device("cpu"))
    return InferRunner(model, _source, setup) if phase == "inference" else \
        TrainRunner(model, _source, setup)


def _count(runner: Runner) -> int:
    with runner.context():
        return count_step_flops(runner.step)


def test_threads_hide_a_data_parallel_forward_from_the_counter() -> None:
    """What the fix is for: counted as it runs, the threaded forward is lost."""
    assert _count(_runner("inference", ThreadedDataParallel(_mlp()))) == 0
    assert _count(_runner("inference", _mlp())) == SHARE * REPLICAS * FORWARD


def _flops_per_sample(runner: Runner, phase: str) -> float | None:
    setup = DeviceSetup(torch.device("cpu"), num_devices=REPLICAS)
    measures = Measurements(MeasureSpec(peak_tflops=1.0), "m", SHARE, setup, DistContext(),
                            phase, lambda _: None)
    with runner.context():
        measures.before_warmup(runner.step)
    return measures.flops


@pytest.mark.parametrize("phase,expected", [("inference", FORWARD), ("training", TRAINING)])
def test_a_data_parallel_step_counts_the_plain_module(phase: str, expected: int) -> None:
    model = ThreadedDataParallel(_mlp())
    runner: Any = _runner(phase, model)
    source = runner.source
    assert _flops_per_sample(runner, phase) == expected
    assert runner.model is model and runner.source is source  # put back
    runner.step()  # and still runs


@pytest.mark.parametrize("phase,expected", [("inference", FORWARD), ("training", TRAINING)])
def test_torch_data_parallel_on_a_cpu_counts_alike(phase: str, expected: int) -> None:
    """Without GPUs torch's DataParallel calls its module directly: the same figure."""
    runner: Any = _runner(phase, nn.DataParallel(_mlp()))
    assert _flops_per_sample(runner, phase) == expected


def test_the_plain_module_is_found_under_compile_and_data_parallel() -> None:
    mlp = _mlp()
    assert data_parallel_inner(nn.DataParallel(mlp)) is mlp
    assert data_parallel_inner(torch.compile(nn.DataParallel(mlp))) is mlp
    assert data_parallel_inner(mlp) is None and data_parallel_inner(torch.compile(mlp)) is None

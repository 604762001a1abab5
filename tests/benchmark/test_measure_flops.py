"""FLOP counting and MFU: exact counts on linear models, and how tflops and mfu follow."""
from __future__ import annotations

import pytest
import torch
from pytorch_benchmarks.measure.flops import count_step_flops, flops_per_sample
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.run.phases import InferRunner, TrainRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec
from torch import nn

BATCH, IN, HIDDEN, OUT = 4, 8, 16, 3


def _linear_stack() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(BATCH, IN), torch.randint(0, OUT, (BATCH,))


FORWARD = 2 * BATCH * (IN * HIDDEN + HIDDEN * OUT)  # 2 FLOPs per multiply-add


def test_one_linear_layer_forward_is_2_in_out_batch() -> None:
    layer = nn.Linear(IN, OUT)
    x = torch.randn(BATCH, IN)
    assert count_step_flops(lambda: layer(x)) == 2 * IN * OUT * BATCH


def test_inference_step_counts_the_forward_pass() -> None:
    runner = InferRunner(_linear_stack(), _source, DeviceSetup(torch.device("cpu")))
    with runner.context():
        assert count_step_flops(runner.step) == FORWARD


def test_training_step_counts_forward_and_backward_not_the_optimizer() -> None:
    """Backward is twice the forward (input and weight gradients), except that no gradient
    of the data is computed: the first layer's backward is its weight gradient alone."""
    runner = TrainRunner(_linear_stack(), _source, DeviceSetup(torch.device("cpu")))
    first_layer_input_grad = 2 * BATCH * IN * HIDDEN
    assert count_step_flops(runner.step) == 3 * FORWARD - first_layer_input_grad


def test_a_layer_whose_input_needs_gradients_is_three_times_the_forward() -> None:
    layer = nn.Linear(IN, OUT)
    x = torch.randn(BATCH, IN, requires_grad=True)
    assert count_step_flops(lambda: layer(x).sum().backward()) == 3 * 2 * IN * OUT * BATCH


def test_flops_are_per_step_and_divided_by_the_batch() -> None:
    runner = InferRunner(_linear_stack(), _source, DeviceSetup(torch.device("cpu")))
    with runner.context():
        assert count_step_flops(runner.step) == count_step_flops(runner.step)  # per step
        assert flops_per_sample(runner.step, BATCH) == FORWARD / BATCH


def test_a_step_without_matmuls_counts_nothing() -> None:
    x = torch.randn(BATCH, IN)
    assert flops_per_sample(lambda: torch.relu(x), BATCH) is None


def test_a_compiled_model_is_counted_eagerly() -> None:
    layer = nn.Linear(IN, OUT)
    compiled = torch.compile(layer)
    x = torch.randn(BATCH, IN)
    assert count_step_flops(lambda: compiled(x)) == 2 * IN * OUT * BATCH


def _measurements(peak: float, batch: int = BATCH, num_devices: int = 1) -> Measurements:
    setup = DeviceSetup(torch.device("cpu"), num_devices=num_devices)
    return Measurements(MeasureSpec(peak_tflops=peak), "m", batch, setup, DistContext(),
                        "inference", lambda _: None)


@pytest.mark.parametrize("replicas", [1, 4])
def test_mfu_is_tflops_over_the_peak_of_every_replica(replicas: int) -> None:
    measures = _measurements(peak=2.0)
    measures.prepare()
    measures.flops = 1e9  # per sample
    facts = measures._flop_facts(throughput=500.0, replicas=replicas)  # global samples/s
    assert facts["results.tflops"] == pytest.approx(0.5)
    assert facts["results.mfu"] == pytest.approx(0.5 / (2.0 * replicas))
    assert facts["results.peak_tflops"] == 2.0 and facts["results.peak_source"] == "--peak_tflops"


def test_flops_per_sample_uses_this_process_batch() -> None:
    measures = _measurements(peak=1.0, batch=2, num_devices=3)  # DataParallel: 6 per step
    runner = InferRunner(_linear_stack(), lambda: (torch.randn(6, IN), torch.zeros(6)),
                         DeviceSetup(torch.device("cpu")))
    with runner.context():
        measures.before_warmup(runner.step)
    assert measures.flops == 2 * (IN * HIDDEN + HIDDEN * OUT)

"""GPU peak memory (review D5): beside the allocated tensors' peak, the caching allocator's
reserved peak and the allocation retries of the timed window (CUDA calls faked)."""
from __future__ import annotations

import pytest
import torch
from pytorch_benchmarks.measure import memory
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec

MIB = 2**20


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Two fake GPUs: allocated 1/2 MiB, reserved 5/3 MiB; returns their retry counters."""
    retries = {0: 7, 1: 1}
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *_: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda i: (i + 1) * MIB)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda i: (5 - 2 * i) * MIB)
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda i: {"num_alloc_retries": retries[i]})
    return retries


def test_a_gpu_window_logs_the_reserved_peak_and_the_retries_it_saw(
        two_gpus: dict[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    setup = DeviceSetup(torch.device("cuda", 0), num_devices=2)
    monkeypatch.setattr(setup, "synchronizer", lambda: None)
    measures = Measurements(MeasureSpec(peak_tflops=1.0), "m", 2, setup, DistContext(),
                            "training", lambda _: None)
    with measures.window():
        two_gpus[0] += 2  # the allocator freed its cache and retried cudaMalloc twice ...
        two_gpus[1] += 1  # ... and once on the second GPU
    facts = measures.results(10.0, 5, 4, 2)
    assert facts["results.peak_memory_mb"] == 2.0              # tensors: the larger GPU's
    assert facts["results.peak_memory_reserved_mb"] == 5.0     # the reserve: the larger GPU's
    assert facts["results.num_alloc_retries"] == 3             # in the window, both GPUs


def test_a_cpu_has_no_reserve_or_retries() -> None:
    assert memory.gpu_reserve_facts(torch.device("cpu"), 1, 0) == {}
    assert memory.alloc_retries(torch.device("cpu")) == 0


def test_the_terminal_block_says_which_memory_figure_it_shows() -> None:
    from pytorch_benchmarks.output.display import result_lines
    results = {"results.throughput": 5.0, "results.peak_memory_mb": 1200.0,
               "results.peak_memory_reserved_mb": 1500.0,
               "results.peak_memory_scope": "timed_window"}
    text = "\n".join(result_lines("m", results, 1, [], "on stdout"))
    assert "peak 1200.0 MiB allocated, 1500.0 MiB reserved (timed_window)" in text

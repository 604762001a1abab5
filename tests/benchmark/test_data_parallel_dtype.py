"""``nn.DataParallel`` with ``--dtype bfloat16`` computes in bfloat16 in every replica.

torch's ``parallel_apply`` runs each replica in a thread and re-enters autocast there without
a dtype (torch 2.11 and 2.13 ``torch/nn/parallel/parallel_apply.py``, ``_worker``:
``torch.amp.autocast(device_type, enabled=autocast_enabled)``); autocast's dtype is
thread-local, so the replica gets the device's default: float16 on CUDA. No GPU here: the
worker's lines are replayed on the CPU, whose autocast default is bfloat16, so the run asks for
float16 and the defect shows as bfloat16: the same mechanism, mirrored."""
from __future__ import annotations

import threading
from typing import Any

import torch
from pytorch_benchmarks.run.workload import _wrap
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from torch import nn

#: What the run asks for, and what a CPU's autocast re-entered without a dtype gives.
ASKED, DEVICE_DEFAULT = torch.float16, torch.bfloat16


def _replica_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of a linear layer's output when ``module`` runs as DataParallel runs a
    replica: in a new thread, autocast re-entered without a dtype, inside the caller's
    autocast to :data:`ASKED`."""
    seen: list[Any] = []

    def worker(enabled: bool) -> None:  # torch's _worker, less the device and stream
        with torch.amp.autocast("cpu", enabled=enabled):
            seen.append(module(torch.randn(2, 4)).dtype)

    with torch.autocast("cpu", dtype=ASKED):
        thread = threading.Thread(target=worker, args=(torch.is_autocast_enabled("cpu"),))
        thread.start()
        thread.join()
    return seen[0]


def test_the_replica_thread_loses_the_dtype_the_run_asked_for() -> None:
    """The mechanism, shown: a plain module in the replica's thread computes in the device's
    default autocast dtype."""
    assert _replica_dtype(nn.Linear(4, 4)) == DEVICE_DEFAULT


def test_data_parallel_replicas_compute_in_the_dtype_asked_for() -> None:
    setup = DeviceSetup(torch.device("cpu"), num_devices=2, dtype="float16")
    model = _wrap(nn.Linear(4, 4), False, setup, DistContext())
    assert isinstance(model, nn.DataParallel)
    assert _replica_dtype(model.module) == ASKED


def test_a_float32_data_parallel_model_is_not_wrapped() -> None:
    linear = nn.Linear(4, 4)
    model = _wrap(linear, False, DeviceSetup(torch.device("cpu"), num_devices=2), DistContext())
    assert isinstance(model, nn.DataParallel) and model.module is linear

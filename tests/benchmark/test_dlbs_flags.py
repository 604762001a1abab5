"""DLBS's command line of its PyTorch benchmark, and a log of ``--log_file`` alone that names
its experiment (so reports never merge two different runs)."""
from __future__ import annotations

from pytorch_benchmarks.options import parse_args

from .conftest import RunBench

SMALL = ("--model", "deep_mnist", "--batch_size", "2", "--num_batches", "2",
         "--num_warmup_batches", "1", "--device", "cpu")


def test_a_log_of_the_benchmark_alone_names_its_experiment(run_bench: RunBench) -> None:
    code, train = run_bench(*SMALL)
    assert code == 0
    code, infer = run_bench(*SMALL, "--forward_only")
    assert code == 0
    for facts, phase in ((train, "training"), (infer, "inference")):
        assert {k: facts[k] for k in ("exp.framework", "exp.model", "exp.phase",
                                      "exp.replica_batch", "exp.dtype", "exp.device_type")} \
            == {"exp.framework": "pytorch", "exp.model": "deep_mnist", "exp.phase": phase,
                "exp.replica_batch": 2, "exp.dtype": "float32", "exp.device_type": "cpu"}


def test_dlbs_launch_flags_are_accepted() -> None:
    # python -m torch.distributed.launch passes --local-rank=N (older torch: --local_rank)
    for flag in ("--local-rank=1", "--local_rank=1"):
        assert parse_args([*SMALL, flag]).device.local_rank == 1
    assert parse_args([*SMALL, "--dist_backend", "gloo"]).device.dist_backend == "gloo"


def test_dlbs_synthetic_device_data_is_synthetic_in_device_memory() -> None:
    data = parse_args([*SMALL, "--data", "synthetic/device"]).data
    assert data.source == "synthetic" and data.synthetic_on_host is False

"""Device set-up rules, GPU ones included (CUDA calls are faked: no GPU on these machines)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.options import parse_args
from pytorch_benchmarks.runtime.device import DeviceSetup, setup_device


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Pretend two CUDA GPUs exist; record set_device calls. Backend flags are restored."""
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Fake GPU")
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", torch.backends.cudnn.allow_tf32)
    precision = torch.get_float32_matmul_precision()
    yield calls
    torch.set_float32_matmul_precision(precision)


def _setup(argv: list[str], local: tuple[int, int] | None = None,
           ndim: int = 4) -> tuple[DeviceSetup, list[str]]:
    warnings: list[str] = []
    spec = parse_args(argv)
    setup = setup_device(spec.device, local, warnings.append, ndim,
                         spec.data.synthetic_on_host and spec.data.source == "synthetic")
    return setup, warnings


def test_gpu_backend_flags_follow_the_cudnn_flags(fake_gpus: list[int]) -> None:
    setup, warnings = _setup(["--device", "gpu", "--cudnn_benchmark", "true",
                              "--cudnn_fastest", "true"])
    assert setup.device == torch.device("cuda", 0) and fake_gpus == [0] and not warnings
    assert setup.backend_flags["cudnn.benchmark"] is True
    assert setup.backend_flags["float32_matmul_precision"] == "high"
    assert setup.synchronizer() is torch.cuda.synchronize


def test_full_precision_matmuls_without_cudnn_fastest(fake_gpus: list[int]) -> None:
    setup, _ = _setup(["--device", "cuda", "--cudnn_benchmark", "false"])
    assert setup.backend_flags["cudnn.benchmark"] is False
    assert setup.backend_flags["float32_matmul_precision"] == "highest"


def test_several_gpus_without_torchrun_use_data_parallel(fake_gpus: list[int]) -> None:
    setup, warnings = _setup(["--device", "gpu", "--num_gpus", "2"])
    assert setup.num_devices == 2 and "DataParallel" in warnings[0]


def test_under_torchrun_each_process_takes_its_local_rank(fake_gpus: list[int]) -> None:
    setup, warnings = _setup(["--device", "gpu", "--num_gpus", "2"], local=(1, 2))
    assert setup.device == torch.device("cuda", 1) and setup.num_devices == 1 and not warnings
    _, warnings = _setup(["--device", "gpu", "--num_gpus", "4"], local=(0, 2))
    assert "each of the 2 local processes" in warnings[0]


@pytest.mark.parametrize("argv,message", [
    (["--device", "gpu", "--num_gpus", "3"], "only 2 visible"),
    (["--device", "gpu", "--dtype", "bfloat16"], "bfloat16 is not supported by Fake GPU"),
])
def test_impossible_gpu_requests_are_errors(fake_gpus: list[int], argv: list[str],
                                            message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        _setup(argv)


def test_cpu_setup_records_threads_and_states_ignored_gpu_flags() -> None:
    setup, warnings = _setup(["--device", "cpu", "--cudnn_fastest", "--num_gpus", "2"])
    assert setup.backend_flags["num_threads"] == torch.get_num_threads()
    assert len(warnings) == 2 and setup.synchronizer() is None


@pytest.mark.parametrize("dtype,autocast", [("float32", None), ("bfloat16", torch.bfloat16),
                                            ("float16", torch.float16)])
def test_precision_maps_to_autocast_and_a_scaler_for_float16(
        dtype: str, autocast: torch.dtype | None) -> None:
    setup, _ = _setup(["--device", "cpu", "--dtype", dtype])
    assert setup.autocast_dtype == autocast
    assert (setup.grad_scaler() is not None) == (dtype == "float16")


def test_channels_last_only_for_images() -> None:
    assert _setup(["--device", "cpu", "--channels_last"])[0].memory_format == torch.channels_last
    setup, warnings = _setup(["--device", "cpu", "--channels_last"], ndim=2)
    assert setup.memory_format == torch.contiguous_format and "ignored" in warnings[0]


def test_emulated_bfloat16_on_an_older_gpu_is_stated(fake_gpus: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation)
    setup, warnings = _setup(["--device", "gpu", "--dtype", "bfloat16"])
    assert setup.dtype == "bfloat16" and "emulated on Fake GPU" in warnings[0]


@pytest.mark.parametrize("fastest,tf32", [pytest.param("false", False, id="float32-is-fp32"),
                                          pytest.param("true", True, id="fastest-is-tf32")])
def test_float32_convolutions_and_matmuls_follow_cudnn_fastest_alike(
        fake_gpus: list[int], monkeypatch: pytest.MonkeyPatch, fastest: str, tf32: bool) -> None:
    """GPU review D2: torch's default runs cuDNN convolutions TF32 while matmuls are FP32, so
    a float32 CNN ran TF32 against the FP32 peak. float32 is FP32 for both unless
    --cudnn_fastest (TF32 for both), and both flags are logged."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default
    setup, _ = _setup(["--device", "gpu", "--cudnn_fastest", fastest])
    assert torch.backends.cudnn.allow_tf32 is tf32
    assert torch.backends.cuda.matmul.allow_tf32 is tf32
    assert setup.backend_flags["cudnn.allow_tf32"] is tf32
    assert setup.backend_flags["cuda.matmul.allow_tf32"] is tf32
    assert setup.backend_flags["float32_matmul_precision"] == ("high" if tf32 else "highest")


def test_a_cpu_logs_its_float32_matmul_precision() -> None:
    setup, _ = _setup(["--device", "cpu"])
    assert setup.backend_flags["float32_matmul_precision"] == torch.get_float32_matmul_precision()

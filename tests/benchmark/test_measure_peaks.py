"""Peak TFLOPS: the GPU table's lookup, --peak_tflops, and the CPU calibration's cache."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.measure import calibration, peaks
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec


@pytest.mark.parametrize("name,dtype,tf32,expected", [
    pytest.param("NVIDIA H100 80GB HBM3", "bfloat16", False, 989.5, id="h100-sxm-bf16"),
    pytest.param("NVIDIA H100 PCIe", "float16", False, 756.5, id="h100-pcie-fp16"),
    pytest.param("NVIDIA H100 NVL", "float32", True, 417.5, id="h100-nvl-tf32"),
    pytest.param("NVIDIA H200", "float32", False, 67.0, id="h200-fp32"),
    pytest.param("NVIDIA A100-SXM4-80GB", "bfloat16", False, 312.0, id="a100-sxm-80"),
    pytest.param("NVIDIA A100-PCIE-40GB", "float32", True, 156.0, id="a100-pcie-tf32"),
    pytest.param("NVIDIA A100 80GB PCIe", "float32", False, 19.5, id="a100-80-pcie-fp32"),
    pytest.param("Tesla V100-SXM2-32GB", "float16", False, 125.0, id="v100-fp16"),
    pytest.param("Tesla V100-SXM2-16GB", "float32", True, 15.7, id="v100-no-tf32-uses-fp32"),
    pytest.param("NVIDIA A10", "bfloat16", False, 125.0, id="a10-not-a100"),
    pytest.param("NVIDIA L4", "bfloat16", False, 121.0, id="l4-not-l40s"),
    pytest.param("NVIDIA L40S", "float16", False, 362.05, id="l40s"),
    pytest.param("Tesla T4", "float16", False, 65.0, id="t4"),
    pytest.param("NVIDIA B200", "bfloat16", False, 2250.0, id="b200"),
])
def test_the_table_gives_the_dense_peak_of_a_known_gpu(name: str, dtype: str, tf32: bool,
                                                      expected: float) -> None:
    found = peaks.gpu_peak(name, dtype, tf32)
    assert isinstance(found, tuple)
    tflops, source = found
    assert tflops == expected
    assert source.startswith(f"table: {name} {dtype}")
    assert "datasheet" in source or "HGX" in source


def test_every_row_names_its_source_and_matches_its_own_title() -> None:
    for row in peaks.GPU_PEAKS:
        assert "http" in row.source
        assert peaks.find_gpu(f"NVIDIA {row.title}") is not None


@pytest.mark.parametrize("name,dtype,why", [
    pytest.param("NVIDIA GeForce RTX 4090", "float32", "no peak TFLOPS known", id="unknown"),
    pytest.param("Tesla T4", "bfloat16", "no bfloat16 peak known for T4", id="no-bf16"),
])
def test_no_peak_says_why(name: str, dtype: str, why: str) -> None:
    found = peaks.gpu_peak(name, dtype, False)
    assert isinstance(found, str) and why in found


def _args(peak: float = 0.0) -> tuple[MeasureSpec, str, int]:
    return (MeasureSpec(peak_tflops=peak), "m", 2)


def test_an_unknown_gpu_has_no_mfu_and_a_warning_naming_the_flag(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Mystery GPU 9000")
    warnings: list[str] = []
    measures = Measurements(*_args(), DeviceSetup(torch.device("cuda", 0)), DistContext(),
                            "training", warnings.append)
    assert measures._find_peak() is None
    assert any("Mystery GPU 9000" in w and "--peak_tflops" in w for w in warnings)
    measures.flops = 1e9
    facts = measures._flop_facts(100.0, 1)
    # issue 19: null with the reason, not absent (absent: no FLOPs counted)
    assert facts["results.mfu"] is None and "results.peak_tflops" not in facts
    assert "Mystery GPU 9000" in facts["results.mfu_note"]
    assert facts["results.tflops"] == pytest.approx(0.1)


def test_peak_tflops_flag_overrides_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")
    measures = Measurements(*_args(123.0), DeviceSetup(torch.device("cuda", 0)), DistContext(),
                            "training", print)
    assert measures._find_peak() == (123.0, "--peak_tflops")


def test_a_known_gpu_uses_the_table_for_its_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")
    setup = DeviceSetup(torch.device("cuda", 0), dtype="bfloat16")
    peak = Measurements(*_args(), setup, DistContext(), "training", print)._find_peak()
    assert peak is not None and peak[0] == 989.5
    assert peak[1].startswith("table: NVIDIA H100 80GB HBM3 bfloat16 (bf16) dense")


def test_the_cpu_peak_is_measured_once_then_read_from_the_cache(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path))
    calls: list[str] = []
    rechecks: list[tuple[str, int, str]] = []

    def measure(dtype: str) -> calibration.Calibration:
        calls.append(dtype)
        return calibration.Calibration(0.25, 512, "linear")

    def recheck(dtype: str, size: int, op: str) -> float:
        rechecks.append((dtype, size, op))
        return 0.2  # lower: logged as timed now (issue 19), the cached best stays

    first = calibration.matmul_peak("float32", measure, recheck)
    second = calibration.matmul_peak("float32", measure, recheck)
    assert calls == ["float32"] and rechecks == [("float32", 512, "linear")]
    assert first[0] == 0.25 and second[0] == 0.2
    assert first[1].startswith("measured: CPU float32 matmul 512x512 x @ W.T (F.linear)")
    assert str(tmp_path) in first[1]
    cached = json.loads((tmp_path / calibration.CACHE_FILE).read_text())
    assert cached == {calibration.cache_key("float32"): {"tflops": 0.25, "size": 512,
                                                         "op": "linear"}}
    calibration.matmul_peak("bfloat16", measure, recheck)  # another dtype: another key, measured
    assert calls == ["float32", "bfloat16"]


def test_the_cache_key_names_host_cpu_threads_dtype_and_torch() -> None:
    key = calibration.cache_key("bfloat16")
    assert f"|{torch.get_num_threads()}|bfloat16|{torch.__version__}" in key


def test_a_corrupt_cache_is_measured_again(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path))
    (tmp_path / calibration.CACHE_FILE).write_text("{not json")
    found = calibration.matmul_peak("float32", lambda _: calibration.Calibration(0.5, 256, "mm"))
    assert found[0] == 0.5


def _clock(rates: dict[str, float], calls: list[tuple[str, int]]) -> calibration.Clock:
    """A clock whose matmuls run at ``rates`` (TFLOPS) whatever their side."""
    def clock(op: str, size: int, dtype: torch.dtype) -> float:
        calls.append((op, size))
        return 2 * size**3 / (rates[op] * 1e12)
    return clock


def test_the_calibration_grows_every_matmul_to_the_largest_side() -> None:
    calls: list[tuple[str, int]] = []
    rates = {"linear": 1.0, "mm": 2.0, "mm_ta": 1.5}  # fast: 2048 takes ms
    tflops, size, op = calibration.measure_matmul_tflops("float32", _clock(rates, calls))
    assert (tflops, size, op) == (pytest.approx(2.0), calibration.SIZES[-1], "mm")
    assert {s for _, s in calls} == set(calibration.SIZES)
    assert {o for o, _ in calls} == set(calibration.OPS)


def test_a_slow_matmul_stops_the_growth_of_its_matrices() -> None:
    """At 2 GFLOP/s 512 takes 0.13 s: 1024 (8x) would pass STEP_S, so 512 is that matmul's
    last side; a faster one goes on."""
    calls: list[tuple[str, int]] = []
    rates = {"linear": 0.02, "mm": 0.002, "mm_ta": 0.002}
    tflops, _, op = calibration.measure_matmul_tflops("bfloat16", _clock(rates, calls))
    assert op == "linear" and tflops == pytest.approx(0.02)
    assert max(s for o, s in calls if o == "mm") == 512
    assert max(s for o, s in calls if o == "linear") > 512


def test_a_real_calibration_gives_a_positive_rate() -> None:
    tflops, size, op = calibration.measure_matmul_tflops("float32")
    assert tflops > 0 and size in calibration.SIZES and op in calibration.OPS


# -- GPU review D2: the float32 column follows the math both kinds of op use ------------------
@pytest.fixture
def h100(monkeypatch: pytest.MonkeyPatch) -> None:
    """An H100 SXM by name; the float32 backend flags restored after the test."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", torch.backends.cudnn.allow_tf32)
    precision = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(precision)


def _float32_peak(conv_tf32: bool, precision: str) -> tuple[tuple[float, str] | None, str | None]:
    torch.backends.cudnn.allow_tf32 = conv_tf32
    torch.set_float32_matmul_precision(precision)
    measures = Measurements(*_args(), DeviceSetup(torch.device("cuda", 0)), DistContext(),
                            "training", lambda _: None)
    return measures._find_peak(), measures.peak_note


@pytest.mark.parametrize("conv_tf32,precision,expected", [
    pytest.param(False, "highest", (67.0, "(fp32)"), id="fp32-everywhere"),
    pytest.param(True, "high", (494.5, "(tf32)"), id="tf32-everywhere"),
])
def test_the_float32_peak_is_the_column_of_the_math_the_run_uses(
        h100: None, conv_tf32: bool, precision: str, expected: tuple[float, str]) -> None:
    peak, _ = _float32_peak(conv_tf32, precision)
    assert peak is not None and peak[0] == expected[0] and expected[1] in peak[1]


def test_tf32_convolutions_with_fp32_matmuls_have_no_single_peak(h100: None) -> None:
    """torch's own default (convolutions TF32, matmuls FP32): the FP32 column would make a
    float32 ResNet-50 look 0.3-0.9 of a peak its math never ran on; no MFU, and why."""
    peak, note = _float32_peak(True, "highest")
    assert peak is None and note is not None
    assert "torch.backends.cudnn.allow_tf32=True" in note and "--peak_tflops" in note


# -- GPU review D11: MIG slices and the GPUs the table missed -----------------------------------
@pytest.mark.parametrize("name,dtype,tf32,expected", [
    pytest.param("NVIDIA H800", "bfloat16", False, 989.5, id="h800-sxm"),
    pytest.param("NVIDIA H800 PCIe", "float16", False, 756.5, id="h800-pcie"),
    pytest.param("NVIDIA H20", "bfloat16", False, 148.0, id="h20-not-h200"),
    pytest.param("NVIDIA H20", "float32", True, 74.0, id="h20-tf32"),
    pytest.param("NVIDIA GH200 480GB", "bfloat16", False, 989.5, id="gh200"),
    pytest.param("NVIDIA B200", "float32", True, 1125.0, id="b200-tf32-half-of-bf16"),
])
def test_the_table_knows_h800_h20_gh200_and_b200_tf32(name: str, dtype: str, tf32: bool,
                                                     expected: float) -> None:
    found = peaks.gpu_peak(name, dtype, tf32)
    assert isinstance(found, tuple) and found[0] == expected
    row = peaks.find_gpu(name)
    assert row is not None and row.title.split()[0] in name


def test_an_a10g_is_not_given_the_a10s_peak_and_says_why() -> None:
    found = peaks.gpu_peak("NVIDIA A10G", "bfloat16", False)
    assert isinstance(found, str) and "A10G" in found and "no NVIDIA datasheet" in found


def test_a_mig_slice_gets_its_share_of_the_gpus_peak() -> None:
    """A 1g.10gb slice of an H100 has 16 of its 132 SMs: the whole GPU's 989.5 would
    understate its MFU about 8x."""
    found = peaks.gpu_peak("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "bfloat16", False, sms=16)
    assert isinstance(found, tuple)
    assert found[0] == pytest.approx(989.5 * 16 / 132)
    assert "MIG slice's 16 of 132 SMs" in found[1]


@pytest.mark.parametrize("name,sms", [
    pytest.param("NVIDIA B200 MIG 1g.23gb", 18, id="row-without-sm-count"),
    pytest.param("NVIDIA H100 80GB HBM3 MIG 1g.10gb", None, id="sms-unknown"),
])
def test_a_mig_slice_of_unknown_share_has_no_peak(name: str, sms: int | None) -> None:
    found = peaks.gpu_peak(name, "bfloat16", False, sms=sms)
    assert isinstance(found, str) and "MIG slice" in found


def test_the_run_reads_a_mig_slices_sms_from_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name",
                        lambda *_: "NVIDIA A100-SXM4-40GB MIG 3g.20gb")
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda *_: type("Props", (), {"multi_processor_count": 42})())
    setup = DeviceSetup(torch.device("cuda", 0), dtype="bfloat16")
    peak = Measurements(*_args(), setup, DistContext(), "training", print)._find_peak()
    assert peak is not None and peak[0] == pytest.approx(312.0 * 42 / 108)

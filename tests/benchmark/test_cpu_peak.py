"""A CPU's theoretical peak from a fake /proc and /sys: cores x clock x FLOPs per cycle, each
part named in the source; no peak (and so no MFU) where a part cannot be read."""
from __future__ import annotations

from pathlib import Path

import pytest
from pytorch_benchmarks.measure import cpu_peak

X86_FLAGS = {
    "avx512": "fpu sse sse2 avx fma avx2 avx512f avx512dq",
    "avx512-bf16": "sse2 avx fma avx2 avx512f avx512_bf16",
    "amx": "sse2 avx fma avx2 avx512f avx512_bf16 amx_bf16 amx_tile",
    "avx2": "sse2 avx fma avx2",
    "avx": "sse2 avx",
    "sse2": "sse sse2",
}


def _cpuinfo(flags: str, cores: int = 2, smt: int = 2, mhz: float | None = 2500.0,
             arm: bool = False) -> str:
    blocks = []
    for index in range(cores * smt):
        lines = [f"processor\t: {index}"]
        if arm:
            lines.append(f"Features\t: {flags}")
        else:
            lines += ["model name\t: Test CPU", "physical id\t: 0",
                      f"core id\t\t: {index % cores}", f"flags\t\t: {flags}"]
            if mhz is not None:
                lines.append(f"cpu MHz\t\t: {mhz}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _root(tmp_path: Path, cpuinfo: str, max_khz: int | None = None, cpus: int = 4) -> Path:
    (tmp_path / "proc").mkdir(parents=True)
    (tmp_path / "proc" / "cpuinfo").write_text(cpuinfo)
    if max_khz is not None:
        for index in range(cpus):
            folder = tmp_path / "sys" / "devices" / "system" / "cpu" / f"cpu{index}" / "cpufreq"
            folder.mkdir(parents=True)
            (folder / "cpuinfo_max_freq").write_text(f"{max_khz}\n")
    return tmp_path


@pytest.mark.parametrize("flags, dtype, per_cycle, unit", [
    pytest.param("avx512", "float32", 64, "AVX-512 + FMA", id="avx512-fp32"),
    pytest.param("avx2", "float32", 32, "AVX2 + FMA", id="avx2-fp32"),
    pytest.param("avx", "float32", 16, "AVX", id="avx-fp32"),
    pytest.param("sse2", "float32", 8, "SSE2", id="sse2-fp32"),
    pytest.param("avx512-bf16", "bfloat16", 128, "AVX-512 BF16", id="avx512bf16"),
    pytest.param("amx", "bfloat16", 1024, "AMX-BF16", id="amx-bf16"),
    pytest.param("avx2", "bfloat16", 32, "no native bfloat16 math, its float32 units: AVX2",
                 id="bf16-without-bf16-math"),
    pytest.param("avx512", "float16", 64, "no native float16 math", id="fp16-on-avx512"),
])
def test_flops_per_cycle_follow_the_vector_units(tmp_path: Path, flags: str, dtype: str,
                                                 per_cycle: int, unit: str) -> None:
    root = _root(tmp_path, _cpuinfo(X86_FLAGS[flags]), max_khz=3_000_000)
    tflops, source = cpu_peak.theoretical_peak(dtype, threads=2, root=root)
    assert tflops == pytest.approx(2 * 3.0 * per_cycle / 1e3)
    assert f"x {per_cycle} FLOP/cycle ({unit}" in source
    assert source.startswith("theoretical: 2 of 2 physical cores (2 threads) x 3 GHz")


@pytest.mark.parametrize("threads, used", [(1, 1), (2, 2), (4, 2), (64, 2)])
def test_smt_threads_add_no_cores(tmp_path: Path, threads: int, used: int) -> None:
    """2 cores x 2 hyper-threads: threads beyond the physical cores add no FMA unit."""
    root = _root(tmp_path, _cpuinfo(X86_FLAGS["avx2"]), max_khz=2_000_000)
    tflops, source = cpu_peak.theoretical_peak("float32", threads, root=root)
    assert tflops == pytest.approx(used * 2.0 * 32 / 1e3)
    assert source.startswith(f"theoretical: {used} of 2 physical cores ({threads} threads)")


@pytest.mark.parametrize("ranks, threads, used", [(1, 1, "1"), (2, 1, "1"), (4, 1, "0.5"),
                                                  (2, 2, "1"), (4, 2, "0.5"), (3, 1, "0.667")])
def test_ranks_that_share_the_cores_share_their_peak(tmp_path: Path, ranks: int,
                                                     threads: int, used: str) -> None:
    """torchrun's local ranks on one node's 2 cores: while their threads fit the cores each
    rank counts its own; 4 ranks of one thread on 2 cores count half a core each (their
    devices x a rank's peak was 4 cores' peak: MFU low by half)."""
    root = _root(tmp_path, _cpuinfo(X86_FLAGS["avx2"]), max_khz=2_000_000)
    tflops, source = cpu_peak.theoretical_peak("float32", threads, root=root, ranks=ranks)
    assert tflops * ranks <= 2 * 2.0 * 32 / 1e3 + 1e-12
    assert tflops == pytest.approx(float(used) * 2.0 * 32 / 1e3, rel=1e-3)
    assert source.startswith(f"theoretical: {used} of 2 physical cores ({threads} threads")
    assert ("shared by" in source) == (ranks * min(threads, 2) > 2)


def test_only_the_cpus_the_process_may_use_count(tmp_path: Path) -> None:
    root = _root(tmp_path, _cpuinfo(X86_FLAGS["avx2"], cores=4, smt=1), max_khz=2_000_000)
    tflops, _ = cpu_peak.theoretical_peak("float32", 8, root=root, allowed={0, 1})
    assert tflops == pytest.approx(2 * 2.0 * 32 / 1e3)


def test_the_clock_is_cpufreq_max_else_cpu_mhz_and_the_source_says_which(
        tmp_path: Path) -> None:
    with_freq = _root(tmp_path / "a", _cpuinfo(X86_FLAGS["avx2"], mhz=1200.0),
                      max_khz=3_500_000)
    tflops, source = cpu_peak.theoretical_peak("float32", 1, root=with_freq)
    assert tflops == pytest.approx(3.5 * 32 / 1e3) and "cpuinfo_max_freq" in source
    without = _root(tmp_path / "b", _cpuinfo(X86_FLAGS["avx2"], mhz=2596.1))
    tflops, source = cpu_peak.theoretical_peak("float32", 1, root=without)
    assert tflops == pytest.approx(2.5961 * 32 / 1e3)
    assert "/proc/cpuinfo cpu MHz: the clock when read" in source


@pytest.mark.parametrize("cpuinfo, why", [
    pytest.param("", "lists no processor", id="no-cpuinfo"),
    pytest.param(_cpuinfo("fpu vme"), "no known float32 vector unit", id="no-vector-unit"),
    pytest.param(_cpuinfo(X86_FLAGS["avx2"], mhz=None), "no clock", id="no-clock"),
    pytest.param(_cpuinfo("fp asimd", arm=True), "no clock", id="arm-without-clock"),
])
def test_no_stated_peak_is_a_reason_not_a_figure(tmp_path: Path, cpuinfo: str,
                                                 why: str) -> None:
    found = cpu_peak.theoretical_peak("float32", 2, root=_root(tmp_path, cpuinfo))
    assert isinstance(found, str) and found.startswith("no CPU peak: ") and why in found


def test_an_arm_cpu_without_core_ids_counts_logical_cpus(tmp_path: Path) -> None:
    root = _root(tmp_path, _cpuinfo("fp asimd", cores=4, smt=1, arm=True), max_khz=2_600_000)
    tflops, source = cpu_peak.theoretical_peak("float32", 4, root=root)
    assert tflops == pytest.approx(4 * 2.6 * 16 / 1e3)
    assert "logical CPUs (no core ids" in source and "NEON" in source


def test_this_machine_has_a_stated_peak_or_says_why() -> None:
    found = cpu_peak.theoretical_peak("float32", 1)
    if isinstance(found, str):
        assert found.startswith("no CPU peak: ")
    else:
        assert found[0] > 0 and found[1].startswith("theoretical: 1 of ")

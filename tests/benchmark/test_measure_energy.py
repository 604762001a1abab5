"""Energy and clock throttling: NVML through a fake module, RAPL through a fake powercap
folder, and the facts (or the reason) a run gets when a counter can or cannot be read."""
from __future__ import annotations

import time
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from pytorch_benchmarks.measure import energy, nvml, throttle
from pytorch_benchmarks.measure.poller import Poller
from pytorch_benchmarks.measure.session import Measurements
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec

SW_POWER_CAP, HW_SLOWDOWN, GPU_IDLE, APP_CLOCKS, SW_THERMAL = 0x4, 0x8, 0x1, 0x2, 0x20


class FakeNvml(types.ModuleType):
    """Two GPUs whose energy counters (mJ) and clock event reasons advance on each read."""

    def __init__(self, energy_mj: dict[int, list[int]], reasons: dict[int, list[int]],
                 energy_error: str | None = None) -> None:
        super().__init__("pynvml")
        self.energy_mj = {k: iter(v) for k, v in energy_mj.items()}
        self.reasons = {k: list(v) for k, v in reasons.items()}
        self.energy_error = energy_error
        self.started = False

    def nvmlInit(self) -> None:
        self.started = True

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        return int(uuid.removeprefix("GPU-fake-"))

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if self.energy_error:
            raise RuntimeError(self.energy_error)
        return next(self.energy_mj[handle])

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        queue = self.reasons[handle]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _uuid(index: int) -> str:
    return f"GPU-fake-{index}"


def test_nvml_energy_is_the_counters_difference_summed_over_the_gpus() -> None:
    fake = FakeNvml({0: [1000, 6000], 1: [500, 3500]}, {})
    meter = energy.NvmlEnergy(fake, nvml.device_handles(fake, [0, 1], _uuid))
    meter.start()
    meter.sample()
    assert meter.stop() == pytest.approx((5000 + 3000) / 1000.0)


def test_devices_are_found_by_uuid_else_by_index() -> None:
    fake = FakeNvml({}, {})
    assert nvml.device_handles(fake, [3], _uuid) == [3]
    assert nvml.device_handles(fake, [2], lambda i: None) == [2]


def test_a_missing_pynvml_says_how_to_install_it() -> None:
    def missing() -> types.ModuleType:
        raise ImportError("No module named 'pynvml'")

    with pytest.raises(nvml.NvmlUnavailable, match="nvidia-ml-py"):
        nvml.open_nvml(missing)


@pytest.mark.parametrize("mask,names", [
    pytest.param(0, [], id="none"),
    pytest.param(GPU_IDLE | APP_CLOCKS, [], id="idle-and-settings-are-not-throttling"),
    pytest.param(SW_POWER_CAP | HW_SLOWDOWN, ["hw_slowdown"], id="power-cap-is-not-a-fault"),
    pytest.param(SW_THERMAL | GPU_IDLE, ["sw_thermal_slowdown"], id="thermal"),
])
def test_reason_names(mask: int, names: list[str]) -> None:
    assert throttle.reason_names(mask) == names


def test_the_sampler_keeps_every_reason_seen_during_the_window() -> None:
    fake = FakeNvml({}, {0: [0, SW_POWER_CAP, 0], 1: [GPU_IDLE, SW_THERMAL, 0]})
    sampler = throttle.ThrottleSampler(fake, [0, 1])
    for _ in range(3):
        sampler.sample()
    assert sampler.reasons() == ["sw_thermal_slowdown"] and throttle.power_capped(sampler.mask)
    assert sampler.samples == 3 and sampler.error is None


def test_the_poller_samples_at_start_in_the_background_and_at_stop() -> None:
    import threading
    import time

    seen: list[str] = []
    poller = Poller([lambda: seen.append(threading.current_thread().name)], interval=0.01)
    poller.start()
    # at start, before start() returns; the thread may already have sampled too (its first
    # interval is 10 ms: a busy machine can keep this thread from running that long)
    assert seen[0] == "MainThread" and set(seen[1:]) <= {"dlbs-poller"}
    deadline = time.monotonic() + 60  # a hang guard: waits for the thread, not for a time
    while len(seen) < 2:
        assert time.monotonic() < deadline, "the poller's thread never sampled"
        time.sleep(0.01)
    poller.stop()
    assert seen[1] == "dlbs-poller" and seen[-1] == "MainThread"  # in the background, at stop


def _args() -> tuple[MeasureSpec, str, int]:
    return (MeasureSpec(peak_tflops=1.0), "m", 2)


def _gpu_measures(fake: types.ModuleType, warnings: list[str],
                  monkeypatch: pytest.MonkeyPatch) -> Measurements:
    monkeypatch.setattr(nvml, "cuda_uuid", _uuid)
    setup = DeviceSetup(torch.device("cuda", 0), num_devices=2)
    monkeypatch.setattr(setup, "synchronizer", lambda: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *_: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda i: (i + 1) * 2**20)
    return Measurements(*_args(), setup, DistContext(), "training", warnings.append,
                        nvml_loader=lambda: fake)


def test_a_gpu_window_gives_energy_samples_per_joule_and_throttle_reasons(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml({0: [0, 100, 4100], 1: [0, 50, 2050]}, {0: [SW_POWER_CAP, 0], 1: [0]})
    warnings: list[str] = []
    measures = _gpu_measures(fake, warnings, monkeypatch)
    measures.prepare()
    with measures.window():
        pass
    measures.window_s = 6.0  # the window lasted 6 s (a long enough one: see below)
    facts = measures.results(throughput=10.0, num_timed=5, samples_per_iteration=4, replicas=2)
    assert facts["results.energy_j"] == pytest.approx(6.0)  # (4000 + 2000) mJ
    assert facts["results.samples_per_joule"] == pytest.approx(20 / 6.0)
    assert facts["results.energy_source"] == "nvml" and facts["results.power_w"] == 1.0
    assert facts["results.energy_window_s"] == 6.0
    assert abs(facts["results.energy_window_end"] - time.time()) < 60  # its wall-clock end
    assert facts["results.throttle_reasons"] == [] and facts["results.power_capped"] is True
    assert facts["results.peak_memory_mb"] == 2.0  # the larger of the two GPUs
    assert warnings == [] and fake.started


@pytest.mark.parametrize("seconds", [pytest.param(0.4, id="10-h100-iterations"),
                                     pytest.param(4.9, id="just-under")])
def test_nvml_energy_of_a_window_shorter_than_its_counter_needs_is_withheld(
        monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """GPU review D4: NVML's counter moves in ~100 ms steps; 10 timed iterations on an H100
    last well under a second, so energy, power and samples/J would be off by up to tens of %:
    none are logged, and results.energy_unavailable and a warning say why and what to do."""
    fake = FakeNvml({0: [0, 100, 4100], 1: [0, 50, 2050]}, {0: [0], 1: [0]})
    warnings: list[str] = []
    measures = _gpu_measures(fake, warnings, monkeypatch)
    measures.prepare()
    with measures.window():
        pass
    measures.window_s = seconds
    facts = measures.results(throughput=10.0, num_timed=5, samples_per_iteration=4, replicas=2)
    assert not {"results.energy_j", "results.power_w", "results.samples_per_joule"} & set(facts)
    why = facts["results.energy_unavailable"]
    assert f"{energy.MIN_NVML_WINDOW_S:g} s" in why and "--num_batches" in why
    assert facts["results.energy_window_s"] == seconds
    assert facts["results.energy_note"] == why  # the name for it (31)
    assert any(w.startswith("no energy figures: the timed window lasted") for w in warnings)


def test_rapl_energy_has_no_minimum_window() -> None:
    """RAPL's counters update about every millisecond: a short CPU window keeps its energy."""
    assert energy.too_short("rapl", 0.01) is None
    assert energy.too_short("nvml", energy.MIN_NVML_WINDOW_S) is None


def test_a_gpu_without_nvml_warns_and_has_no_energy_or_throttle_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> types.ModuleType:
        raise ImportError("no pynvml")

    warnings: list[str] = []
    measures = _gpu_measures(types.ModuleType("unused"), warnings, monkeypatch)
    measures.nvml_loader = missing
    measures.prepare()
    with measures.window():
        pass
    facts = measures.results(10.0, 5, 4, 1)
    assert not {"results.energy_j", "results.samples_per_joule",
                "results.throttle_reasons"} & set(facts)
    assert "pynvml is not installed" in facts["results.energy_unavailable"]
    assert len(warnings) == 1 and "no GPU energy and clock throttling figures" in warnings[0]


def test_a_gpu_without_an_energy_counter_still_samples_clocks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml({}, {0: [HW_SLOWDOWN], 1: [0]}, energy_error="Not Supported")
    warnings: list[str] = []
    measures = _gpu_measures(fake, warnings, monkeypatch)
    measures.prepare()
    with measures.window():
        pass
    facts = measures.results(10.0, 5, 4, 1)
    assert "results.energy_j" not in facts and facts["results.throttle_reasons"] == ["hw_slowdown"]
    assert facts["results.power_capped"] is False
    assert any("no GPU energy figures" in w and "Not Supported" in w for w in warnings)


def _package(root: Path, name: str, energy_uj: int, max_uj: int, kind: str = "package-0"
             ) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "name").write_text(f"{kind}\n")
    (folder / "energy_uj").write_text(f"{energy_uj}\n")
    (folder / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return folder


def test_rapl_sums_the_packages_and_handles_a_wrap(tmp_path: Path) -> None:
    pkg0 = _package(tmp_path, "intel-rapl:0", 900_000, 1_000_000)
    pkg1 = _package(tmp_path, "intel-rapl:1", 100, 1_000_000, "package-1")
    _package(tmp_path, "intel-rapl:0:0", 5, 1_000_000, "core")  # a sub-domain: not counted
    _package(tmp_path, "intel-rapl:2", 5, 1_000_000, "psys")    # overlaps the packages
    meter = energy.open_rapl(str(tmp_path))
    assert [d.name for d in meter.domains] == ["intel-rapl:0", "intel-rapl:1"]
    meter.start()
    (pkg0 / "energy_uj").write_text("50000\n")  # wrapped: 100_000 + 50_000 uJ
    meter.sample()
    (pkg0 / "energy_uj").write_text("150000\n")
    (pkg1 / "energy_uj").write_text("2000100\n")  # 2 J
    assert meter.stop() == pytest.approx(0.25 + 2.0)


def test_the_powercap_root_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    _package(tmp_path, "intel-rapl:0", 1, 10)
    monkeypatch.setenv(energy.POWERCAP_ENV, str(tmp_path))
    assert energy.open_rapl().domains == [tmp_path / "intel-rapl:0"]


@pytest.mark.parametrize("layout,why", [
    pytest.param("missing", "does not exist", id="no-powercap"),
    pytest.param("empty", "no RAPL package domains", id="no-packages"),
    pytest.param("garbage", "cannot be read", id="unreadable-value"),
])
def test_rapl_unavailable_says_why(tmp_path: Path, layout: str, why: str) -> None:
    root = tmp_path / "powercap"
    if layout != "missing":
        root.mkdir()
    if layout == "garbage":
        _package(root, "intel-rapl:0", 1, 10)
        (root / "intel-rapl:0" / "energy_uj").write_text("n/a")
    with pytest.raises(energy.EnergyUnavailable, match=why):
        energy.open_rapl(str(root))


def test_unreadable_rapl_counters_name_the_cause(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, "intel-rapl:0", 1, 10)

    def denied(path: Any) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(energy, "_read_int", denied)
    with pytest.raises(energy.EnergyUnavailable, match="root only"):
        energy.open_rapl(str(tmp_path))


def _cpu_measures(monkeypatch: pytest.MonkeyPatch, root: Path) -> Measurements:
    monkeypatch.setenv(energy.POWERCAP_ENV, str(root))
    return Measurements(*_args(), DeviceSetup(torch.device("cpu")), DistContext(), "training",
                        print)


def test_a_cpu_window_reads_rapl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pkg = _package(tmp_path, "intel-rapl:0", 0, 10**12)
    measures = _cpu_measures(monkeypatch, tmp_path)
    measures.prepare()
    with measures.window():
        (pkg / "energy_uj").write_text("3000000\n")
    facts = measures.results(throughput=10.0, num_timed=3, samples_per_iteration=2, replicas=1)
    assert facts["results.energy_j"] == pytest.approx(3.0)
    assert facts["results.samples_per_joule"] == pytest.approx(6 / 3.0)
    assert facts["results.energy_source"] == "rapl"
    assert "results.throttle_reasons" not in facts and facts["results.peak_memory_mb"] > 0


def test_a_cpu_without_rapl_has_no_energy_keys_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    measures = _cpu_measures(monkeypatch, tmp_path / "nowhere")
    measures.prepare()
    with measures.window():
        pass
    facts = measures.results(10.0, 3, 2, 1)
    assert not {"results.energy_j", "results.samples_per_joule"} & set(facts)
    assert "does not exist" in facts["results.energy_unavailable"]

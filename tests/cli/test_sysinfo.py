"""``experimenter sysinfo``: a JSON description of the machine, best effort on every probe."""
from __future__ import annotations

from typing import Any

import pytest

from dlbs.cli import sysinfo


def test_sysinfo_without_torch_is_json_with_every_section(cli: Any) -> None:
    result = cli("sysinfo", "--no-torch")
    assert result.code == 0 and result.err == ""
    info = result.json()
    assert set(info) == {"cpu", "memory", "os", "python", "torch", "gpus"}
    assert info["cpu"]["logical_cores"] >= 1
    assert info["memory"]["total_bytes"] > info["memory"]["available_bytes"] > 0
    assert info["os"]["system"] == "Linux"
    assert info["python"]["version"].count(".") == 2
    assert info["torch"] is None
    assert isinstance(info["gpus"], list)


def test_sysinfo_reports_torch() -> None:
    torch = pytest.importorskip("torch")
    info = sysinfo.collect(with_torch=True)
    assert info["torch"]["version"] == torch.__version__
    assert info["torch"]["cuda_available"] is torch.cuda.is_available()
    assert isinstance(info["gpus"], list)
    if torch.cuda.is_available():
        assert len(info["gpus"]) >= torch.cuda.device_count() > 0


def test_a_failing_probe_gives_null_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("no /proc")

    assert sysinfo._safe(broken) is None
    monkeypatch.setattr(sysinfo, "nvml_gpus", list)
    monkeypatch.setattr(sysinfo, "torch_info_or_none", lambda: None)
    assert sysinfo.collect()["gpus"] == []


def test_torch_gpus_are_used_when_nvml_sees_none(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = {"index": 0, "name": "Fake GPU", "memory_bytes": 1, "capability": "9.0"}
    monkeypatch.setattr(sysinfo, "nvml_gpus", list)
    monkeypatch.setattr(sysinfo, "torch_info_or_none", lambda: {"version": "x", "gpus": [gpu]})
    info = sysinfo.collect()
    assert info["gpus"] == [gpu] and "gpus" not in info["torch"]

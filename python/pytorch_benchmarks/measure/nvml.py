"""NVIDIA's management library (NVML, the ``pynvml`` module of ``nvidia-ml-py``): open it and
find the handles of the GPUs a run uses.

Responsibility: loading and device matching only; :mod:`.energy` and :mod:`.throttle` read
the counters. A CUDA device is matched to its NVML handle by UUID (CUDA and NVML may number
GPUs differently under ``CUDA_VISIBLE_DEVICES``), else by index.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch


class NvmlUnavailable(Exception):
    """NVML cannot be used here; the message says why."""


def open_nvml(load: Callable[[], ModuleType] | None = None) -> ModuleType:
    """The initialised ``pynvml`` module (``load`` returns it; tests pass a fake)."""
    try:
        nvml = load() if load is not None else importlib.import_module("pynvml")
    except ImportError:
        raise NvmlUnavailable("pynvml is not installed (pip install nvidia-ml-py)") from None
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError and friends: the reason is the text
        raise NvmlUnavailable(f"NVML did not start: {exc}") from None
    return nvml


def cuda_uuid(index: int) -> str | None:
    """NVML's spelling of a CUDA device's UUID (``GPU-...``), when torch knows it."""
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return f"GPU-{uuid}" if uuid is not None else None


def device_handles(nvml: ModuleType, indices: Sequence[int],
                   uuid_of: Callable[[int], str | None] | None = None) -> list[Any]:
    """NVML handles of the CUDA devices ``indices`` (``uuid_of``: :func:`cuda_uuid`)."""
    uuid_of = uuid_of or cuda_uuid
    handles = []
    for index in indices:
        uuid = uuid_of(index)
        try:
            if uuid is None:
                raise LookupError(index)
            handles.append(nvml.nvmlDeviceGetHandleByUUID(uuid))
        except Exception:  # noqa: BLE001 - fall back to NVML's numbering
            try:
                handles.append(nvml.nvmlDeviceGetHandleByIndex(index))
            except Exception as exc:  # noqa: BLE001
                raise NvmlUnavailable(f"NVML has no handle for CUDA device {index}: "
                                      f"{exc}") from None
    return handles

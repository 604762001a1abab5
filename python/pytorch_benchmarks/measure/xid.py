"""Xid errors of the GPUs while something else runs (``dlbs accept --burn-in``): NVML gives them
as events, not a counter (``nvmlEventTypeXidCriticalError`` registered on an event set, each
event's ``eventData`` the Xid code), so they are seen only by a process that waits on the set
while they happen. This watcher is that process.

Run as ``python -m pytorch_benchmarks.measure.xid``: it opens NVML, registers every GPU that
supports the event, prints ``accept.xid_watch`` (the GPUs watched, those that cannot be, and
why) as soon as it watches, waits for events until its stdin closes, then prints
``accept.xid`` (the events seen: GPU index and Xid code each). Without NVML it prints
``accept.xid_unavailable`` and exits. Imports no torch (it starts at once).
"""
from __future__ import annotations

import importlib
import select
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pytorch_benchmarks.facts import format_fact

#: How long one wait on the event set lasts (ms) before the watcher looks at its stdin.
WAIT_MS = 500
#: Most events kept (a GPU in an Xid storm repeats them); how many there were is said.
MAX_EVENTS = 64


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def register(nvml: Any) -> tuple[Any, list[int], dict[int, str]]:
    """An event set with every GPU that supports Xid events registered on it; the GPUs
    watched, and why each other one is not (NVML's words)."""
    event_set = nvml.nvmlEventSetCreate()
    watched: list[int] = []
    not_watched: dict[int, str] = {}
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            supported = nvml.nvmlDeviceGetSupportedEventTypes(handle)
            if not supported & nvml.nvmlEventTypeXidCriticalError:
                not_watched[index] = "NVML offers no Xid events on it"
                continue
            nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, event_set)
            watched.append(index)
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported, _NoPermission...
            not_watched[index] = _text(exc)
    return event_set, watched, not_watched


def _timed_out(nvml: Any, exc: BaseException) -> bool:
    return getattr(exc, "value", None) == getattr(nvml, "NVML_ERROR_TIMEOUT", 10)


def collect(nvml: Any, event_set: Any, stop: Callable[[], bool], wait_ms: int = WAIT_MS
            ) -> tuple[list[dict[str, Any]], int]:
    """The Xid events of the set until ``stop()`` (asked after each wait and each event; once
    it says stop, the events already queued are read, up to :data:`MAX_EVENTS` more); at most
    :data:`MAX_EVENTS` kept, and how many there were."""
    events: list[dict[str, Any]] = []
    count = drained = 0
    stopping = False
    while True:
        try:
            data = nvml.nvmlEventSetWait_v2(event_set, wait_ms)
        except Exception as exc:  # NVML_ERROR_TIMEOUT: no event this time (else raised)
            if not _timed_out(nvml, exc):
                raise
            if stopping:
                return events, count
            stopping = stop()
            continue
        if not data.eventType & nvml.nvmlEventTypeXidCriticalError:
            continue
        count += 1
        if len(events) < MAX_EVENTS:
            try:
                gpu: int | None = nvml.nvmlDeviceGetIndex(data.device)
            except Exception:  # noqa: BLE001 - the index cannot be read: the event stays
                gpu = None
            events.append({"gpu": gpu, "xid": int(data.eventData)})
        if not stopping:  # asked after each event too: a storm of events never times out
            stopping = stop()
        else:
            drained += 1
            if drained >= MAX_EVENTS:
                return events, count


def _stdin_closed() -> bool:
    """Whether this process's stdin reached its end (the caller is done)."""
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready) and sys.stdin.readline() == ""


def watch(load: Callable[[], ModuleType] | None = None,
          stop: Callable[[], bool] = _stdin_closed,
          say: Callable[[str], None] = lambda line: print(line, flush=True)) -> int:
    """Watch the GPUs for Xid events until ``stop()``, saying facts as it goes (``load``:
    returns pynvml; tests pass a fake)."""
    try:
        nvml = load() if load is not None else importlib.import_module("pynvml")
        nvml.nvmlInit()
    except ImportError:
        say(format_fact("accept.xid_unavailable", "pynvml is not installed (pip install "
                                                  "nvidia-ml-py)"))
        return 0
    except Exception as exc:  # noqa: BLE001 - NVMLError: the reason is its text
        say(format_fact("accept.xid_unavailable", f"NVML did not start: {_text(exc)}"))
        return 0
    try:
        event_set, watched, not_watched = register(nvml)
        say(format_fact("accept.xid_watch", {"watched": watched, "not_watched": {
            str(gpu): why for gpu, why in not_watched.items()}}))
        events, count = collect(nvml, event_set, stop) if watched else ([], 0)
        if not watched:
            while not stop():
                select.select([], [], [], WAIT_MS / 1000)
        say(format_fact("accept.xid", {"events": events, "count": count, "watched": watched}))
        nvml.nvmlEventSetFree(event_set)
    except Exception as exc:  # noqa: BLE001 - NVML failed while watching: said, not guessed
        say(format_fact("accept.xid_unavailable", f"NVML failed while watching: {_text(exc)}"))
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down: nothing left to say
            pass
    return 0


if __name__ == "__main__":
    sys.exit(watch())

"""Xid errors during ``dlbs accept --burn-in`` (issue 60): NVML's Xid events watched by
``pytorch_benchmarks.measure.xid`` and named in the node's verdict. No GPU is here: NVML is a
recorded fake with pynvml's own constants and its own timeout error (only NVML is faked)."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts

from dlbs.accept.burnin import burn_in_verdict, xid_findings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
pynvml = pytest.importorskip("pynvml")

from pytorch_benchmarks.measure import xid


class FakeNvml:
    """NVML of two GPUs: GPU 0 offers Xid events, GPU 1 does not; ``events`` are what the
    event set holds (then it times out, as NVML does)."""

    nvmlEventTypeXidCriticalError = pynvml.nvmlEventTypeXidCriticalError
    nvmlEventTypeSingleBitEccError = pynvml.nvmlEventTypeSingleBitEccError
    NVML_ERROR_TIMEOUT = pynvml.NVML_ERROR_TIMEOUT

    def __init__(self, events: list[SimpleNamespace]) -> None:
        self.events = list(events)
        self.registered: list[str] = []
        self.waits = 0
        self.shut = False

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"h{index}"

    def nvmlDeviceGetIndex(self, handle: str) -> int:
        return int(handle[1:])

    def nvmlDeviceGetSupportedEventTypes(self, handle: str) -> int:
        return (pynvml.nvmlEventTypeXidCriticalError | pynvml.nvmlEventTypeSingleBitEccError
                if handle == "h0" else pynvml.nvmlEventTypeSingleBitEccError)

    def nvmlEventSetCreate(self) -> str:
        return "set"

    def nvmlDeviceRegisterEvents(self, handle: str, types: int, event_set: str) -> None:
        assert types == pynvml.nvmlEventTypeXidCriticalError and event_set == "set"
        self.registered.append(handle)

    def nvmlEventSetWait_v2(self, event_set: str, timeout_ms: int) -> SimpleNamespace:
        self.waits += 1
        if not self.events:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        return self.events.pop(0)

    def nvmlEventSetFree(self, event_set: str) -> None:
        pass


def _event(handle: str, code: int, kind: int = pynvml.nvmlEventTypeXidCriticalError
           ) -> SimpleNamespace:
    return SimpleNamespace(device=handle, eventType=kind, eventData=code)


def _watched(nvml: FakeNvml, stops_after: int = 1) -> dict[str, Any]:
    asked = []
    lines: list[str] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= stops_after

    assert xid.watch(lambda: nvml, stop, lines.append) == 0  # type: ignore[arg-type,return-value]
    return dict(iter_facts(lines))


def test_xid_events_during_the_watch_are_read_with_their_gpu_and_code() -> None:
    nvml = FakeNvml([_event("h0", 79), _event("h0", 1, pynvml.nvmlEventTypeSingleBitEccError),
                     _event("h0", 48), _event("h0", 79)])
    facts = _watched(nvml)
    assert nvml.registered == ["h0"] and nvml.shut
    assert facts["accept.xid_watch"] == {
        "watched": [0], "not_watched": {"1": "NVML offers no Xid events on it"}}
    assert facts["accept.xid"] == {"events": [{"gpu": 0, "xid": 79}, {"gpu": 0, "xid": 48},
                                              {"gpu": 0, "xid": 79}],
                                   "count": 3, "watched": [0]}


def test_events_already_queued_when_asked_to_stop_are_read() -> None:
    nvml = FakeNvml([])
    lines: list[str] = []

    def stop() -> bool:  # an Xid arrives as the burn-in ends: it is still read
        nvml.events.append(_event("h0", 94))
        return True

    xid.watch(lambda: nvml, stop, lines.append)  # type: ignore[arg-type,return-value]
    assert dict(iter_facts(lines))["accept.xid"]["events"] == [{"gpu": 0, "xid": 94}]


def test_without_nvml_the_watch_says_why_and_ends() -> None:
    def absent() -> Any:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    lines: list[str] = []
    assert xid.watch(absent, lambda: True, lines.append) == 0
    assert dict(iter_facts(lines)) == {
        "accept.xid_unavailable": "NVML did not start: NVML Shared Library Not Found"}


def test_the_watcher_beside_a_burn_in_on_this_host_says_nvml_is_absent() -> None:
    """The real watcher process (no NVML library here), started and stopped as the burn-in
    does."""
    from dlbs.accept.node import XidWatcher

    facts = XidWatcher().stop()
    assert list(facts) == ["accept.xid_unavailable"]
    assert facts["accept.xid_unavailable"].startswith(("NVML did not start: ",
                                                       "pynvml is not installed"))


def _reading(xid_facts: dict[str, Any]) -> dict[str, Any]:
    gpus = [{"name": "NVIDIA H100", "ecc_uncorrected": 0, "throttle_reasons": 0}] * 2
    return {"accept.environment": {"driver": "570.86", "gpus": gpus}, **xid_facts}


def test_a_node_with_xid_errors_fails_with_its_codes_in_one_line() -> None:
    facts = _watched(FakeNvml([_event("h0", 79), _event("h0", 48), _event("h0", 79)]))
    verdict = burn_in_verdict("gpu07", 30, 12, _reading({}), _reading(facts))
    assert verdict.failed
    assert verdict.why == ("burn_in 30 min, 12 reference run(s): 3 Xid error(s) during the "
                           "burn-in: GPU 0 Xid 79, 48")
    assert "\n" not in verdict.why


def test_a_quiet_watch_passes_and_says_what_it_watched_and_what_it_could_not() -> None:
    facts = _watched(FakeNvml([]))
    verdict = burn_in_verdict("gpu07", 30, 12, _reading({}), _reading(facts))
    assert not verdict.failed
    assert verdict.why == ("burn_in 30 min, 12 reference run(s): ok (ECC and throttle reasons "
                           "unchanged; no Xid error on 1 GPU(s) watched; GPU 1: Xid errors not "
                           "read (NVML offers no Xid events on it))")


def test_an_xid_watch_that_failed_is_said_not_guessed() -> None:
    failures, said = xid_findings({"accept.xid_unavailable": "NVML failed while watching: "
                                                             "Unknown Error"})
    assert failures == []
    assert said == ["Xid errors not read: NVML failed while watching: Unknown Error"]

"""How ``run_load`` sends: each request's task is made at its scheduled time, as vLLM's client
makes it (tasks made up front for every request all took their first step at the start, and
the first sends of 1,000 left 10-60 ms late); every request is still sent and answered, in
schedule order, and a task that raises is not swallowed. ``send`` is replaced: nothing goes
on the network."""
from __future__ import annotations

import asyncio
import gc

import pytest
from serving import client
from serving.client import Record, Target
from serving.requests import Request

TARGET = Target(endpoint="http://127.0.0.1:9", model="m")


def _requests(count: int) -> list[Request]:
    return [Request(i, f"prompt {i}", 2, 4) for i in range(count)]


def _request_tasks() -> int:
    return sum(task.get_coro().__qualname__.endswith("run_load.<locals>.one")  # type: ignore[union-attr]
               for task in asyncio.all_tasks())


def test_a_request_task_exists_only_from_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """When each request is sent, the requests scheduled after it have no task yet."""
    seen: list[tuple[int, int]] = []

    async def fake_send(session: object, target: Target, request: Request, record: Record,
                        start: float, body: bytes | None = None) -> None:
        seen.append((request.index, _request_tasks()))
        record.sent = record.scheduled

    monkeypatch.setattr(client, "send", fake_send)
    # two requests at once, then one each 20 ms: the later ones wait in the dispatcher
    times = [0.0, 0.0, 0.02, 0.04, 0.06]
    records, _, _ = client.run_async(client.run_load(TARGET, _requests(5), times),
                                     client.loop_factory()[0])
    assert [index for index, _ in seen] == [0, 1, 2, 3, 4]
    # at each send, only requests already due have a task (those due together share it)
    assert all(tasks <= sum(t <= times[index] for t in times) for index, tasks in seen)
    assert [r.index for r in records] == [0, 1, 2, 3, 4]


def test_progress_counts_every_answer(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    async def fake_send(session: object, target: Target, request: Request, record: Record,
                        start: float, body: bytes | None = None) -> None:
        record.sent = record.scheduled

    monkeypatch.setattr(client, "send", fake_send)
    client.run_async(client.run_load(TARGET, _requests(20), [0.0] * 20, progress=True),
                     client.loop_factory()[0])
    lines = [line for line in capsys.readouterr().err.splitlines() if "answered" in line]
    assert [line.split()[1] for line in lines] == [f"{n}/20" for n in range(2, 21, 2)]


def test_a_task_that_raises_is_not_swallowed(monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """The first error raises; every task's is retrieved (a task garbage-collected with its
    error unread logs it from its finalizer, which, run inside pytest's next compile(), ended
    in CPython 3.11.7's "SystemError: AST constructor recursion depth mismatch")."""
    async def broken_send(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in send")

    monkeypatch.setattr(client, "send", broken_send)
    with pytest.raises(RuntimeError, match="a bug in send"):
        client.run_async(client.run_load(TARGET, _requests(3), [0.0, 0.0, 0.01]),
                         client.loop_factory()[0])
    gc.collect()
    assert "never retrieved" not in caplog.text

"""The serve command's worker slots: a Ctrl-C that lands while a worker thread starts stops the
server (it was once turned into "Semaphore released too many times" and swallowed), and every
slot is free again once the workers are done."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from dlbs.web import server as web


def _free_slots(srv: web.ProgressServer) -> int:
    taken = 0
    while srv._slots.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        srv._slots.release()
    return taken


def test_ctrl_c_while_a_worker_starts_reaches_the_server_and_frees_the_slot_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "progress.json").write_text("{}")
    srv = web.make_server(tmp_path / "progress.json", "127.0.0.1", 0)
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start_then_ctrl_c(thread: threading.Thread) -> None:
        """The worker starts, answers and ends; then the Ctrl-C lands in the main thread (the
        order a loaded machine gave)."""
        real_start(thread)
        started.append(thread)
        thread.join(timeout=30)
        raise KeyboardInterrupt

    client, request = socket.socketpair()
    client.close()  # the worker reads end of file at once and ends
    try:
        monkeypatch.setattr(threading.Thread, "start", start_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            srv.process_request(request, ("127.0.0.1", 1))
        monkeypatch.undo()
        assert started and not any(t.is_alive() for t in started)
        assert _free_slots(srv) == web.MAX_WORKERS
    finally:
        client.close()
        srv.server_close()


def test_a_worker_that_cannot_start_gives_its_slot_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "progress.json").write_text("{}")
    srv = web.make_server(tmp_path / "progress.json", "127.0.0.1", 0)
    client, request = socket.socketpair()

    def cannot_start(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    try:
        monkeypatch.setattr(threading.Thread, "start", cannot_start)
        with pytest.raises(RuntimeError):
            srv.process_request(request, ("127.0.0.1", 1))
        monkeypatch.undo()
        assert _free_slots(srv) == web.MAX_WORKERS
    finally:
        client.close()
        request.close()
        srv.server_close()

"""How the client reads an answer's bytes (``serving.client._Stream``): however the server's
writes are cut into reads, the same events are read; the SSE rules a hostile review sent
(CRLF, a byte-order mark, an event's data over several lines, events ended by one newline, a
line without its end), a line that never ends is a failed request, not memory without end.
And the loop: no request leaves before its time on uvloop (whose timers count whole
milliseconds), the client runs on Python 3.10's asyncio (no ``asyncio.Runner``), and a
finished answer's connection is kept for the next request."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web
from serving import client
from serving.client import BadEvent, Record, Target, run_async, run_load, until
from serving.requests import Request


def _event(text: str, finish: str | None = None) -> str:
    choice: dict = {"index": 0, "text": text}
    if finish:
        choice["finish_reason"] = finish
    return json.dumps({"choices": [choice]})


#: An answer of three tokens, its finish with usage, and [DONE], as servers write it.
ANSWER = ("data: " + _event("a") + "\n\n" + "data: " + _event("b") + "\n\n"
          + "data: " + _event("c") + "\n\n"
          + "data: " + json.dumps({"choices": [{"index": 0, "text": "", "finish_reason":
                                                "length"}],
                                   "usage": {"prompt_tokens": 2, "completion_tokens": 3}})
          + "\n\ndata: [DONE]\n\n")


def _read(stream_bytes: bytes, cut: int = 0) -> tuple[Record, bool]:
    """The record of ``stream_bytes`` fed in reads of ``cut`` bytes (0: one read)."""
    record = Record(0, 0.0)
    stream = client._Stream(record, "completions", time.perf_counter())
    pieces = ([stream_bytes[i:i + cut] for i in range(0, len(stream_bytes), cut)] if cut
              else [stream_bytes])
    over = False
    for piece in pieces:
        if stream.feed(piece):
            over = True
            break
    else:
        stream.close()
    return record, stream.finished and over or stream.finished


@pytest.mark.parametrize("cut", [0, 1, 2, 7, 64])
@pytest.mark.parametrize("shape", ["lf", "crlf", "bom", "no-space", "comments", "one-newline",
                                   "no-last-newline"])
def test_every_shape_cut_anyhow_reads_the_same_answer(shape: str, cut: int) -> None:
    text = ANSWER
    if shape == "crlf":
        text = text.replace("\n", "\r\n")
    elif shape == "bom":
        text = "\ufeff" + text
    elif shape == "no-space":
        text = text.replace("data: ", "data:")
    elif shape == "comments":
        text = ": keep-alive\n\nevent: message\nid: 7\n" + text
    elif shape == "one-newline":
        text = text.replace("\n\n", "\n")
    elif shape == "no-last-newline":
        text = text.removesuffix("\n\n")
    record, finished = _read(text.encode(), cut)
    assert finished and record.error is None, (shape, cut, record)
    assert len(record.chunks) == 3 and record.output_tokens == 3
    assert record.finish_reason == "length" and record.prompt_tokens == 2


def test_a_chunks_time_is_when_its_read_came_not_when_it_was_parsed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """TTFT and the gaps count to the read that brought a token's bytes: what the client then
    spends splitting and parsing it is not the server's latency. Two tokens in one read have
    its one time; the answer's end is its last read's."""
    clock = iter(range(100, 200))
    monkeypatch.setattr(client.time, "perf_counter", lambda: float(next(clock)))
    record = Record(0, 0.0)
    stream = client._Stream(record, "completions", 10.0)
    first, rest = ANSWER.encode().split(b"\n\n", 2)[:2], ANSWER.encode().split(b"\n\n", 2)[2]
    assert not stream.feed(b"\n\n".join(first) + b"\n\n")  # "a" and "b": read at 100
    assert stream.feed(rest)  # "c", the finish and [DONE]: read at 101
    assert record.chunks == [90.0, 90.0, 91.0] and stream.ended == 91.0
    assert record.error is None and stream.finished


def test_an_events_data_over_several_lines_is_one_event() -> None:
    """The SSE rule: an event's ``data:`` lines are joined by newlines (JSON may be split
    where whitespace may stand)."""
    body = json.dumps({"choices": [{"index": 0, "text": "a"}]}, indent=1).splitlines()
    text = "".join(f"data: {line}\n" for line in body) + "\n" + ANSWER
    record, finished = _read(text.encode(), 3)
    assert finished and record.error is None and len(record.chunks) == 4


def test_multibyte_characters_cut_between_reads_are_whole() -> None:
    text = ANSWER.replace('"a"', '"\u00e9\u4e2d"')
    for cut in (1, 2, 3):
        record, finished = _read(text.encode("utf-8"), cut)
        assert finished and len(record.chunks) == 3


def test_a_line_that_never_ends_fails_its_request_within_the_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "MAX_LINE", 1000)
    stream = client._Stream(Record(0, 0.0), "completions", time.perf_counter())
    stream.feed(b"data: " + b"x" * 600)
    with pytest.raises(BadEvent, match="a line longer than"):
        stream.feed(b"x" * 600)


def test_a_long_line_costs_linear_time() -> None:
    """One 8 MiB event in 64 KiB reads (a hostile or broken server): read in one pass, not
    re-scanned on every read (that took 16 s of CPU for 64 MB)."""
    line = b"data: " + json.dumps({"choices": [{"index": 0, "text": "x" * (8 << 20)}]}).encode()
    record = Record(0, 0.0)
    stream = client._Stream(record, "completions", time.perf_counter())
    for start in range(0, len(line), 64 << 10):
        assert not stream.feed(line[start:start + (64 << 10)])
    stream.feed(b"\n\n")
    assert len(record.chunks) == 1


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_no_sleep_ends_before_its_moment(loop: str) -> None:
    """uvloop rounds timers to whole milliseconds from a cached clock: a plain sleep woke up to
    0.9 ms early (113 of 300 requests left before their schedule)."""
    factory, name = client.loop_factory(loop)
    assert name == loop

    async def early() -> int:
        found = 0
        for step in range(200):
            moment = time.perf_counter() + 0.0004 + (step % 23) * 0.00037
            await until(moment)
            found += time.perf_counter() < moment
        return found

    assert run_async(early(), factory) == 0


def test_without_asyncio_runner_the_loop_is_run_and_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10 has no ``asyncio.Runner`` (the client crashed there): the loop is run and
    closed by hand, its leftover tasks cancelled."""
    monkeypatch.delattr(asyncio, "Runner")
    loops: list[asyncio.AbstractEventLoop] = []
    left: list[asyncio.Task] = []

    def factory() -> asyncio.AbstractEventLoop:
        loops.append(asyncio.new_event_loop())
        return loops[-1]

    async def work() -> int:
        left.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        await asyncio.sleep(0)
        return 7

    assert run_async(work(), factory) == 7
    assert loops[0].is_closed() and left[0].cancelled()


def test_a_finished_answer_keeps_its_connection_for_the_next_request() -> None:
    """The answer is read to the end of its chunked stream after ``[DONE]``: one connection for
    requests sent one after another (the connection was closed after each, and the next one
    paid for a new one inside its TTFT); the wait for that end is not the answer's time."""
    peers: list[object] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport
                     else None)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in ANSWER.split("\n\n")[:-1]:
            await response.write((part + "\n\n").encode())
        await asyncio.sleep(0.2)  # the stream's last chunk in a read of its own
        return response

    async def main() -> list[Record]:
        app = web.Application()
        app.router.add_post("/v1/completions", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            requests = [Request(i, "a b", 2, 3) for i in range(6)]
            records, _, _ = await run_load(Target(f"http://127.0.0.1:{port}", "m"), requests,
                                           [0.01 * i for i in range(6)], concurrency=1)
            return records
        finally:
            await runner.cleanup()

    records = asyncio.run(main())
    assert all(r.ok and len(r.chunks) == 3 for r in records), records
    assert len(peers) == 6 and len(set(peers)) == 1, peers
    # the wait for the stream's last chunk is no part of the answer's time: it ended at [DONE]
    assert all(r.end < r.chunks[-1] + 0.15 for r in records), [(r.end, r.chunks) for r in records]

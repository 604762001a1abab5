"""The least a Python client pays on this machine: a load client reduced to its bare bones, the
floor that ``bench_client_overhead.py`` sets beside our client (``serving.loadgen``).

Not a client to use (no errors handled, no chat API, no records): a plain asyncio protocol on
the chosen event loop, one kept-alive connection per request in flight, the HTTP request
written as prepared bytes, the answer's bytes read as they arrive until the first token's
event, then to the end of the chunked stream. The same Poisson schedule as loadgen's
(``serving.arrivals.schedule``, same seed). Written by hand on purpose: any HTTP library
adds its own cost, and the floor is what is left without one. Prints one JSON line: each
answered request's id, send (on the machine's monotonic clock, stamped as its bytes are handed
to the socket, as loadgen's client stamps its send) and TTFT (seconds from the send to the read
that brought the first token's bytes, as loadgen's client times a chunk), to be joined with the
null server's stamps.

    python benchmarks/client_floor.py URL RATE REQUESTS [asyncio|uvloop]
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from serving.arrivals import schedule
from serving.client import loop_factory, run_async, until

#: The chunked stream's last chunk: the answer is over.
END = b"\r\n0\r\n\r\n"


def request_bytes(host: str, port: int, index: int) -> bytes:
    body = json.dumps({"model": "null", "prompt": " ".join(["word"] * 16), "max_tokens": 8,
                       "stream": True, "stream_options": {"include_usage": True},
                       "temperature": 0.0}).encode()
    return (f"POST /v1/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nX-Request-Id: floor-{index}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Connection(asyncio.Protocol):
    """One kept-alive connection: the answer's bytes gathered as they arrive, the first
    token's time taken in the read that brought it (as our client's ``Wire`` does)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.seen, self.first = b"", 0.0
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.seen += data
        token = self.seen.find(b'"text": "tok') if not self.first else -1
        if token >= 0 and self.seen.find(b"\n\n", token) >= 0:  # the token's event is whole
            self.first = now
        if self.seen.endswith(END) and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(SystemExit("error: the server closed a connection"))

    async def ask(self, request: bytes) -> tuple[float, float]:
        """Send ``request`` (its time: as it is handed to the socket) and wait for its whole
        answer; the send and the first token's read, on the monotonic clock."""
        assert self.transport is not None
        self.seen, self.first = b"", 0.0
        self.done = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(request)
        await self.done
        return sent, self.first


async def load(host: str, port: int, rate: float, count: int) -> list[tuple[str, float, float]]:
    idle: list[Connection] = []
    prepared = [request_bytes(host, port, i) for i in range(-5, count)]
    answered: list[tuple[str, float, float]] = []  # id, send (monotonic clock), TTFT
    loop = asyncio.get_running_loop()

    async def one(index: int, at: float, start: float) -> None:
        await until(start + at)
        if idle:
            conn = idle.pop()
        else:
            _, conn = await loop.create_connection(Connection, host, port)
        sent, first = await conn.ask(prepared[index + 5])
        if index >= 0 and first:
            answered.append((f"floor-{index}", sent, first - sent))
        idle.append(conn)

    for warm in range(-5, 0):  # as loadgen's --warmup_requests 5: connections open, warm
        await one(warm, 0.0, time.perf_counter())
    start = time.perf_counter()
    await asyncio.gather(*(one(i, at, start) for i, at in enumerate(schedule(count, rate))))
    return answered


def main(argv: list[str]) -> int:
    url, rate, count = urlsplit(argv[0]), float(argv[1]), int(argv[2])
    factory, name = loop_factory(argv[3] if len(argv) > 3 else "auto")
    answered = run_async(load(url.hostname or "127.0.0.1", url.port or 80, rate, count), factory)
    print(json.dumps({"loop": name,
                      "requests": [{"request_id": rid, "sent_clock": sent, "ttft": ttft,
                                    "error": None} for rid, sent, ttft in answered]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

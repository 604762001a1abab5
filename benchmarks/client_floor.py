"""The least a Python client pays on this machine: a load client reduced to its bare bones, the
floor that ``bench_client_overhead.py`` sets beside our client (``serving.loadgen``).

Not a client to use (no errors handled, no chat API, no records): plain asyncio streams on
the chosen event loop, one kept-alive connection per request in flight, the HTTP request
written as prepared bytes, the answer's bytes read as they arrive until the first token's
event, then to the end of the chunked stream. The same Poisson schedule as loadgen's
(``serving.arrivals.schedule``, same seed). Written by hand on purpose: any HTTP library
adds its own cost, and the floor is what is left without one. Prints one JSON line: each
answered request's id, send (on the machine's monotonic clock, stamped before a connection is
taken as loadgen's is) and TTFT (seconds from the send to the first token's bytes), to be
joined with the null server's stamps.

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


async def load(host: str, port: int, rate: float, count: int) -> list[tuple[str, float, float]]:
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    prepared = [request_bytes(host, port, i) for i in range(-5, count)]
    answered: list[tuple[str, float, float]] = []  # id, send (monotonic clock), TTFT

    async def one(index: int, at: float, start: float) -> None:
        await until(start + at)
        sent = time.perf_counter()  # before the connection, as loadgen stamps its send
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        writer.write(prepared[index + 5])
        seen, first = b"", None
        while not seen.endswith(END):
            got = await reader.read(65536)
            if not got:
                raise SystemExit(f"error: the server closed request {index}'s connection")
            seen += got
            if first is None and b'"text": "tok' in seen:
                first = time.perf_counter() - sent
        if index >= 0 and first is not None:
            answered.append((f"floor-{index}", sent, first))
        idle.append((reader, writer))

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

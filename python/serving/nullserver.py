"""A null OpenAI-compatible server: it streams what is asked at once, so a load against it
measures the client alone (the client-overhead figure), and misbehaves on request for the
tests (errors, cut streams, dying mid-run).

    python -m serving.nullserver --port 0     # prints: listening on http://127.0.0.1:PORT

Each answer is ``max_tokens`` chunks of one word each (``--token_delay_ms`` apart, after
``--first_delay_ms``), then a chunk with ``finish_reason``, one of no choice with ``usage`` (as
vLLM streams them), then ``[DONE]``.

``--stamps FILE`` appends a JSON line per request: its ``X-Request-Id``, when its first bytes
reached this process (``arrived``: the connection's first read of the request, before aiohttp
parsed it), when its first token was handed to the socket (``first_written``: taken just
before the write) and when the answer's last write returned (``last_written``: its
``[DONE]``, or where the answer was cut), on the machine's monotonic clock (``time.perf_counter``, the clock of the
client's ``sent_clock``), so that a client's overhead can be told apart from the server's
(benchmarks/bench_client_overhead.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web, web_protocol
from aiohttp.typedefs import Handler


@dataclass
class Behaviour:
    first_delay_ms: float = 0.0
    token_delay_ms: float = 0.0
    fail_every: int = 0      # HTTP 500 on every Nth request (0: never)
    cut_after: int = 0       # close the stream after N chunks on every cut_every-th request
    cut_every: int = 0
    exit_after: int = 0      # the process exits (dies) after N requests were begun (0: never)
    hang_every: int = 0      # never answer every Nth request (a timeout for the client)
    max_inflight: int = 0    # requests served at once; later ones queue (0: no limit): a
    #                          server with a capacity of about max_inflight / service time
    garbage_every: int = 0   # every Nth answer carries an event that is JSON but not the API's
    abort_every: int = 0     # every Nth answer ends after 2 chunks with finish_reason "abort"
    split_every: int = 0     # every Nth answer writes each event in 3 pieces, 2 ms apart (a
    #                          line and "\n\n" cut across reads, as a proxy may deliver them)
    stamps: str = ""         # append each request's arrival and first write here (JSON lines)
    no_metrics: bool = False  # no /metrics (a server without Prometheus metrics: 404)


#: The TTFT histogram's bucket bounds (s) of the null server's /metrics (a few of vLLM's).
TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


@dataclass
class Gauges:
    """What /metrics shows, in vLLM's names: requests being answered and queued, prompt words
    asked and found shared with the previous prompt's start (a prefix cache of one entry), and
    each TTFT (arrival to first write) in a cumulative histogram."""
    running: int = 0
    waiting: int = 0
    queries: int = 0
    hits: int = 0
    last_prompt: tuple[str, ...] = ()
    ttft_sum: float = 0.0
    ttft_buckets: list[int] = field(default_factory=lambda: [0] * (len(TTFT_BOUNDS) + 1))

    def asked(self, prompt: str) -> None:
        words = tuple(prompt.split())
        shared = next((i for i, (a, b) in enumerate(zip(words, self.last_prompt, strict=False))
                       if a != b), min(len(words), len(self.last_prompt)))
        self.queries, self.hits, self.last_prompt = self.queries + len(words), \
            self.hits + shared, words

    def first_token(self, seconds: float) -> None:
        self.ttft_sum += seconds
        for index, bound in enumerate((*TTFT_BOUNDS, math.inf)):
            if seconds <= bound:
                self.ttft_buckets[index] += 1

    def text(self, capacity: int) -> str:
        labels = 'model_name="null",engine="0"'
        lines = ["# TYPE vllm:num_requests_running gauge",
                 f"vllm:num_requests_running{{{labels}}} {self.running}",
                 f"vllm:num_requests_waiting{{{labels}}} {self.waiting}",
                 f"vllm:kv_cache_usage_perc{{{labels}}} {min(self.running / capacity, 1.0)}",
                 f"vllm:prefix_cache_queries_total{{{labels}}} {self.queries}",
                 f"vllm:prefix_cache_hits_total{{{labels}}} {self.hits}"]
        for bound, count in zip((*TTFT_BOUNDS, math.inf), self.ttft_buckets, strict=True):
            le = "+Inf" if math.isinf(bound) else repr(bound)
            lines.append(f'vllm:time_to_first_token_seconds_bucket{{{labels},le="{le}"}} {count}')
        lines += [f"vllm:time_to_first_token_seconds_sum{{{labels}}} {self.ttft_sum}",
                  f"vllm:time_to_first_token_seconds_count{{{labels}}} {self.ttft_buckets[-1]}"]
        return "\n".join(lines) + "\n"


def _event(api: str, text: str, finish: str | None = None) -> bytes:
    if api == "chat":
        choice: dict = {"index": 0, "delta": {"content": text} if text else {}}
    else:
        choice = {"index": 0, "text": text}
    if finish:
        choice["finish_reason"] = finish
    body: dict = {"id": "null", "object": "chunk", "choices": [choice], "created": int(time.time())}
    return f"data: {json.dumps(body)}\n\n".encode()


def _usage_event(usage: dict) -> bytes:
    body = {"id": "null", "object": "chunk", "choices": [], "created": int(time.time()),
            "usage": usage}
    return f"data: {json.dumps(body)}\n\n".encode()


#: When each connection's current request began to arrive (its first read), by protocol: set by
#: :func:`_track_arrivals`'s read hook, cleared when the request's handler ends.
_ARRIVED: dict[object, float] = {}


def _track_arrivals() -> None:
    """Note the time of each request's first read on its connection, before aiohttp parses
    it (a handler begins only after the parse, and its stamp would count the server's own
    parsing as the client's). aiohttp's protocol has no hook for it: its ``data_received``
    is wrapped, in this process only (the null server's)."""
    handler = web_protocol.RequestHandler
    if getattr(handler.data_received, "_dlbs_wrapped", False):
        return
    original = handler.data_received

    def data_received(self: web_protocol.RequestHandler, data: bytes) -> None:
        _ARRIVED.setdefault(self, time.perf_counter())
        original(self, data)

    data_received._dlbs_wrapped = True  # type: ignore[attr-defined]
    handler.data_received = data_received  # type: ignore[method-assign]


def _arrival(request: web.Request) -> float:
    """When ``request`` began to arrive (now, if its read was not seen). What is read while
    its handler runs (the rest of its body) is still this request's: the time is cleared only
    when the handler ends (:func:`_arrivals_cleared`, for every route). Our clients never
    pipeline: a connection's next request is sent only after this answer's end, which is
    written after that."""
    return _ARRIVED.get(request.protocol) or time.perf_counter()


@web.middleware
async def _arrivals_cleared(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        _ARRIVED.pop(request.protocol, None)


def make_app(behaviour: Behaviour) -> web.Application:
    count = {"n": 0}
    slots = asyncio.Semaphore(behaviour.max_inflight) if behaviour.max_inflight else None
    stamps = open(behaviour.stamps, "a", buffering=1) if behaviour.stamps else None  # noqa: SIM115

    def stamp(request: web.Request, arrived: float, first_written: float) -> None:
        if stamps is not None:
            stamps.write(json.dumps({"id": request.headers.get("X-Request-Id", ""),
                                     "arrived": arrived, "first_written": first_written,
                                     "last_written": time.perf_counter()}) + "\n")

    gauges = Gauges()

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(_request: web.Request) -> web.Response:
        if behaviour.no_metrics:
            raise web.HTTPNotFound()
        return web.Response(text=gauges.text(behaviour.max_inflight or 100),
                            content_type="text/plain")

    async def answer(request: web.Request, api: str) -> web.StreamResponse:
        arrived = _arrival(request)
        count["n"] += 1
        n = count["n"]
        if behaviour.exit_after and n > behaviour.exit_after:
            os._exit(3)  # the server dies: in-flight and later requests fail
        body = await request.json()
        if behaviour.fail_every and n % behaviour.fail_every == 0:
            return web.json_response({"detail": "injected failure"}, status=500)
        if behaviour.hang_every and n % behaviour.hang_every == 0:
            await asyncio.sleep(3600)
        tokens = int(body.get("max_tokens") or 16)
        prompt = body.get("prompt") or " ".join(m.get("content", "")
                                                for m in body.get("messages", []))
        gauges.asked(str(prompt))
        if slots is not None:
            gauges.waiting += 1
            async with slots:  # queued: the wait is part of the TTFT, as on a full server
                gauges.waiting -= 1
                return await counted(request, api, tokens, prompt, n, arrived)
        return await counted(request, api, tokens, prompt, n, arrived)

    async def counted(request: web.Request, api: str, tokens: int, prompt: str,
                      n: int, arrived: float) -> web.StreamResponse:
        gauges.running += 1
        try:
            return await stream(request, api, tokens, prompt, n, arrived)
        finally:
            gauges.running -= 1

    async def stream(request: web.Request, api: str, tokens: int, prompt: str,
                     n: int, arrived: float) -> web.StreamResponse:
        first_written: list[float] = []  # when the first token was handed over (once written)
        try:
            return await answer_events(request, api, tokens, prompt, n, first_written)
        finally:
            # the stamp's line is written once the answer is (or where it was cut): off the
            # first token's path, and with the answer's last write
            if first_written:
                stamp(request, arrived, first_written[0])
                gauges.first_token(first_written[0] - arrived)

    async def answer_events(request: web.Request, api: str, tokens: int, prompt: str,
                            n: int, first_written: list[float]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        split = bool(behaviour.split_every and n % behaviour.split_every == 0)

        async def write(event: bytes) -> None:
            if not split:
                await response.write(event)
                return
            # cut inside the JSON and between the two newlines that end the event
            for piece in (event[:len(event) // 2], event[len(event) // 2:-1], event[-1:]):
                await response.write(piece)
                await asyncio.sleep(0.002)
        if behaviour.first_delay_ms:
            await asyncio.sleep(behaviour.first_delay_ms / 1e3)
        for index in range(tokens):
            if index and behaviour.token_delay_ms:
                await asyncio.sleep(behaviour.token_delay_ms / 1e3)
            if (behaviour.cut_after and index == behaviour.cut_after and behaviour.cut_every
                    and n % behaviour.cut_every == 0):
                request.transport.close()  # type: ignore[union-attr]
                return response
            if behaviour.garbage_every and n % behaviour.garbage_every == 0 and index == 1:
                await response.write(b"data: [1, 2]\n\n")
            if behaviour.abort_every and n % behaviour.abort_every == 0 and index == 2:
                await response.write(_event(api, "", "abort"))
                await response.write(b"data: [DONE]\n\n")
                return response
            event = _event(api, "tok ")
            if index:
                await write(event)
                continue
            # stamped as it is handed over (the client may read it before the write returns)
            first_written.append(time.perf_counter())
            await write(event)
        usage = {"prompt_tokens": len(str(prompt).split()), "completion_tokens": tokens,
                 "total_tokens": len(str(prompt).split()) + tokens}
        # as vLLM streams them: the choice's finish, then the usage in an event of no choice
        # (vLLM's own client reads the usage only there; with the choice it re-tokenized)
        await write(_event(api, "", "length"))
        await write(_usage_event(usage))
        await write(b"data: [DONE]\n\n")
        return response

    app = web.Application(middlewares=[_arrivals_cleared])
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/v1/completions", lambda r: answer(r, "completions"))
    app.router.add_post("/v1/chat/completions", lambda r: answer(r, "chat"))
    return app


async def serve(behaviour: Behaviour, host: str, port: int) -> None:
    _track_arrivals()
    runner = web.AppRunner(make_app(behaviour), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on http://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--stamps", default="", help="append each request's arrival and first "
                        "write (monotonic clock) to this file, as JSON lines")
    for name in ("first_delay_ms", "token_delay_ms"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    for name in ("fail_every", "cut_after", "cut_every", "exit_after", "hang_every",
                 "max_inflight", "garbage_every", "abort_every", "split_every"):
        parser.add_argument(f"--{name}", type=int, default=0)
    parser.add_argument("--no_metrics", action="store_true",
                        help="answer /metrics with 404 (a server without Prometheus metrics)")
    args = parser.parse_args(argv)
    behaviour = Behaviour(**{k: v for k, v in vars(args).items() if k not in ("host", "port")})
    try:
        asyncio.run(serve(behaviour, args.host, args.port))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

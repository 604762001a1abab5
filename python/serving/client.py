"""The streaming client: send each request at its time, read the server-sent events, and keep
what happened to every request (never dropped: an error is recorded with its name).

One ``aiohttp`` session under one asyncio loop sends every request. Times are
``time.perf_counter`` seconds from the run's start: ``scheduled`` (the arrival process),
``sent`` (when the request left: later than scheduled when ``serve.concurrency`` requests are
already in flight or the client is late), the first content chunk, every content chunk, and
the end of the stream. A loop-lag monitor wakes every 10 ms and records how late it woke: a
client whose loop lags measures its own queue, not the server's, and the run says so.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import aiohttp

from serving.requests import Request

#: How often the loop-lag monitor wakes (seconds).
LAG_TICK_S = 0.01
APIS = ("completions", "chat")


@dataclass
class Record:
    """One request's outcome; times in seconds (``scheduled``/``sent`` from the run's start,
    the rest from ``sent``)."""

    index: int
    scheduled: float
    sent: float = float("nan")
    chunks: list[float] = field(default_factory=list)  # each content chunk's arrival
    end: float = float("nan")
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    tokens_from: str = ""            # "usage" (the server's count) or "chunks"
    error: str | None = None
    max_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float:
        return self.chunks[0] if self.chunks else float("nan")

    def as_json(self) -> dict:
        return {**asdict(self), "ttft": self.ttft}


@dataclass(frozen=True)
class Target:
    """Where and how requests go."""

    endpoint: str                # http://host:port (the /v1/... path is added)
    model: str
    api: str = "completions"     # completions | chat
    timeout_s: float = 600.0

    @property
    def url(self) -> str:
        base = self.endpoint.rstrip("/")
        base = base.removesuffix("/v1")
        return f"{base}/v1/{'chat/completions' if self.api == 'chat' else 'completions'}"

    def body(self, request: Request) -> dict:
        common = {"model": self.model, "max_tokens": request.max_tokens, "stream": True,
                  "stream_options": {"include_usage": True}, "temperature": 0.0}
        if self.api == "chat":
            return {**common, "messages": [{"role": "user", "content": request.prompt}]}
        return {**common, "prompt": request.prompt}


def chunk_text(event: dict, api: str) -> str:
    """The generated text an event carries (empty for role-only or usage-only events)."""
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    if api == "chat":
        delta = choices[0].get("delta") or {}
        return str(delta.get("content") or "")
    return str(choices[0].get("text") or "")


async def send(session: aiohttp.ClientSession, target: Target, request: Request,
               record: Record, start: float) -> None:
    """Send one request and stream its answer into ``record`` (errors named, never raised)."""
    record.sent = time.perf_counter() - start
    sent = start + record.sent
    finished = False
    try:
        async with session.post(target.url, json=target.body(request)) as response:
            if response.status != 200:
                text = (await response.text())[:200].replace("\n", " ")
                record.error = f"HTTP {response.status}: {text}"
                return
            async for raw in response.content:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    finished = True
                    break
                event = json.loads(payload)
                if isinstance(event, dict) and event.get("error"):
                    record.error = f"server error: {str(event['error'])[:200]}"
                    return
                if chunk_text(event, target.api):
                    record.chunks.append(time.perf_counter() - sent)
                usage = event.get("usage") if isinstance(event, dict) else None
                if isinstance(usage, dict):
                    record.prompt_tokens = usage.get("prompt_tokens")
                    record.output_tokens = usage.get("completion_tokens")
                    record.tokens_from = "usage"
                choices = event.get("choices") or []
                if choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
                    finished = True
        if not finished:
            record.error = "stream cut: the answer ended before its last event"
    except asyncio.TimeoutError:
        record.error = f"timeout: no complete answer in {target.timeout_s:g} s"
    except aiohttp.ClientPayloadError as err:
        record.error = f"stream cut: {err}"
    except aiohttp.ClientError as err:
        record.error = f"connection: {type(err).__name__}: {str(err)[:200]}"
    except (ValueError, UnicodeError) as err:
        record.error = f"bad event: {str(err)[:200]}"
    finally:
        record.end = time.perf_counter() - sent
        if record.ok and record.output_tokens is None:
            record.output_tokens, record.tokens_from = len(record.chunks), "chunks"


@dataclass
class LagMonitor:
    """How late the loop wakes from a ``LAG_TICK_S`` sleep, each time (milliseconds)."""

    lags_ms: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            self.lags_ms.append(max(0.0, (time.perf_counter() - before - LAG_TICK_S) * 1e3))


async def run_load(target: Target, requests: Sequence[Request], times: Sequence[float],
                   concurrency: int = 0, duration_s: float = 0.0,
                   warmup: Sequence[Request] = (), progress: bool = False
                   ) -> tuple[list[Record], LagMonitor, float]:
    """Send the warm-up requests one at a time (not recorded), then each request at its time
    (at most ``concurrency`` in flight, 0: no limit), none scheduled after ``duration_s``
    (0: no limit). Returns the records (every request scheduled), the lag monitor and the
    wall time from the first send to the last answer."""
    timeout = aiohttp.ClientTimeout(total=target.timeout_s)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        for request in warmup:
            await send(session, target, request, Record(-1, 0.0), time.perf_counter())
        monitor = LagMonitor()
        watcher = asyncio.create_task(monitor.run())
        gate = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        start = time.perf_counter()
        records = [Record(r.index, t, max_tokens=r.max_tokens)
                   for r, t in zip(requests, times)
                   if not duration_s or t <= duration_s]

        async def one(request: Request, record: Record) -> None:
            delay = start + record.scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if gate is None:
                await send(session, target, request, record, start)
                return
            async with gate:
                await send(session, target, request, record, start)

        tasks = [asyncio.create_task(one(r, rec)) for r, rec in zip(requests, records)]
        for done, finished in enumerate(asyncio.as_completed(tasks), 1):
            await finished
            if progress and (done % max(1, len(tasks) // 10) == 0 or done == len(tasks)):
                print(f"serve: {done}/{len(tasks)} requests answered", file=sys.stderr,
                      flush=True)
        wall = time.perf_counter() - start
        watcher.cancel()
        first = min((r.sent for r in records), default=0.0)
        return records, monitor, wall - first

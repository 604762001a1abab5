"""The streaming client: send each request at its time, read the server-sent events, and keep
what happened to every request (never dropped: an error is recorded with its name).

One ``aiohttp`` session under one asyncio loop sends every request. Times are
``time.perf_counter`` seconds from the run's start: ``scheduled`` (the arrival process),
``sent`` (when the request's first bytes were handed to the socket: later than scheduled
when ``serve.concurrency`` requests are already in flight, the client is late, a new
connection was being opened, or aiohttp took its time building the request), the first
content chunk, every content chunk, and the end of the stream (each at the read that brought
its bytes: :class:`Wire`). A loop-lag monitor wakes every 10 ms and records how late it woke:
a client whose loop lags measures its own queue, not the server's, and the run says so.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp.client_proto import ResponseHandler

from serving.requests import Request

#: How often the loop-lag monitor wakes (seconds).
LAG_TICK_S = 0.01
APIS = ("completions", "chat")
#: The event loops the client can run on (``--client_loop``; ``auto``: uvloop where installed).
LOOPS = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


def loop_factory(choice: str = "auto") -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """The event loop the client runs on, and its name: uvloop where it is installed (a lower tail
    and loop lag under load: docs/serving.md, "The client's own overhead"), else asyncio's
    own. ``uvloop`` asked for and missing is an error, never a silent fallback."""
    if choice not in LOOPS:
        raise ValueError(f"--client_loop: '{choice}' is none of {', '.join(LOOPS)}")
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ValueError("--client_loop uvloop: uvloop is not installed (pip install "
                                 "uvloop), or use --client_loop asyncio") from None
        else:
            return uvloop.new_event_loop, "uvloop"
    return asyncio.new_event_loop, "asyncio"


def run_async(main: Coroutine[Any, Any, T], factory: Callable[[], asyncio.AbstractEventLoop]
              ) -> T:
    """``main`` run to its end on a new loop from ``factory`` (as ``asyncio.run`` does;
    Python 3.10 has no ``asyncio.Runner``: the loop is run and closed here)."""
    runner_class = getattr(asyncio, "Runner", None)
    if runner_class is not None:
        with runner_class(loop_factory=factory) as runner:
            return runner.run(main)
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


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
    finish_reason: str | None = None
    request_id: str = ""             # sent as X-Request-Id (servers log it; the null server's
    #                                  --stamps file is joined on it)
    sent_clock: float = float("nan")  # ``sent`` on the machine's monotonic clock (perf_counter)
    # where its times were taken: "socket" (its connection's write and reads: :class:`Wire`) or
    # "call" (before aiohttp's call, a chunk as it was parsed: no answer to note, or aiohttp
    # without the hook)
    timed_at: str = "call"

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
    ignore_eos: bool = False     # ask for every token of max_tokens (vLLM's, SGLang's field)

    @property
    def url(self) -> str:
        base = self.endpoint.rstrip("/")
        base = base.removesuffix("/v1")
        return f"{base}/v1/{'chat/completions' if self.api == 'chat' else 'completions'}"

    def body(self, request: Request) -> dict:
        common = {"model": self.model, "max_tokens": request.max_tokens, "stream": True,
                  "stream_options": {"include_usage": True}, "temperature": 0.0}
        if self.ignore_eos:  # sent only when asked: a server that knows no such field may
            common["ignore_eos"] = True  # refuse it
        if self.api == "chat":
            return {**common, "messages": [{"role": "user", "content": request.prompt}]}
        return {**common, "prompt": request.prompt}


def chunk_text(event: dict, api: str) -> str:
    """The generated text an event carries (empty for role-only or usage-only events)."""
    choices = event.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    if api == "chat":
        delta = choices[0].get("delta") or {}
        return str(delta.get("content") or "") if isinstance(delta, dict) else ""
    return str(choices[0].get("text") or "")


#: Finish reasons of an answer that ended as asked (its length, a stop, a call); any other
#: (vLLM's ``abort``, ``error``...) is a failed request, its reason named.
FINISHED = frozenset({"stop", "length", "eos", "tool_calls", "function_call"})


class BadEvent(ValueError):
    """A server-sent event that is JSON but not what the API sends."""


@dataclass(frozen=True)
class Event:
    """What one server-sent event says."""

    text: str = ""
    usage: tuple[int | None, int | None] | None = None   # prompt, completion tokens
    finish_reason: str | None = None
    error: str | None = None
    #: A choice that carries its text field, empty or not: a token came. A token whose text is
    #: empty (a special token, or bytes the server holds back until a character is whole)
    #: is still a token, its time a token's time (vLLM's own client counts it so); a usage or
    #: role-only event without the field is none, nor an empty text with a finish_reason (the
    #: closing event some servers send after the last token).
    token: bool = False


def parse_event(payload: str, api: str) -> Event:
    """One ``data:`` payload read; :class:`BadEvent` (or ``ValueError`` for what is not JSON)
    for anything but the API's shapes: never a crash of the run."""
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise BadEvent(f"an event that is not a JSON object: {payload[:80]}")
    if event.get("error"):
        return Event(error=str(event["error"])[:200])
    choices = event.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise BadEvent(f"'choices' is not a list of objects: {payload[:80]}")
    finish = choices[0].get("finish_reason") if choices else None
    token = False
    if choices:
        part = (choices[0].get("delta") or {}) if api == "chat" else choices[0]
        if not isinstance(part, dict):
            raise BadEvent(f"a chat 'delta' that is not an object: {payload[:80]}")
        content = part.get("content" if api == "chat" else "text")
        if content is not None and not isinstance(content, str):
            raise BadEvent(f"a choice whose text is not text: {payload[:80]}")
        if finish is not None and not isinstance(finish, str):
            raise BadEvent(f"a finish_reason that is not text: {payload[:80]}")
        # an empty text that closes the stream (with its finish_reason) is no token
        token = isinstance(content, str) and (content != "" or finish is None)
    usage = event.get("usage")
    counts = None
    if usage is not None:
        if not isinstance(usage, dict):
            raise BadEvent(f"'usage' is not an object: {payload[:80]}")
        counts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        if not all(c is None or type(c) is int and c >= 0 for c in counts):
            raise BadEvent(f"usage counts that are not whole numbers: {payload[:80]}")
    return Event(chunk_text(event, api), counts, finish, token=token)


def encoded(target: Target, request: Request) -> bytes:
    """A request's JSON body, encoded before its send time (not on the timed path)."""
    return json.dumps(target.body(request), separators=(",", ":")).encode("utf-8")


#: The longest line of an answer the client keeps (bytes): a longer one fails its request as a
#: ``bad event`` instead of growing without end (a hostile or broken server).
MAX_LINE = 16 << 20
#: How long the rest of an answer (the chunked stream's last chunk) is waited for after its
#: ``[DONE]``, so that the connection is kept for the next request; not timed.
DRAIN_S = 0.5


class Answer:
    """What a connection noted of one answer: when the request it answers began to be handed to
    the socket (``sent``) and each read of it with how many of its bytes had come by then."""

    __slots__ = ("content", "marks", "sent")

    def __init__(self, content: aiohttp.StreamReader, sent: float) -> None:
        self.content, self.sent = content, sent
        self.marks: deque[tuple[float, int]] = deque()  # (read's time, its bytes by then)

    def note(self, at: float) -> None:
        total = self.content.total_bytes
        if not self.marks or self.marks[-1][1] != total:  # a read that brought none: not one
            self.marks.append((at, total))

    def arrived(self, offset: int) -> float | None:
        """When byte ``offset`` (from 0) arrived: the first read after which more than
        ``offset`` bytes had come (earlier reads are dropped); None if none did."""
        marks = self.marks
        while len(marks) > 1 and marks[0][1] <= offset:
            marks.popleft()
        return marks[0][0] if marks and marks[0][1] > offset else None


class Wire(ResponseHandler):
    """aiohttp's connection protocol, noting on ``time.perf_counter``'s clock when a request's
    first bytes were handed to the socket and, per answer (:class:`Answer`), each read and
    how many of the answer's bytes had come with it. A request is timed from its bytes leaving
    and each chunk of its answer from the read that brought its last byte, not from aiohttp's
    building of the request or from its parsing of the answer and the wake-up after it: the
    server's latency without the client's own work, which shows instead as the send delay (a
    request that left late) and the loop's lag (a read that came late). A connection serves
    one request at a time (HTTP/1.1, no pipelining); its last few answers are kept
    (:data:`KEPT_ANSWERS`) until their requests are done with them (:meth:`forget`), so an
    answer read after its connection went on to the next request keeps its own times.
    Installed by :func:`wire_connector`; the answer being read is aiohttp's ``_payload``
    (pinned aiohttp; ``tests/load/test_client.py`` checks the stamps)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.wrote_at = 0.0       # when the current request's first bytes were handed over
        self.between = True       # no request written since the last answer began
        self.answers: deque[Answer] = deque(maxlen=KEPT_ANSWERS)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_NotingTransport(transport, self))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        before = self._payload
        super().data_received(data)  # parsed at once: the answer's bytes are in its reader
        payload = self._payload if self._payload is not None else before  # (None at its end)
        if payload is None:
            return
        answer = self.answers[-1] if self.answers else None
        if answer is None or answer.content is not payload:
            answer = Answer(payload, self.wrote_at)  # the request this answer answers
            self.answers.append(answer)
            self.between = True
        answer.note(now)

    def answer(self, content: aiohttp.StreamReader) -> Answer | None:
        """What this connection noted of the answer ``content`` (None: nothing)."""
        return next((a for a in self.answers if a.content is content), None)

    def forget(self, content: aiohttp.StreamReader) -> None:
        """Drop what was noted of ``content`` (its request is done)."""
        for answer in list(self.answers):
            if answer.content is content:
                self.answers.remove(answer)


#: Answers a connection keeps noted (the one being read, and any its requests still read).
KEPT_ANSWERS = 4


class _NotingTransport:
    """A socket's transport that stamps its protocol's ``wrote_at`` when the first bytes of a
    request are handed to it; everything else is the transport's own."""

    __slots__ = ("_transport", "_wire")

    def __init__(self, transport: Any, wire: Wire) -> None:
        self._transport, self._wire = transport, wire

    def _stamp(self) -> None:
        if self._wire.between:
            self._wire.wrote_at, self._wire.between = time.perf_counter(), False

    def write(self, data: Any) -> None:
        self._stamp()
        self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self._stamp()
        self._transport.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def wire_connector() -> aiohttp.TCPConnector:
    """The session's connector (no limit on connections, kept alive), its connections made with
    :class:`Wire` (aiohttp has no public hook for the protocol: its ``_factory``, checked by
    ``tests/load/test_client.py`` against the pinned aiohttp)."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    connector._factory = lambda: Wire(asyncio.get_running_loop())
    return connector


class _Stream:
    """An answer's server-sent events as its bytes arrive: :meth:`feed` splits the lines
    (searching only the new bytes: one long line costs linear time, and at most
    :data:`MAX_LINE`), joins an event's ``data:`` lines (the SSE rule) and reads each event at
    its blank line (or at the stream's end); it says when the answer is over (``[DONE]``, an
    error, a finish the API does not end with). ``ended`` is when that was read (seconds from
    the send)."""

    def __init__(self, record: Record, api: str, sent: float, answer: Answer | None = None
                 ) -> None:
        self.record, self.api, self.sent, self.answer = record, api, sent, answer
        self.finished = False
        self.ended: float | None = None
        self._pieces: list[bytes] = []   # the line being read, before its newline
        self._size = 0
        self._data: list[str] = []       # the event being read: its data lines
        self._first = True
        self._read_at = sent
        self._fed = 0                    # the answer's bytes fed before this read
        self._data_at = sent             # when the event's last data line came

    def feed(self, got: bytes) -> bool:
        """Take the bytes of one read; True when the answer is over. A chunk's time is when
        the read that brought its last byte came (:meth:`Answer.arrived`; without one, now: not
        when its event was parsed)."""
        answer, base = self.answer, self._fed
        self._fed += len(got)
        now = self._read_at = time.perf_counter()
        start = 0
        while (end := got.find(b"\n", start)) >= 0:
            if answer is not None:
                self._read_at = answer.arrived(base + end) or now
            if self._pieces:
                self._pieces.append(got[start:end])
                line, self._pieces, self._size = b"".join(self._pieces), [], 0
            else:
                line = got[start:end]
            start = end + 1
            if self._line(line):
                return True
        if start < len(got):
            self._pieces.append(got[start:])
            self._size += len(got) - start
            if self._size > MAX_LINE:
                raise BadEvent(f"a line longer than {MAX_LINE >> 20} MiB without its end")
        return False

    def close(self) -> None:
        """The stream ended: a last line or event without its ending is still read, timed at
        the read that brought the answer's last byte."""
        if self.answer is not None and self._fed:
            self._read_at = self.answer.arrived(self._fed - 1) or self._read_at
        if self._pieces:
            line, self._pieces = b"".join(self._pieces), []
            if self._line(line):
                return
        self._dispatch()

    def _line(self, raw: bytes) -> bool:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if self._first:  # a byte-order mark may open the stream
            line, self._first = line.removeprefix("\ufeff"), False
        if not line:
            return self._dispatch()
        if line.startswith("data:"):
            # a complete event followed by the next one's data with no blank line between (a
            # server that ends events with one newline) is read first; otherwise the lines are
            # one event's (the SSE rule: joined by newlines)
            if self._data and _complete("\n".join(self._data)):
                now, self._read_at = self._read_at, self._data_at  # it came with its own line
                over = self._dispatch()
                self._read_at = now
                if over:
                    return True
            self._data.append(line[5:].removeprefix(" "))
            self._data_at = self._read_at
        return False  # comments (":"), event:, id:, retry: lines carry no data

    def _dispatch(self) -> bool:
        if not self._data:
            return False
        payload, self._data = "\n".join(self._data).strip(), []
        over = self._event(payload)
        if over:
            self.ended = self._read_at - self.sent
        return over

    def _event(self, payload: str) -> bool:
        if payload == "[DONE]":
            self.finished = True
            return True
        event = parse_event(payload, self.api)
        record = self.record
        if event.error:
            record.error = f"server error: {event.error}"
            return True
        if event.token:  # its text may be empty: a token all the same (see Event.token)
            record.chunks.append(self._read_at - self.sent)
        if event.usage is not None:
            record.prompt_tokens, record.output_tokens = event.usage
            record.tokens_from = "usage"
        if event.finish_reason:
            record.finish_reason = event.finish_reason
            if event.finish_reason not in FINISHED:
                record.error = (f"ended by the server: finish_reason {event.finish_reason!r} "
                                f"after {len(record.chunks)} chunks")
                return True
            self.finished = True
        return False


def _complete(payload: str) -> bool:
    """Whether ``payload`` is a whole event already: ``[DONE]`` or JSON."""
    text = payload.strip()
    if text == "[DONE]":
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what is left of an answer after its end (the chunked stream's last chunk), for at
    most :data:`DRAIN_S`: a connection read to its end is kept for the next request, one left
    unread is closed. Never fails the request."""
    try:
        await asyncio.wait_for(response.content.read(), DRAIN_S)
    except Exception:  # noqa: BLE001, S110 - the answer is complete; only the connection is lost
        pass


async def send(session: aiohttp.ClientSession, target: Target, request: Request,
               record: Record, start: float, body: bytes | None = None) -> None:
    """Send one request and stream its answer into ``record`` (errors named, never raised).
    ``body``: the request's JSON, encoded beforehand (:func:`encoded`; else encoded here,
    before the send is stamped: TTFT counts from the request leaving, as the server could see
    it no sooner). The answer is read as its bytes arrive (``iter_any``), its lines split here:
    one wake-up of this coroutine per read, not per line."""
    data = body if body is not None else encoded(target, request)
    headers = {"Content-Type": "application/json"}
    if record.request_id:
        headers["X-Request-Id"] = record.request_id
    sent = record.sent_clock = time.perf_counter()  # the call, until its bytes are seen leaving
    record.sent = sent - start
    stream = _Stream(record, target.api, sent)
    noted: tuple[Wire, aiohttp.StreamReader] | None = None
    try:
        async with session.post(target.url, data=data, headers=headers,
                                allow_redirects=False) as response:
            # the connection that read it (kept by the answer even once released: an answer
            # complete with its headers gives its connection back before this line)
            wire = getattr(response.content, "_protocol", None)
            answer = None
            if isinstance(wire, Wire):
                noted = wire, response.content
                answer = wire.answer(response.content)
            if answer is not None and answer.sent >= sent:
                # timed from its bytes leaving: aiohttp's building of it is the send's delay
                sent = record.sent_clock = answer.sent
                record.sent = sent - start
                stream = _Stream(record, target.api, sent, answer)
                record.timed_at = "socket"
            if 300 <= response.status < 400:
                record.error = (f"HTTP {response.status}: redirected to "
                                f"{response.headers.get('Location', '?')[:200]}: not followed "
                                "(a redirect's time is not the server's answer): point "
                                "serve.endpoint there")
                return
            if response.status != 200:
                text = (await response.text())[:200].replace("\n", " ")
                record.error = f"HTTP {response.status}: {text}"
                return
            async for got in response.content.iter_any():
                if stream.feed(got):
                    break
            else:
                stream.close()
            if stream.finished:
                await _drain(response)
        if not stream.finished and record.error is None:
            record.error = "stream cut: the answer ended before its last event"
    except asyncio.TimeoutError:
        record.error = f"timeout: no complete answer in {target.timeout_s:g} s"
    except aiohttp.ClientPayloadError as err:
        record.error = f"stream cut: {err}"
    except aiohttp.ClientError as err:
        record.error = f"connection: {type(err).__name__}: {str(err)[:200]}"
    except (ValueError, UnicodeError) as err:
        record.error = f"bad event: {str(err)[:200]}"
    except Exception as err:  # noqa: BLE001  # one request's failure never ends the run
        record.error = f"client: {type(err).__name__}: {str(err)[:200]}"
    finally:
        record.end = stream.ended if stream.ended is not None else time.perf_counter() - sent
        if noted is not None:
            noted[0].forget(noted[1])
        if record.ok and record.output_tokens is None:
            record.output_tokens, record.tokens_from = len(record.chunks), "chunks"


@dataclass
class LagMonitor:
    """How late the loop wakes from a ``LAG_TICK_S`` sleep, each time (milliseconds)."""

    lags_ms: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + LAG_TICK_S
            await until(due)
            self.lags_ms.append((time.perf_counter() - due) * 1e3)


async def until(moment: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``moment``, never waking before it: uvloop's
    timers count whole milliseconds from a cached clock and may fire up to a millisecond early
    (a request would leave before its schedule); the rest is slept again (under half a
    millisecond: yielded to the loop)."""
    while (left := moment - time.perf_counter()) > 0:
        await asyncio.sleep(left)


async def run_load(target: Target, requests: Sequence[Request], times: Sequence[float],
                   concurrency: int = 0, duration_s: float = 0.0,
                   warmup: Sequence[Request] = (), progress: bool = False,
                   warmed: list[Record] | None = None,
                   on_warmed: Callable[[], None] | None = None
                   ) -> tuple[list[Record], LagMonitor, float]:
    """Send the warm-up requests one at a time (not timed; their records go to ``warmed``
    when given, so a failed warm-up is counted), then each request at its time (at most
    ``concurrency`` in flight, 0: no limit), none scheduled after ``duration_s`` (0: no
    limit). Every request carries ``X-Request-Id: dlbs-<run>-<index>`` (warm-ups
    ``...-w<n>``); ``on_warmed`` is called once they are answered. Returns the records (every request scheduled), the lag monitor and the
    wall time from the first send to the last answer."""
    run_id = uuid.uuid4().hex[:12]
    timeout = aiohttp.ClientTimeout(total=target.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, connector=wire_connector()) as session:
        for number, request in enumerate(warmup):
            warm = Record(-1, 0.0, request_id=f"dlbs-{run_id}-w{number}")
            await send(session, target, request, warm, time.perf_counter())
            if warmed is not None:
                warmed.append(warm)
        if on_warmed is not None:  # before the clock starts: the server's metrics' "before"
            on_warmed()            # scrape leaves the warm-ups out, as the client's figures do
        monitor = LagMonitor()
        watcher = asyncio.create_task(monitor.run())
        gate = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        records = [Record(r.index, t, max_tokens=r.max_tokens,
                          request_id=f"dlbs-{run_id}-{r.index}")
                   for r, t in zip(requests, times)
                   if not duration_s or t <= duration_s]
        bodies = [encoded(target, r) for r in requests[:len(records)]]
        start = time.perf_counter()
        answered = 0

        async def one(request: Request, record: Record, body: bytes) -> None:
            if gate is None:
                await send(session, target, request, record, start, body)
                return
            async with gate:
                await send(session, target, request, record, start, body)

        every_one = asyncio.Event()

        def counted(_: asyncio.Task[None]) -> None:
            nonlocal answered
            answered += 1
            if answered == len(records):
                every_one.set()
            if progress and (answered % max(1, len(records) // 10) == 0
                             or answered == len(records)):
                # as a training run's progress: done/total, the pace so far, time so far
                spent = time.perf_counter() - start
                print(f"serve: {answered}/{len(records)} requests answered, "
                      f"{answered / max(spent, 1e-9):.3g} requests/s, {spent:.1f} s elapsed",
                      file=sys.stderr, flush=True)

        tasks = []
        for request, record, body in sorted(zip(requests, records, bodies),
                                            key=lambda item: item[1].scheduled):
            # each request's task is made at its time, as vLLM's client makes it: tasks made
            # up front for every request all take their first step at the start, and the
            # first sends left 10-60 ms late (1,000 requests on a 2-core VM, 2026-11-29)
            await until(start + record.scheduled)
            task = asyncio.create_task(one(request, record, body))
            task.add_done_callback(counted)
            tasks.append(task)
        # counted as each ends, not gathered: gathering 1,000 tasks took 38 ms at once, and
        # the last request, made just before, left that late
        if tasks:
            await every_one.wait()
        raised = [error for error in (task.exception() for task in tasks) if error is not None]
        if raised:  # every one retrieved (none logged as never retrieved), the first raised
            raise raised[0]
        wall = time.perf_counter() - start
        watcher.cancel()
        first = min((r.sent for r in records), default=0.0)
        return records, monitor, wall - first

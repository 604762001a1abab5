"""The streaming client against our null server: every request is accounted for (answered or
failed with its error named), streamed chunks are parsed for both APIs, and a server that fails,
cuts streams, hangs or dies mid-run gives a run that says so, never a crash or a dropped
request."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serving import client
from serving.client import Target, chunk_text
from serving.requests import Request

LOADGEN = Path(__file__).resolve().parents[2] / "python" / "serving" / "loadgen.py"


def _load(*flags: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, str(LOADGEN), *flags], capture_output=True,
                          text=True, timeout=timeout, check=False)
    facts = {}
    for line in done.stdout.splitlines():
        if line.startswith("__") and "__=" in line:
            key, _, value = line[2:].partition("__=")
            facts[key] = json.loads(value)
    return done.returncode, facts, done.stderr


def test_chunks_of_both_apis_are_read() -> None:
    assert chunk_text({"choices": [{"text": "ab"}]}, "completions") == "ab"
    assert chunk_text({"choices": [{"delta": {"content": "c"}}]}, "chat") == "c"
    assert chunk_text({"choices": [{"delta": {"role": "assistant"}}]}, "chat") == ""
    assert chunk_text({"choices": [], "usage": {"completion_tokens": 3}}, "chat") == ""


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_run_against_the_null_server_accounts_for_every_token(
        null_server: Callable[..., str], tmp_path: Path, api: str) -> None:
    url = null_server("--token_delay_ms", "2")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--api", api, "--request_rate",
                           "50", "--num_requests", "60", "--output_len", "8-12",
                           "--prompt_len", "5", "--requests_file", str(tmp_path / "r.jsonl"),
                           "--slo_ttft_ms", "1000", "--slo_tpot_ms", "1000")
    assert code == 0 and facts["results.status"] == "ok"
    assert facts["results.completed_requests"] == 60 and facts["results.failed_requests"] == 0
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(records) == 60 and all(r["error"] is None for r in records)
    assert all(len(r["chunks"]) == r["output_tokens"] == r["max_tokens"] for r in records)
    assert facts["results.output_tokens"] == sum(r["max_tokens"] for r in records)
    assert facts["results.prompt_tokens"] == 60 * 5 and facts["results.tokens_counted_by"] == [
        "usage"]
    # The server waits 2 ms between tokens: no token can arrive sooner than that pace from the
    # send. (A loaded client reads chunks that queued up together, so the gaps it sees between
    # them, and their median, may be shorter: CI saw an ITL median of 0.37 ms.)
    assert all(r["chunks"][-1] >= 0.002 * (len(r["chunks"]) - 1) for r in records)
    assert 0 <= facts["results.itl_p50"] < 50
    assert facts["results.ttft_p50"] <= facts["results.ttft_p90"] <= facts["results.ttft_p99"]
    assert facts["results.ttft_mean_ci95"] is None and facts["results.latency_ci95_withheld"]
    assert facts["results.slo_attainment"] == 1.0
    assert facts["results.goodput"] == pytest.approx(facts["results.request_throughput"])
    assert facts["results.goodput_tokens_per_second"] == pytest.approx(
        facts["results.output_tokens_per_second"], rel=0.02)
    assert facts["results.throughput"] == facts["results.request_throughput"]
    assert facts["results.client_lag_ms"] is not None


def test_an_slo_no_request_meets_gives_zero_goodput(null_server: Callable[..., str]) -> None:
    url = null_server("--first_delay_ms", "30", "--token_delay_ms", "5")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--request_rate", "40",
                           "--num_requests", "20", "--output_len", "6", "--slo_ttft_ms", "10",
                           "--slo_tpot_ms", "1")
    assert code == 0 and facts["results.slo_attainment"] == 0.0
    assert facts["results.goodput"] == 0.0 and facts["results.goodput_tokens_per_second"] == 0
    assert facts["results.ttft_p50"] >= 30


def test_failures_cuts_and_timeouts_are_counted_and_named(
        null_server: Callable[..., str]) -> None:
    url = null_server("--fail_every", "5", "--cut_every", "7", "--cut_after", "3",
                      "--hang_every", "11")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--concurrency", "4",
                           "--num_requests", "40", "--output_len", "6", "--timeout", "2")
    assert code == 0
    errors = facts["results.errors"]
    # requests 5, 10, ... fail; 7, 14, ... (not also a 5th) are cut; 11, 22, 33 hang
    assert errors["HTTP 500"] == 8
    assert errors["stream cut"] == 4 and errors["timeout"] == 3
    assert facts["results.failed_requests"] == 15
    assert facts["results.completed_requests"] == 25 == facts["results.requests"] - 15
    assert facts["results.slo_attainment"] == pytest.approx(25 / 40)


def test_events_that_are_not_the_apis_and_aborted_answers_are_failed_requests(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """An event that is JSON but not the API's (``data: [1, 2]``) fails its request as a
    ``bad event`` and the run goes on (it crashed the whole run, every record lost); an answer
    the server ended with ``finish_reason: "abort"`` is a failed request, not a short success."""
    url = null_server("--garbage_every", "4", "--abort_every", "5")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--concurrency", "4",
                           "--num_requests", "20", "--output_len", "6", "--slo_tpot_ms", "1000",
                           "--requests_file", str(tmp_path / "r.jsonl"))
    assert code == 0 and facts["results.status"] == "ok"
    # requests 4, 8, 12, 16, 20 carry garbage; 5, 10, 15 (not also a 4th) are aborted
    assert facts["results.errors"] == {"bad event": 5, "ended by the server": 3}
    assert facts["results.completed_requests"] == 12
    assert facts["results.slo_attainment"] == pytest.approx(12 / 20)
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    aborted = [r for r in records if r["finish_reason"] == "abort"]
    assert len(aborted) == 3 and all("'abort'" in r["error"] for r in aborted)


def test_a_server_that_dies_mid_run_leaves_a_run_that_says_so(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    url = null_server("--exit_after", "10", "--token_delay_ms", "1")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--request_rate", "100",
                           "--num_requests", "30", "--output_len", "4", "--requests_file",
                           str(tmp_path / "r.jsonl"))
    assert code == 0 and facts["results.requests"] == 30
    # Requests 1-10 are answered unless the 11th, which kills the server, comes while one of
    # them is still streaming (a loaded machine): then that one fails too.
    done = facts["results.completed_requests"]
    assert 1 <= done <= 10 and facts["results.failed_requests"] == 30 - done
    assert set(facts["results.errors"]) <= {"connection", "stream cut"}
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 30


def test_nothing_answered_and_bad_flags_fail_in_one_line(
        null_server: Callable[..., str]) -> None:
    code, facts, err = _load("--endpoint", "http://127.0.0.1:9", "--model", "m",
                             "--request_rate", "10", "--num_requests", "3", "--output_len", "4")
    assert code == 1 and facts["results.status"] == "failure"
    assert err.strip().startswith("error: no request was answered by http://127.0.0.1:9/v1/")
    assert len(err.strip().splitlines()) == 1
    for flags, words in ((["--output_len", "x", "--request_rate", "1"],
                          "serve.output_len: 'x' is not a length"),
                         (["--output_len", "4", "--request_rate", "0"],
                          "needs serve.concurrency"),
                         (["--output_len", "4", "--request_rate", "1", "--dataset",
                           "/nonexistent.json"],
                          "serve.dataset: cannot read /nonexistent.json"),
                         (["--output_len", "4", "--request_rate", "1", "--timeout", "0"],
                          "serve.timeout: 0.0 must be above 0"),
                         (["--output_len", "4", "--request_rate", "1", "--warmup_requests",
                           "-3"], "serve.warmup_requests: -3 must be 0 or above"),
                         (["--output_len", "4", "--request_rate", "1", "--duration", "-1"],
                          "serve.duration: -1.0 must be 0 or above"),
                         (["--output_len", "4", "--request_rate", "1", "--search", "rate"],
                          "serve.search rate needs an SLO")):
        code, facts, err = _load("--endpoint", "http://127.0.0.1:9", "--model", "m", *flags)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
        assert facts["results.status"] == "failure"


def test_a_concurrency_search_finds_the_servers_slots(null_server: Callable[..., str],
                                                      tmp_path: Path) -> None:
    """A server that serves 3 requests at once, 1 s each: up to 3 in flight every TTFT is
    about 1 s; at 4 a quarter of the requests wait a whole service (2 s and more, however fast
    the machine), so 90% within 1.8 s is met at 3 and missed at 4: the capacity is 3, in every
    trial (0.8 s of slack for a loaded client: with 0.1 s, a loaded CI once missed at 3)."""
    url = null_server("--max_inflight", "3", "--first_delay_ms", "1000")
    code, facts, err = _load("--endpoint", url, "--model", "m", "--concurrency", "1",
                             "--num_requests", "16", "--output_len", "2", "--prompt_len", "3",
                             "--slo_ttft_ms", "1800", "--search", "concurrency",
                             "--search_trials", "2", "--progress", "--search_lead_in", "3",
                             "--requests_file", str(tmp_path / "r.jsonl"), timeout=300)
    assert code == 0, err
    assert facts["results.capacity"] == pytest.approx(3.0)
    assert facts["results.capacity_trials"] == [3, 3]
    assert facts["results.capacity_brackets"] == [[3, 4], [3, 4]]
    assert facts["results.capacity_unit"] == "requests in flight"
    assert facts["results.capacity_converged"] is True
    steps = facts["results.search_steps"]
    assert [s["load"] for s in steps][:3] == [1, 2, 4]  # doubling until one misses
    assert all(s["met"] == (s["load"] <= 3) for s in steps)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    # each step: 3 lead-in requests first (kept in the file, not counted), then 16 counted
    assert len(rows) == 19 * len(steps)
    assert facts["results.requests"] == 16 * len(steps)
    assert facts["results.search_lead_in_requests"] == 3 * len(steps)
    assert [r["lead_in"] for r in rows[:19]] == [True] * 3 + [False] * 16
    assert [r["load"] for r in rows[::19]] == [s["load"] for s in steps]
    assert "capacity trial 2/2: 3 requests in flight" in err


def test_a_rate_search_gives_a_capacity_inside_its_brackets(null_server: Callable[..., str]
                                                            ) -> None:
    url = null_server("--max_inflight", "2", "--first_delay_ms", "20", "--token_delay_ms", "5")
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "10",
                             "--num_requests", "20", "--output_len", "4", "--prompt_len", "3",
                             "--slo_ttft_ms", "100", "--search", "rate", "--search_trials", "2",
                             "--search_max_steps", "6", "--search_lead_in", "5", timeout=300)
    assert code == 0, err
    assert len(facts["results.capacity_trials"]) == 2
    for trial, found in enumerate(facts["results.capacity_trials"]):
        loads = [s["load"] for s in facts["results.search_steps"] if s["trial"] == trial]
        if found is not None:  # the line's crossing: never outside the loads the trial ran
            assert min(loads) <= found <= max(loads)
    assert facts["results.capacity_max_steps"] <= 6
    if facts["results.capacity"] is not None:
        low, high = facts["results.capacity_ci95"]
        assert 0 < low <= facts["results.capacity"] <= high


def test_a_search_without_a_start_is_refused_by_name(null_server: Callable[..., str]) -> None:
    code, facts, err = _load("--endpoint", "http://127.0.0.1:9", "--model", "m",
                             "--concurrency", "4", "--search", "rate", "--output_len", "4")
    assert code == 2 and facts["results.status"] == "failure"
    assert "serve.request_rate: the search starts at it" in err


def test_a_link_planted_at_the_requests_file_is_refused_before_any_request(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    url = null_server()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "r.jsonl").symlink_to(victim)
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "50",
                             "--num_requests", "3", "--output_len", "4", "--requests_file",
                             str(tmp_path / "r.jsonl"))
    assert code == 2 and facts["results.status"] == "failure"
    assert "serve.requests_file" in err and len(err.strip().splitlines()) == 1
    assert victim.read_text() == "keep me\n"


def test_a_requests_file_that_cannot_be_written_keeps_the_runs_facts(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    url = null_server()
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "50",
                             "--num_requests", "3", "--output_len", "4", "--requests_file",
                             str(tmp_path / "no-such-folder" / "r.jsonl"))
    assert code == 0 and facts["results.completed_requests"] == 3
    assert "results.requests_file" not in facts
    assert "error: serve.requests_file:" in err


def test_every_request_carries_its_id_and_the_null_servers_stamps_split_the_overhead(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """``X-Request-Id: dlbs-<run>-<index>`` on every request, ``sent_clock`` on the monotonic
    clock the null server stamps with: its arrival and first write fall between the client's
    send and its first token, request by request (what bench_client_overhead.py splits)."""
    stamps = tmp_path / "stamps.jsonl"
    url = null_server("--first_delay_ms", "20", "--stamps", str(stamps))
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--request_rate", "20",
                           "--num_requests", "15", "--output_len", "3", "--warmup_requests",
                           "2", "--requests_file", str(tmp_path / "r.jsonl"))
    assert code == 0 and facts["results.completed_requests"] == 15
    assert facts["results.warmup_requests"] == 2 and facts["results.warmup_failed_requests"] == 0
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    ids = [r["request_id"] for r in records]
    run = ids[0].rsplit("-", 1)[0]
    assert re.fullmatch(r"dlbs-[0-9a-f]{12}", run) and ids == [f"{run}-{r['index']}"
                                                               for r in records]
    seen = {s["id"]: s for s in map(json.loads, stamps.read_text().splitlines())}
    assert {f"{run}-w0", f"{run}-w1"} <= set(seen)  # the warm-ups were sent with theirs
    for record in records:
        stamp = seen[record["request_id"]]
        first = record["sent_clock"] + record["ttft"]
        assert record["sent_clock"] <= stamp["arrived"] <= stamp["first_written"] <= first
        assert stamp["first_written"] - stamp["arrived"] >= 0.020
        assert stamp["first_written"] <= stamp["last_written"]


def test_the_null_servers_last_write_is_stamped_after_every_event_of_the_answer(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """``last_written``: after the answer's last event (4 tokens 15 ms apart: at least 45 ms
    after the first), so a client that read its first token only after it is seen."""
    stamps = tmp_path / "stamps.jsonl"
    url = null_server("--token_delay_ms", "15", "--stamps", str(stamps))
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--request_rate", "20",
                           "--num_requests", "3", "--output_len", "4",
                           "--requests_file", str(tmp_path / "r.jsonl"))
    assert code == 0 and facts["results.completed_requests"] == 3
    records = {r["request_id"]: r for r in map(json.loads,
                                               (tmp_path / "r.jsonl").read_text().splitlines())}
    for stamp in map(json.loads, stamps.read_text().splitlines()):
        record = records[stamp["id"]]
        assert stamp["last_written"] - stamp["first_written"] >= 0.045
        assert record["sent_clock"] + record["ttft"] < stamp["last_written"]
    bench = _bench()
    assert bench.read_after_answer(list(records.values()), stamps) == 0.0
    late = [dict(r, ttft=r["ttft"] + 1.0) for r in records.values()]  # as if read a second late
    late.append(dict(late[0], request_id="not-stamped"))  # no stamp: not counted
    late.append(dict(late[0], request_id=late[1]["request_id"], error="timeout: ..."))
    assert bench.read_after_answer(late, stamps) == 1.0


def test_the_null_servers_arrival_is_a_requests_first_read_on_its_connection(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """The null server stamps a request's arrival at its first bytes, before aiohttp parsed
    it (else the server's parsing would count as the client's overhead): a request whose
    headers end 80 ms after they began (its handler cannot begin before) keeps the time of its
    first bytes; a request on a kept connection after others (a health check) gets its own."""
    stamps = tmp_path / "stamps.jsonl"
    url = null_server("--stamps", str(stamps))
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"model": "m", "prompt": "a b", "max_tokens": 1, "stream": True}).encode()

    def post(request_id: str) -> bytes:
        return (f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {request_id}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"\r\n").encode()

    def answer(conn: socket.socket) -> None:
        seen = b""
        while not seen.endswith(b"0\r\n\r\n"):
            got = conn.recv(65536)
            assert got, f"the connection closed after {seen!r}"
            seen += got

    with socket.create_connection((host, int(port))) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers_at = time.perf_counter()
        conn.sendall(post("split")[:20])
        time.sleep(0.08)
        rest_at = time.perf_counter()
        conn.sendall(post("split")[20:] + body)
        answer(conn)
        conn.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert b'"ok"' in conn.recv(65536)
        time.sleep(0.08)
        second_at = time.perf_counter()
        conn.sendall(post("second") + body)
        answer(conn)
    seen = {s["id"]: s for s in map(json.loads, stamps.read_text().splitlines())}
    assert headers_at <= seen["split"]["arrived"] < rest_at <= seen["split"]["first_written"]
    assert second_at <= seen["second"]["arrived"] <= seen["second"]["first_written"]


def test_a_request_is_timed_from_its_bytes_leaving_and_a_chunk_from_its_last_bytes_read(
        null_server: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """TTFT counts from the request's bytes handed to the socket (not from the call, before
    aiohttp built it) to the read that brought the first token's event's last byte (not the
    wake-up after aiohttp parsed it): the send is the connection's write, each chunk a read of
    the connection (``client.Wire``). Every event is cut in three pieces 2 ms apart: a chunk is
    timed at its last piece, at least 4 ms after the server began to write it."""
    wires: list[client.Wire] = []
    reads: list[float] = []
    made, received = client.Wire.connection_made, client.Wire.data_received

    def spy_made(self: client.Wire, transport: Any) -> None:
        wires.append(self)
        made(self, transport)

    def spy_read(self: client.Wire, data: bytes) -> None:
        received(self, data)
        if self.answers and self.answers[-1].marks:
            reads.append(self.answers[-1].marks[-1][0])

    monkeypatch.setattr(client.Wire, "connection_made", spy_made)
    monkeypatch.setattr(client.Wire, "data_received", spy_read)
    stamps = tmp_path / "stamps.jsonl"
    url = null_server("--split_every", "1", "--stamps", str(stamps))
    target = Target(endpoint=url, model="m")
    records, _, _ = client.run_async(
        client.run_load(target, [Request(0, "a b c", 3, 3)], [0.0]), client.loop_factory()[0])
    record = records[0]
    assert record.ok and len(record.chunks) == 3, record.error
    assert len(wires) == 1 and record.sent_clock == wires[0].wrote_at
    assert record.timed_at == "socket" and not wires[0].answers  # forgotten once read
    for chunk in record.chunks:
        assert min(abs(record.sent_clock + chunk - read) for read in reads) < 1e-9
    stamp = json.loads(stamps.read_text().splitlines()[0])
    assert record.sent_clock <= stamp["arrived"]
    assert record.sent_clock + record.ttft >= stamp["first_written"] + 0.004


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_answers_complete_with_their_headers_are_timed_at_the_socket_too(
        null_server: Callable[..., str], tmp_path: Path, loop: str) -> None:
    """A null server that answers at once sends a whole answer with its headers: aiohttp gives
    the connection back before the client looks at it, and a burst reuses it at once. Every
    request is still timed at its connection's write and reads (none falls back to the call's
    time), within the server's stamps, and no connection keeps what it noted."""
    wires: list[client.Wire] = []
    made = client.Wire.connection_made

    def spy_made(self: client.Wire, transport: Any) -> None:
        wires.append(self)
        made(self, transport)

    stamps = tmp_path / "stamps.jsonl"
    url = null_server("--stamps", str(stamps))
    requests = [Request(i, "a b", 2, 2) for i in range(60)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client.Wire, "connection_made", spy_made)
        records, _, _ = client.run_async(
            client.run_load(Target(endpoint=url, model="m"), requests, [0.0] * 60),
            client.loop_factory(loop)[0])
    assert all(r.ok for r in records), [r.error for r in records if not r.ok][:3]
    assert [r.timed_at for r in records] == ["socket"] * 60
    seen = {s["id"]: s for s in map(json.loads, stamps.read_text().splitlines())}
    for record in records:
        stamp = seen[record.request_id]
        assert record.sent_clock <= stamp["arrived"]
        assert stamp["first_written"] <= record.sent_clock + record.ttft
    assert wires and all(not w.answers for w in wires)


def test_a_redirect_is_a_named_failure_not_timed_through() -> None:
    """A redirect is not followed (its hop would be timed as the client's send delay, not as
    the server's answer): the request fails naming the status and where it pointed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere/v1\r\n"
                         b"Content-Length: 0\r\n\r\n")
            time.sleep(0.2)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    records, _, _ = client.run_async(
        client.run_load(Target(endpoint=f"http://127.0.0.1:{port}", model="m"),
                        [Request(0, "a", 1, 1)], [0.0]), client.loop_factory("asyncio")[0])
    thread.join(5)
    server.close()
    assert records[0].error is not None
    assert records[0].error.startswith("HTTP 307: redirected to http://elsewhere/v1")


class _Noted:
    """An answer noted by a connection: byte ``offset`` arrived at ``times[i]`` for the i-th
    read's range."""

    def __init__(self, reads: list[tuple[float, int]]) -> None:
        self.reads = reads

    def arrived(self, offset: int) -> float | None:
        return next((t for t, total in self.reads if total > offset), None)


def test_an_event_ended_by_one_newline_is_timed_at_its_own_line_and_a_last_one_at_its_bytes(
        ) -> None:
    """A server that ends events with one newline: an event is read when the next one's line
    comes, but timed at its own line's read; a last event with no ending is timed at the read
    that brought the answer's last byte, not when the stream ended."""
    first = b'data: {"choices": [{"text": "a"}]}\n'
    second = b'data: {"choices": [{"text": "b"}]}'
    record = client.Record(0, 0.0)
    stream = client._Stream(record, "completions", 0.0,
                            _Noted([(1.0, len(first)), (2.0, len(first) + len(second))]))
    assert not stream.feed(first + second)  # both in one feed: two reads
    stream.close()
    assert record.chunks == [1.0, 2.0]


def test_failed_warm_up_requests_are_counted_and_named_not_dropped(
        null_server: Callable[..., str]) -> None:
    """The warm-up is not timed, but a warm-up that failed did not warm the server: the run
    says how many failed, and the first error (the server fails every 2nd request: the
    second warm-up)."""
    url = null_server("--fail_every", "2")  # requests 2, 4, ... fail
    code, facts, err = _load("--endpoint", url, "--model", "m", "--request_rate", "20",
                             "--num_requests", "6", "--output_len", "2", "--warmup_requests",
                             "3")
    assert code == 0
    assert facts["results.warmup_requests"] == 3 and facts["results.warmup_failed_requests"] == 1
    assert facts["results.warmup_error"].startswith("HTTP 500")
    assert "1 of 3 warm-up requests failed" in err


def test_events_cut_across_reads_are_joined_before_they_are_read(
        null_server: Callable[..., str], tmp_path: Path) -> None:
    """The client reads the bytes as they arrive and splits the lines itself: an event cut
    inside its JSON and between its two newlines (every 2nd answer, 2 ms between the pieces)
    is read whole, each token counted once."""
    url = null_server("--split_every", "2")
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--concurrency", "2",
                           "--num_requests", "10", "--output_len", "5", "--api", "chat",
                           "--requests_file", str(tmp_path / "r.jsonl"))
    assert code == 0 and facts["results.completed_requests"] == 10, facts.get("results.errors")
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert all(len(r["chunks"]) == r["output_tokens"] == 5 and r["finish_reason"] == "length"
               for r in records)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_client_runs_on_the_loop_asked_for_and_logs_it(
        null_server: Callable[..., str], loop: str) -> None:
    url = null_server()
    code, facts, _ = _load("--endpoint", url, "--model", "m", "--request_rate", "50",
                           "--num_requests", "10", "--output_len", "3", "--client_loop", loop)
    assert code == 0 and facts["results.completed_requests"] == 10
    assert facts["results.client_loop"] == loop


def test_auto_takes_uvloop_where_installed_and_a_missing_one_asked_for_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.loop_factory("auto")[1] == "uvloop"  # the lock installs it
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed
    assert client.loop_factory("auto")[1] == "asyncio"
    with pytest.raises(ValueError, match="--client_loop uvloop: uvloop is not installed"):
        client.loop_factory("uvloop")


def test_ignore_eos_is_sent_only_when_asked() -> None:
    request = Request(0, "a b", 2, 4)
    assert "ignore_eos" not in Target("http://h", "m").body(request)
    assert Target("http://h", "m", ignore_eos=True).body(request)["ignore_eos"] is True
    assert json.loads(client.encoded(Target("http://h", "m", "chat", ignore_eos=True),
                                     request))["ignore_eos"] is True


def test_the_overhead_benchmark_measures_both_clients_and_says_whether_the_goal_is_met(
        tmp_path: Path) -> None:
    """``benchmarks/bench_client_overhead.py`` as a user runs it, small: our client and the
    bare-bones floor each answered on the same schedule, the parts of the overhead joined
    request by request, and the goal judged from the figures it prints (no figure asserted:
    the machine decides them)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_client_overhead.py"
    out = tmp_path / "overhead.json"
    done = subprocess.run([sys.executable, str(script), "--rate", "20", "--requests", "30",
                           "--server_ms", "20", "--json", str(out)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(out.read_text())
    assert found["requests"] == found["joined"] == found["floor_requests"] == 30
    assert found["failed"] == 0 and found["client_loop"] == "uvloop"
    # every TTFT holds the server's 20 ms: what is beyond it is overhead, never negative
    assert found["ttft_p50_ms"] >= 20 and found["overhead_p50_ms"] > 0
    assert found["floor_overhead_p50_ms"] > 0
    assert found["beyond_floor_p50_ms"] == pytest.approx(
        found["overhead_p50_ms"] - found["floor_overhead_p50_ms"])
    # the goal is judged on the client's share (to + from the server), not the server's time
    assert found["client_bound_p50_ms"] <= found["overhead_p50_ms"]
    assert found["goal_met"] == (found["client_bound_p50_share"] < 0.01)
    assert ("goal < 1%: met" in done.stdout) == found["goal_met"]
    assert done.stdout.count("goal < 1%") == 1
    assert "the floor (client_floor.py" in done.stdout
    assert 0 < found["floor_bound_p50_ms"] <= found["floor_overhead_p50_ms"]
    assert "the floor's share at most (to + from the server)" in done.stdout
    assert 0 <= found["read_after_answer_share"] <= 1
    assert 0 <= found["floor_read_after_answer_share"] <= 1
    assert "first tokens read only after the null server had written the whole answer" in (
        done.stdout)
    # the null server has a CPU of its own where this process may use two or more, and says so
    ours = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    # (the CPUs each child ran on, read from the kernel: not the plan)
    if len(ours) >= 2:
        assert found["server_cpus"] == ours[:1] and found["client_cpus"] == ours[1:]
        assert found["floor_server_cpus"] == ours[:1] and found["floor_client_cpus"] == ours[1:]
        assert found["unpinned_why"] == ""
        assert f"null server on CPU {ours[0]}, our client on CPU " in done.stdout
    else:
        assert found["server_cpus"] == found["client_cpus"] == (ours or None)
        assert found["unpinned_why"] and "(not pinned: " in done.stdout


def _bench() -> Any:
    import importlib.util
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_client_overhead.py"
    spec = importlib.util.spec_from_file_location("bench_client_overhead", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here (not "
                    "Linux): the benchmark leaves its processes unpinned and says so")
def test_the_overhead_benchmark_puts_its_processes_on_the_cpus_it_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU plan: the null server on the first CPU this process may use, the clients on the
    rest; a child started with it (and the threads it starts) runs there; none with
    ``--no_pin`` or a single CPU."""
    bench = _bench()
    probe = ("import os, threading; seen = []; t = threading.Thread(target=lambda: "
             "seen.append(sorted(os.sched_getaffinity(0)))); t.start(); t.join(); "
             "print(sorted(os.sched_getaffinity(0)), seen[0])")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3, 0, 5})
    assert bench.cpu_plan() == (frozenset({0}), frozenset({3, 5}))
    assert bench.cpu_plan(pin=False) is None
    assert bench.unpinned_why() == "" and bench.unpinned_why(pin=False) == "--no_pin"
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {2})
    assert bench.cpu_plan() is None
    assert bench.unpinned_why() == "this process may use one CPU (2)"
    monkeypatch.undo()
    cpu = min(os.sched_getaffinity(0))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True, preexec_fn=bench._on(frozenset({cpu})))
    assert done.stdout.split() == [f"[{cpu}]", f"[{cpu}]"]
    assert bench._on(None) is None


def test_an_answered_request_timed_from_the_call_is_warned_about(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A request its connection noted nothing of is timed from the client's call (its TTFT
    holds the HTTP library's time): the run says how many, on stderr; none, no line."""
    from serving.loadgen import warn_call_timed
    at_socket = client.Record(0, 0.0, timed_at="socket")
    at_call = client.Record(1, 0.0)
    failed = client.Record(2, 0.0, error="HTTP 500: x")
    warn_call_timed([at_socket, failed])
    assert capsys.readouterr().err == ""
    warn_call_timed([at_socket, at_call, failed])
    assert "serve: warning: 1 of 3 requests were timed from the client's call" in \
        capsys.readouterr().err

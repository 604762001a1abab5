"""The serving client's own overhead (issue "Serving under load": under 1% of TTFT at 100
requests/s on this CPU, the goal stated).

Our null server (``serving.nullserver``, a process of its own) holds each request's first token
for exactly ``--server_ms`` (50 ms: about the TTFT of ``transformers serve`` with the tiny model
here) and streams the rest without delay; the load client (``serving.loadgen``, as a user runs
it) sends ``--requests`` Poisson arrivals at ``--rate``. Whatever the client measures beyond
the server's 50 ms is overhead: the client's, the loopback's and the null server's own
(aiohttp) together. The null server stamps (``--stamps``) when each request's first bytes
reached it (before its HTTP parsing) and when its first token was handed to the socket, on the
clock of the client's ``sent_clock`` (the machine's monotonic clock), joined on
``X-Request-Id``; so the overhead splits per request into ``to_server`` (the client's send, the
loopback), ``in_server`` (the server's own beyond its hold: parsing, a late timer) and
``from_server`` (the loopback, the client's read): the client's share is at most ``to_server +
from_server``, and the floor client's (``client_floor.py``, no HTTP library) is split the same
way. Printed and written as JSON (``--json``): the overhead's p50 and p99 (ms, and as % of the
measured TTFT), each part's p50, how late requests left their schedule (p99), and the client's
event-loop lag (p99, as every run logs).

Where the machine lets this process use two CPUs or more, the null server runs on one of them and
the clients on the others (``os.sched_setaffinity``; ``--no_pin``: wherever the kernel puts
them), as a served model runs on its own host or its own cores. On a small machine, with the
null server beside it, our client is woken late while the null server writes the rest of an
answer (the bare-bones floor much less so): the share of first tokens read only after the whole
answer was written is printed. The CPUs each process ran on, as the kernel says, are printed and
written, and why the null server was not pinned where it was not.

    .venv/bin/python benchmarks/bench_client_overhead.py [--rate 100] [--requests 1000]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from benchstats.quantiles import quantile_interval

#: The goal: the overhead at p50 below this share of the TTFT.
GOAL = 0.01


def cpu_plan(pin: bool = True) -> tuple[frozenset[int], frozenset[int]] | None:
    """The null server's CPU and the clients' (the others this process may use); None when not
    pinning (:func:`unpinned_why` says why)."""
    if unpinned_why(pin):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return frozenset(cpus[:1]), frozenset(cpus[1:])


def unpinned_why(pin: bool = True) -> str:
    """Why the null server gets no CPU of its own ("" when it does)."""
    if not pin:
        return "--no_pin"
    if not hasattr(os, "sched_getaffinity"):
        return "this platform cannot pin"
    cpus = sorted(os.sched_getaffinity(0))
    return f"this process may use one CPU ({cpus[0]})" if len(cpus) < 2 else ""


def affinity(pid: int) -> list[int] | None:
    """The CPUs process ``pid`` may run on, as the kernel says (None where it cannot say)."""
    try:
        return sorted(os.sched_getaffinity(pid))
    except (AttributeError, OSError):
        return None


def _on(cpus: frozenset[int] | None):
    """A ``preexec_fn`` that puts the child (and every thread it starts) on ``cpus``."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_null_server(server_ms: float, stamps: Path,
                      cpus: frozenset[int] | None = None) -> tuple[subprocess.Popen, str]:
    """The null server, started (on ``cpus`` when given), and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "serving.nullserver", "--port", "0",
                             "--first_delay_ms", str(server_ms), "--stamps", str(stamps)],
                            cwd=ROOT / "python", preexec_fn=_on(cpus),  # noqa: PLW1509
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    found = re.search(r"http://\S+", proc.stdout.readline())
    if not found:
        proc.kill()
        raise SystemExit("error: the null server did not start")
    return proc, found.group(0)


def run_child(command: list[str], cpus: frozenset[int] | None, what: str
              ) -> tuple[str, list[int] | None]:
    """Run a client (on ``cpus`` when given) to its end: its stdout, and the CPUs the kernel
    let it use (read once it started: what it ran on, not what was asked)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_on(cpus))  # noqa: PLW1509
    ran_on = affinity(proc.pid)
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"error: the {what} took more than 600 s") from None
    if proc.returncode != 0:
        raise SystemExit(f"error: the {what} failed: {err.strip()[-500:]}")
    return out, ran_on


def run_client(url: str, rate: float, requests: int, records: Path, loop: str,
               cpus: frozenset[int] | None = None) -> tuple[dict, list[int] | None]:
    """Our client (``serving.loadgen``): its facts, and the CPUs it ran on."""
    out, ran_on = run_child(
        [sys.executable, str(ROOT / "python" / "serving" / "loadgen.py"), "--endpoint", url,
         "--model", "null", "--request_rate", str(rate), "--num_requests", str(requests),
         "--prompt_len", "16", "--output_len", "8", "--warmup_requests", "5",
         "--requests_file", str(records), "--client_loop", loop], cpus, "client")
    return {line[2:].partition("__=")[0]: json.loads(line.partition("__=")[2])
            for line in out.splitlines() if line.startswith("__")}, ran_on


def run_floor(url: str, rate: float, requests: int, loop: str,
              cpus: frozenset[int] | None = None) -> tuple[list[dict], list[int] | None]:
    """The answered requests of the bare-bones client (``client_floor.py``) on the same
    schedule: id, send (monotonic clock) and TTFT (seconds), as our requests file has them; and
    the CPUs it ran on."""
    out, ran_on = run_child([sys.executable, str(ROOT / "benchmarks" / "client_floor.py"), url,
                             str(rate), str(requests), loop], cpus, "floor client")
    return json.loads(out.splitlines()[-1])["requests"], ran_on


def measure_floor(rate: float, requests: int, server_ms: float, folder: Path, loop: str,
                  pinning: tuple[frozenset[int], frozenset[int]] | None = None) -> dict:
    """The floor's overhead beyond the server's hold, against a null server of its own."""
    server_cpus, client_cpus = pinning or (None, None)
    server, url = start_null_server(server_ms, folder / "floor-stamps.jsonl", server_cpus)
    server_ran_on = affinity(server.pid)
    try:
        rows, client_ran_on = run_floor(url, rate, requests, loop, client_cpus)
    finally:
        server.kill()
        server.wait(timeout=10)
    p50 = quantile_interval([r["ttft"] * 1e3 - server_ms for r in rows], 0.5)
    parts = split_overhead(rows, folder / "floor-stamps.jsonl", server_ms)
    bound = quantile_interval([a + b for a, b in zip(parts["to_server"], parts["from_server"])],
                              0.5)
    return {"floor_overhead_p50_ms": p50.value, "floor_overhead_p50_ci95": [p50.low, p50.high],
            "floor_read_after_answer_share": read_after_answer(rows,
                                                               folder / "floor-stamps.jsonl"),
            "floor_requests": len(rows),
            "floor_server_cpus": server_ran_on, "floor_client_cpus": client_ran_on,
            "floor_bound_p50_ms": bound.value, "floor_bound_p50_ci95": [bound.low, bound.high]}


def measure(rate: float, requests: int, server_ms: float, folder: Path,
            loop: str = "auto",
            pinning: tuple[frozenset[int], frozenset[int]] | None = None) -> dict:
    server_cpus, client_cpus = pinning or (None, None)
    server, url = start_null_server(server_ms, folder / "stamps.jsonl", server_cpus)
    server_ran_on = affinity(server.pid)
    try:
        facts, client_ran_on = run_client(url, rate, requests, folder / "requests.jsonl", loop,
                                          client_cpus)
    finally:
        server.kill()
        server.wait(timeout=10)
    rows = [json.loads(line) for line in (folder / "requests.jsonl").read_text().splitlines()]
    ttfts = [r["ttft"] * 1e3 for r in rows if r["error"] is None]
    over = [t - server_ms for t in ttfts]
    p50, p99 = quantile_interval(over, 0.5), quantile_interval(over, 0.99)
    ttft50 = quantile_interval(ttfts, 0.5).value
    parts = split_overhead(rows, folder / "stamps.jsonl", server_ms)
    client = [a + b for a, b in zip(parts["to_server"], parts["from_server"])]
    client50 = quantile_interval(client, 0.5)
    return {
        **{f"{name}_p50_ms": quantile_interval(values, 0.5).value
           for name, values in parts.items()},
        "client_bound_p50_ms": client50.value,
        "client_bound_p50_ci95": [client50.low, client50.high],
        "client_bound_p50_share": client50.value / ttft50,
        "read_after_answer_share": read_after_answer(rows, folder / "stamps.jsonl"),
        "joined": len(client),
        "rate": rate, "requests": len(rows), "failed": len(rows) - len(ttfts),
        "achieved_rate": facts["results.request_throughput"], "server_ms": server_ms,
        "ttft_p50_ms": ttft50,
        "overhead_p50_ms": p50.value, "overhead_p50_ci95": [p50.low, p50.high],
        "overhead_p99_ms": p99.value,
        "overhead_p50_share": p50.value / ttft50,
        "overhead_p99_share": p99.value / quantile_interval(ttfts, 0.99).value,
        "send_delay_p99_ms": facts["results.send_delay_p99_ms"],
        "client_lag_p99_ms": facts["results.client_lag_ms"],
        "client_lagged": facts["results.client_lagged"],
        "client_loop": facts["results.client_loop"],
        # the CPUs each process ran on, as the kernel said once it started
        "server_cpus": server_ran_on, "client_cpus": client_ran_on,
        # the goal is the client's own: the null server's time (its parsing, its timer) is not
        "goal_met": client50.value / ttft50 < GOAL,
    }


def load_stamps(stamps: Path) -> dict[str, dict]:
    """The null server's stamps (``--stamps``), by request id."""
    return {s["id"]: s for s in map(json.loads, stamps.read_text().splitlines())}


def read_after_answer(rows: list[dict], stamps: Path) -> float:
    """The share of answered requests whose first token the client read only after the null
    server had written the whole answer (its ``last_written``): the client was not woken while
    the null server wrote, e.g. because both shared a CPU (``--no_pin`` on a small machine)."""
    seen = load_stamps(stamps)
    late = [row["sent_clock"] + row["ttft"] >= seen[row["request_id"]]["last_written"]
            for row in rows if row["error"] is None and row["request_id"] in seen]
    return sum(late) / len(late) if late else math.nan


def split_overhead(rows: list[dict], stamps: Path, server_ms: float) -> dict[str, list[float]]:
    """Each answered request's overhead in three parts (ms), joined with the null server's
    stamps on the request id: to the server's handler, in the server beyond its hold, and from
    its first write to the client's first token."""
    seen = load_stamps(stamps)
    parts: dict[str, list[float]] = {"to_server": [], "in_server": [], "from_server": []}
    for row in rows:
        stamp = seen.get(row["request_id"])
        if row["error"] is not None or stamp is None:
            continue
        first = row["sent_clock"] + row["ttft"]
        parts["to_server"].append((stamp["arrived"] - row["sent_clock"]) * 1e3)
        parts["in_server"].append((stamp["first_written"] - stamp["arrived"]) * 1e3 - server_ms)
        parts["from_server"].append((first - stamp["first_written"]) * 1e3)
    return parts


def _cpus(cpus: list[int] | None) -> str:
    return "?" if cpus is None else ",".join(map(str, cpus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--server_ms", type=float, default=50.0)
    parser.add_argument("--client_loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="the event loop of both clients (loadgen's --client_loop)")
    parser.add_argument("--no_floor", action="store_true",
                        help="skip the bare-bones client (client_floor.py) run beside ours")
    parser.add_argument("--no_pin", action="store_true",
                        help="leave the null server and the clients wherever the kernel puts "
                             "them (by default the null server has a CPU of its own)")
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args(argv)
    import tempfile
    pinning = cpu_plan(not args.no_pin)
    with tempfile.TemporaryDirectory() as folder:
        found = measure(args.rate, args.requests, args.server_ms, Path(folder), args.client_loop,
                        pinning)
        if not args.no_floor:
            found.update(measure_floor(args.rate, args.requests, args.server_ms, Path(folder),
                                       args.client_loop, pinning))
    found["unpinned_why"] = unpinned_why(not args.no_pin)
    where = (f"null server on CPU {_cpus(found['server_cpus'])}, our client on CPU "
             f"{_cpus(found['client_cpus'])}" +
             ("" if not found["unpinned_why"] else f" (not pinned: {found['unpinned_why']})"))
    print(f"client overhead at {found['rate']:g} requests/s ({found['requests']} requests, "
          f"{found['failed']} failed, {found['achieved_rate']:.1f}/s achieved), server holds "
          f"the first token {found['server_ms']:g} ms, client loop {found['client_loop']}, "
          f"{where}:")
    print(f"  overhead p50 {found['overhead_p50_ms']:.3f} ms "
          f"(95% {found['overhead_p50_ci95'][0]:.3f}-{found['overhead_p50_ci95'][1]:.3f}) = "
          f"{found['overhead_p50_share']:.2%} of TTFT p50 {found['ttft_p50_ms']:.2f} ms "
          f"(the client, the wire and the null server's own time together)")
    print(f"  overhead p99 {found['overhead_p99_ms']:.3f} ms "
          f"({found['overhead_p99_share']:.2%} of TTFT p99)")
    print(f"  its parts at p50 ({found['joined']} requests joined with the server's stamps): "
          f"to the server {found['to_server_p50_ms']:.3f} ms, in the server beyond its hold "
          f"{found['in_server_p50_ms']:.3f} ms, from the server {found['from_server_p50_ms']:.3f} ms")
    print(f"  the client's share at most (to + from the server) p50 "
          f"{found['client_bound_p50_ms']:.3f} ms (95% {found['client_bound_p50_ci95'][0]:.3f}-"
          f"{found['client_bound_p50_ci95'][1]:.3f}) = {found['client_bound_p50_share']:.2%} "
          f"of TTFT; goal < {GOAL:.0%}: {'met' if found['goal_met'] else 'NOT met'}")
    print(f"  first tokens read only after the null server had written the whole answer: "
          f"{found['read_after_answer_share']:.1%} of requests" +
          ("" if "floor_read_after_answer_share" not in found else
           f" (the floor's: {found['floor_read_after_answer_share']:.1%})") +
          ("" if pinning is not None else "; the null server had no CPU of its own"))
    print(f"  send delay p99 {found['send_delay_p99_ms']:.3f} ms; event-loop lag p99 "
          f"{found['client_lag_p99_ms']:.3f} ms (lagged: {found['client_lagged']})")
    if "floor_overhead_p50_ms" in found:
        low, high = found["floor_overhead_p50_ci95"]
        beyond = found["overhead_p50_ms"] - found["floor_overhead_p50_ms"]
        found["beyond_floor_p50_ms"] = beyond
        found["beyond_floor_p50_ci95"] = [found["overhead_p50_ci95"][0] - high,
                                          found["overhead_p50_ci95"][1] - low]
        found["beyond_floor_p50_share"] = beyond / found["ttft_p50_ms"]
        print(f"  the floor (client_floor.py: no HTTP library, same schedule, "
              f"{found['floor_requests']} requests) p50 {found['floor_overhead_p50_ms']:.3f} ms "
              f"(95% {low:.3f}-{high:.3f}); ours beyond it {beyond:.3f} ms "
              f"(95% {found['beyond_floor_p50_ci95'][0]:.3f}-"
              f"{found['beyond_floor_p50_ci95'][1]:.3f}) = "
              f"{found['beyond_floor_p50_share']:.2%} of TTFT")
        low, high = found["floor_bound_p50_ci95"]
        print(f"  the floor's share at most (to + from the server) p50 "
              f"{found['floor_bound_p50_ms']:.3f} ms (95% {low:.3f}-{high:.3f}) = "
              f"{found['floor_bound_p50_ms'] / found['ttft_p50_ms']:.2%} of TTFT")
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

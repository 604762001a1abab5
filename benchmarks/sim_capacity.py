"""Coverage and bias of the capacity search (``serving.capacity``) on simulated queueing
servers whose capacity under the SLO is known (issue 55, item 4).

Two servers, first come first served, Poisson arrivals; a request meets the SLO when its time
in the system (its TTFT) is within the limit:

- ``mm1``: one server, exponential service of mean 1 s, limit 5 s. Its time in the system is
  exponential with rate ``1 - load``, so the load at which ``PERCENTILE`` % of requests meet
  the SLO is known exactly: ``1 + ln(1 - p) / 5`` (0.5395).
- ``mg4``: four servers, lognormal service of mean 1 s and CV 1.31 (sigma 1: a few requests
  take many times the others, as long generations do), limit 4 s; its capacity (a rate of
  about 3.10, load 0.78) is found by bisection on the steady attainment of 400,000 requests.

Each load step starts from an empty queue, as a step of ``loadgen.py --search`` starts from an
idle server, sends ``lead`` requests it does not count (``serve.search_lead_in``) and then
``n`` it counts (``serve.num_requests``); the search is the product's own, with the default
``serve.search_trials``, ``serve.search_max_steps``, ``serve.slo_percentile`` and step length
(``capacity.step_requests``: 800 on ``bursty``'s gamma arrivals of shape 0.25, ``--step``
overrides it), starting at
half the capacity (then, at the defaults, from a quarter, once, 1.1, 1.25 and three times
it), its trials' starts spread from a generator of the search's seed as loadgen's are. It
prints, for each (``n``, ``lead``), the searches' coverage of the true
capacity by ``results.capacity_ci95``, the bias of ``results.capacity`` (geometric mean over
the searches) and the spread of one search's figure; the defaults' row is marked. Then, at the
true capacity, one step's mean and median attainment with and without a lead-in: why a step
needs one.

Two more, each a shape where a straight line fits the attainment curve less well: ``md1``
(one server, every service 1 s, limit 10 s: the curve falls steeply near saturation) and
``batch8`` (8 slots, exponential service of mean 1 s slowed by 15% for each other slot busy,
as a continuous-batching engine's step grows with its batch; limit 6 s); their capacities are
found like mg4's. And two for an independent review's cases: ``bimodal`` (one server, requests
of 0.5 s (80%) or 3 s (20%), limit 6 s) and ``bursty`` (four exponential servers fed by gamma
gaps of shape 0.25, CV 2, as ``serve.arrivals gamma`` sends them; limit 4 s). ``--percentile
99`` or ``50`` searches under another goal.

The interval's low side is Student's t's stretched by ``capacity.LOW_SIDE`` (1.45);
``--stretch 1`` measures t alone (the interval before 2026-11-29). ``--calibrate`` chooses that
stretch as it was chosen (the smallest covering 95% on every server at the defaults, and each
server left out in turn) on seeds of its own (``--first-seed 100000``); the tables' coverage
comes with its Wilson 95% interval (Monte-Carlo error).

    .venv/bin/python benchmarks/sim_capacity.py [--searches 1500] [--server mm1 mg4 md1 batch8]
        [--percentile 90] [--defaults-only] [--first-seed 0] [--stretch 1.45]
    .venv/bin/python benchmarks/sim_capacity.py --calibrate --first-seed 100000 --searches 600 \
        --server mm1 mg4 md1 batch8
    .venv/bin/python benchmarks/sim_capacity.py --concurrency --server mg4 batch8 --searches 200

``--concurrency`` runs the concurrency search (bisection) on closed loops of mg4's and
batch8's servers (each client sends its next request as its last one ends) from a concurrency
of 1, against the highest concurrency whose steady attainment meets the percentile.
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import serving.capacity
from benchstats.samples import summarize
from serving.capacity import LEAD_IN, SEARCH_STEP, Goal, StepResult, interval, search

LIMIT = 5.0          # mm1's TTFT limit, in mean service times
PERCENTILE = 90.0    # serve.slo_percentile's default
TRUE = 1.0 + math.log(1 - PERCENTILE / 100) / LIMIT
MG_SERVERS, MG_LIMIT, MG_SIGMA = 4, 4.0, 1.0  # mg4: servers, TTFT limit, lognormal sigma
MD_LIMIT = 10.0      # md1: deterministic service of 1 s, a generous limit (a steep curve)
BATCH_SLOTS, BATCH_LIMIT, BATCH_SLOWDOWN = 8, 6.0, 0.15  # batch8: slots, limit, per busy slot
BIMODAL_SHORT, BIMODAL_LONG, BIMODAL_SHARE, BIMODAL_LIMIT = 0.5, 3.0, 0.2, 6.0  # bimodal
BURSTY_SERVERS, BURSTINESS, BURSTY_LIMIT = 4, 0.25, 4.0  # bursty: gamma gaps, CV 2


def times_in_system(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/M/1 system (service rate 1) that starts empty (Lindley)."""
    wait, service, out = 0.0, 0.0, []
    for i in range(n):
        if i:
            wait = max(0.0, wait + service - rng.expovariate(rate))
        service = rng.expovariate(1.0)
        out.append(wait + service)
    return out


def times_in_servers(rng: random.Random, rate: float, n: int, servers: int,
                     service: Callable[[random.Random, int], float],
                     burstiness: float = 1.0) -> list[float]:
    """``n`` requests' times in a first-come-first-served system of ``servers`` that starts
    empty: each request goes to the server free first (Kiefer-Wolfowitz) and takes
    ``service(rng, busy)``, ``busy`` the other servers busy when it starts. Arrivals are
    Poisson, or with ``burstiness`` other than 1 gamma gaps of that shape (``serve.arrivals
    gamma``: below 1, bursts)."""
    free = [0.0] * servers
    now, out = 0.0, []
    for i in range(n):
        if i:
            now += (rng.expovariate(rate) if burstiness == 1.0 else
                    rng.gammavariate(burstiness, 1.0 / (burstiness * rate)))
        start = max(now, heapq.heappop(free))
        done = start + service(rng, sum(end > start for end in free))
        heapq.heappush(free, done)
        out.append(done - now)
    return out


def times_in_mg4(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/G/4 system (lognormal service of mean 1) that starts
    empty."""
    return times_in_servers(rng, rate, n, MG_SERVERS,
                            lambda r, _: r.lognormvariate(-MG_SIGMA ** 2 / 2, MG_SIGMA))


def times_in_md1(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/D/1 system (every service 1 s) that starts empty."""
    wait, out = 0.0, []
    for i in range(n):
        if i:
            wait = max(0.0, wait + 1.0 - rng.expovariate(rate))
        out.append(wait + 1.0)
    return out


def times_in_batch8(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in a server of 8 slots that starts empty, a request's service
    (exponential, mean 1 s) slowed by 15% for each other slot busy when it starts: a
    continuous-batching engine, whose step grows with the batch."""
    return times_in_servers(rng, rate, n, BATCH_SLOTS,
                            lambda r, busy: r.expovariate(1.0) * (1 + BATCH_SLOWDOWN * busy))


def bimodal_service(rng: random.Random, _: int) -> float:
    """A bimodal request: 0.5 s (80%) or 3 s (20%), mean 1 s: short answers and long
    generations."""
    return BIMODAL_LONG if rng.random() < BIMODAL_SHARE else BIMODAL_SHORT


def times_in_bimodal(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/G/1 system of bimodal requests that starts empty."""
    return times_in_servers(rng, rate, n, 1, bimodal_service)


def times_in_bursty(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in four exponential servers (mean 1 s) fed by bursty arrivals
    (gamma gaps of shape :data:`BURSTINESS`, their CV 2) that start empty."""
    return times_in_servers(rng, rate, n, BURSTY_SERVERS, lambda r, _: r.expovariate(1.0),
                            BURSTINESS)


def attainment(times: list[float], skip: float = 0.0, limit: float = LIMIT) -> float:
    """The share of requests within the limit, leaving out the first ``skip`` share."""
    kept = times[int(len(times) * skip):]
    return sum(t <= limit for t in kept) / len(kept)


def mg4_capacity(percentile: float = PERCENTILE) -> float:
    """mg4's true capacity: bisection on the steady attainment (400,000 requests, the first
    tenth left out) of each rate."""
    return steady_capacity(times_in_mg4, MG_LIMIT, 0.5, 3.99, percentile)


def steady_capacity(times: Callable[[random.Random, float, int], list[float]], limit: float,
                    low: float, high: float, percentile: float) -> float:
    """The rate whose steady attainment (400,000 requests, the first tenth left out) is the
    percentile's share: 18 bisections between ``low`` and ``high``; ValueError when even
    ``low`` misses it (no capacity at that percentile: at p99 M/G/4's service alone exceeds
    its limit for 1.8% of requests)."""
    if attainment(times(random.Random(5), low, 400_000), 0.1, limit) < percentile / 100:
        raise ValueError(f"no capacity at p{percentile:g}: even {low:g} requests/s misses it")
    for _ in range(18):
        middle = math.sqrt(low * high)
        if attainment(times(random.Random(5), middle, 400_000), 0.1, limit) >= percentile / 100:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


#: A server: its step (rng, load, n -> each request's time in the system), its SLO limit and
#: its true capacity.
Server = tuple[Callable[[random.Random, float, int], list[float]], float, float]


SERVERS = ("mm1", "mg4", "md1", "batch8", "bimodal", "bursty")


def server_of(name: str, percentile: float = PERCENTILE) -> Server:
    if name == "mm1":
        return times_in_system, LIMIT, 1.0 + math.log(1 - percentile / 100) / LIMIT
    if name == "mg4":
        return times_in_mg4, MG_LIMIT, mg4_capacity(percentile)
    if name == "md1":
        return times_in_md1, MD_LIMIT, steady_capacity(times_in_md1, MD_LIMIT, 0.3, 0.999,
                                                       percentile)
    if name == "batch8":
        return times_in_batch8, BATCH_LIMIT, steady_capacity(times_in_batch8, BATCH_LIMIT, 0.5,
                                                             7.99, percentile)
    if name == "bimodal":
        return times_in_bimodal, BIMODAL_LIMIT, steady_capacity(
            times_in_bimodal, BIMODAL_LIMIT, 0.1, 0.999, percentile)
    return times_in_bursty, BURSTY_LIMIT, steady_capacity(times_in_bursty, BURSTY_LIMIT, 0.3,
                                                          3.99, percentile)


def default_step(name: str) -> int:
    """The requests a step of a search on ``name`` counts by default: ``bursty``'s arrivals
    are gamma of shape :data:`BURSTINESS`, so ``capacity.step_requests`` gives it
    ``SEARCH_STEP / BURSTINESS`` (800), as loadgen does for ``serve.arrivals gamma``; the
    rest are Poisson (:data:`SEARCH_STEP`)."""
    if name == "bursty":
        return serving.capacity.step_requests("gamma", BURSTINESS)
    return SEARCH_STEP


def search_facts(seed: int, n: int, lead: int, goal: Goal, server: Server,
                 start: float = 0.5) -> dict:
    """One search as ``loadgen.py --search`` runs it, from ``start`` times the capacity: its
    ``results.capacity*`` facts."""
    rng = random.Random(seed)
    serve, limit, _ = server

    def step(trial: int, load: float) -> StepResult:
        return StepResult(attainment(serve(rng, load, lead + n)[lead:], limit=limit))
    # the trials' starts spread as loadgen spreads them (its own generator from the seed)
    return search(step, server[2] * start, goal, None, None, random.Random(seed + serving.capacity.START_SEED))[1]


def one_search(seed: int, n: int, lead: int, goal: Goal, server: Server, start: float = 0.5
               ) -> tuple[float | None, list[float] | None]:
    """One search's ``(capacity, capacity_ci95)``."""
    facts = search_facts(seed, n, lead, goal, server, start)
    return facts["results.capacity"], facts["results.capacity_ci95"]


def wilson(share: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95% interval of a share measured over ``count`` searches (Monte-Carlo
    error)."""
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (
        1 + z * z / count)
    return centre - half, centre + half


def coverage_and_bias(n: int, lead: int, searches: int, goal: Goal, server: Server,
                      start: float = 0.5, first: int = 0) -> tuple[float, float, float, int]:
    """The share of searches (seeds ``first`` on) whose interval holds the true capacity, the
    geometric-mean capacity's relative bias, the standard deviation of a search's log
    capacity, and how many searches found no capacity."""
    covered, logs, none, true = 0, [], 0, server[2]
    for seed in range(first, first + searches):
        capacity, ci = one_search(seed, n, lead, goal, server, start)
        if capacity is None:
            none += 1
            continue
        logs.append(math.log(capacity / true))
        covered += ci is not None and ci[0] <= true <= ci[1]
    return (covered / searches, math.exp(statistics.fmean(logs)) - 1, statistics.stdev(logs),
            none)


#: The stretches of the interval's low side tried by ``--calibrate`` (1.00, 1.05, ... 3.00).
STRETCHES = tuple(round(1 + 0.05 * i, 2) for i in range(41))


def covered_at(trials: list[list[float | None]], true: float, low_side: float
               ) -> tuple[float, float]:
    """The share of searches (each its trials' capacities) whose interval, its low side
    stretched by ``low_side``, holds ``true``, and the median width of the interval (log)."""
    covered, widths = 0, []
    for capacities in trials:
        if any(c is None for c in capacities) or len(set(capacities)) < 2:
            continue  # no capacity, or no interval: not covered
        stats = summarize([math.log(c) for c in capacities if c is not None])
        low, high = interval(stats.mean, stats.ci_low, stats.ci_high, low_side)
        covered += low <= true <= high
        widths.append(math.log(high / low))
    return covered / len(trials), statistics.median(widths)


def calibrate(names: list[str], searches: int, first: int, goal: Goal) -> None:
    """The low side's stretch: the smallest of :data:`STRETCHES` whose interval covers 95% of
    the searches (seeds ``first`` on, the defaults, from half the capacity) on every server,
    and, leaving each server out in turn, the stretch the others choose and what it covers on
    the one left out (measure that on other seeds: ``--first-seed 0 --stretch K``)."""
    found: dict[str, tuple[list[list[float | None]], float]] = {}
    for name in names:
        server = server_of(name, goal.percentile)
        found[name] = ([search_facts(seed, SEARCH_STEP, LEAD_IN, goal, server)[
            "results.capacity_trials"] for seed in range(first, first + searches)], server[2])
    print(f"calibration: seeds {first}-{first + searches - 1}, {searches} searches a server")
    cover = {(name, k): covered_at(*found[name], k) for name in names for k in STRETCHES}

    def chosen(among: list[str]) -> float | None:
        return next((k for k in STRETCHES if all(cover[name, k][0] >= 0.95 for name in among)),
                    None)
    print("| chosen on | stretch | " + " | ".join(names) + " |\n| --- | --- |"
          + " --- |" * len(names))
    for among in [names] + [[n for n in names if n != out] for n in names for out in [n]]:
        k = chosen(among)
        cells = [("—" if k is None else f"{cover[name, k][0]:.1%}"
                  + ("" if name in among else " (held out)")) for name in names]
        print(f"| {', '.join(among)} | {k} | " + " | ".join(cells) + " |")
    print("t alone (1.00): " + ", ".join(f"{name} {cover[name, 1.0][0]:.1%}" for name in names))
    k = chosen(names)
    if k is not None:
        print(f"width (log, median) at {k} over t alone's: " + ", ".join(
            f"{name} {cover[name, k][1] / cover[name, 1.0][1]:.2f}" for name in names))


#: Where the searches of the second table start, in capacities (the first: 0.5).
STARTS = (0.25, 1.0, 1.1, 1.25, 3.0)
#: (counted requests, lead-in) a step: the defaults (marked) and shorter ones.
SETTINGS = ((100, 0), (100, LEAD_IN), (SEARCH_STEP, 0), (SEARCH_STEP, LEAD_IN))


def _share(cover: float, searches: int) -> str:
    low, high = wilson(cover, searches)
    return f"{cover:.1%} [{low:.1%}, {high:.1%}]"


def closed_loop_times(rng: random.Random, clients: int, n: int, servers: int,
                      service: Callable[[random.Random, int], float]) -> list[float]:
    """``n`` requests' times in a first-come-first-served system of ``servers`` fed by
    ``clients`` that each send their next request as their last one ends (a concurrency, as
    ``serve.concurrency`` keeps it), starting empty."""
    free = [0.0] * servers
    ready = [0.0] * clients  # when each client sends next
    heapq.heapify(ready)
    out = []
    for _ in range(n):
        sent = heapq.heappop(ready)
        start = max(sent, heapq.heappop(free))
        done = start + service(rng, sum(end > start for end in free))
        heapq.heappush(free, done)
        heapq.heappush(ready, done)
        out.append(done - sent)
    return out


#: The closed-loop servers ``--concurrency`` searches: (servers, service, limit), as mg4's and
#: batch8's.
CLOSED = {"mg4": (MG_SERVERS, lambda r, _: r.lognormvariate(-MG_SIGMA ** 2 / 2, MG_SIGMA),
                  MG_LIMIT),
          "batch8": (BATCH_SLOTS,
                     lambda r, busy: r.expovariate(1.0) * (1 + BATCH_SLOWDOWN * busy),
                     BATCH_LIMIT)}


def closed_capacity(name: str, percentile: float) -> tuple[int, dict[int, float]]:
    """A closed-loop server's true concurrency capacity (the highest concurrency whose steady
    attainment, 200,000 requests with the first tenth left out, meets the percentile) and
    the steady attainment of each concurrency up to the first that misses by far."""
    servers, service, limit = CLOSED[name]
    steady: dict[int, float] = {}
    for clients in range(1, 200):
        times = closed_loop_times(random.Random(5), clients, 200_000, servers, service)
        steady[clients] = attainment(times, 0.1, limit)
        if steady[clients] < percentile / 100 - 0.1:
            break
    return max(c for c, a in steady.items() if a >= percentile / 100), steady


def closed_step(rng: random.Random, servers: int,
                service: Callable[[random.Random, int], float], limit: float
                ) -> Callable[[int, float], StepResult]:
    """A concurrency search's step on a closed-loop server: a lead-in, then the counted
    requests, from an empty server."""
    def step(trial: int, load: float) -> StepResult:
        times = closed_loop_times(rng, int(load), LEAD_IN + SEARCH_STEP, servers, service)
        return StepResult(attainment(times[LEAD_IN:], limit=limit))
    return step


def concurrency_table(names: list[str], searches: int, first: int, goal: Goal) -> None:
    """The concurrency search (bisection on met / missed) on closed-loop servers at the
    defaults from a concurrency of 1: its capacity against the true one, how often each trial
    lands on it, and the interval's coverage."""
    goal = Goal(unit="concurrency", percentile=goal.percentile, trials=goal.trials,
                max_steps=goal.max_steps)
    print("| server | true capacity (steady attainment at it, one above) | trials on it / "
          "above / below | bias | interval given | covered |\n| --- | --- | --- | --- | --- "
          "| --- |")
    for name in names:
        if name not in CLOSED:
            continue
        servers, service, limit = CLOSED[name]
        true, steady = closed_capacity(name, goal.percentile)
        on = above = below = given = covered = 0
        logs = []
        for seed in range(first, first + searches):
            facts = search(closed_step(random.Random(seed), servers, service, limit), 1.0,
                           goal)[1]
            for found in facts["results.capacity_trials"]:
                on += found == true
                above += found is not None and found > true
                below += found is not None and found < true
            if facts["results.capacity"] is not None:
                logs.append(math.log(facts["results.capacity"] / true))
            ci = facts["results.capacity_ci95"]
            given += ci is not None
            covered += ci is not None and ci[0] <= true <= ci[1]
        count = searches * goal.trials
        print(f"| {name} | {true} ({steady[true]:.3f}, {steady[true + 1]:.3f}) | "
              f"{on / count:.1%} / {above / count:.1%} / {below / count:.1%} | "
              f"{math.exp(statistics.fmean(logs)) - 1:+.1%} | {given / searches:.1%} | "
              f"{_share(covered / searches, searches)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=1500)
    parser.add_argument("--server", nargs="+", choices=SERVERS, default=["mm1", "mg4"])
    parser.add_argument("--percentile", type=float, default=PERCENTILE,
                        help="serve.slo_percentile (90: its default)")
    parser.add_argument("--defaults-only", action="store_true",
                        help="only the defaults' row and the starts (no shorter steps)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the searches' seeds start here (0; --calibrate's: 100000)")
    parser.add_argument("--stretch", type=float, default=serving.capacity.LOW_SIDE,
                        help="the interval's low side over Student's t's (capacity.LOW_SIDE; "
                             "1: t alone, the interval before 2026-11-29)")
    parser.add_argument("--step", type=int, default=0,
                        help="requests a step counts in the defaults' row and the starts' "
                             "table (0: each server's default, capacity.step_requests: 800 "
                             "for bursty, 200 for the rest; 200 gives bursty's before "
                             "2026-11-29 evening)")
    parser.add_argument("--concurrency", action="store_true",
                        help="the concurrency search on closed-loop mg4 and batch8 and stop")
    parser.add_argument("--calibrate", action="store_true",
                        help="choose the stretch (each server left out in turn) and stop")
    args = parser.parse_args()
    goal = Goal(percentile=args.percentile)
    if args.calibrate:
        calibrate(args.server, args.searches, args.first_seed, goal)
        return
    if args.concurrency:
        concurrency_table(args.server, args.searches, args.first_seed, goal)
        return
    serving.capacity.LOW_SIDE = args.stretch
    print(f"defaults: {goal.trials} trials of {goal.max_steps} steps, p{args.percentile:g}, "
          f"{args.step or SEARCH_STEP} requests a step ({args.step or 'bursty: 800'}) after "
          f"a lead-in of {LEAD_IN}; "
          f"{args.searches} searches a row (seeds {args.first_seed} on), the interval's low "
          f"side {args.stretch:g} x Student's t's; coverage [its Wilson 95% interval]")
    for name in args.server:
        try:
            server = server_of(name, args.percentile)
        except ValueError as err:
            print(f"\n{name}: {err}")
            continue
        print(f"\n{name}: true capacity {server[2]:.4f} requests/s")
        print("| requests a step | lead-in | coverage | bias | sd of one search | no capacity |"
              "\n| --- | --- | --- | --- | --- | --- |")
        step = args.step or default_step(name)
        settings = [(n if (n, lead) != (SEARCH_STEP, LEAD_IN) else step, lead)
                    for n, lead in (SETTINGS[-1:] if args.defaults_only else SETTINGS)]
        for n, lead in settings:
            cover, bias, spread, none = coverage_and_bias(n, lead, args.searches, goal, server,
                                                          first=args.first_seed)
            mark = " (defaults)" if (n, lead) == (step, LEAD_IN) else ""
            print(f"| {n}{mark} | {lead} | {_share(cover, args.searches)} | {bias:+.1%} | "
                  f"{spread:.3f} | {none} |", flush=True)
        print("\nat the defaults, from other starts:\n| start (x capacity) | coverage | bias | "
              "sd of one search |\n| --- | --- | --- | --- |")
        for start in STARTS:
            cover, bias, spread, _ = coverage_and_bias(step, LEAD_IN, args.searches, goal,
                                                       server, start, args.first_seed)
            print(f"| {start:g} | {_share(cover, args.searches)} | {bias:+.1%} | {spread:.3f} |",
                  flush=True)
        rng = random.Random(1)
        print(f"\none step of {SEARCH_STEP} at the true capacity (2,000 steps):")
        print("| lead-in | mean attainment | median attainment |\n| --- | --- | --- |")
        for lead in (0, LEAD_IN):
            values = [attainment(server[0](rng, server[2], lead + SEARCH_STEP)[lead:],
                                 limit=server[1]) for _ in range(2000)]
            print(f"| {lead} | {statistics.fmean(values):.3f} | "
                  f"{statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()

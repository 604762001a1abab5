"""The serving workload's entry point (``exp.phase=serve``): load an OpenAI-compatible server
and print the run's facts (``__results.ttft_p50__=...``) on stdout, as ``benchmarks.py`` does,
so the launcher's log, the parser, the reports and the database take them unchanged.

    python python/serving/loadgen.py --endpoint http://127.0.0.1:8000 --model NAME \
        --request_rate 4 --num_requests 200 --prompt_len 64 --output_len 32

Every request's record (times, tokens, error) is written as JSON lines to
``--requests_file`` (the launcher puts it beside the log: ``<log>.requests.jsonl``), for
re-analysis. Exit 0 when at least one request was answered; 1 when none was (the endpoint is
down, the model unknown...: ``results.error`` says why); 2 for a bad flag.

With ``--search rate`` (or ``concurrency``) the run is a capacity search under the SLO
(``serving/capacity.py``): load steps of ``--num_requests`` each, starting at
``--request_rate`` (``--concurrency``), and ``results.capacity`` with its interval over
``--search_trials`` trials; each step's figures are in ``results.search_steps`` and every
request's record, with its trial and load, in the requests file.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

if __package__ in (None, ""):  # run as a script: python python/serving/loadgen.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import safeio

try:
    import aiohttp  # noqa: F401  # the client's HTTP: the serving-client extra
except ModuleNotFoundError:
    if __name__ != "__main__":
        raise  # dlbs's preflight says which extra (dlbs/extras.py)
    sys.exit("loadgen.py: needs the serving-client extra (aiohttp is not installed): "
             "pip install -e '.[client]' in the dlbs clone (in a container image: pip "
             "install aiohttp uvloop)")

from serving import arrivals, capacity, machine, metrics
from serving.client import APIS, LOOPS, Record, Target, loop_factory, run_async, run_load
from serving.requests import ORDERS, Lengths, Request, check_lengths, make_requests, vllm_requests
from serving.saturation import saturation_facts
from serving.summary import Slo, summarize_run


def parser(kind: type[argparse.ArgumentParser] = argparse.ArgumentParser
           ) -> argparse.ArgumentParser:
    p = kind(prog="loadgen.py", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="the server's base URL (serve.endpoint)")
    p.add_argument("--model", required=True, help="the model name the server knows")
    p.add_argument("--api", choices=APIS, default="completions")
    p.add_argument("--request_rate", type=float, default=0.0,
                   help="requests per second (0: all at once, bounded by --concurrency)")
    p.add_argument("--concurrency", type=int, default=0, help="most in flight (0: no limit)")
    p.add_argument("--arrivals", choices=arrivals.ARRIVALS, default="poisson")
    p.add_argument("--burstiness", type=float, default=1.0,
                   help="gamma arrivals' shape (1: Poisson; below 1 burstier)")
    p.add_argument("--ramp_up", type=float, default=0.0,
                   help="seconds over which the rate rises to --request_rate")
    p.add_argument("--num_requests", type=int, default=None,
                   help=f"requests measured ({ONE_LOAD_REQUESTS}; in a search, each step's, "
                        f"{capacity.SEARCH_STEP})")
    p.add_argument("--duration", type=float, default=0.0,
                   help="no request scheduled after this many seconds (0: no limit)")
    p.add_argument("--warmup_requests", type=int, default=0,
                   help="requests sent one at a time first, not counted")
    p.add_argument("--prompt_len", default="64", help="words: N or A-B (uniform)")
    p.add_argument("--output_len", default="", help="tokens asked for: N or A-B")
    p.add_argument("--dataset", default="", help="a ShareGPT-style JSON file")
    p.add_argument("--dataset_order", choices=ORDERS, default="random",
                   help="the dataset's prompts drawn at random with --seed, or in the order "
                        "vllm bench serve sends them for the seed (vllm)")
    p.add_argument("--slo_ttft_ms", type=float, default=0.0)
    p.add_argument("--slo_tpot_ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for one request")
    p.add_argument("--ignore_eos", type=_true_false, nargs="?", const=True, default=False,
                   help="ask the server for all of --output_len tokens, past the model's end "
                        "of text (vLLM's and SGLang's ignore_eos; sent only when true)")
    p.add_argument("--requests_file", default="", help="where each request's record goes")
    p.add_argument("--progress", action="store_true", help="say how many requests are done")
    p.add_argument("--client_loop", choices=LOOPS, default="auto",
                   help="the client's event loop (auto: uvloop where installed; logged as "
                        "results.client_loop)")
    p.add_argument("--search", choices=("none", *capacity.UNITS), default="none",
                   help="a capacity search over the rate or the concurrency (none: one run)")
    p.add_argument("--slo_percentile", type=float, default=90.0,
                   help="the share of requests (%%) a step's SLO attainment must reach")
    p.add_argument("--search_trials", type=int, default=3)
    p.add_argument("--search_tolerance", type=float, default=0.03)
    p.add_argument("--search_max_steps", type=int, default=8)
    p.add_argument("--search_lead_in", type=int, default=capacity.LEAD_IN,
                   help="requests each search step sends at its load before the measured "
                        "ones, not counted (the queue that load keeps, not an empty one)")
    p.add_argument("--search_max_seconds", type=float, default=3600.0,
                   help="no search step starts after this many seconds (0: no cap)")
    p.add_argument("--metrics_interval", type=float, default=METRICS_INTERVAL,
                   help="seconds between scrapes of the server's /metrics during a run "
                        "(0: before and after only); results.server_metrics")
    return p


def emit(facts: dict[str, Any]) -> None:
    """``__key__=json`` lines, one write (a log never holds half of them)."""
    lines = "".join(f"__{key}__={json.dumps(value, allow_nan=False, default=str)}\n"
                    for key, value in facts.items())
    sys.stdout.write(lines)
    sys.stdout.flush()


def _true_false(text: str) -> bool:
    """``true``/``false`` (as the launcher writes a bool; ``1``/``0``, ``yes``/``no`` too)."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def write_records(path: str, records: list[Record] | list[dict[str, Any]]) -> None:
    """The records (or rows of them) as JSON lines, written whole or not at all; a link or
    anything but a regular file planted at ``path`` is refused (``safeio``)."""
    rows = [r.as_json() if isinstance(r, Record) else r for r in records]
    with safeio.atomic_write(path) as stream:
        stream.writelines(json.dumps(_clean(row)) + "\n" for row in rows)


def keep_records(path: str | None, records: list[Record] | list[dict[str, Any]],
                 facts: dict[str, Any]) -> None:
    """Write the records to ``path`` (when given) and name it in ``facts``; a file that cannot
    be written is said in one line and the run's facts are kept without it."""
    if not path:
        return
    try:
        write_records(path, records)
    except OSError as err:
        print(f"error: serve.requests_file: {err}; the run's facts are kept without it",
              file=sys.stderr)
        return
    facts["results.requests_file"] = str(Path(path).resolve())


#: The range of each numeric flag: ``config/serve.json``'s ``min`` and ``max`` of
#: ``serve.<flag>`` (a test keeps the two the same; this program never reads dlbs' configs).
#: NaN, an infinity or a value past either bound is refused, as ``validate`` refuses it.
LIMITS: dict[str, tuple[float, float]] = {
    "request_rate": (0, 1_000_000), "concurrency": (0, 1_000_000), "burstiness": (0, 1000),
    "ramp_up": (0, 2_592_000), "num_requests": (1, 100_000_000), "duration": (0, 2_592_000),
    "warmup_requests": (0, 1_000_000), "slo_ttft_ms": (0, 86_400_000),
    "slo_tpot_ms": (0, 86_400_000), "seed": (0, 4_294_967_295), "timeout": (0.001, 2_592_000),
    "slo_percentile": (0.001, 100), "search_trials": (1, 100),
    "search_tolerance": (0.001, 0.5), "search_max_steps": (2, 100),
    "search_max_seconds": (0, 604_800), "metrics_interval": (0, 3600),
    "search_lead_in": (0, 1_000_000)}


def range_problem(name: str, value: float) -> str | None:
    """One line when flag ``name``'s value is not a finite number within :data:`LIMITS`
    (worded as ``validate`` words it); None when it fits."""
    low, high = LIMITS[name]
    if (isinstance(value, int) or math.isfinite(value)) and low <= value <= high:
        return None
    noun = "a number" if isinstance(value, float) else "an integer"
    shown = ("an integer of more than 60 digits" if isinstance(value, int)
             and abs(value) > 10 ** 60 else repr(value))
    return f"serve.{name} is {shown}; it must be {noun} >= {_number(low)} (at most {_number(high)})"


def _number(bound: float) -> str:
    """``1`` rather than ``1.0`` for a whole bound (as ``validate`` writes it)."""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


#: ``--num_requests``'s default for one load (a search's step: ``capacity.SEARCH_STEP``).
ONE_LOAD_REQUESTS = 100


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """``--num_requests`` when not given: :data:`ONE_LOAD_REQUESTS` for one load, a search
    step's :func:`capacity.step_requests` (200; 200 / ``--burstiness`` for bursty gamma
    arrivals; config/serve.json computes the same)."""
    if args.num_requests is None:
        args.num_requests = (ONE_LOAD_REQUESTS if args.search == "none" else
                             capacity.step_requests(args.arrivals, args.burstiness))
    return args


def checked(args: argparse.Namespace) -> None:
    """ValueError naming the parameter for a flag that cannot be run; reads and builds
    nothing (:func:`prepared` builds)."""
    if args.num_requests < 1:
        raise ValueError(f"serve.num_requests: {args.num_requests} must be at least 1")
    for name in ("concurrency", "warmup_requests", "duration", "ramp_up", "slo_ttft_ms",
                 "slo_tpot_ms", "search_lead_in"):
        if getattr(args, name) < 0:
            raise ValueError(f"serve.{name}: {getattr(args, name)} must be 0 or above")
    if not args.timeout > 0:
        raise ValueError(f"serve.timeout: {args.timeout} must be above 0 (the seconds one "
                         "request may take before it counts as failed)")
    for name in LIMITS:
        problem = range_problem(name, getattr(args, name))
        if problem:
            raise ValueError(problem)
    if args.request_rate == 0 and not args.concurrency:
        raise ValueError("serve.request_rate 0 (all at once) needs serve.concurrency > 0: "
                         "give a rate, a concurrency or both")
    arrivals.check_rate(args.request_rate, args.duration, args.ramp_up)
    if args.arrivals == "vllm":
        arrivals.check_vllm(args.burstiness, args.ramp_up, args.duration)
    check_lengths(args.prompt_len, args.output_len or None, args.dataset)
    if args.dataset_order == "vllm" and not args.dataset:
        raise ValueError("serve.dataset_order vllm takes a dataset's prompts in vllm bench "
                         "serve's order, and no serve.dataset is given: give one, or "
                         "serve.dataset_order random (made-up prompts have no vLLM order)")
    if not args.endpoint.startswith(("http://", "https://")):
        raise ValueError(f"serve.endpoint: {args.endpoint!r} is not a URL (e.g. "
                         "http://127.0.0.1:8000)")
    loop_factory(args.client_loop)  # uvloop asked for and missing: said before any request
    if args.search != "none":
        if args.duration:
            raise ValueError(f"serve.duration {args.duration:g}: a capacity search counts each "
                             "step by requests (serve.search_lead_in, then serve.num_requests), "
                             "and a duration would cut them short: leave serve.duration 0 in a "
                             "search (serve.search_max_seconds bounds its time)")
        goal_of(args)
        capacity.check_start(args.request_rate if args.search == "rate" else args.concurrency,
                             args.search)
        if not (args.slo_ttft_ms or args.slo_tpot_ms):
            raise ValueError(f"serve.search {args.search} needs an SLO to search under: give "
                             "serve.slo_ttft_ms, serve.slo_tpot_ms or both")
    if args.requests_file:
        try:
            safeio.check_writable_target(args.requests_file)
        except OSError as err:
            raise ValueError(f"serve.requests_file: {err}") from None


def prepared(args: argparse.Namespace, count: int | None = None
             ) -> tuple[list[float], list[Request]]:
    """The schedule and the requests (warm-up ones first); ValueError naming the parameter
    for what cannot be run. Sends nothing. The schedule stops at ``--duration``, and only the
    requests it holds are built (``--num_requests 1000000000 --duration 2`` builds a few);
    ``count`` builds at most that many (``validate`` checks one of each)."""
    checked(args)
    wanted = args.num_requests if count is None else min(count, args.num_requests)
    check_memory(scheduled_at_most(wanted, args.request_rate, args.duration),
                 _longest(args.prompt_len, "serve.prompt_len"),
                 _longest(args.output_len, "serve.output_len"))
    times = arrivals.schedule(wanted, args.request_rate, args.arrivals, args.burstiness,
                              args.seed, args.ramp_up, args.duration)
    if args.dataset_order == "vllm":
        return times, vllm_requests(len(times), args.warmup_requests, args.output_len or None,
                                    args.dataset, args.seed)
    requests = make_requests(len(times) + args.warmup_requests, args.prompt_len,
                             args.output_len or None, args.dataset, args.seed)
    return times, requests


#: Bytes a scheduled request holds until its run ends, about: its send time and request
#: (~250 B and ~7 B a prompt word, measured with tracemalloc on 2026-11-28) and its record
#: (one chunk an output token); rounded up, so that a refusal is never for a run that fits.
REQUEST_BYTES, PROMPT_WORD_BYTES, OUTPUT_TOKEN_BYTES = 1000, 8, 100


def scheduled_at_most(count: int, rate: float, duration: float) -> int:
    """How many of ``count`` requests a run schedules, about: a duration at a rate holds about
    rate x duration of them (its Poisson spread is a few square roots more: the guard below
    is about orders of magnitude)."""
    if rate > 0 and duration > 0:
        return min(count, int(rate * duration + 6 * math.sqrt(rate * duration)) + 1)
    return count


def free_memory_bytes() -> int | None:
    """The memory this process can still take: the kernel's MemAvailable, or the address-space
    limit (``ulimit -v``) if lower; None where neither is known."""
    known: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    known.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            known.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(known) if known else None


def _longest(length: str | int, name: str) -> int:
    """The longest of a length flag (``N`` or ``A-B``; empty: 0), checked by then."""
    return Lengths.parse(length, name).high if length else 0


def check_memory(count: int, prompt_len: int, output_len: int) -> None:
    """ValueError before anything is built when ``count`` requests and their records would
    not fit in the memory this process can take (10^8 requests ended in a MemoryError's
    traceback after minutes of building)."""
    need = count * (REQUEST_BYTES + PROMPT_WORD_BYTES * prompt_len
                    + OUTPUT_TOKEN_BYTES * output_len)
    free = free_memory_bytes()
    if free is not None and need > free:
        raise ValueError(f"serve.num_requests: {count:,} requests (with their records) need "
                         f"about {need / 1e9:.1f} GB, more than the {free / 1e9:.1f} GB this "
                         "process can take; give fewer requests or a shorter serve.duration")


class _Refused(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def refusals(argv: list[str]) -> list[str]:
    """What ``loadgen.py argv`` would refuse, without sending anything (``validate`` asks
    this, torch-free): one line each; empty when it would run."""
    quiet = parser(_QuietParser)
    try:
        args = with_defaults(quiet.parse_args(argv))
        prepared(args, count=1)
    except _Refused as err:
        return [str(err)]
    except ValueError as err:
        return [str(err)]
    return []


def goal_of(args: argparse.Namespace) -> capacity.Goal:
    """The search's goal; a rate search never goes below the lowest rate
    :func:`arrivals.check_rate` accepts for the run's duration and ramp-up."""
    wait, _ = arrivals.longest_wait(args.duration)
    lowest = arrivals.lowest_rate(wait, args.ramp_up) if args.search == "rate" else 0.0
    return capacity.Goal(args.search, args.slo_percentile, args.search_tolerance,
                         args.search_max_steps, args.search_trials, lowest,
                         step_requests=args.num_requests, lead_in=args.search_lead_in,
                         max_seconds=args.search_max_seconds,
                         burstiness=(args.burstiness if args.arrivals in
                                     capacity.GAMMA_ARRIVALS else 1.0))


#: What a search step keeps of its run's facts (``results.search_steps``).
STEP_FACTS = ("results.requests", "results.failed_requests", "results.request_throughput",
              "results.output_tokens_per_second", "results.goodput", "results.ttft_p50",
              "results.ttft_p90", "results.ttft_p99", "results.tpot_p50", "results.tpot_p90",
              "results.tpot_p99", "results.client_lagged", "results.send_delay_p99_ms")


#: ``--metrics_interval``'s default (seconds between scrapes of the server's /metrics).
METRICS_INTERVAL = 1.0
#: Why a capacity search logs no server metrics.
SEARCH_SCRAPES_NOT = ("a capacity search does not scrape the server's metrics (its steps are "
                      "many short runs): run one load (serve.search none) to log them")


@dataclass
class _Tally:
    """What a search's steps add up to: the steps run, the requests answered and the
    warm-up requests (of its first step)."""

    steps: int = 0
    answered: int = 0
    led: int = 0
    warmed: list[Record] = field(default_factory=list)
    of_trial: dict[int, int] = field(default_factory=dict)  # steps each trial has run


def run_search(args: argparse.Namespace) -> int:
    """A capacity search: each step one run at its load (its own seed), as :func:`run`."""
    goal = goal_of(args)
    target = Target(args.endpoint, args.model, args.api, args.timeout, args.ignore_eos)
    slo = Slo(args.slo_ttft_ms, args.slo_tpot_ms)
    rows: list[dict[str, Any]] = []
    tally = _Tally()
    factory, loop_name = loop_factory(args.client_loop)

    def step(trial: int, load: float) -> capacity.StepResult:
        lead = args.search_lead_in
        at = (replace_args(args, request_rate=load) if goal.unit == "rate" else
              replace_args(args, concurrency=int(load)))
        at.num_requests = args.num_requests + lead
        at.seed = args.seed + 1009 * trial + tally.steps  # each step its own arrivals
        times, requests = prepared(at)
        warm = args.warmup_requests if not tally.steps else 0
        tally.steps += 1
        tally.of_trial[trial] = tally.of_trial.get(trial, 0) + 1
        sent, monitor, wall = run_async(run_load(
            target, requests[warm:][:len(times)], times, at.concurrency, at.duration,
            requests[:warm], False, tally.warmed), factory)
        # the lead-in (the first requests scheduled) brings the queue to this load's state:
        # sent and kept in the requests file, not counted
        led, records = sent[:lead], sent[lead:]
        tally.led += len(led)
        facts = summarize_run(records, wall, slo, monitor.lags_ms)
        warn_call_timed(records)
        tally.answered += facts["results.completed_requests"]
        rows.extend({**r.as_json(), "trial": trial, "step": tally.steps, "load": load,
                     "lead_in": index < len(led)} for index, r in enumerate(sent))
        if args.progress:
            # the trial's own step number (the requests file's "step" counts the search's)
            print(step_line(trial, tally.of_trial[trial], load,
                            facts["results.slo_attainment"], goal, time.monotonic() - began),
                  file=sys.stderr, flush=True)
        return capacity.StepResult(facts["results.slo_attainment"] or 0.0,
                                   {k: facts.get(k) for k in STEP_FACTS})

    start = args.request_rate if goal.unit == "rate" else float(args.concurrency)
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if args.progress \
        else None
    too_short = capacity.time_cap_warning(goal, start)
    if too_short and progress is None:  # with progress, the search prints it itself
        print(f"serve: warning: {too_short}", file=sys.stderr, flush=True)
    began = time.monotonic()
    cap = args.search_max_seconds

    def out_of_time() -> bool:
        return bool(cap) and time.monotonic() - began >= cap

    # the trials' starts spread around the start from a generator of the run's seed
    # (capacity.trial_starts): the same seed, the same starts
    _, facts = capacity.search(step, start, goal, progress, out_of_time,
                               random.Random(args.seed + capacity.START_SEED))
    # a step whose client lagged measured the client's queue too: the search says so, as a
    # run at one load does (reports mark its capacity)
    facts["results.client_lagged"] = any(s.get("results.client_lagged")
                                         for s in facts["results.search_steps"])
    facts["results.slo"] = {"ttft_ms": slo.ttft_ms or None, "tpot_ms": slo.tpot_ms or None}
    facts["results.client_loop"] = loop_name
    if args.metrics_interval != METRICS_INTERVAL:  # asked for, so said: never silently dropped
        facts["results.server_metrics_unavailable"] = SEARCH_SCRAPES_NOT
        print(f"serve: warning: serve.metrics_interval {args.metrics_interval:g}: "
              f"{SEARCH_SCRAPES_NOT}", file=sys.stderr, flush=True)
    facts.update(warmup_facts(tally.warmed))
    facts["results.search_lead_in_requests"] = tally.led
    facts["results.requests"] = len(rows) - tally.led
    facts["results.completed_requests"] = tally.answered
    facts["results.failed_requests"] = len(rows) - tally.led - tally.answered
    keep_records(args.requests_file, rows, facts)
    facts["results.status"] = "ok" if tally.answered else "failure"
    if not tally.answered:
        facts["results.error"] = f"no request was answered by {target.url}"
        print(f"error: {facts['results.error']}", file=sys.stderr)
    emit(_clean(facts))
    return 0 if tally.answered else 1


def step_line(trial: int, step: int, load: float, attainment: float | None,
              goal: capacity.Goal, elapsed: float) -> str:
    """A search step's progress line, printed as the step ends."""
    met = attainment is not None and attainment >= goal.percentile / 100 - 1e-12
    shown = "n/a" if attainment is None else f"{attainment:.1%}"
    return (f"serve: trial {trial + 1}/{goal.trials} step {step} load {load:.4g} "
            f"{capacity.UNITS[goal.unit]}: SLO attainment {shown} "
            f"{'met' if met else 'missed'} (goal {goal.percentile:g}%), {elapsed:.0f} s so far")


def warmup_facts(warmed: list[Record]) -> dict[str, Any]:
    """How many warm-up requests went out and failed (they are not timed, but a failed one is
    not a warm server: said, never dropped), with the first failure's error; a line on stderr
    when any failed."""
    failed = [r for r in warmed if not r.ok]
    facts: dict[str, Any] = {"results.warmup_requests": len(warmed),
                             "results.warmup_failed_requests": len(failed)}
    if failed:
        facts["results.warmup_error"] = failed[0].error
        print(f"serve: warning: {len(failed)} of {len(warmed)} warm-up requests failed, the "
              f"first: {failed[0].error}", file=sys.stderr, flush=True)
    return facts


def warn_call_timed(records: list[Record]) -> None:
    """A line on stderr when an answered request was timed from the client's call, not at the
    socket (its connection noted nothing): its TTFT holds the client's own work, which the
    others' do not (each record's ``timed_at`` says which)."""
    late = sum(r.ok and r.timed_at != "socket" for r in records)
    if late:
        print(f"serve: warning: {late} of {len(records)} requests were timed from the client's "
              "call, not at the socket (their TTFT includes the HTTP library's own time; "
              "timed_at in the requests file)", file=sys.stderr, flush=True)


def replace_args(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


def run(args: argparse.Namespace) -> int:
    args = with_defaults(args)
    if args.search != "none":
        try:
            prepared(args, count=1)  # checks only: each step builds its own
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            emit({"results.status": "failure", "results.error": str(err)})
            return 2
        return run_search(args)
    try:
        times, requests = prepared(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        emit({"results.status": "failure", "results.error": str(err)})
        return 2
    target = Target(args.endpoint, args.model, args.api, args.timeout, args.ignore_eos)
    warmup, measured = requests[:args.warmup_requests], requests[args.warmup_requests:]
    warmed: list[Record] = []
    factory, loop_name = loop_factory(args.client_loop)
    before = machine.snapshot()
    sampler = metrics.Sampler(metrics.metrics_url(args.endpoint), args.metrics_interval)
    records, monitor, wall = run_async(run_load(
        target, measured, times, args.concurrency, args.duration, warmup, args.progress,
        warmed, sampler.start), factory)
    server_facts = sampler.stop()
    facts = summarize_run(records, wall, Slo(args.slo_ttft_ms, args.slo_tpot_ms),
                          monitor.lags_ms)
    facts.update(server_facts)
    facts.update(machine.window_facts(before, machine.snapshot()))
    facts.update(saturation_facts(records, facts["results.request_throughput"]))
    if facts["results.saturated"]:
        print(f"serve: saturated: {facts['results.saturated_why']}", file=sys.stderr, flush=True)
    elif facts["results.saturated_why"]:  # cannot tell: said, not marked
        print(f"serve: saturation: {facts['results.saturated_why']}", file=sys.stderr, flush=True)
    facts["results.client_loop"] = loop_name
    warn_call_timed(records)
    facts.update(warmup_facts(warmed))
    keep_records(args.requests_file, records, facts)
    answered = facts["results.completed_requests"]
    facts["results.throughput"] = facts["results.request_throughput"]
    facts["results.status"] = "ok" if answered else "failure"
    if not answered:
        facts["results.error"] = (f"no request was answered by {target.url}: "
                                  f"{facts.get('results.first_error')}")
        print(f"error: {facts['results.error']}", file=sys.stderr)
    emit(_clean(facts))
    return 0 if answered else 1


def main(argv: list[str] | None = None) -> int:
    return run(with_defaults(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

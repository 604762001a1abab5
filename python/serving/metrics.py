"""The server's own figures beside the client's: scrape its Prometheus ``/metrics`` before,
during (every ``--metrics_interval`` seconds) and after a run, and reduce the scrapes to the
few deltas that matter (``results.server_metrics``): requests running and waiting, KV-cache
use, the prefix-cache hit rate and the server-side TTFT over the run.

Names are vLLM's (``vllm:num_requests_running`` ...). A server without ``/metrics`` (or
without those names) is said in ``results.server_metrics_unavailable``; it never fails a run.
This module neither starts a server nor prints: ``loadgen`` reads and logs its result.

The text format is parsed here (a few lines) rather than with ``prometheus_client``, which is
not among the project's locked dependencies (requirements/*.lock) and whose parser would be the
only thing used from it.
"""
from __future__ import annotations

import itertools
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

#: One scrape: a metric's value summed over its label sets (several models or engines add
#: up); a histogram bucket is ``name|le`` (its upper bound kept, the other labels summed).
Scrape = dict[str, float]

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
#: vLLM >= 0.10 calls it kv_cache_usage_perc; older ones gpu_cache_usage_perc (a 0-1 share).
KV_USE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
PREFIX_HITS = "vllm:prefix_cache_hits_total"
TTFT = "vllm:time_to_first_token_seconds"


def metrics_url(endpoint: str) -> str:
    """``/metrics`` at the server's root (an endpoint given with ``/v1`` drops it)."""
    return endpoint.rstrip("/").removesuffix("/v1") + "/metrics"


def _labels(text: str) -> dict[str, str]:
    """``a="x",le="0.5"`` -> {a: x, le: 0.5} (values hold no quotes or commas in vLLM's)."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def parse(text: str) -> Scrape:
    """The samples of a Prometheus text exposition, summed over label sets (comments, blank
    and malformed lines skipped: a scrape is read for the names it knows)."""
    out: Scrape = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_text, _, rest = rest.rpartition("}")
            labels = _labels(labels_text)
        else:
            name, _, rest = line.partition(" ")
            labels = {}
        try:
            value = float(rest.split()[0])
        except (IndexError, ValueError):
            continue
        key = f"{name}|{labels['le']}" if name.endswith("_bucket") and "le" in labels else name
        out[key] = out.get(key, 0.0) + value
    return out


def scrape(url: str, timeout: float) -> Scrape:
    """One scrape of ``url``; OSError (with the reason) when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return parse(answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        raise OSError(f"GET {url}: HTTP {err.code}") from err
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise OSError(f"GET {url}: {reason}") from err


def increase(values: list[float]) -> float:
    """A counter's rise over a series of scrapes; a drop is a reset (the server restarted),
    after which the counter rose from 0 (Prometheus' ``increase`` without extrapolation)."""
    return sum(now - before if now >= before else now
               for before, now in itertools.pairwise(values))


def _series(scrapes: list[Scrape], name: str) -> list[float]:
    return [s[name] for s in scrapes if name in s]


def histogram_p50(buckets: dict[float, float]) -> float | None:
    """The median of a histogram's cumulative bucket counts, interpolated linearly inside its
    bucket (as Prometheus' ``histogram_quantile``); None without counts. Its error is bounded
    by the width of that bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, low, below = total / 2, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return low  # in the open top bucket: its lower bound is all that is known
            return low + (bound - low) * (rank - below) / max(count - below, 1e-300)
        low, below = bound, count
    return None


def _ttft(scrapes: list[Scrape]) -> dict[str, float | None]:
    count = increase(_series(scrapes, f"{TTFT}_count"))
    if count <= 0:
        return {"ttft_mean_ms": None, "ttft_p50_ms": None, "ttft_count": count}
    total = increase(_series(scrapes, f"{TTFT}_sum"))
    prefix = f"{TTFT}_bucket|"
    bounds = {key[len(prefix):] for s in scrapes for key in s if key.startswith(prefix)}
    buckets = {float(b): increase(_series(scrapes, prefix + b)) for b in bounds}
    p50 = histogram_p50(buckets)
    return {"ttft_mean_ms": total / count * 1e3,
            "ttft_p50_ms": None if p50 is None else p50 * 1e3, "ttft_count": count}


def _gauge(during: list[Scrape], names: tuple[str, ...]) -> list[float]:
    for name in names:
        values = _series(during, name)
        if values:
            return values
    return []


def summarize(scrapes: list[Scrape], interval: float) -> dict[str, float | int | None]:
    """``results.server_metrics`` from the scrapes in order: the first before the run, the
    last after it, those between during it. Counters (prefix cache, TTFT) are deltas over all
    of them; gauges (running, waiting, KV use) are read only during the run (an idle server's
    zeros before and after would lower a mean): None when there was no scrape during it."""
    during = scrapes[1:-1]
    running, waiting = _series(during, RUNNING), _series(during, WAITING)
    kv = _gauge(during, KV_USE)
    queries = increase(_series(scrapes, PREFIX_QUERIES))
    hits = increase(_series(scrapes, PREFIX_HITS))
    out: dict[str, float | int | None] = {
        "interval_s": interval, "samples_during": len(during),
        "running_max": max(running, default=None),
        "running_mean": sum(running) / len(running) if running else None,
        "waiting_max": max(waiting, default=None),
        "waiting_mean": sum(waiting) / len(waiting) if waiting else None,
        "kv_cache_usage_max": max(kv, default=None),
        "prefix_cache_hit_rate": hits / queries if queries > 0 else None,
        "prefix_cache_queries": queries}
    out.update(_ttft(scrapes))
    return out


def known(scrape_: Scrape) -> bool:
    """Whether a scrape holds any of the names summarized here (vLLM's)."""
    return any(key.startswith("vllm:") for key in scrape_)


@dataclass
class Sampler:
    """Scrapes ``url`` before a run (:meth:`start`), every ``interval`` seconds in a thread
    while it runs (0: not at all) and after it (:meth:`stop`). A thread, not the client's event
    loop: a slow scrape must not delay a request's send."""
    url: str
    interval: float
    timeout: float = 2.0
    fetch: Callable[[str, float], Scrape] = scrape
    scrapes: list[Scrape] = field(default_factory=list)
    failed: str | None = None
    missed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """The scrape before; sampling begins only when it answered with vLLM's names."""
        try:
            first = self.fetch(self.url, self.timeout)
        except OSError as err:
            self.failed = f"{err}; the server's metrics are not logged"
            return
        if not known(first):
            self.failed = (f"GET {self.url}: no vllm: metrics in its answer; the server's "
                           "metrics are not logged")
            return
        self.scrapes.append(first)
        if self.interval > 0:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        # the full timeout, not the interval: vLLM's /metrics took 73 ms on a busy 2-core
        # host, and a 50 ms limit lost all but one scrape of a 6 s run (the next scrape then
        # starts ``interval`` after this one ends)
        while not self._stop.wait(self.interval):
            try:
                self.scrapes.append(self.fetch(self.url, self.timeout))
            except OSError:
                self.missed += 1  # the counters' deltas do not depend on it; said in the facts

    def stop(self) -> dict[str, object]:
        """The facts: ``results.server_metrics`` or ``results.server_metrics_unavailable``."""
        if self.failed is not None:
            return {"results.server_metrics_unavailable": self.failed}
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.scrapes.append(self.fetch(self.url, self.timeout))
        except OSError as err:
            return {"results.server_metrics_unavailable":
                    f"{err} (after the run); the server's metrics are not logged"}
        return {"results.server_metrics": {**summarize(self.scrapes, self.interval),
                                           "samples_missed": self.missed}}

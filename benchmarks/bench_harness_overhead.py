"""Harness overhead: ``benchmarks.py`` throughput vs a minimal hand-written torch loop.

Same model, batch, input shape and threads; synthetic data on the CPU. The hand loop is the
least any benchmark must do (training: zero_grad, forward, loss, backward, SGD step; inference:
forward under ``torch.inference_mode``). Both run in this process, alternately (ABBA), ``--rounds``
times each; the ratio of median throughputs is reported (target: >= 0.98), and the ratio of
the best rounds (the least disturbed by other work on a shared machine) and the median of the
per-round ratios (each round runs both back to back).

    .venv/bin/python benchmarks/bench_harness_overhead.py [--models alexnet,resnet18] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import torch
import torch.nn.functional as F
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.models import create_model, get_model_info


def hand_loop(model_name: str, train: bool, batch: int, warmup: int, iters: int) -> float:
    """Images/s of the minimal loop."""
    torch.manual_seed(0)
    info = get_model_info(model_name)
    model = create_model(model_name)
    x = torch.randn(batch, *info.input_shape)
    y = torch.randint(0, info.num_classes, (batch,))
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step() -> None:
            model(x)
    with torch.inference_mode(mode=not train):
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        for _ in range(iters):
            step()
        elapsed = time.perf_counter() - start
    return batch * iters / elapsed


def harness(model_name: str, train: bool, batch: int, warmup: int, iters: int) -> float:
    """Images/s that ``benchmarks.py`` reports (run in this process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        code = benchmarks.main([
            "--model", model_name, "--device", "cpu", "--batch_size", str(batch),
            "--num_warmup_batches", str(warmup), "--num_batches", str(iters),
            "--forward_only", str(not train).lower(), "--log_file", log.name])
        facts = dict(iter_facts(log))
    if code != 0:
        raise SystemExit(f"benchmarks.py failed: {facts.get('results.error')}")
    return float(facts["results.throughput"])


def main() -> None:
    """Run every (model, phase) case alternately and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="alexnet,resnet18")
    parser.add_argument("--phases", default="train,infer")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch "
          f"{args.batch_size}, {args.iters} timed iterations, {args.rounds} rounds", flush=True)
    for name in args.models.split(","):
        for phase in args.phases.split(","):
            train = phase == "train"
            ours, bare = [], []
            runs = [(bare, hand_loop), (ours, harness)]
            for i in range(args.rounds):  # ABBA order: a drift in machine load cancels out
                for results, func in runs if i % 2 == 0 else runs[::-1]:
                    results.append(func(name, train, args.batch_size, args.warmup, args.iters))
            ratio = statistics.median(ours) / statistics.median(bare)
            paired = statistics.median(o / b for o, b in zip(ours, bare))
            print(f"{name} {phase}: hand loop {statistics.median(bare):.2f} img/s "
                  f"{[round(b, 2) for b in bare]}, benchmarks.py {statistics.median(ours):.2f} "
                  f"img/s {[round(o, 2) for o in ours]}, ratio {ratio:.3f} "
                  f"(best-of ratio {max(ours) / max(bare):.3f}, median of round ratios "
                  f"{paired:.3f})", flush=True)


if __name__ == "__main__":
    main()

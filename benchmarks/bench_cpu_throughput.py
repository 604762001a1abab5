"""CPU images/s of ``benchmarks.py`` for AlexNet (and its OWT variant), ResNet-18, ResNet-50.

For each model: training and inference, in float32 and in channels_last + bfloat16 autocast;
synthetic data, batch 16, the model's own input size, all CPU threads torch uses by default.
Prints a markdown table (compare with docs: environment.md's "Speed of this CPU").

    .venv/bin/python benchmarks/bench_cpu_throughput.py [--models alexnet,resnet18,resnet50]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import torch
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.facts import iter_facts

VARIANTS = {"fp32": [], "channels_last+bf16": ["--channels_last", "--dtype", "bfloat16"]}


def throughput(model: str, train: bool, extra: list[str], args: argparse.Namespace) -> float:
    """Images/s reported by ``benchmarks.py`` (run in this process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        code = benchmarks.main([
            "--model", model, "--device", "cpu", "--batch_size", str(args.batch_size),
            "--num_warmup_batches", str(args.warmup), "--num_batches", str(args.iters),
            "--forward_only", str(not train).lower(), *extra, "--log_file", log.name])
        facts = dict(iter_facts(log))
    if code != 0:
        return float("nan")
    return float(facts["results.throughput"])


def main() -> None:
    """Measure every model, variant and phase; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="alexnet,alexnet_owt,resnet18,resnet50")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=8)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch "
          f"{args.batch_size}, {args.iters} timed iterations; images/s", flush=True)
    print("| model | fp32 train / infer | channels_last + bf16 train / infer |")
    print("| --- | --- | --- |", flush=True)
    for model in args.models.split(","):
        cells = []
        for extra in VARIANTS.values():
            train = throughput(model, True, extra, args)
            infer = throughput(model, False, extra, args)
            cells.append(f"{train:.1f} / {infer:.1f}")
        print(f"| {model} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()

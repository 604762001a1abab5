"""The numerics check's goals (issue "Fast and right"), measured with the check's own functions
(``pytorch_benchmarks.run.numerics``: the reference copy, the comparison, the tolerances):

- **no false ``off``** in ``--pairs`` (200) pairs of identical configurations: a model of the
  zoo built from a seed, run as a benchmark runs it (float32, channels_last, bfloat16 or
  float16 autocast, torch.compile) against its float32 eager reference;
- **an injected 1e-3 relative perturbation** of one layer's weights (each weight of a randomly
  chosen tensor of two or more dimensions multiplied by ``1 + 1e-3 * N(0, 1)``, applied to the
  run's model after the reference was copied: what a broken kernel or a wrong conversion does)
  **found in >= 99%** of the pairs whose tolerance is below the perturbation's effect, i.e. the
  float32 configurations; under bfloat16 and float16 the rate is printed too (the tolerance
  there is above what 1e-3 of one layer does, by design);
- the largest error seen per configuration, beside its tolerance (the margin).

The check's cost relative to a run is measured through the benchmark itself
(``--cost``: a default run with and without ``--check_numerics``).

    .venv/bin/python benchmarks/bench_numerics.py [--pairs 200] [--cost] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import torch
from pytorch_benchmarks.data.synthetic import make_batch
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.run import numerics
from torch import nn

#: The models (small enough for a CPU) and their input shape overrides.
MODELS: dict[str, tuple[int, ...] | None] = {
    "deep_mnist": None, "sensor_net": None, "acoustic_model": None, "resnet18": (3, 64, 64),
    "resnet50": (3, 64, 64), "vgg11": (3, 64, 64), "gpt2": (32,), "bert_base": (32,)}
#: (dtype, channels_last, compile): as a run is configured.
CONFIGS: tuple[tuple[str, bool, bool], ...] = (
    ("float32", False, False), ("float32", True, False), ("bfloat16", False, False),
    ("float16", False, False), ("float32", False, True))
PERTURBATION = 1e-3
BATCH = 4


def config_name(dtype: str, channels_last: bool, compiled: bool) -> str:
    return dtype + ("+channels_last" if channels_last else "") + ("+compile" if compiled else "")


def build(name: str, seed: int) -> tuple[nn.Module, torch.Tensor]:
    info = get_model_info(name)
    shape = MODELS[name] or tuple(info.input_shape)
    torch.manual_seed(seed)
    model = create_model(name)
    labels = (shape[0],) if info.inputs == "tokens" else ()
    inputs, _ = make_batch(BATCH, shape, labels, info.num_classes, seed, info.inputs)
    return model, inputs


def perturb_one_layer(model: nn.Module, rng: random.Random) -> str:
    """Multiply each weight of one tensor (2+ dimensions) by ``1 + 1e-3 * N(0, 1)``."""
    named = [(n, p) for n, p in model.named_parameters() if p.dim() >= 2]
    name, weight = rng.choice(named)
    with torch.no_grad():
        weight.mul_(1 + PERTURBATION * torch.randn_like(weight))
    return name


def one_pair(name: str, config: tuple[str, bool, bool], seed: int, perturb: bool,
             rng: random.Random) -> tuple[numerics.Verdict, str]:
    dtype, channels_last, compiled = config
    model, inputs = build(name, seed)
    images = inputs.dim() == 4
    fmt = torch.channels_last if channels_last and images else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    inputs = inputs.contiguous(memory_format=fmt) if images else inputs
    reference = numerics.reference_model(model)
    layer = perturb_one_layer(model, rng) if perturb else ""
    run_model: Callable[[torch.Tensor], Any] = torch.compile(model) if compiled else model

    def forward(batch: torch.Tensor) -> Any:
        if dtype in ("float16", "bfloat16"):
            with torch.autocast("cpu", dtype=getattr(torch, dtype)):
                return run_model(batch)
        return run_model(batch)
    basis = numerics.basis(dtype, False, compiled)
    with numerics.evaluating(model, reference):
        verdict = numerics.check(forward, reference, inputs, numerics.tolerance_of(basis))
    return verdict, layer


def matrix(pairs: int) -> list[tuple[str, tuple[str, bool, bool], int]]:
    """``pairs`` (model, config, seed) cells, round robin; torch.compile (slow to start on a
    CPU) only for the three smallest models."""
    cells = []
    seed = 0
    while len(cells) < pairs:
        for name, shape in MODELS.items():
            for config in CONFIGS:
                if config[2] and name not in ("deep_mnist", "sensor_net", "resnet18"):
                    continue
                if config[1] and len(shape or ()) != 3:
                    continue
                cells.append((name, config, seed))
        seed += 1
    return cells[:pairs]


def measure_pairs(pairs: int) -> dict[str, Any]:
    rng = random.Random(0)
    worst: dict[str, float] = defaultdict(float)
    false_off: list[str] = []
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: list[str] = []
    started = time.perf_counter()
    cells = matrix(pairs)
    for i, (name, config, seed) in enumerate(cells, 1):
        cname = config_name(*config)
        same, _ = one_pair(name, config, seed, False, rng)
        worst[cname] = max(worst[cname], same.error)
        if same.status != "ok":
            false_off.append(f"{name} {cname} seed {seed}: {same.status} {same.error:.3g}")
        off, layer = one_pair(name, config, seed, True, rng)
        found[cname][0] += off.status != "ok"
        found[cname][1] += 1
        if off.status == "ok" and config[0] == "float32":
            missed.append(f"{name} {cname} seed {seed} {layer}: {off.error:.3g}")
        if i % 20 == 0 or i == len(cells):
            print(f"  {i}/{len(cells)} pairs ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    fp32 = [v for k, v in found.items() if k.startswith("float32")]
    fp32_found, fp32_all = sum(v[0] for v in fp32), sum(v[1] for v in fp32)
    return {"pairs": len(cells), "false_off": len(false_off), "false_off_cases": false_off,
            "worst_error": {k: worst[k] for k in sorted(worst)},
            "tolerance": {k: numerics.tolerance_of(k.split("+")[0]) for k in sorted(worst)},
            "perturbation_found": {k: f"{v[0]}/{v[1]}" for k, v in sorted(found.items())},
            "float32_found_rate": fp32_found / fp32_all if fp32_all else math.nan,
            "float32_missed": missed, "seconds": round(time.perf_counter() - started, 1)}


def benchmark_run(extra: list[str]) -> dict[str, Any]:
    """One default run of the benchmark (resnet18 training at 64 px on the CPU, its default
    batches), its wall time and facts."""
    cmd = [sys.executable, "pytorch_benchmarks/benchmarks.py", "--model", "resnet18",
           "--image_size", "64", "--batch_size", "16", "--device", "cpu", *extra]
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT / "python", capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    facts = {m.group(1): json.loads(m.group(2))
             for m in re.finditer(r"^__(.+?)__=(.*)$", out.stdout, re.MULTILINE)}
    return {"wall": wall, "facts": facts}


def measure_cost(rounds: int = 3) -> dict[str, Any]:
    """Default runs with and without the check, interleaved; the check's own seconds
    (``results.numerics_seconds``) against the run's wall time."""
    shares, walls_on, walls_off = [], [], []
    for forward_only in ("false", "true"):
        for _ in range(rounds):
            off = benchmark_run(["--forward_only", forward_only])
            on = benchmark_run(["--forward_only", forward_only, "--check_numerics"])
            walls_off.append(off["wall"])
            walls_on.append(on["wall"])
            shares.append(on["facts"]["results.numerics_seconds"] / on["wall"])
    return {"check_share_of_run_max": max(shares), "check_share_of_run": shares,
            "wall_without": walls_off, "wall_with": walls_on}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--cost", action="store_true", help="also the check's cost in a run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = measure_pairs(args.pairs) if args.pairs else {}
    if args.cost:
        result["cost"] = measure_cost()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    said, goals = [], True
    if args.pairs:
        goals = result["false_off"] == 0 and result["float32_found_rate"] >= 0.99
        said.append(f"false off {result['false_off']} of {result['pairs']} (0), float32 "
                    f"perturbation found {result['float32_found_rate']:.1%} (>= 99%)")
    if args.cost:
        share = result["cost"]["check_share_of_run_max"]
        goals = goals and share <= 0.05
        said.append(f"the check at most {share:.1%} of a run (<= 5%)")
    print(f"goals {'met' if goals else 'NOT met'}: {'; '.join(said)}", file=sys.stderr)
    return 0 if goals else 1


if __name__ == "__main__":
    raise SystemExit(main())

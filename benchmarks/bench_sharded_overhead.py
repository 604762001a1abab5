"""Sharded training overhead: ``benchmarks.py --parallelism fsdp`` against a raw FSDP2 loop
(issue "Sharded LLM training": >= 0.98x like for like).

Both run under torchrun with gloo on this CPU, the same ranks, model (a small Llama 3 by
``--model_config``), sequence length, batch, AdamW (torchtitan's settings), float32 and one
thread a rank; FSDP2's ``fully_shard`` on each decoder block, then the root, over a 1-D mesh of
every rank. The raw loop is the least a sharded step does: forward, cross-entropy over the
tokens, backward, optimizer step, ``zero_grad``; each of its iterations timed and, as ours,
taken as the slowest rank's (an all-reduce of the times after the loop). Both count the same
iterations after the same warm-up: ours are ``results.time_data`` (every timed iteration,
before MSER drops any). They alternate (ABBA) ``--rounds`` times; the script prints each
round's tokens/s, the ratio of the medians and the median of the per-round ratios (each round
runs both back to back).

    .venv/bin/python benchmarks/bench_sharded_overhead.py [--ranks 2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
CONFIG = {"num_classes": 4096, "hidden": 256, "layers": 4, "heads": 8, "kv_heads": 4,
          "intermediate": 768}
SEQ, BATCH = 128, 4
#: The raw loop: what a sharded training step must do, and no more.
RAW = """
import json, sys, time
import torch, torch.distributed as dist, torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
sys.path.insert(0, {python!r})
from pytorch_benchmarks.models import create_model
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = create_model("llama3_1b", {config!r}).train()
mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("shard",))
for block in model.layers:
    fully_shard(block, mesh=mesh)
fully_shard(model, mesh=mesh)
opt = torch.optim.AdamW(model.parameters(), lr=8e-4, betas=(0.9, 0.95), weight_decay=0.1,
                        eps=1e-8)
g = torch.Generator().manual_seed(rank)
x = torch.randint(0, {vocab}, ({batch}, {seq}), generator=g)
y = torch.randint(0, {vocab}, ({batch}, {seq}), generator=g)
def step():
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
for _ in range({warmup}):
    step()
times = []
for _ in range({iters}):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
slowest = torch.tensor(times, dtype=torch.float64)
dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
if rank == 0:
    print("RAW_TIMES=" + json.dumps(slowest.tolist()))
dist.barrier()
dist.destroy_process_group()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo",
            "OMP_NUM_THREADS": "1"}


def _torchrun(ranks: int, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={ranks}", *args], capture_output=True, text=True,
                          env=_env(), check=False, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"torchrun failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def ours(ranks: int, warmup: int, iters: int, folder: Path) -> float:
    """Tokens/s of the benchmark's sharded step over every timed iteration."""
    log = folder / "ours.log"
    log.unlink(missing_ok=True)
    _torchrun(ranks, str(SCRIPT), "--model", "llama3_1b", "--model_config", json.dumps(CONFIG),
              "--seq_len", str(SEQ), "--batch_size", str(BATCH), "--device", "cpu",
              "--num_threads", "1", "--parallelism", "fsdp", "--optimizer", "adamw",
              "--num_warmup_batches", str(warmup), "--num_batches", str(iters),
              "--log_file", str(log))
    facts = {}
    for line in log.read_text().splitlines():
        if line.startswith("__") and "__=" in line:
            key, value = line[2:].split("__=", 1)
            facts[key] = json.loads(value)
    times_ms = facts["results.time_data"]
    assert len(times_ms) == iters, f"{len(times_ms)} timed iterations, asked {iters}"
    return ranks * BATCH * SEQ * 1000.0 / statistics.fmean(times_ms)


def raw(ranks: int, warmup: int, iters: int, folder: Path) -> float:
    """Tokens/s of the raw FSDP2 loop over the same counted iterations."""
    script = folder / "raw_fsdp2.py"
    script.write_text(RAW.format(python=str(ROOT / "python"), config=CONFIG,
                                 vocab=CONFIG["num_classes"], batch=BATCH, seq=SEQ,
                                 warmup=warmup, iters=iters))
    done = _torchrun(ranks, str(script))
    line = next(li for li in done.stdout.splitlines() if li.startswith("RAW_TIMES="))
    times = json.loads(line.removeprefix("RAW_TIMES="))
    return ranks * BATCH * SEQ / statistics.fmean(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    print(f"llama3_1b {CONFIG}, seq {SEQ}, batch {BATCH} a rank, {args.ranks} ranks (gloo, "
          f"1 thread each), AdamW, float32; {args.warmup} warm-up + {args.iters} timed "
          f"iterations; {args.rounds} ABBA rounds", flush=True)
    ours_rates, raw_rates = [], []
    with tempfile.TemporaryDirectory(prefix="dlbs-bench-sharded-") as name:
        folder = Path(name)
        for r in range(args.rounds):
            order = (ours, raw) if r % 2 == 0 else (raw, ours)
            got = {f.__name__: f(args.ranks, args.warmup, args.iters, folder) for f in order}
            ours_rates.append(got["ours"])
            raw_rates.append(got["raw"])
            print(f"  round {r + 1}: ours {got['ours']:,.0f} tokens/s, raw FSDP2 "
                  f"{got['raw']:,.0f} tokens/s, ratio {got['ours'] / got['raw']:.3f}",
                  flush=True)
    ratio = statistics.median(ours_rates) / statistics.median(raw_rates)
    per_round = statistics.median(o / r for o, r in zip(ours_rates, raw_rates))
    print(f"ours / raw FSDP2: {ratio:.3f} (medians), {per_round:.3f} (median of rounds); "
          f"target >= 0.98: {'met' if min(ratio, per_round) >= 0.98 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

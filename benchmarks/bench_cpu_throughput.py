"""CPU throughput of ``benchmarks.py``: image models, transformers, and gpt2's harness ratio.

Three sections (``--section``: a comma-separated list, or ``all``). The default is
``new-models,harness`` (about 8 min on this 2-core VM while other work shares it);
``images``, the original table, takes longer than 10 min here by itself (bfloat16 on a CPU
without bfloat16 instructions), so it runs when asked for, with its original output:

``images``
    Images/s of AlexNet (and its OWT variant), ResNet-18, ResNet-50: training and inference, in
    float32 and in channels_last + bfloat16 autocast; synthetic data, batch 16, the model's
    own input size, all CPU threads torch uses by default; ``benchmarks.py`` run in this
    process. Prints a markdown table (compare with docs: environment.md's "Speed of this CPU").
``new-models``
    The transformers (vit_b16, bert_base, gpt2, llama3_1b) at a small batch (1) and 128 tokens
    (ViT: its 224 px image), float32: inference for all, training for all but llama3_1b
    (1.2 B parameters: weights, gradients and SGD momentum alone need ~15 GB of this VM's
    23 GB, shared with other work, and a step would cost ~3x an inference step: inference
    only, and the table says so). Each run is a subprocess
    of ``benchmarks.py`` (its own start-up, and its own peak resident set); the table is what
    it logs: samples/s, tokens/s, GFLOP/sample, TFLOP/s, MFU against the CPU's stated peak
    (its theoretical peak, ``results.peak_source``; before issue 19 a measured matmul rate),
    peak memory; and "vs matmul now", the achieved rate over the best of the benchmark's
    matmul calibration run by this script before and after the runs (not cached): a measured
    rate, which moves with the machine's load, so no MFU (issue 19). The table comes once
    every run is done (a progress line per run before).
``harness``
    gpt2's throughput in ``benchmarks.py``'s own timed loop (``benchmarks.main`` in this
    process, as ``bench_harness_overhead.py`` does) against a minimal hand-written loop: the
    same model built the same way (``create_model`` after ``torch.manual_seed``), the same
    token batch, seq_len, dtype (float32), threads, untimed steps and timed iterations.
    Inference by default (``--harness_phases infer,train`` adds training, ~4 s a step here).
    The two alternate in ABBA order (A B, B A, A B...) for ``--rounds`` rounds (more, up to
    twice as many, while fewer than half are undisturbed; fewer, 2 at least, when the next
    would end past ``--deadline`` s after the start: the default run stays under 10 min).
    A round's ratio is benchmarks.py's samples/s over the hand loop's, each the mean over all
    its timed iterations (``results.time_data`` for the benchmark; ``results.throughput``, its
    MSER steady window, is printed too). Both loops read the clock once per step, so each
    step's time is known: a run is *disturbed* when a step took over 1.3x its fastest or its
    median step over 1.5x the phase's fastest (other work on this shared 2-core machine can
    make steps 6x slower for seconds). Printed: every round; the median and spread of all
    rounds' ratios and of the undisturbed ones; the ratio of the median and of the best steps;
    and the verdict (>= 0.98) on the median of the undisturbed rounds (at least 3), else on
    the median-step ratio.

``--quick``: a short check (:data:`QUICK`: no llama3_1b, 2 iterations, inference only, 2 rounds).

    .venv/bin/python benchmarks/bench_cpu_throughput.py [--section all|images|new-models|harness]
        [--quick] [--models alexnet,resnet18,resnet50] [--rounds 6] [--generate 32]
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import torch
import torch.nn.functional as F
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.facts import iter_facts
from pytorch_benchmarks.measure.calibration import measure_matmul_tflops
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.runtime.device import cpu_threads

BENCH = os.path.join(os.path.dirname(HERE), "python", "pytorch_benchmarks", "benchmarks.py")
VARIANTS = {"fp32": [], "channels_last+bf16": ["--channels_last", "--dtype", "bfloat16"]}
SECTIONS = ("images", "new-models", "harness")
#: The default run (< 10 min on this 2-core VM); ``images`` alone takes longer than that here.
DEFAULT_SECTIONS = "new-models,harness"
NEW_MODELS = "vit_b16,bert_base,gpt2,llama3_1b"
#: Models trained in the new-models section (llama3_1b: inference only, see the docstring).
TRAIN_MODELS = "vit_b16,bert_base,gpt2"
TARGET = 0.98
#: A harness run is disturbed by other work when a step takes over SPREAD x its fastest, or
#: its median step over SLOW x the fastest step of the phase (see :func:`disturbed`).
SPREAD, SLOW = 1.3, 1.5
#: What ``--quick`` changes: fewer models and iterations, no training, 2 harness rounds.
QUICK = {"models": "alexnet_owt,resnet18", "warmup": 1, "iters": 3,
         "new_models": "vit_b16,bert_base,gpt2", "new_iters": 2, "train_models": "",
         "harness_phases": "infer", "harness_iters": 3, "rounds": 2}


# -- images (the original section) -------------------------------------------------------------
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


def images_section(args: argparse.Namespace) -> None:
    """The original table: every image model, variant and phase."""
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


# -- new models: benchmarks.py in a subprocess -------------------------------------------------
def run_benchmark(model: str, phase: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """The facts a ``benchmarks.py`` subprocess prints on stdout, and its wall time (s)."""
    info = get_model_info(model)
    cmd = [sys.executable, BENCH, "--model", model, "--device", "cpu",
           "--batch_size", str(args.new_batch), "--num_warmup_batches", str(args.new_warmup),
           "--num_batches", str(args.new_iters), "--forward_only",
           "false" if phase == "training" else "true"]
    if info.inputs == "tokens":
        cmd += ["--seq_len", str(args.seq_len)]
    if phase == "generation":
        cmd += ["--generate", str(args.generate)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.run_timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return ({"results.status": "timeout",
                 "results.error": f"no result within {args.run_timeout:g} s"},
                time.perf_counter() - start)
    facts = dict(iter_facts(done.stdout.splitlines()))
    if done.returncode != 0 and "results.error" not in facts:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        facts.update({"results.status": "failure", "results.error": tail[0]})
    return facts, time.perf_counter() - start


def _num(facts: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
    value = facts.get(key)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value * scale:.{digits}f}"


def _marks(facts: dict[str, Any]) -> str:
    """``~``: no steady state found; ``*``: CI95 half-width of the mean over 5%."""
    marks = "" if facts.get("results.steady_state", True) else "~"
    precision = facts.get("results.precision")
    if isinstance(precision, (int, float)) and precision > 0.05:
        marks += "*"
    return marks


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def new_models_section(args: argparse.Namespace) -> None:
    """Each new model at a small batch, as ``benchmarks.py`` logs it."""
    train_models = set(args.train_models.split(",")) if args.train_models else set()
    models = args.new_models.split(",")
    plan = [(m, p) for m in models for p in ("inference", "training")
            if p == "inference" or m in train_models]
    if args.generate and "gpt2" in models:
        plan.append(("gpt2", "generation"))
    print(f"\n## New models: batch {args.new_batch}, seq_len {args.seq_len} (token models), "
          f"float32, {args.new_warmup} warm-up + {args.new_iters} timed iterations, "
          f"benchmarks.py in a subprocess each ({_load()})", flush=True)
    threads = cpu_threads(0, 1) or torch.get_num_threads()  # what the subprocesses use
    torch.set_num_threads(threads)
    fresh = [measure_matmul_tflops("float32")[0]]  # the benchmark's calibration, not cached
    runs: list[tuple[str, str, dict[str, Any], float]] = []
    for model, phase in plan:
        facts, wall = run_benchmark(model, phase, args)
        runs.append((model, phase, facts, wall))
        print(f"  {model} {phase}: {facts.get('results.status', 'failure')}, "
              f"{_num(facts, 'results.throughput', digits=3)} samples/s, {wall:.0f} s "
              f"({_load()})", flush=True)
    fresh.append(measure_matmul_tflops("float32")[0])
    peak_now = max(fresh)
    print("| model | phase | samples/s | samples/s (p50 step) | tokens/s | GFLOP/sample "
          "| TFLOP/s | MFU (%) | vs matmul now (%) | peak RSS (MiB) | run wall (s) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    peaks: set[tuple[float, str]] = set()
    notes: list[str] = []
    for model, phase, facts, wall in runs:
        shown_phase = f"generation ({args.generate} tokens)" if phase == "generation" else phase
        if facts.get("results.status") != "ok":
            print(f"| {model} | {shown_phase} | {facts.get('results.status', 'failure')}: "
                  f"{facts.get('results.error', '?')} | | | | | | | | {wall:.0f} |")
            continue
        if "results.peak_tflops" in facts:
            peaks.add((float(facts["results.peak_tflops"]), str(facts.get("results.peak_source"))))
        marks = _marks(facts)
        tokens_key = ("results.output_tokens_per_second" if phase == "generation"
                      else "results.tokens_per_second")
        p50 = facts.get("results.time_p50")
        median_rate = ({"rate": args.new_batch * 1000.0 / p50}
                       if isinstance(p50, (int, float)) and p50 > 0 else {})
        print(f"| {model} | {shown_phase} | {_num(facts, 'results.throughput', digits=3)}{marks} "
              f"| {_num(median_rate, 'rate', digits=3)} "
              f"| {_num(facts, tokens_key, digits=1)}{marks if tokens_key in facts else ''} "
              f"| {_num(facts, 'results.flops_per_sample', 1e-9)} "
              f"| {_num(facts, 'results.tflops', digits=4)} "
              f"| {_num(facts, 'results.mfu', 100.0, 1)} "
              f"| {_num(facts, 'results.tflops', 100.0 / peak_now, 1)} "
              f"| {_num(facts, 'results.peak_memory_mb', digits=0)} | {wall:.0f} |")
        if phase == "generation":
            notes.append(f"gpt2 generation: TTFT p50 {_num(facts, 'results.ttft_p50', digits=0)} "
                         f"ms, TPOT p50 {_num(facts, 'results.tpot_p50', digits=1)} ms; its "
                         "tokens/s is output tokens/s")
    untrained = [m for m in models if m not in train_models]
    if "llama3_1b" in untrained:
        notes.append("llama3_1b: inference only (training it: weights, gradients and SGD "
                     "momentum of 1.2 B parameters need ~15 GB, and a step would cost ~3x an "
                     "inference step)")
    others = [m for m in untrained if m != "llama3_1b"]
    if others:
        notes.append(f"inference only (not in --train_models): {', '.join(others)}")
    for tflops, source in sorted(peaks):
        notes.append(f"MFU: against the CPU's stated peak: {tflops:.4f} TFLOP/s ({source})")
    notes.append(f"vs matmul now: achieved TFLOP/s over the best of the benchmark's float32 "
                 f"matmul calibration run by this script (not cached) before the first run and "
                 f"after the last, {peak_now:.4f} TFLOP/s ({fresh[0]:.4f}, {fresh[1]:.4f}; "
                 f"{threads} threads): a measured rate that moves with the machine's load, "
                 "shown for comparison, not an MFU")
    notes.append("samples/s: the benchmark's (mean over its steady window), as are tokens/s, "
                 "TFLOP/s and MFU; p50 step: batch / median iteration time (less moved by a "
                 "burst of other work); peak RSS: the benchmark process's ru_maxrss (model "
                 "building included); ~ no steady state found, * CI95 of the mean wider than "
                 f"+-5%; {_load()}")
    for note in notes:
        print(f"- {note}", flush=True)


# -- harness: benchmarks.py's timed loop vs a hand-written one (both in this process) ----------
def token_batch(vocab: int, batch: int, seq_len: int, seed: int) -> tuple[torch.Tensor,
                                                                            torch.Tensor]:
    """Token ids and next-token labels ``(batch, seq_len)``, drawn as the benchmark draws its
    synthetic batch (one generator seeded with ``seed``: ids, then labels)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq_len), generator=gen)
    labels = torch.randint(0, vocab, (batch, seq_len), generator=gen)
    return ids, labels


def hand_loop(model_name: str, train: bool, batch: int, seq_len: int, untimed: int,
              iters: int) -> list[float]:
    """The seconds of each of ``iters`` timed steps of the minimal loop.

    Training: forward, cross entropy over every position, backward, SGD (momentum 0.9) step,
    zero_grad; inference: forward under ``torch.inference_mode``. The clock is read once per
    step, chained as in ``benchmarks.py`` (their sum is the loop's elapsed time), so that the
    median and best step can be compared too; a read costs ~0.1 us against a step of ~0.3 s."""
    torch.manual_seed(0)
    info = get_model_info(model_name)
    model = create_model(model_name)
    ids, labels = token_batch(info.num_classes, batch, seq_len, 0)
    step: Callable[[], None]
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            logits = model(ids)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step() -> None:
            model(ids)
    clock = time.perf_counter
    times = [0.0] * iters
    with torch.inference_mode(mode=not train):
        for _ in range(untimed):
            step()
        start = clock()
        for i in range(iters):
            step()
            now = clock()
            times[i] = now - start
            start = now
    return times


def harness(model_name: str, train: bool, batch: int, seq_len: int, warmup: int, iters: int,
            threads: int) -> tuple[float, list[float]]:
    """``benchmarks.py`` in this process: its reported samples/s (``results.throughput``,
    over the MSER steady window) and the seconds of each timed iteration (``time_data``)."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        code = benchmarks.main([
            "--model", model_name, "--device", "cpu", "--batch_size", str(batch),
            "--seq_len", str(seq_len), "--num_threads", str(threads),
            "--num_warmup_batches", str(warmup), "--num_batches", str(iters),
            "--forward_only", str(not train).lower(), "--log_file", log.name])
        facts = dict(iter_facts(log))
    if code != 0:
        raise SystemExit(f"benchmarks.py failed: {facts.get('results.error')}")
    return float(facts["results.throughput"]), [t / 1000.0 for t in facts["results.time_data"]]


def disturbed(times: list[float], best: float) -> bool:
    """Whether other work on the machine visibly slowed a run: a step more than
    :data:`SPREAD` times its fastest (load came or went during it), or a median step more than
    :data:`SLOW` times the fastest step of the whole phase (load all through it)."""
    return max(times) > SPREAD * min(times) or statistics.median(times) > SLOW * best


def clean_rounds(hand: list[list[float]], ours: list[list[float]]) -> list[int]:
    """The rounds (indices) in which neither run was :func:`disturbed`."""
    if not hand or not ours:
        return []
    best = min(min(t) for t in hand + ours)
    return [i for i, (h, o) in enumerate(zip(hand, ours))
            if not (disturbed(h, best) or disturbed(o, best))]


def next_round(args: argparse.Namespace, hand: list[list[float]], ours: list[list[float]],
               done: int, last: float) -> bool:
    """Whether to run another round: always up to one ABBA pair; then, while one more (as long
    as the ``last``, in s) ends within ``--deadline`` of the script's start, up to ``--rounds``,
    and past them (to twice as many) while fewer than half of the rounds are undisturbed."""
    if done < 2:
        return True
    if time.perf_counter() - args.started + last >= args.deadline:
        return False
    if done < args.rounds:
        return True
    return len(clean_rounds(hand, ours)) < (args.rounds + 1) // 2 and done < 2 * args.rounds


def _rate(batch: int, times: list[float]) -> float:
    return batch * len(times) / sum(times)


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} [min {min(values):.3f}, max {max(values):.3f}]"


def harness_section(args: argparse.Namespace) -> None:
    """ABBA rounds of the hand loop and the harness for each phase; ratios and verdicts."""
    threads = cpu_threads(0, 1) or torch.get_num_threads()  # benchmarks.py's own rule
    torch.set_num_threads(threads)
    model = args.harness_model
    if get_model_info(model).inputs != "tokens":
        raise SystemExit(f"--harness_model {model}: the harness section compares token models "
                         "(bench_harness_overhead.py covers image models)")
    batch = args.new_batch
    untimed = args.harness_warmup + 1  # benchmarks.py: one FLOP-counting step, then warm-up
    print(f"\n## Harness ratio: {model}, batch {batch}, seq_len {args.seq_len}, "
          f"float32, {threads} threads, {args.harness_iters} timed iterations, "
          f"{args.rounds} rounds in ABBA order (2 at least; no round that would end later than "
          f"{args.deadline:g} s after the start), more (up to {2 * args.rounds}) while fewer "
          f"than half are undisturbed (hand loop: "
          f"{untimed} untimed steps = the benchmark's FLOP-counting step + "
          f"{args.harness_warmup} warm-up); ratio = benchmarks.py / hand loop throughput "
          f"({_load()})", flush=True)
    for phase in args.harness_phases.split(","):
        train = phase == "train"
        hand: list[list[float]] = []
        ours: list[list[float]] = []
        reported: list[float] = []
        i, last = 0, 0.0  # rounds done, seconds the last one took
        while next_round(args, hand, ours, i, last):
            round_start = time.perf_counter()
            for side in ("hand", "harness") if i % 2 == 0 else ("harness", "hand"):  # ABBA
                gc.collect()
                if side == "hand":
                    hand.append(hand_loop(model, train, batch, args.seq_len, untimed,
                                          args.harness_iters))
                else:
                    figure, times = harness(model, train, batch, args.seq_len,
                                            args.harness_warmup, args.harness_iters, threads)
                    reported.append(figure)
                    ours.append(times)
            print(f"  {phase} round {i + 1} ({'AB' if i % 2 == 0 else 'BA'}): hand "
                  f"{_rate(batch, hand[-1]):.3f}, benchmarks.py {_rate(batch, ours[-1]):.3f} "
                  f"(reported {reported[-1]:.3f}) samples/s, ratio "
                  f"{sum(hand[-1]) / sum(ours[-1]):.3f}; steps ms hand "
                  f"{[round(t * 1000) for t in hand[-1]]}, benchmarks.py "
                  f"{[round(t * 1000) for t in ours[-1]]}", flush=True)
            i += 1
            last = time.perf_counter() - round_start
        if i < args.rounds:
            print(f"  stopped after {i} of {args.rounds} rounds: one more would end past "
                  f"--deadline {args.deadline:g} s", flush=True)
        report_phase(f"{model} {phase}", batch, args.seq_len, hand, ours, reported,
                     clean_rounds(hand, ours))


def report_phase(label: str, batch: int, seq_len: int, hand: list[list[float]],
                 ours: list[list[float]], reported: list[float], clean: list[int]) -> None:
    """The ratios of one phase, over all rounds and over the undisturbed ones; the verdict."""
    hand_rate = [_rate(batch, t) for t in hand]
    our_rate = [_rate(batch, t) for t in ours]
    paired = [o / h for o, h in zip(our_rate, hand_rate)]
    paired_reported = [r / h for r, h in zip(reported, hand_rate)]
    all_hand = [t for times in hand for t in times]
    all_ours = [t for times in ours for t in times]
    median_step = statistics.median(all_hand) / statistics.median(all_ours)
    print(f"{label}: hand loop {_spread(hand_rate)} samples/s "
          f"({statistics.median(hand_rate) * seq_len:.1f} tokens/s); benchmarks.py "
          f"(all timed iterations) {_spread(our_rate)}, as reported (steady window) "
          f"{_spread(reported)} samples/s", flush=True)
    print(f"{label}: ratio of mean throughput over all timed iterations, all {len(paired)} "
          f"rounds {_spread(paired)}; of the medians "
          f"{statistics.median(our_rate) / statistics.median(hand_rate):.3f}; as reported "
          f"{_spread(paired_reported)}", flush=True)
    print(f"{label}: over all {len(all_hand)} + {len(all_ours)} timed steps: median-step ratio "
          f"{median_step:.3f} (hand {statistics.median(all_hand) * 1000:.0f} ms, benchmarks.py "
          f"{statistics.median(all_ours) * 1000:.0f} ms), best-step ratio "
          f"{min(all_hand) / min(all_ours):.3f} ({min(all_hand) * 1000:.0f} ms, "
          f"{min(all_ours) * 1000:.0f} ms)", flush=True)
    kept = [paired[i] for i in clean]
    print(f"{label}: undisturbed rounds {len(clean)} of {len(paired)} "
          f"({', '.join(str(i + 1) for i in clean) or 'none'}; disturbed: a step over "
          f"{SPREAD:g}x the run's fastest, or a median step over {SLOW:g}x the phase's fastest)"
          + (f": ratio {_spread(kept)}" if kept else ""), flush=True)
    if len(kept) >= 3:
        ratio, basis = statistics.median(kept), f"median of the {len(kept)} undisturbed rounds"
    else:
        ratio, basis = median_step, (f"median-step ratio: only {len(kept)} undisturbed rounds "
                                     "of the 3 a round median needs")
    verdict = "meets" if ratio >= TARGET else "BELOW"
    if len(kept) < 3:
        verdict = f"provisionally {verdict}"
    print(f"{label}: harness ratio {ratio:.3f} ({basis}; all rounds {statistics.median(paired):.3f}"
          f", spread {min(paired):.3f}-{max(paired):.3f}) -> {verdict} the >= {TARGET} target "
          f"({_load()})", flush=True)


# -- command line ------------------------------------------------------------------------------
def parse_sections(text: str) -> list[str]:
    """``all`` or a comma-separated list of :data:`SECTIONS`, in the order given."""
    if text == "all":
        return list(SECTIONS)
    sections = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise argparse.ArgumentTypeError(f"unknown section(s) {unknown}: choose from "
                                         f"{', '.join(SECTIONS)} or all")
    return sections


def main() -> None:
    """Run the sections asked for; print their tables and the total wall time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", type=parse_sections, default=DEFAULT_SECTIONS,
                        help=f"all, or a comma-separated list of {', '.join(SECTIONS)} "
                        f"(default: {DEFAULT_SECTIONS})")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: fewer models and iterations, inference only")
    images = parser.add_argument_group("images")
    images.add_argument("--models", default="alexnet,alexnet_owt,resnet18,resnet50")
    images.add_argument("--batch_size", type=int, default=16)
    images.add_argument("--warmup", type=int, default=2)
    images.add_argument("--iters", type=int, default=8)
    new = parser.add_argument_group("new-models and harness")
    new.add_argument("--new_models", default=NEW_MODELS)
    new.add_argument("--train_models", default=TRAIN_MODELS,
                     help="the new models also trained (default: all but llama3_1b)")
    new.add_argument("--new_batch", type=int, default=1)
    new.add_argument("--seq_len", type=int, default=128)
    new.add_argument("--new_warmup", type=int, default=1)
    new.add_argument("--new_iters", type=int, default=6,
                     help="timed iterations (the steady-state test needs 5 at least)")
    new.add_argument("--generate", type=int, default=0,
                     help="N > 0: also gpt2 generating N tokens after the prompt")
    new.add_argument("--run_timeout", type=float, default=300.0,
                     help="seconds a benchmarks.py subprocess may take")
    new.add_argument("--harness_model", default="gpt2")
    new.add_argument("--harness_phases", default="infer", help="infer, train or infer,train")
    new.add_argument("--harness_warmup", type=int, default=1)
    new.add_argument("--harness_iters", type=int, default=6)
    new.add_argument("--rounds", type=int, default=6)
    new.add_argument("--deadline", type=float, default=450.0,
                     help="no harness round past the first two that would end later than this "
                     "many seconds after the start of the script (keeps the default run "
                     "under 10 min on a busy machine)")
    args = parser.parse_args()
    if args.quick:  # shorter defaults; values given on the command line are kept
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    start = args.started = time.perf_counter()
    for section in args.section:
        {"images": images_section, "new-models": new_models_section,
         "harness": harness_section}[section](args)
    print(f"\nwall time {time.perf_counter() - start:.0f} s (sections: "
          f"{', '.join(args.section)}{', quick' if args.quick else ''})", flush=True)


if __name__ == "__main__":
    main()

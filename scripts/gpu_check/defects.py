"""The GPU review's defects (``/work/shared/spec/gpu-review.md``, D1-D12), each as a check
that can fail: a few runs of ``benchmarks.py`` and a verdict read from their facts.

Verdicts: ``passed``, ``FAILED: why``, ``inconclusive: why`` (the run could not show it, e.g.
no NVML), or ``not run (...)``: a dry run runs on the CPU only the checks that mean something
there (D1, D3); the others say so and are never counted as passed."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpu_check.bench import NO_GPU, RUN_LIMIT, Context, Run, run_benchmark
from gpu_check.facts import fmt, number, pct, table
from gpu_check.matrix import model_args
from gpu_check.runtable import HEADER, LEGEND, run_row
from gpu_check.stages import GROUPS, StageResult, register_stage

PROBE_ITERATIONS = ["--num_warmup_batches", "3", "--num_batches", "15"]
DRY_ITERATIONS = ["--num_warmup_batches", "0", "--num_batches", "2"]
#: llama3_1b with 2 layers at 512 tokens, training: dlbs's count on the CPU (review §5.4).
LLAMA2_TRAIN_FLOPS = 1193.464e9
Verdict = tuple[str, str]  # (verdict, evidence)


@dataclass
class Check:
    """A defect's check: its runs (name -> flags) and a judge of their results."""
    defect: str
    what: str
    runs: dict[str, list[str]]
    judge: Callable[[dict[str, Run], Context], Verdict]
    dry: bool = False  # meaningful on a CPU (a dry run runs it)
    needs_gpus: int = 1
    limit: float = RUN_LIMIT  # seconds each of its runs may take


def _failed_runs(runs: dict[str, Run]) -> Verdict | None:
    """FAILED naming the runs that did not end ok; a run the stage's budget stopped (the
    first H100 run's D6: its compiled search had 72 s) is no verdict: inconclusive."""
    bad = [f"{r.name}: {r.status} ({r.get('results.error') or 'see its log'})"
           for r in runs.values() if not r.ok]
    if bad and all(r.budget_stop for r in runs.values() if not r.ok):
        return "inconclusive: " + "; ".join(bad), ""
    return ("FAILED: " + "; ".join(bad), "") if bad else None


def judge_d1(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    evidence, problems = [], []
    for run in runs.values():
        flops, mfu = number(run.get("results.flops_per_sample")), run.get("results.mfu")
        evidence.append(f"{run.name}: {fmt(flops / 1e9 if flops else None)} GFLOP/sample, "
                        f"MFU {pct(mfu)}")
        if flops is None:
            problems.append(f"{run.name} counted no FLOPs ({run.get('results.mfu_note')})")
        elif not ctx.dry_run and mfu is None:
            problems.append(f"{run.name}: results.mfu null ({run.get('results.mfu_note')})")
    train = runs.get("d1-llama-bf16-train")
    flops = number(train.get("results.flops_per_sample")) if train else None
    if not ctx.dry_run and flops is not None and abs(flops / LLAMA2_TRAIN_FLOPS - 1) > 1e-3:
        problems.append(f"training counted {flops / 1e9:.3f} GFLOP/sample, the CPU count is "
                        f"{LLAMA2_TRAIN_FLOPS / 1e9:.3f}")
    return ("FAILED: " + "; ".join(problems) if problems else "passed", "; ".join(evidence))


def _flags(run: Run) -> dict[str, Any]:
    flags = run.get("exp.backend_flags")
    return flags if isinstance(flags, dict) else {}


def _column(run: Run) -> str:
    found = re.search(r"\((fp32|tf32|fp16|bf16)\)", str(run.get("results.peak_source") or ""))
    return found[1] if found else "none"


def judge_d2(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    default, fastest = runs["d2-r50-fp32"], runs["d2-r50-fp32-fastest"]
    evidence = "; ".join(
        f"{r.name}: cudnn.allow_tf32={_flags(r).get('cudnn.allow_tf32')}, "
        f"precision={_flags(r).get('float32_matmul_precision')}, column {_column(r)}, "
        f"{fmt(r.get('results.throughput'))} samples/s, MFU {pct(r.get('results.mfu'))}"
        for r in (default, fastest))
    want = {default.name: (False, True, "fp32"), fastest.name: (True, False, "tf32")}
    wrong = [r.name for r in (default, fastest)
             if (_flags(r).get("cudnn.allow_tf32"),
                 _flags(r).get("float32_matmul_precision") == "highest", _column(r))
             != want[r.name]]
    return ("FAILED: flags or peak column not as documented in " + ", ".join(wrong)
            if wrong else "passed", evidence)


def judge_d3(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    version = str(run.get("exp.framework_version") or "")
    found = re.match(r"(\d+)\.(\d+)", version)
    if not found:
        return "inconclusive: exp.framework_version not logged", ""
    new_enough = (int(found[1]), int(found[2])) >= (2, 5)
    return ("passed" if new_enough else f"FAILED: torch {version} ran although it is < 2.5",
            f"torch {version}; {run.name} {run.status}")


def judge_d4(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    window, why = number(run.get("results.energy_window_s")), run.get("results.energy_unavailable")
    evidence = f"window {fmt(window)} s; energy_unavailable: {why}; energy_j {fmt(run.get('results.energy_j'))}"
    if window is None:
        return f"inconclusive: no energy counter was read ({why})", evidence
    if window < 5 and run.get("results.energy_j") is not None:
        return "FAILED: energy logged over a window under 5 s", evidence
    if window < 5:
        return "passed", evidence
    return "inconclusive: the window lasted 5 s or more", evidence


def judge_d5(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    allocated = number(run.get("results.peak_memory_mb"))
    reserved = number(run.get("results.peak_memory_reserved_mb"))
    retries = run.get("results.num_alloc_retries")
    smi = run.smi.memory_mib if run.smi else None
    evidence = (f"allocated {fmt(allocated)} MiB, reserved {fmt(reserved)} MiB, retries "
                f"{retries}, nvidia-smi memory.used {fmt(smi)} MiB")
    if reserved is None or retries is None or allocated is None:
        return "FAILED: peak_memory_reserved_mb or num_alloc_retries missing", evidence
    if reserved < allocated:
        return "FAILED: reserved below allocated", evidence
    if smi is not None and smi < reserved:
        return "FAILED: nvidia-smi saw less memory than the run reserved", evidence
    return "passed", evidence


def recompiles(ctx: Context, run: Run) -> int | None:
    """Recompilation lines of a ``--compile`` run's log (``TORCH_LOGS=recompiles``)."""
    if "--compile" not in run.args:
        return None
    log = ctx.logs / f"{run.name}.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    return sum("Recompiling function" in line for line in text.splitlines())


def _search_evidence(ctx: Context, run: Run) -> str:
    """A max-batch run's search in a line: the batch, how the search ended, for a compiled
    search its dynamic graph's edge and its compiles (probes with a new graph), the speed."""
    text = (f"{run.name}: max_batch {run.get('results.max_batch')}, search timed out "
            f"{bool(run.get('results.max_batch_timed_out'))}")
    if run.get("results.max_batch_dynamic") is not None:
        probes = run.get("results.max_batch_probes") or []
        static = sum(1 for p in probes if isinstance(p, dict) and p.get("graph") == "static")
        text += (f", dynamic graph's edge {run.get('results.max_batch_dynamic')}, confirmed "
                 f"static {run.get('results.max_batch_confirmed')}, {len(probes)} probes "
                 f"({static} static), {fmt(run.get('results.max_batch_seconds'))} s")
    text += f", {fmt(run.get('results.throughput'))} samples/s"
    if (n := recompiles(ctx, run)) is not None:
        text += f", recompile log lines {n}"
    return text


def judge_maxbatch(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    evidence = "; ".join(_search_evidence(ctx, r) for r in runs.values())
    if failed:
        return failed[0], evidence
    missing = [r.name for r in runs.values() if not isinstance(r.get("results.max_batch"), int)]
    if missing:
        return "FAILED: no results.max_batch in " + ", ".join(missing), evidence
    unconfirmed = [r.name for r in runs.values() if r.get("results.max_batch_confirmed") is False]
    if unconfirmed:  # the timed run may still have fit: the search did not show it
        return ("inconclusive: the static graph was not probed at results.max_batch in "
                + ", ".join(unconfirmed) + " (--max_batch_time)", evidence)
    cut = [r.name for r in runs.values() if r.get("results.max_batch_timed_out") is True]
    if cut:  # a lower bound: the search did not get to the memory edge
        return ("inconclusive: --max_batch_time ended the search before the memory edge in "
                + ", ".join(cut) + " (results.max_batch is a lower bound)", evidence)
    return "passed", evidence


def judge_d8(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    evidence = (f"dtype_used {run.get('exp.dtype_used')}, replicas {run.get('exp.num_replicas')}"
                f", {fmt(run.get('results.throughput'))} samples/s (the replicas' autocast "
                "dtype itself is not a fact; tests/benchmark cover it)")
    good = run.get("exp.dtype_used") == "bfloat16" and run.get("exp.num_replicas") == 2
    return ("passed" if good else "FAILED: not a 2-replica bfloat16 run", evidence)


def judge_d11(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    source, note = run.get("results.peak_source"), run.get("results.mfu_note")
    evidence = f"peak {fmt(run.get('results.peak_tflops'))} TFLOP/s: {source or note}"
    name = " ".join(str(d) for d in run.get("hw.devices") or [])
    if "MIG" in name.upper():
        return ("passed" if source and "MIG slice" in str(source) else
                "FAILED: a MIG slice without a scaled peak", evidence)
    if source is None:
        return f"inconclusive: this GPU is not in the peak table ({note})", evidence
    return "passed", evidence


def judge_d12(runs: dict[str, Run], ctx: Context) -> Verdict:
    failed = _failed_runs(runs)
    if failed:
        return failed
    run = next(iter(runs.values()))
    capped, reasons = run.get("results.power_capped"), run.get("results.throttle_reasons")
    evidence = f"power_capped {capped}, throttle_reasons {reasons}"
    if reasons is None:
        return "inconclusive: no NVML clock event reasons were sampled", evidence
    if "sw_power_cap" in (reasons or []) or not isinstance(capped, bool):
        return "FAILED: sw_power_cap among the throttle reasons or power_capped missing", evidence
    return "passed", evidence


def _llama(ctx: Context, extra: list[str]) -> list[str]:
    if ctx.dry_run:
        return [*model_args(ctx, "llama3_1b"), *extra]
    return ["--model", "llama3_1b", "--model_config", json.dumps({"layers": 2}), "--seq_len",
            "512", "--batch_size", "1", *extra]


def checks(ctx: Context) -> list[Check]:
    """The defects' checks, with flags for this mode (tiny CPU sizes in a dry run)."""
    bf16, fp32 = ["--dtype", "bfloat16"], ["--dtype", "float32"]
    r50 = ["--model", "resnet50", "--batch_size", "128"]
    alexnet_short = ["--model", "alexnet", "--batch_size", "256", *bf16, "--num_batches", "10"]
    return [
        Check("D1", "tiny llama3_1b (GQA: 4 query / 2 key-value heads) in bf16 on the CPU "
                    "counts its FLOPs: status ok, results.flops_per_sample logged"
              if ctx.dry_run else
              "llama3_1b (GQA) in bf16 counts its FLOPs: status ok, results.mfu not "
              "null, 1193.464 GFLOP/sample (2 layers, 512 tokens, training)",
              {"d1-llama-bf16-train": _llama(ctx, bf16),
               # a dry run counts training only (inference is the same formula, forward)
               **({} if ctx.dry_run else
                  {"d1-llama-bf16-infer": _llama(ctx, [*bf16, "--forward_only", "true"])})},
              judge_d1, dry=True),
        Check("D2", "float32 resnet50 logs its backend flags and takes the fp32 column; "
                    "--cudnn_fastest takes tf32",
              {"d2-r50-fp32": [*r50, *fp32],
               "d2-r50-fp32-fastest": [*r50, *fp32, "--cudnn_fastest", "true"]}, judge_d2),
        Check("D3", "torch >= 2.5 and an attention model runs",
              {"d3-gpt2-infer": [*model_args(ctx, "gpt2"), *fp32, "--forward_only", "true"]},
              judge_d3, dry=True),
        Check("D4", "a short window (10 iterations) withholds energy with a note",
              {"d4-alexnet-short": alexnet_short}, judge_d4),
        Check("D5", "peak_memory_reserved_mb and num_alloc_retries are logged; "
                    "allocated <= reserved <= nvidia-smi's memory.used",
              {"d5-r50-bf16": [*r50, *bf16]}, judge_d5),
        Check("D8", "DataParallel (--num_gpus 2) in bfloat16 runs bf16",
              {"d8-dp-bf16": [*r50, *bf16, "--num_gpus", "2"]}, judge_d8, needs_gpus=2),
        Check("D9/D10", "--cudnn_fastest is TF32 for float32 convolutions and matmuls "
                        "(timm's float32), the default IEEE FP32: as D2's flags",
              {"d2-r50-fp32": [*r50, *fp32],
               "d2-r50-fp32-fastest": [*r50, *fp32, "--cudnn_fastest", "true"]}, judge_d2),
        Check("D11", "the peak comes from the table for this GPU (scaled for a MIG slice)",
              {"d5-r50-bf16": [*r50, *bf16]}, judge_d11),
        Check("D12", "sw_power_cap is results.power_capped, not a throttle reason",
              {"d5-r50-bf16": [*r50, *bf16]}, judge_d12),
    ]


def maxbatch_checks(ctx: Context) -> list[Check]:
    """D7 (the plain search), then D6 (the compiled one)."""
    search = ["--model", "resnet50", "--dtype", "bfloat16", "--channels_last", "true",
              "--batch_size", "max", "--memory_budget_mb", "20000", "--max_batch_limit", "2048",
              "--max_batch_time", "150"]
    return [  # the plain search first: the compiled one may take the rest of the budget
        Check("D7", "the max batch search ends ok near the memory edge (no failure from a "
                    "message that is not 'out of memory')",
              {"d7-r50-max": search}, judge_maxbatch),
        Check("D6", "--compile --batch_size max completes (ok, results.max_batch of the "
                    "static graph the timed run compiles)",
              {"d6-r50-compile-max": [*search[:-2], "--max_batch_time", "300",
                                     "--compile", "true"]},
              judge_maxbatch, limit=420),  # 300 s of search, then a compile and the run
    ]


def run_checks(ctx: Context, found: list[Check], iterations: list[str]) -> StageResult:
    """Run every check's runs once (checks share runs by name) and judge them."""
    done: dict[str, Run] = {}
    rows = []
    for check in found:
        why = None
        if ctx.dry_run and not check.dry:
            why = NO_GPU
        elif ctx.num_gpus < check.needs_gpus and not ctx.dry_run:
            why = f"not run ({ctx.num_gpus} GPU(s) seen, it needs {check.needs_gpus})"
        if why:
            rows.append([check.defect, check.what, why, "-", "-"])
            continue
        for name, flags in check.runs.items():
            if name not in done:
                limit = iterations if "--num_batches" not in flags else []
                done[name] = run_benchmark(ctx, name, [*flags, *limit], limit=check.limit)
        runs = {name: done[name] for name in check.runs}
        skipped = [r.skipped for r in runs.values() if r.skipped]
        verdict, evidence = (skipped[0], "") if skipped else check.judge(runs, ctx)
        rows.append([check.defect, check.what, verdict, evidence,
                     ", ".join(f"logs/{n}.log" for n in runs)])
    status = checks_status([r[2] for r in rows])
    lines = [*table(["defect", "check", "verdict", "evidence (measured)", "logs"], rows), "",
             "The runs:", "", *table(HEADER, [run_row(r) for r in done.values()]), "", LEGEND]
    return StageResult(status, lines)


def checks_status(verdicts: list[str]) -> str:
    """The stage's status from its checks' verdicts (no check that did not run is passed)."""
    failed = sum(v.startswith("FAILED") for v in verdicts)
    passed = sum(v == "passed" for v in verdicts)
    if not failed and not passed and len(set(verdicts)) == 1:
        return verdicts[0]  # e.g. every check 'not run (dry run: no GPU)'
    return (f"{'failed' if failed else 'ok'}: {passed} passed, {failed} failed, "
            f"{len(verdicts) - passed - failed} not run or inconclusive")


@register_stage("defects", "the review's defects D1-D5 and D8-D12 as checks that can fail "
                           "(D6/D7: stage maxbatch)")
def defects_stage(ctx: Context) -> StageResult:
    return run_checks(ctx, checks(ctx), DRY_ITERATIONS if ctx.dry_run else PROBE_ITERATIONS)


@register_stage("maxbatch-eager", "D7: resnet50 --batch_size max (the search capped at 150 s)")
def maxbatch_eager_stage(ctx: Context) -> StageResult:
    return run_checks(ctx, maxbatch_checks(ctx)[:1], PROBE_ITERATIONS)


@register_stage("maxbatch-compile", "D6: resnet50 --compile --batch_size max (the search capped "
                                    "at 300 s, the run at 420 s: a stage of its own)")
def maxbatch_compile_stage(ctx: Context) -> StageResult:
    return run_checks(ctx, maxbatch_checks(ctx)[1:], PROBE_ITERATIONS)


#: Both searches, as the stage ``maxbatch`` ran them before they were split.
GROUPS["maxbatch"] = ["maxbatch-eager", "maxbatch-compile"]

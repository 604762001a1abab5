"""timm's ``benchmark.py`` and ``benchmarks.py`` interleaved on the same GPU with the same
settings (dlbs then timm for each pair, both at 224 px), when timm is importable on the host;
a ratio only where timm's printed image size is dlbs's.

timm's ``benchmark.py`` is a script of the pytorch-image-models repository, not part of the
``timm`` wheel: give it with ``--timm-benchmark PATH``. Without timm, or without the script,
the stage says it is skipped and why (timm is no dependency of this project)."""
from __future__ import annotations

import importlib.util
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_check.bench import NO_GPU, Context, Run, run_benchmark, run_tool
from gpu_check.facts import fmt, table
from gpu_check.stages import StageResult, register_stage

WARM, TIMED = "10", "40"  # timm's defaults, given to both
NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
RESULT = re.compile(r'"(?:infer|train)_samples_per_sec":\s*' + NUMBER)
SIZE = re.compile(r'"(?:infer|train)_img_size":\s*([0-9]+)')
BATCH = re.compile(r'"(?:infer|train)_batch_size":\s*([0-9]+)')
#: The image side both programs run at: timm's benchmark.py otherwise takes the model's
#: pretrained test size (288 px for resnet50: the first GPU run's pairs compared 288 px
#: against 224 px, a 1.65x difference in pixels).
IMAGE_SIZE = 224
#: Set by the command line (``--timm-benchmark``).
SCRIPT: list[Path] = []


@dataclass(frozen=True)
class Pair:
    """One comparison: the same model, phase, batch and math in both programs."""
    name: str
    dlbs: list[str]
    timm: list[str]


def _pair(name: str, dlbs_model: str, timm_model: str, batch: int, train: bool,
          math: str) -> Pair:
    dlbs = ["--model", dlbs_model, "--batch_size", str(batch), "--image_size", str(IMAGE_SIZE),
            "--num_warmup_batches", WARM,
            "--num_batches", TIMED, "--channels_last", "true"]
    timm = ["--model", timm_model, "--batch-size", str(batch), "--img-size", str(IMAGE_SIZE),
            "--bench", "train" if train else "inference", "--num-warm-iter", WARM,
            "--num-bench-iter", TIMED, "--channels-last",
            "--no-retry"]  # else timm halves the batch on out-of-memory and goes on
    if train:  # timm's optimizer is SGD (its default --opt); dlbs's auto is AdamW for a ViT
        dlbs += ["--optimizer", "sgd"]
    else:
        dlbs += ["--forward_only", "true"]
    if math == "bf16":
        dlbs += ["--dtype", "bfloat16"]
        timm += ["--amp", "--amp-dtype", "bfloat16"]
    else:  # timm's float32 runs TF32 matmuls and convolutions: dlbs's --cudnn_fastest
        dlbs += ["--dtype", "float32", "--cudnn_fastest", "true"]
    return Pair(name, dlbs, timm)


PAIRS = [
    _pair("resnet50-train-bf16", "resnet50", "resnet50", 256, True, "bf16"),
    _pair("resnet50-infer-bf16", "resnet50", "resnet50", 256, False, "bf16"),
    _pair("resnet50-train-tf32", "resnet50", "resnet50", 256, True, "tf32"),
    _pair("vit-train-bf16", "vit_b16", "vit_base_patch16_224", 128, True, "bf16"),
    _pair("vit-infer-bf16", "vit_b16", "vit_base_patch16_224", 256, False, "bf16"),
]


def unavailable(ctx: Context) -> str | None:
    """Why timm cannot run here, or None."""
    if importlib.util.find_spec("timm") is None:
        return (f"skipped: timm is not importable by {sys.executable} (it is no dependency "
                "of this project; on a host that has it, give its repository's benchmark.py "
                "with --timm-benchmark PATH)")
    if not SCRIPT or not SCRIPT[0].is_file():
        return ("skipped: timm is installed but its benchmark.py (a script of the "
                "pytorch-image-models repository, not in the wheel) was not given: "
                "--timm-benchmark PATH")
    return None


@dataclass(frozen=True)
class TimmResult:
    """How timm's run ended, the samples/s, image side and batch its ``--result`` printed."""
    status: str
    rate: float | None = None
    image_size: int | None = None
    batch: int | None = None


def read_timm(text: str, code: int | None, stopped: bool) -> TimmResult:
    """timm's figures from its output. A run stopped at its limit after printing its
    ``--result`` block keeps its figures (the timed loop had ended) and says so."""
    rates, sizes, batches = RESULT.findall(text), SIZE.findall(text), BATCH.findall(text)
    rate = float(rates[-1]) if rates else None
    size = int(sizes[-1]) if sizes else None
    batch = int(batches[-1]) if batches else None
    if stopped:
        status = ("ok (its result printed, then stopped at its time limit)" if rate is not None
                  else "stopped at its time limit")
    else:
        status = "ok" if code == 0 and rate is not None else f"failed (exit {code})"
    return TimmResult(status, rate, size, batch)


def run_timm(ctx: Context, pair: Pair) -> TimmResult:
    """timm's run of a pair."""
    name = f"timm-{pair.name}"
    if ctx.left() < 10:
        return TimmResult(f"not run (stage budget of {ctx.budget_s:.0f} s spent)")
    code, stopped = run_tool(ctx, name, [sys.executable, str(SCRIPT[0]), *pair.timm],
                             limit=240, cwd=SCRIPT[0].parent)
    return read_timm((ctx.logs / f"{name}.log").read_text(errors="replace"), code, stopped)


def ratio_cell(ours: Any, timm: TimmResult, our_size: Any, our_batch: Any) -> str:
    """dlbs / timm, only like for like: timm ended ok, both at the same image side and
    batch."""
    if not isinstance(ours, (int, float)) or not timm.rate or not timm.status.startswith("ok"):
        return "-"
    if timm.image_size is None or timm.image_size != our_size:
        return (f"not like for like: timm ran {timm.image_size or '?'} px, dlbs "
                f"{our_size or '?'} px")
    if timm.batch is None or timm.batch != our_batch:
        return (f"not like for like: timm ran batch {timm.batch or '?'}, dlbs "
                f"{our_batch or '?'}")
    return fmt(ours / timm.rate, 3)


@register_stage("timm", "timm's benchmark.py interleaved with benchmarks.py, same GPU and "
                        "flags (only when timm is importable)")
def timm_stage(ctx: Context) -> StageResult:
    why = unavailable(ctx)
    if why:
        return StageResult(why, [why])
    rows = []
    for pair in PAIRS:
        if ctx.dry_run:
            rows.append([pair.name, NO_GPU, "-", NO_GPU, "-", "-", "-"])
            continue
        dlbs: Run = run_benchmark(ctx, f"dlbs-{pair.name}", pair.dlbs)
        time.sleep(2)
        timm = run_timm(ctx, pair)
        ours = dlbs.get("results.throughput") if dlbs.ok else None
        shape = dlbs.get("exp.input_shape")
        our_size = shape[-1] if isinstance(shape, list) and shape else None
        rows.append([pair.name, dlbs.status, fmt(ours), timm.status, fmt(timm.rate),
                     str(timm.image_size or "-"),
                     ratio_cell(ours, timm, our_size, dlbs.get("exp.replica_batch"))])
    ran = [r for r in rows if r[1] == "ok" and r[3].startswith("ok")
           and not r[6].startswith("not like")]
    status = ("not run (dry run: no GPU)" if ctx.dry_run else
              f"{'ok' if len(ran) == len(rows) else 'failed'}: {len(ran)} of {len(rows)} "
              "pairs compared like for like")
    lines = [("dlbs then timm for each pair, 10 warm-up + 40 timed iterations, channels-last, "
             f"{IMAGE_SIZE} px (`--image_size` / `--img-size`; timm px: the size timm printed, "
             "and no ratio where it differs); "
             "bf16: dlbs `--dtype bfloat16`, timm `--amp --amp-dtype bfloat16`; tf32: dlbs "
             "`--dtype float32 --cudnn_fastest true`, timm's float32 (TF32 on); training: "
             "SGD on both sides (dlbs `--optimizer sgd`, timm's default `--opt sgd`, which is "
             "Nesterov). timm's figure "
             "is its `*_samples_per_sec` (samples over the whole timed loop), dlbs's "
             "`results.throughput` (its steady window): expect them within ~10% in bf16."), "",
             *table(["pair", "dlbs status", "dlbs samples/s", "timm status", "timm samples/s",
                     "timm px", "dlbs / timm"], rows)]
    return StageResult(status, lines)

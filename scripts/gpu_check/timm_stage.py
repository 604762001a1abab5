"""timm's ``benchmark.py`` and ``benchmarks.py`` interleaved on the same GPU with the same
settings (dlbs then timm for each pair), when timm is importable on the host.

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

from gpu_check.bench import NO_GPU, Context, Run, run_benchmark, run_tool
from gpu_check.facts import fmt, table
from gpu_check.stages import StageResult, register_stage

WARM, TIMED = "10", "40"  # timm's defaults, given to both
RESULT = re.compile(r'"(?:infer|train)_samples_per_sec":\s*([0-9.eE+-]+)')
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
    dlbs = ["--model", dlbs_model, "--batch_size", str(batch), "--num_warmup_batches", WARM,
            "--num_batches", TIMED, "--channels_last", "true"]
    timm = ["--model", timm_model, "--batch-size", str(batch), "--bench",
            "train" if train else "inference", "--num-warm-iter", WARM, "--num-bench-iter",
            TIMED, "--channels-last"]
    if not train:
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


def run_timm(ctx: Context, pair: Pair) -> tuple[str, float | None]:
    """timm's run of a pair: (how it ended, samples/s it printed)."""
    name = f"timm-{pair.name}"
    if ctx.left() < 10:
        return f"not run (stage budget of {ctx.budget_s:.0f} s spent)", None
    code, stopped = run_tool(ctx, name, [sys.executable, str(SCRIPT[0]), *pair.timm],
                             limit=240, cwd=SCRIPT[0].parent)
    found = RESULT.findall((ctx.logs / f"{name}.log").read_text(errors="replace"))
    if stopped:
        return "stopped at its time limit", None
    return ("ok" if code == 0 and found else f"failed (exit {code})",
            float(found[-1]) if found else None)


@register_stage("timm", "timm's benchmark.py interleaved with benchmarks.py, same GPU and "
                        "flags (only when timm is importable)")
def timm_stage(ctx: Context) -> StageResult:
    why = unavailable(ctx)
    if why:
        return StageResult(why, [why])
    rows = []
    for pair in PAIRS:
        if ctx.dry_run:
            rows.append([pair.name, NO_GPU, "-", NO_GPU, "-", "-"])
            continue
        dlbs: Run = run_benchmark(ctx, f"dlbs-{pair.name}", pair.dlbs)
        time.sleep(2)
        status, timm_rate = run_timm(ctx, pair)
        ours = dlbs.get("results.throughput") if dlbs.ok else None
        ratio = ours / timm_rate if isinstance(ours, (int, float)) and timm_rate else None
        rows.append([pair.name, dlbs.status, fmt(ours), status, fmt(timm_rate), fmt(ratio, 3)])
    ran = [r for r in rows if r[1] == "ok" and r[3] == "ok"]
    status = ("not run (dry run: no GPU)" if ctx.dry_run else
              f"{'ok' if len(ran) == len(rows) else 'failed'}: {len(ran)} of {len(rows)} "
              "pairs ran in both")
    lines = [("dlbs then timm for each pair, 10 warm-up + 40 timed iterations, channels-last; "
             "bf16: dlbs `--dtype bfloat16`, timm `--amp --amp-dtype bfloat16`; tf32: dlbs "
             "`--dtype float32 --cudnn_fastest true`, timm's float32 (TF32 on). timm's figure "
             "is its `*_samples_per_sec` (samples over the whole timed loop), dlbs's "
             "`results.throughput` (its steady window): expect them within ~10% in bf16."), "",
             *table(["pair", "dlbs status", "dlbs samples/s", "timm status", "timm samples/s",
                     "dlbs / timm"], rows)]
    return StageResult(status, lines)

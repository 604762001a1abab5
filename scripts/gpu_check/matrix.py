"""The model x precision matrix (ResNet-50, ViT-B/16, GPT-2, Llama-3.2-1B; training and
inference; fp32 / TF32 / fp16 / bf16) and the options (channels_last, compile,
``--batch_size max``), in stages that each fit well inside 10 minutes on an H100.

A dry run times tiny versions of the models on the CPU (the zoo's ``tiny`` sizes), one cell
per model (``DRY_CELLS``) and channels_last inference; the other cells (TF32, fp16, compile,
max batch and the rest) are rows that say they did not run."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from gpu_check.bench import BUDGET_SKIP, NO_GPU, Context, Run, run_benchmark
from gpu_check.facts import table
from gpu_check.runtable import HEADER, LEGEND, run_row
from gpu_check.stages import GROUPS, StageResult, register_stage

#: Iterations of a matrix run on a GPU: 5 warm-up, then a 6 s timed window (NVML's energy
#: needs 5 s; the first GPU run's 30 iterations lasted 0.7-7 s, so most cells logged no energy
#: and none an interval), and of a dry run.
GPU_ITERATIONS = ["--num_warmup_batches", "5", "--num_batches", "1000000", "--max_time", "6"]
DRY_ITERATIONS = ["--num_warmup_batches", "0", "--num_batches", "2"]
PRECISIONS: dict[str, list[str]] = {
    "fp32": ["--dtype", "float32"],  # IEEE FP32 convolutions and matmuls (dlbs's default)
    "tf32": ["--dtype", "float32", "--cudnn_fastest", "true"],
    "fp16": ["--dtype", "float16"],
    "bf16": ["--dtype", "bfloat16"],
}
#: The cell a dry run times on the CPU per model (model, phase, precision): each model once,
#: each phase and CPU precision twice (the defects stage adds llama bf16 training and gpt2
#: fp32 inference), so that a dry run stays within a minute on 2 cores.
DRY_CELLS = {("resnet50", "train", "fp32"), ("vit_b16", "infer", "bf16"),
             ("gpt2", "train", "bf16"), ("llama3_1b", "infer", "fp32")}


@dataclass(frozen=True)
class Model:
    """A zoo model with its GPU batch and shape, and its tiny CPU version for a dry run."""
    name: str
    gpu: list[str]
    dry: list[str] = field(default_factory=list)


MODELS = {
    "resnet50": Model("resnet50", ["--batch_size", "256"],
                      ["--batch_size", "2", "--image_size", "32"]),
    "vit_b16": Model("vit_b16", ["--batch_size", "128"],
                     ["--batch_size", "2", "--image_size", "32", "--model_config",
                      json.dumps({"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64})]),
    "gpt2": Model("gpt2", ["--batch_size", "8", "--seq_len", "1024"],
                  ["--batch_size", "2", "--seq_len", "16", "--model_config",
                   json.dumps({"num_classes": 64, "positions": 32, "hidden": 32, "layers": 2,
                               "heads": 2})]),
    "llama3_1b": Model("llama3_1b", ["--batch_size", "4", "--seq_len", "1024"],
                       ["--batch_size", "2", "--seq_len", "16", "--model_config",
                        json.dumps({"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4,
                                    "kv_heads": 2, "intermediate": 64})]),
}


def model_args(ctx: Context, model: str) -> list[str]:
    """``--model`` and the model's size flags for this mode."""
    spec = MODELS[model]
    return ["--model", model, *(spec.dry if ctx.dry_run else spec.gpu)]


def iterations(ctx: Context) -> list[str]:
    return DRY_ITERATIONS if ctx.dry_run else GPU_ITERATIONS


def phase_args(phase: str) -> list[str]:
    return ["--forward_only", "true"] if phase == "infer" else []


def cell_run(ctx: Context, name: str, model: str, phase: str, precision: str,
             extra: list[str], gpu_only: bool) -> Run:
    """One cell: run it, or a row saying why it did not run. ``extra`` with a
    ``--batch_size`` replaces the model's own."""
    sizes = model_args(ctx, model)
    if "--batch_size" in extra:
        at = sizes.index("--batch_size")
        sizes = sizes[:at] + sizes[at + 2:]
    # --check_numerics: each cell's error against float32 eager on the GPU, after its timed
    # window (the tolerances of CUDA float32, TF32, fp16 and bf16 are measured from these)
    args = [*sizes, *phase_args(phase), *PRECISIONS[precision], *extra, *iterations(ctx),
            "--check_numerics"]
    if ctx.dry_run and gpu_only:
        return Run(name=name, args=args, skipped=NO_GPU)
    return run_benchmark(ctx, name, args)


def matrix_result(runs: list[Run], intro: list[str]) -> StageResult:
    """The stage's table and a status counting how the runs ended."""
    ran = [r for r in runs if r.skipped is None]
    ok = sum(r.ok for r in ran)
    skipped: dict[str, int] = {}
    for r in runs:
        if r.skipped:
            skipped[r.skipped] = skipped.get(r.skipped, 0) + 1
    cut = sum(r.timed_out and r.budget_stop for r in ran)
    parts = ([f"{ok} of {len(ran)} runs ok"]
             + ([f"{cut} stopped by the stage's budget"] if cut else [])
             + [f"{n} {why}" for why, n in skipped.items()])
    # a run the stage's budget stopped or left out failed nothing: the stage is incomplete
    unfinished = cut or any(r.skipped and r.skipped.startswith(BUDGET_SKIP) for r in runs)
    if ok + cut < len(ran):
        verdict = "failed"
    elif unfinished:
        verdict = "incomplete"
    else:
        verdict = "ok" if ran else "failed"
    status = f"{verdict}: {', '.join(parts)}"
    lines = [*intro, "", *table(HEADER, [run_row(r) for r in runs]), "", LEGEND, "",
             "Commands: the first line of each log."]
    return StageResult(status, lines)


def model_matrix(ctx: Context, models: list[str]) -> StageResult:
    runs = []
    for model in models:
        for phase in ("train", "infer"):
            for precision in PRECISIONS:
                name = f"{model}-{phase}-{precision}"
                gpu_only = (model, phase, precision) not in DRY_CELLS
                runs.append(cell_run(ctx, name, model, phase, precision, [], gpu_only))
    sizes = "tiny CPU sizes (the zoo's `tiny` settings)" if ctx.dry_run else "GPU sizes"
    return matrix_result(runs, [(f"{', '.join(models)} at {sizes}: "
                                f"`{' '.join(iterations(ctx))}`.")])


def _register_model_stage(model: str) -> None:
    """``matrix-<model>``: one model's 16 cells (8 runs of at most ~40 s each on an H100)."""
    def stage(ctx: Context) -> StageResult:
        return model_matrix(ctx, [model])
    register_stage(f"matrix-{model}", f"{model}: train and infer x fp32 / tf32 / fp16 / "
                                      "bf16")(stage)


for _model in MODELS:
    _register_model_stage(_model)


MAX_BATCH = ["--batch_size", "max", "--memory_budget_mb", "20000", "--max_batch_limit", "2048",
             "--max_batch_time", "100"]
CHANNELS_LAST = ["--channels_last", "true"]


@register_stage("matrix-options", "channels_last, --compile and --batch_size max on resnet50 "
                                  "and gpt2 in bf16")
def options_stage(ctx: Context) -> StageResult:
    cells = [  # name, model, phase, precision, extra flags, GPU only
        ("resnet50-train-bf16-cl", "resnet50", "train", "bf16", CHANNELS_LAST, True),
        ("resnet50-infer-bf16-cl", "resnet50", "infer", "bf16", CHANNELS_LAST, False),
        ("resnet50-train-bf16-cl-compile", "resnet50", "train", "bf16",
         [*CHANNELS_LAST, "--compile", "true"], True),
        ("gpt2-train-bf16-compile", "gpt2", "train", "bf16", ["--compile", "true"], True),
        ("resnet50-train-bf16-cl-max", "resnet50", "train", "bf16",
         [*CHANNELS_LAST, *MAX_BATCH], True),
    ]
    runs = [cell_run(ctx, *cell) for cell in cells]
    return matrix_result(runs, [("`-cl`: `--channels_last true`; `-compile`: `--compile true`; "
                                f"`-max`: `{' '.join(MAX_BATCH)}` (`results.max_batch` in "
                                "its facts).")])


GROUPS["matrix"] = [*(f"matrix-{m}" for m in MODELS), "matrix-options"]

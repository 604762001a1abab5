"""Llama-3.2-1B training as an LLM trainer runs it: AdamW (torchtitan's settings), activation
checkpointing (full and selective) and FSDP2 at world size 1 under torchrun (NCCL on a GPU,
gloo in a dry run), each beside plain bf16 SGD training of the same model, batch and tokens.

A dry run times the tiny model on the CPU for the two runs that exercise new paths (AdamW
with full checkpointing, and FSDP2 under torchrun); the other rows say they did not run."""
from __future__ import annotations

from gpu_check.bench import NO_GPU, TORCHRUN_ONE, Context, Run, run_benchmark
from gpu_check.matrix import iterations, matrix_result, model_args
from gpu_check.stages import StageResult, register_stage

ADAMW = ["--optimizer", "adamw"]
#: name, extra flags, whether torchrun starts it, whether a dry run runs it
RUNS: list[tuple[str, list[str], bool, bool]] = [
    ("llama-train-bf16-sgd", ["--optimizer", "sgd"], False, False),  # auto is AdamW for llama
    ("llama-train-bf16-adamw", ADAMW, False, False),
    ("llama-train-bf16-adamw-ac-full", [*ADAMW, "--activation_checkpointing", "full"], False,
     True),
    ("llama-train-bf16-adamw-ac-selective",
     [*ADAMW, "--activation_checkpointing", "selective"], False, False),
    ("llama-train-bf16-adamw-fsdp1", [*ADAMW, "--parallelism", "fsdp"], True, True),
]


def llm_run(ctx: Context, name: str, extra: list[str], torchrun: bool, dry: bool) -> Run:
    args = [*model_args(ctx, "llama3_1b"), "--dtype", "bfloat16", *extra, *iterations(ctx)]
    if ctx.dry_run and not dry:
        return Run(name=name, args=args, skipped=NO_GPU)
    return run_benchmark(ctx, name, args, launcher=TORCHRUN_ONE if torchrun else None)


@register_stage("llm", "llama3_1b bf16 training: SGD, AdamW, activation checkpointing "
                       "(full, selective), FSDP2 at world size 1 under torchrun")
def llm_stage(ctx: Context) -> StageResult:
    runs = [llm_run(ctx, *run) for run in RUNS]
    sizes = ("tiny CPU sizes" if ctx.dry_run
             else "the whole model (16 layers), batch 4 x 1024 tokens")
    intro = (f"llama3_1b in bf16 autocast, {sizes}: `{' '.join(iterations(ctx))}`. `-adamw`: "
             "`--optimizer adamw`; `-ac-*`: `--activation_checkpointing`; `-fsdp1`: "
             "`--parallelism fsdp` under `torchrun --standalone --nproc_per_node=1` (NCCL on "
             "a GPU; peak memory and MFU of the one rank).")
    return matrix_result(runs, [intro])

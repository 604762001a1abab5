"""Activation checkpointing of a transformer's blocks in training (``--activation_checkpointing``,
issue "Sharded LLM training"): a checkpointed block keeps only its input for the backward and
computes its forward again there, trading compute for the memory of its activations.

``full`` wraps every block, ``selective`` every second one (torchtitan's default, its
layer-wise option 2: the 2nd, 4th... block), ``none`` none. The wrapper is torch's
non-reentrant ``checkpoint_wrapper`` (what torchtitan uses), with the random state preserved
so that dropout draws the same masks again: the loss is the one an unwrapped model gives.
Blocks are wrapped before FSDP2 shards them (as torchtitan does), so a checkpointed block is
still one FSDP unit.
"""
from __future__ import annotations

from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
    CheckpointImpl,
    checkpoint_wrapper,
)

from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.runtime.distributed import block_list

#: Every how many blocks one is checkpointed, by mode.
EVERY = {"full": 1, "selective": 2}


def checkpoint_blocks(model: nn.Module, name: str, mode: str) -> int:
    """Wrap the blocks ``mode`` asks for in place; the number wrapped. A model without a block
    list (``layers``, ``blocks`` or ``h``) is refused with :class:`BenchmarkError`."""
    if mode == "none":
        return 0
    blocks = block_list(model)
    if blocks is None:
        raise BenchmarkError(
            f"--activation_checkpointing {mode}: model '{name}' has no list of transformer "
            "blocks (layers, blocks or h) to checkpoint; use it with a transformer "
            "(llama3_*, gpt2, bert_base, vit_b16) or leave it at none")
    every = EVERY[mode]
    wrapped = 0
    for index, block in enumerate(blocks):
        if (index + 1) % every == 0:
            blocks[index] = checkpoint_wrapper(block, checkpoint_impl=CheckpointImpl.NO_REENTRANT)
            wrapped += 1
    return wrapped

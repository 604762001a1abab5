"""Tensor parallelism of a transformer's blocks (``--parallelism fsdp_tp``), Megatron's
layout as torchtitan applies it with DTensor's ``parallelize_module``: in each block the
attention's query, key and value projections and the MLP's gate and up projections are split
by output columns, the attention's output and the MLP's down projection by input rows, so a
block needs one all-reduce in its forward (and one in its backward) per half. Each rank keeps
``heads / tp`` query heads and ``kv_heads / tp`` key/value heads. Embeddings, norms and the
LM head stay whole on every rank of a tensor-parallel group (FSDP2 shards them over the other
mesh dimension).

A model has a plan when its block list (``distributed.block_list``, which the caller passes)
holds blocks with the
modules of :data:`BLOCK_PLAN` and an attention module that says its head counts (``heads``,
``kv_heads``): the Llama 3 family, registered with ``tensor_parallel=True`` (what
``validate`` reads, without torch, with the heads and widths of the model's settings).
Nothing here runs without a process group but :func:`problem`, the run's own guard.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

#: A block's modules and how each is split: ``colwise`` (by output features) or ``rowwise``
#: (by input features).
BLOCK_PLAN: dict[str, str] = {
    "self_attn.q_proj": "colwise", "self_attn.k_proj": "colwise",
    "self_attn.v_proj": "colwise", "self_attn.o_proj": "rowwise",
    "mlp.gate_proj": "colwise", "mlp.up_proj": "colwise", "mlp.down_proj": "rowwise",
}
#: The attention module of a block, whose head counts a rank's share replaces.
ATTENTION = "self_attn"


def inner(block: nn.Module) -> nn.Module:
    """The block itself, also when activation checkpointing wrapped it (``checkpoint_wrapper``
    keeps it as ``_checkpoint_wrapped_module``): the plan splits the block's own layers, and
    the wrapper recomputes the split block."""
    return getattr(block, "_checkpoint_wrapped_module", block)


def problem(blocks: Sequence[nn.Module], tp: int) -> str | None:
    """Why a model of ``blocks`` (its block list: ``distributed.block_list``) cannot be split
    over ``tp`` ranks (a phrase), or None when it can."""
    blocks = [inner(block) for block in blocks]
    if not blocks or not all(_has_plan(block) for block in blocks):
        return ("it has no tensor-parallel plan (the Llama 3 models have one: llama3_1b, "
                "llama3_3b, llama3_8b, llama3_70b)")
    attention: Any = blocks[0].get_submodule(ATTENTION)
    heads, kv_heads = int(attention.heads), int(attention.kv_heads)
    if heads % tp or kv_heads % tp:
        return (f"its {heads} query and {kv_heads} key/value heads cannot be split over "
                f"{tp} ranks (--tp_degree must divide both)")
    widths = {name: _split_width(block.get_submodule(name), how)
              for block in blocks[:1] for name, how in BLOCK_PLAN.items()}
    odd = sorted(name for name, width in widths.items() if width % tp)
    if odd:
        return f"the width of {odd[0]} ({widths[odd[0]]}) is not a multiple of {tp}"
    return None


def _has_plan(block: nn.Module) -> bool:
    names = dict(block.named_modules())
    attention = names.get(ATTENTION)
    return (all(isinstance(names.get(name), nn.Linear) for name in BLOCK_PLAN)
            and attention is not None and hasattr(attention, "heads")
            and hasattr(attention, "kv_heads"))


def _split_width(module: nn.Module, how: str) -> int:
    assert isinstance(module, nn.Linear)
    return module.out_features if how == "colwise" else module.in_features


def parallelize(blocks: Sequence[nn.Module], mesh: Any) -> None:
    """Split every block of a model over the ranks of the 1-D ``mesh`` (in place), and give
    each block's attention its share of the heads; :func:`problem` must have said None."""
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    tp = mesh.size()
    styles = {"colwise": ColwiseParallel, "rowwise": RowwiseParallel}
    for block in map(inner, blocks):
        parallelize_module(block, mesh, {name: styles[how]()
                                         for name, how in BLOCK_PLAN.items()})
        attention: Any = block.get_submodule(ATTENTION)
        attention.heads //= tp
        attention.kv_heads //= tp

"""FLOPs of one step, counted by ``torch.utils.flop_counter.FlopCounterMode``.

Responsibility: run one extra (untimed) step under the counter and return its FLOPs per
sample. The counter counts the matmuls, convolutions and attention of the forward pass (and,
in training, of the backward pass), as 2 FLOPs per multiply-add; element-wise work
(activations, normalisation, the loss, the optimizer's update) is not counted, so the
optimizer step adds nothing. A compiled model runs that step eagerly
(``torch.compiler.set_stance("force_eager")``): same arithmetic, and nothing is compiled under
the counter.

*Attention* (``scaled_dot_product_attention``) is counted the same whichever kernel runs it,
so that CPU and GPU runs, and runs with and without attention dropout, count the same
arithmetic (:func:`attention_formulas`, given to the counter as ``custom_mapping``). The
formulas are the benchmark's own, for every fused kernel torch has (the GPU's flash,
memory-efficient and cuDNN kernels, the CPU's fused one, the ``overrideable`` one of other
accelerators): torch's own (``sdpa_flop_count``) reject grouped-query attention up to torch
2.11 (fewer key/value heads than query heads, as llama's; torch 2.12 accepts it), which
would leave a llama run on a GPU without a count. On every torch they count what torch 2.13
counts:

* forward: ``Q @ K.T`` and ``P @ V``, 2 x T_q x T_k x (head dim of Q + head dim of V) per
  *query* head (a key/value head serves a group of query heads: the arithmetic is per query
  head). torch's counter does not know the CPU's fused kernel at all (it counted 0 for it:
  gpt2 at 1024 tokens lost 15 %);
* backward: 2 x the forward, the model's FLOPs: torch's ``sdpa_backward_flop_count`` less its
  recomputation of ``Q @ K.T`` (a fused kernel's way to save memory, not the model's
  arithmetic; MFU counts no recomputation). Without it the GPU's fused kernels and the CPU's
  (2.5 x) would disagree with the math fallback that attention dropout takes on a CPU (its
  plain ``bmm``, 2 x, counted as such).
* A causal mask does not halve the count: torch's formulas count the whole ``T_q x T_k``
  score matrix, causal or not (as the math fallback computes it), on every device alike.

Attention over nested (variable-length) tensors (``_flash_attention_*``,
``_efficient_attention_*``) keeps torch's own formulas; the benchmark's models do not use it.

*Activation checkpointing* (``--activation_checkpointing``) computes a checkpointed block's
forward a second time in the backward: hardware FLOPs, not the model's. The counted step runs
its checkpointed blocks plainly (:func:`without_recomputation`), on one sample (all of its
activations are kept then, which at the batch checkpointing made fit might not fit): the
first H100 run counted 9,585 GFLOP/sample for llama3_1b with every block checkpointed against
8,005 without, and called 31.7 % MFU what was 26.4 %.

*Wrappers.* ``nn.DataParallel`` runs its replicas' forwards in Python threads, where the
counter (a thread-local dispatch mode) does not see them. :func:`plain_step` gives a step that
runs the module under it (and under ``torch.compile``) on one replica's share of the batch,
on the first device: the FLOPs per sample of what each replica does.
``DistributedDataParallel`` runs its module in the caller's thread and is counted as it is
(unwrapping it would skip the gradient all-reduce and let the ranks' weights drift apart).
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
from torch.utils.flop_counter import FlopCounterMode

Step = Callable[[], object]

#: Fused attention kernels (by aten name): the arguments start ``query, key, value``.
SDPA_FORWARD = ("_scaled_dot_product_flash_attention",
                "_scaled_dot_product_efficient_attention",
                "_scaled_dot_product_cudnn_attention",
                "_scaled_dot_product_flash_attention_for_cpu",
                "_scaled_dot_product_fused_attention_overrideable")
#: Their backward kernels (``grad_out, query, key, value``), counted as 2 x their forward.
SDPA_BACKWARD = tuple(f"{name}_backward" for name in SDPA_FORWARD)


def attention_shape(query_shape: Any, key_shape: Any, value_shape: Any
                    ) -> tuple[int, int, int, int, int, int]:
    """``(batch, query heads, T_q, T_k, head dim of Q and K, head dim of V)`` of an attention
    over ``(N, H, T, D)`` tensors; key/value heads may be fewer than the query's when they
    divide them (grouped-query attention). Raises ``ValueError`` for shapes that do not go
    together."""
    batch, q_heads, q_len, qk_dim = query_shape
    k_batch, kv_heads, k_len, k_dim = key_shape
    v_batch, v_heads, v_len, v_dim = value_shape
    if not (batch == k_batch == v_batch and kv_heads == v_heads and qk_dim == k_dim
            and k_len == v_len and kv_heads > 0 and q_heads % kv_heads == 0):
        raise ValueError(f"attention shapes do not go together: query {tuple(query_shape)}, "
                         f"key {tuple(key_shape)}, value {tuple(value_shape)}")
    return batch, q_heads, q_len, k_len, qk_dim, v_dim


def sdpa_forward_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any,
                       out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of one attention forward, causal or not: ``Q @ K.T`` and ``P @ V`` per query
    head (grouped-query attention included)."""
    batch, heads, q_len, k_len, qk_dim, v_dim = attention_shape(query_shape, key_shape,
                                                                value_shape)
    return 2 * batch * heads * q_len * k_len * (qk_dim + v_dim)


def sdpa_backward_flops(grad_out_shape: Any, query_shape: Any, key_shape: Any,
                        value_shape: Any, *args: Any, out_shape: Any = None,
                        **kwargs: Any) -> int:
    """FLOPs of one attention backward without recomputation: the gradients of ``P @ V``
    (of P and of V) and of ``Q @ K.T`` (of Q and of K), 2 x the forward."""
    batch, heads, q_len, k_len, qk_dim, v_dim = attention_shape(query_shape, key_shape,
                                                                value_shape)
    return 4 * batch * heads * q_len * k_len * (qk_dim + v_dim)


def attention_formulas(tp: int = 1) -> dict[Any, Callable[..., int]]:
    """The counter's ``custom_mapping``: the attention kernels this torch has, by op. ``tp``:
    the ranks of a tensor-parallel group; each runs the attention of its ``heads / tp`` heads
    on plain tensors, while the split matmuls run as DTensors whose shapes (what the counter
    sees) are the group's: the attention counted is multiplied by ``tp``, so that a step
    counts the group's FLOPs for its batch throughout (the whole model's, as one process)."""
    aten = torch.ops.aten
    mapping: dict[Any, Callable[..., int]] = {}
    for names, formula in ((SDPA_FORWARD, sdpa_forward_flops),
                           (SDPA_BACKWARD, sdpa_backward_flops)):
        for name in names:
            if hasattr(aten, name):
                mapping[getattr(aten, name)] = (formula if tp == 1
                                                else _scaled(formula, tp))
    return mapping


def _scaled(formula: Callable[..., int], factor: int) -> Callable[..., int]:
    def scaled(*args: Any, **kwargs: Any) -> int:
        return factor * formula(*args, **kwargs)
    return scaled


def _eager() -> contextlib.AbstractContextManager[Any]:
    set_stance = getattr(torch.compiler, "set_stance", None)
    return set_stance("force_eager") if set_stance is not None else contextlib.nullcontext()


def count_step_flops(step: Step, tp: int = 1) -> int:
    """The FLOPs one call of ``step`` performs (0: nothing the counter knows); ``tp``: the
    ranks of this rank's tensor-parallel group (:func:`attention_formulas`)."""
    counter = FlopCounterMode(display=False, custom_mapping=attention_formulas(tp))
    with _eager(), counter, warnings.catch_warnings():
        # The counter's module hooks make torch.compile warn that hooks fire twice: harmless.
        warnings.filterwarnings("ignore", message=".*global hooks on modules.*")
        step()
    return int(counter.get_total_flops())


def flops_per_sample(step: Step, samples: int, tp: int = 1) -> float | None:
    """FLOPs of one step divided by the samples it processes (this process's batch, its
    tensor-parallel group's under fsdp_tp: ``tp`` ranks); ``None`` when the counter saw
    none."""
    total = count_step_flops(step, tp)
    return total / samples if total > 0 and samples > 0 else None


def _run_plainly(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    return module(*args, **kwargs)


def checkpointed_blocks(model: Any) -> list[CheckpointWrapper]:
    """The activation-checkpointed blocks of ``model`` (any wrapper around it included)."""
    if not isinstance(model, nn.Module):
        return []
    return [m for m in model.modules() if isinstance(m, CheckpointWrapper)]


@contextlib.contextmanager
def without_recomputation(blocks: list[CheckpointWrapper]) -> Iterator[None]:
    """While inside, the checkpointed ``blocks`` run their module plainly (no recomputation
    in the backward); their checkpointing is back after."""
    saved = [block.checkpoint_fn for block in blocks]
    for block in blocks:
        block.checkpoint_fn = _run_plainly  # type: ignore[assignment]
    try:
        yield
    finally:
        for block, fn in zip(blocks, saved, strict=True):
            block.checkpoint_fn = fn


def data_parallel_inner(model: Any) -> nn.Module | None:
    """The module under ``nn.DataParallel`` (itself possibly under ``torch.compile``), or
    ``None`` when ``model`` is no DataParallel."""
    inner = getattr(model, "_orig_mod", model)
    return inner.module if isinstance(inner, nn.DataParallel) else None


def _first_rows(batch: Any, rows: int) -> Any:
    """The first ``rows`` samples of every tensor of a batch (tuples, lists, dicts too)."""
    if isinstance(batch, torch.Tensor):
        return batch[:rows] if batch.dim() > 0 else batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(_first_rows(b, rows) for b in batch)
    if isinstance(batch, dict):
        return {k: _first_rows(v, rows) for k, v in batch.items()}
    return batch


@contextlib.contextmanager
def plain_step(step: Step, samples: int, share: int) -> Iterator[tuple[Step, int]]:
    """``(step to count, samples it processes)``. For a runner's step (``step.__self__``
    with ``model`` and ``source``): while inside, the runner runs on the first ``share``
    samples of its batch, and the plain module when its model is a DataParallel (``share``:
    one replica's share, or fewer); else, or when ``share`` is the whole batch of a plain
    model, the step itself and its ``samples``. FLOPs per sample do not depend on the batch
    (every counted op is linear in it). A model with activation-checkpointed blocks runs them
    plainly, on one sample (see the module's note)."""
    runner: Any = getattr(step, "__self__", None)
    model = getattr(runner, "model", None)
    inner = data_parallel_inner(model)
    source = getattr(runner, "source", None)
    blocks = checkpointed_blocks(model)
    if blocks and share > 0:
        share = 1
    with without_recomputation(blocks):
        if source is None or share <= 0 or (inner is None and share >= samples):
            yield step, samples
            return

        def one_share() -> Any:
            return _first_rows(source(), share)

        runner.source = one_share
        if inner is not None:
            runner.model = inner
        try:
            yield step, share
        finally:
            runner.model, runner.source = model, source

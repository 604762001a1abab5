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
arithmetic (:func:`attention_formulas`, given to the counter as ``custom_mapping``):

* forward: torch's ``sdpa_flop_count`` (``Q @ K.T`` and ``P @ V``: 4 x T_q x T_k x head dim
  per head), also for the CPU's fused kernel ``_scaled_dot_product_flash_attention_for_cpu``,
  which torch's counter does not know (it counted 0 for it: gpt2 at 1024 tokens lost 15 %);
* backward: 2 x the forward, the model's FLOPs: torch's ``sdpa_backward_flop_count`` less its
  recomputation of ``Q @ K.T`` (a fused kernel's way to save memory, not the model's
  arithmetic; MFU counts no recomputation). Without it the GPU's flash/efficient/cuDNN
  kernels and the CPU's fused one (2.5 x) would disagree with the math fallback that attention
  dropout takes on a CPU (its plain ``bmm``, 2 x, counted as such).
* A causal mask does not halve the count: torch's formulas count the whole ``T_q x T_k``
  score matrix, causal or not (as the math fallback computes it), on every device alike.

Attention over nested (variable-length) tensors (``_flash_attention_*``,
``_efficient_attention_*``) keeps torch's own formulas; the benchmark's models do not use it.

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
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

Step = Callable[[], object]

#: Fused attention kernels whose forward torch's counter does not count (by aten name).
SDPA_FORWARD = ("_scaled_dot_product_flash_attention_for_cpu",)
#: Fused attention backward kernels, counted as 2 x their forward (see the module's notes).
SDPA_BACKWARD = ("_scaled_dot_product_flash_attention_for_cpu_backward",
                 "_scaled_dot_product_flash_attention_backward",
                 "_scaled_dot_product_efficient_attention_backward",
                 "_scaled_dot_product_cudnn_attention_backward")


def sdpa_forward_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any,
                       out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of one attention forward: torch's ``sdpa_flop_count`` (causal or not)."""
    return int(flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape))


def sdpa_backward_flops(grad_out_shape: Any, query_shape: Any, key_shape: Any,
                        value_shape: Any, *args: Any, out_shape: Any = None,
                        **kwargs: Any) -> int:
    """FLOPs of one attention backward without recomputation: torch's
    ``sdpa_backward_flop_count`` less its first term, the recomputed ``Q @ K.T``."""
    full = flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                                 value_shape)
    batch, heads, q_len, head_dim = query_shape
    k_len = key_shape[2]
    recomputed = flop_counter.bmm_flop((batch * heads, q_len, head_dim),
                                       (batch * heads, head_dim, k_len))
    return int(full - recomputed)


def attention_formulas() -> dict[Any, Callable[..., int]]:
    """The counter's ``custom_mapping``: the attention kernels this torch has, by op."""
    aten = torch.ops.aten
    mapping: dict[Any, Callable[..., int]] = {}
    for names, formula in ((SDPA_FORWARD, sdpa_forward_flops),
                           (SDPA_BACKWARD, sdpa_backward_flops)):
        for name in names:
            if hasattr(aten, name):
                mapping[getattr(aten, name)] = formula
    return mapping


def _eager() -> contextlib.AbstractContextManager[Any]:
    set_stance = getattr(torch.compiler, "set_stance", None)
    return set_stance("force_eager") if set_stance is not None else contextlib.nullcontext()


def count_step_flops(step: Step) -> int:
    """The FLOPs one call of ``step`` performs (0: nothing the counter knows)."""
    counter = FlopCounterMode(display=False, custom_mapping=attention_formulas())
    with _eager(), counter, warnings.catch_warnings():
        # The counter's module hooks make torch.compile warn that hooks fire twice: harmless.
        warnings.filterwarnings("ignore", message=".*global hooks on modules.*")
        step()
    return int(counter.get_total_flops())


def flops_per_sample(step: Step, samples: int) -> float | None:
    """FLOPs of one step divided by the samples it processes (this process's batch);
    ``None`` when the counter saw none."""
    total = count_step_flops(step)
    return total / samples if total > 0 and samples > 0 else None


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
    with ``model`` and ``source``) whose model is a DataParallel: while inside, the runner
    runs the plain module on the first ``share`` samples (one replica's share); else the
    step itself and its ``samples``."""
    runner: Any = getattr(step, "__self__", None)
    model = getattr(runner, "model", None)
    inner = data_parallel_inner(model)
    source = getattr(runner, "source", None)
    if inner is None or source is None or share <= 0:
        yield step, samples
        return

    def one_share() -> Any:
        return _first_rows(source(), share)

    runner.model, runner.source = inner, one_share
    try:
        yield step, share
    finally:
        runner.model, runner.source = model, source

"""``--check_numerics``: the run's own forward pass against a float32 eager reference.

Responsibility: after timing (never inside the timed window), one forward pass of the model as
the run ran it (its precision under autocast, its memory format, compiled, DDP-wrapped) and
one of a float32 eager copy of the same weights on the same device (TF32 off, contiguous),
both in eval mode on the same batch; the relative L2 error of the main output against the
reference is judged against the tolerance of the math the run used (:data:`TOLERANCES`).
TorchBench checks a compiled model against eager the same way; the copy makes the check
see what the run's own path (autocast, a compiler, a memory format, a broken kernel) does to
the numbers, not whether the weights are good (the loss facts say that).

Facts: ``results.numerics`` (``ok`` | ``off`` | ``not_finite``), ``results.numerics_error``
(the relative error, the largest over the ranks), ``results.numerics_tolerance`` and
``results.numerics_basis`` (which tolerance: ``float32``, ``tf32``, ``bfloat16``,
``float16``, with ``+compile`` when compiled). A sharded run (FSDP2, HSDP, tensor parallel)
is checked against a model built again holding its whole weights (:func:`whole_reference`:
every DTensor gathered on every rank), judged by its precision's tolerance: the forward pass
of gathered weights is the unsharded one up to the order of a tensor-parallel layer's partial
sums.
"""
from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

#: The largest relative L2 error of the main output that is still ``ok``, by the math the run
#: used. float32: the reference's own kernels in another memory format or fused by a compiler
#: reorder sums (measured up to 3e-6 on this project's zoo on a CPU: docs/pytorch-benchmark.md);
#: tf32 keeps 10 bits of mantissa in matmuls and convolutions, bfloat16 8, float16 10 (with a
#: narrower range). The margins over what was measured are in the docs; a GPU's kernels are
#: to be measured on one (issue "On a real GPU").
TOLERANCES: dict[str, float] = {"float32": 5e-6, "tf32": 2e-2, "float16": 2e-2,
                                "bfloat16": 8e-2}
#: float32 on a CUDA device, until measured on one (issue "On a real GPU"): cuDNN picks other
#: algorithms for another memory format (``cudnn.benchmark``: Winograd, FFT) and Inductor
#: fuses otherwise, so the CPU's 5e-6 could call a sound run off, and an ``off`` run leaves
#: every history: a provisional 1e-4 until a GPU's errors are measured.
CUDA_FLOAT32 = 1e-4

#: The statuses, worst last (the ranks' result is the worst of theirs).
STATUSES = ("ok", "off", "not_finite")


@dataclass(frozen=True)
class Verdict:
    """A check's outcome: the status, the relative error (inf when not finite) and the
    tolerance it was judged against."""

    status: str
    error: float
    tolerance: float


def basis(dtype: str, tf32: bool, compiled: bool) -> str:
    """The name of the tolerance a run is judged by: its autocast dtype, ``tf32`` for float32
    math with TF32 matmuls or convolutions allowed, ``float32`` otherwise; ``+compile``."""
    name = dtype if dtype in ("float16", "bfloat16") else ("tf32" if tf32 else "float32")
    return f"{name}+compile" if compiled else name


def tolerance_of(basis_name: str, device_type: str = "cpu") -> float:
    """The tolerance of a :func:`basis` on a device (a compiler adds nothing beyond its
    precision's; float32 on a CUDA device: :data:`CUDA_FLOAT32`)."""
    name = basis_name.removesuffix("+compile")
    if name == "float32" and device_type == "cuda":
        return CUDA_FLOAT32
    return TOLERANCES[name]


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under ``torch.compile``, DDP and DataParallel wrappers (and the
    autocast wrapper of DataParallel replicas)."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def reference_model(model: nn.Module) -> nn.Module:
    """A float32, contiguous, uncompiled copy of ``model``'s plain module and weights."""
    ref = copy.deepcopy(unwrap(model)).float()
    for tensor in [*ref.parameters(), *ref.buffers()]:
        tensor.data = tensor.data.contiguous()
    return ref


#: The parts of a parameter's dotted name that wrappers add (``torch.compile``'s, activation
#: checkpointing's, DDP's and DataParallel's): the same parameter in the plain model.
WRAPPER_PARTS = frozenset({"_orig_mod", "_checkpoint_wrapped_module", "module"})


def plain_name(name: str) -> str:
    """A parameter's name in the plain model (whole :data:`WRAPPER_PARTS` left out: a layer
    called ``submodule`` keeps its name)."""
    return ".".join(part for part in name.split(".") if part not in WRAPPER_PARTS)


def whole_reference(model: nn.Module, build: Callable[[], nn.Module],
                    device: torch.device) -> nn.Module:
    """A float32 eager model built again (``build``) on ``device`` holding a sharded model's
    whole weights: each DTensor parameter or buffer gathered (``full_tensor``, a collective:
    every rank calls this, in the same order). A weight of another shape, or one of the rebuilt
    model's left without a value, raises :class:`NotComparable`."""
    from torch.distributed.tensor import DTensor

    whole: dict[str, torch.Tensor] = {}
    for name, tensor in [*model.named_parameters(remove_duplicate=False),
                         *model.named_buffers(remove_duplicate=False)]:
        value = tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
        whole[plain_name(name)] = value.detach().float()
    reference = build().to(device).float()
    try:
        missing, _ = reference.load_state_dict(whole, strict=False)
    except RuntimeError as err:  # a weight of another shape
        lines = str(err).strip().splitlines()
        raise NotComparable(f"the rebuilt model is not the sharded one: {lines[-1].strip()}"
                            ) from None
    if missing:
        raise NotComparable(f"the rebuilt model's weights {', '.join(missing[:3])} are not the "
                            "sharded model's")
    return reference


def main_output(output: Any) -> torch.Tensor | None:
    """The tensor a model's output is judged by: itself, a tuple's first, ``.logits``; a
    tensor-parallel output (a DTensor) whole (a collective)."""
    from torch.distributed.tensor import DTensor

    if isinstance(output, (tuple, list)):
        output = output[0] if output else None
    elif not isinstance(output, torch.Tensor):
        output = getattr(output, "logits", None)
    if isinstance(output, DTensor):
        output = output.full_tensor()
    return output if isinstance(output, torch.Tensor) else None


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """TF32 off for matmuls and cuDNN convolutions while the reference runs, then as before."""
    precision = torch.get_float32_matmul_precision()
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


@contextlib.contextmanager
def evaluating(*models: nn.Module) -> Iterator[None]:
    """Every model in eval mode (no dropout, running statistics), then back as it was."""
    was = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(models, was):
            m.train(training)


def relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """``|output - reference| / |reference|`` (L2, in float64); inf when either is not
    finite (the shapes are the caller's: :func:`check`)."""
    out, ref = output.detach().double(), reference.detach().double()
    if not bool(torch.isfinite(out).all()) or not bool(torch.isfinite(ref).all()):
        return math.inf
    scale = float(ref.norm())
    diff = float((out - ref).norm())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def judge(error: float, tolerance: float) -> str:
    """``not_finite`` (inf), ``off`` beyond the tolerance or NaN (outputs of another shape),
    else ``ok``."""
    if math.isnan(error):
        return "off"
    if math.isinf(error):
        return "not_finite"
    return "off" if error > tolerance else "ok"


class NotComparable(Exception):
    """The outputs cannot be compared (not a tensor): the run is not checked, and says why."""


def check(run_forward: Callable[[torch.Tensor], Any], reference: nn.Module,
          inputs: torch.Tensor, tolerance: float) -> Verdict:
    """The run's forward pass (``run_forward``, in the run's own context) against the
    reference's on the same inputs (float32 and contiguous for it), in eval mode, without
    gradients. Outputs of two shapes are ``off`` (error null); an output that is no tensor
    raises :class:`NotComparable`."""
    with torch.no_grad():
        out = main_output(run_forward(inputs))
        ref_inputs = inputs.float() if inputs.is_floating_point() else inputs
        with full_float32():
            ref = main_output(reference(ref_inputs.contiguous()))
    if out is None or ref is None:
        raise NotComparable("the model's output is not a tensor (nor a tuple or .logits of one)")
    if out.shape != ref.shape:
        return Verdict("off", math.nan, tolerance)
    error = relative_error(out, ref)
    return Verdict(judge(error, tolerance), error, tolerance)


def facts_of(verdict: Verdict, basis_name: str) -> dict[str, Any]:
    """The ``results.numerics*`` facts of a verdict (the error as ``null`` when not finite or
    not comparable: a log holds JSON)."""
    return {"results.numerics": verdict.status,
            "results.numerics_error": verdict.error if math.isfinite(verdict.error) else None,
            "results.numerics_tolerance": verdict.tolerance,
            "results.numerics_basis": basis_name}

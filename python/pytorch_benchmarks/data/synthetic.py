"""Synthetic input: one fixed batch, made once, kept on the device or in pinned host memory.

With the batch on the device every iteration reuses it (no input cost at all, as DLBS did);
in pinned host memory it is copied to the device each iteration (the host-to-device cost of
real data without its decode cost).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


def make_batch(batch_size: int, input_shape: tuple[int, ...], label_shape: tuple[int, ...],
               num_classes: int, seed: int, inputs_kind: str = "dense") -> Batch:
    """A random input batch and integer labels on the CPU (reproducible by ``seed``).

    Dense inputs are float32 normal samples; ``"tokens"`` inputs are int64 token ids in
    ``[0, num_classes)`` (the vocabulary), with labels of ``label_shape`` ``(T,)`` per sample.
    """
    gen = torch.Generator().manual_seed(seed)
    if inputs_kind == "tokens":
        inputs = torch.randint(0, num_classes, (batch_size, *input_shape), generator=gen)
    else:
        inputs = torch.randn((batch_size, *input_shape), generator=gen)
    labels = torch.randint(0, num_classes, (batch_size, *label_shape), generator=gen)
    return inputs, labels


def batch_source(batch: Batch, device: torch.device, memory_format: torch.memory_format,
                 on_host: bool) -> Callable[[], Batch]:
    """A callable returning the model-ready batch each iteration."""
    inputs, labels = batch
    if inputs.dim() != 4:
        memory_format = torch.contiguous_format
    if not on_host or device.type == "cpu":
        fixed = (inputs.to(device, memory_format=memory_format), labels.to(device))
        return lambda: fixed
    pinned = (inputs.contiguous(memory_format=memory_format).pin_memory(), labels.pin_memory())

    def copy_to_device() -> Batch:
        return (pinned[0].to(device, non_blocking=True), pinned[1].to(device, non_blocking=True))

    return copy_to_device

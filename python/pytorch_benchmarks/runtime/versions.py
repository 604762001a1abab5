"""The oldest torch the benchmark runs on, checked once at the start of a run.

Responsibility: :data:`MIN_TORCH` and :func:`check_torch`, which refuses an older torch with
one line that says what to use. Why 2.5: the transformer models' grouped-query attention calls
``scaled_dot_product_attention(..., enable_gqa=True)`` (llama; the keyword exists from torch
2.5); older releases lack more the benchmark relies on, and none is tested. The release is read
from ``torch.__version__`` without its pre-release and local parts: NVIDIA's NGC images carry
snapshots such as ``2.10.0a0+b4e4ee81d3`` (NGC 25.12), which count as 2.10. Standard library
only.
"""
from __future__ import annotations

import re

from pytorch_benchmarks.errors import BenchmarkError

#: The oldest torch release (major, minor) the benchmark runs on.
MIN_TORCH = (2, 5)
#: An image known to carry a torch at least that recent (its release notes: 2.10.0a0).
KNOWN_GOOD_IMAGE = "nvcr.io/nvidia/pytorch:25.12-py3"


def torch_release(version: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a torch version string (``2.10.0a0+b4e4ee81d3`` -> (2, 10));
    None when it does not start with two numbers."""
    found = re.match(r"\s*(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else None


def check_torch(version: str) -> None:
    """Refuse a torch older than :data:`MIN_TORCH` (an unreadable version is let through)."""
    release = torch_release(version)
    if release is None or release >= MIN_TORCH:
        return
    needed = ".".join(map(str, MIN_TORCH))
    raise BenchmarkError(f"torch {version} is older than the {needed} this benchmark needs "
                         f"(scaled_dot_product_attention's enable_gqa); use torch >= {needed}, "
                         f"e.g. the image {KNOWN_GOOD_IMAGE} (docs/pytorch-benchmark.md)")

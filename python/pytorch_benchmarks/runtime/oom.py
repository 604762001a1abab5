"""Which errors mean that memory ran out: a table of the messages torch, CUDA, cuBLAS, cuDNN
and NCCL give when it does, most of which do not say "out of memory".

Responsibility: :func:`memory_verdict` reads an exception's message against
:data:`PATTERNS` and says ``oom`` (memory ran out: the run's status is ``oom``), ``near_oom``
(an error that memory running out is the usual cause of near the edge, but that a real fault
can give too: only the batch search, where a smaller batch already ran, counts it as "does not
fit"; a run at a given batch stays a ``failure`` with the message) or ``None``. Standard
library only: the entry point classifies errors when torch itself failed to import.

The messages, as the libraries write them (the tests hold one real message of each):

* torch's caching allocator: ``CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; ...)``
  (``torch.OutOfMemoryError``); a CUDA call: ``CUDA error: out of memory``
  (``cudaErrorMemoryAllocation``, a ``torch.AcceleratorError`` since torch 2.8); NCCL:
  ``... ncclUnhandledCudaError: Call to CUDA function failed. Last error: Cuda failure 'out of
  memory'``; the CPU: ``DefaultCPUAllocator: can't allocate memory``; C++: ``std::bad_alloc``.
* cuBLAS's and cuDNN's own allocations: ``CUBLAS_STATUS_ALLOC_FAILED``,
  ``CUDNN_STATUS_ALLOC_FAILED``; a cuBLAS handle that cannot get its memory:
  ``CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)```.
* cuDNN, when no convolution algorithm's workspace can be allocated (torch tries each and
  skips those that run out): ``GET was unable to find an engine to execute this computation``
  / ``FIND was unable to find an engine ...`` (cuDNN v8/v9 API) and ``Unable to find a valid
  cuDNN algorithm to run convolution`` (v7 API). A convolution cuDNN cannot run at all fails
  at batch 1 already, so these count as out of memory.
* near the edge only: ``CUBLAS_STATUS_EXECUTION_FAILED`` (a GEMM whose launch failed),
  ``CUDNN_STATUS_INTERNAL_ERROR`` and ``CUDNN_STATUS_EXECUTION_FAILED``: the usual symptom of
  a GPU at its memory limit, also of a kernel fault.

NCCL's ``ncclUnhandledCudaError`` without the CUDA error's text is not classified: it cannot be
told from another CUDA failure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

OOM, NEAR_OOM = "oom", "near_oom"


@dataclass(frozen=True)
class Pattern:
    """One message pattern (a case-insensitive regular expression) and what it means."""

    regex: str
    verdict: str
    source: str


PATTERNS: tuple[Pattern, ...] = (
    Pattern(r"out of memory", OOM, "torch's allocator, a CUDA call, NCCL's CUDA failure"),
    Pattern(r"can't allocate memory|cannot allocate memory", OOM, "the CPU's allocator"),
    Pattern(r"std::bad_alloc", OOM, "a C++ allocation"),
    Pattern(r"CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED", OOM,
            "cuBLAS's or cuDNN's own allocation"),
    Pattern(r"CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate", OOM,
            "a cuBLAS handle that could not get its memory"),
    Pattern(r"unable to find an engine to execute this computation", OOM,
            "cuDNN: no algorithm's workspace could be allocated (v8/v9 API)"),
    Pattern(r"unable to find a valid cuDNN algorithm", OOM,
            "cuDNN: no algorithm's workspace could be allocated (v7 API)"),
    Pattern(r"CUBLAS_STATUS_EXECUTION_FAILED", NEAR_OOM, "a cuBLAS GEMM whose launch failed"),
    Pattern(r"CUDNN_STATUS_INTERNAL_ERROR|CUDNN_STATUS_EXECUTION_FAILED", NEAR_OOM,
            "cuDNN's internal or execution failure"),
)
_COMPILED = tuple((re.compile(p.regex, re.IGNORECASE), p) for p in PATTERNS)


def memory_verdict(exc: BaseException) -> str | None:
    """``oom``, ``near_oom`` or ``None`` for ``exc`` (see the module's doc): a ``MemoryError``
    is ``oom``; other errors count only when they are ``RuntimeError`` s (torch's, CUDA's,
    NCCL's errors all are) whose message matches a pattern (the first that matches)."""
    if isinstance(exc, MemoryError):
        return OOM
    if not isinstance(exc, RuntimeError):
        return None
    text = str(exc)
    for regex, pattern in _COMPILED:
        if regex.search(text):
            return pattern.verdict
    return None

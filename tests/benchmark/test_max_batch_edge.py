"""The GPU's batch search at the memory edge, simulated on the CPU: errors that mean memory ran
out without saying "out of memory" (cuDNN, cuBLAS, NCCL messages, as those libraries write
them), and ``--compile`` probes that must not leave a dynamic-shape graph to the timed run."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.distributed
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.run.maxbatch import probers, searches
from torch import nn

NCCL_OOM = ("NCCL error in: /opt/pytorch/pytorch/torch/csrc/distributed/c10d/"
            "ProcessGroupNCCL.cpp:1970, unhandled cuda error (run with NCCL_DEBUG=INFO for "
            "details), NCCL version 2.21.5\nncclUnhandledCudaError: Call to CUDA function "
            "failed.\nLast error:\nCuda failure 'out of memory'")
CUBLAS_GEMM_FAILED = ("CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx( "
                      "handle, opa, opb, m, n, k, &falpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, "
                      "ldb, &fbeta, c, CUDA_R_16BF, ldc, compute_type, "
                      "CUBLAS_GEMM_DEFAULT_TENSOR_OP)`")
CUBLASLT_FAILED = ("CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasLtMatmul( "
                   "ltHandle, computeDesc.descriptor(), &alpha_val, mat1_ptr, Adesc.descriptor(), "
                   "mat2_ptr, Bdesc.descriptor(), &beta_val, result_ptr, Cdesc.descriptor(), "
                   "result_ptr, Cdesc.descriptor(), &heuristicResult.algo, "
                   "workspace.mutable_data_ptr(), workspaceSize, "
                   "at::cuda::getCurrentCUDAStream())`")
CUDA_HINT = ("\nCUDA kernel errors might be asynchronously reported at some other API call, so "
             "the stacktrace below might be incorrect.\nFor debugging consider passing "
             "CUDA_LAUNCH_BLOCKING=1\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side "
             "assertions.\n")

ERRORS = [
    pytest.param(torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.11 "
        "GiB of which 6.12 MiB is free."), "oom", False, id="torch-allocator"),
    pytest.param(torch.AcceleratorError("CUDA error: out of memory" + CUDA_HINT), "oom", False,
                 id="cuda-call"),
    pytest.param(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling "
                              "`cublasCreate(handle)`"), "oom", False, id="cublas-alloc"),
    pytest.param(RuntimeError("CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling "
                              "`cublasCreate(handle)`"), "oom", False, id="cublas-create"),
    pytest.param(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"), "oom", False,
                 id="cudnn-alloc"),
    pytest.param(RuntimeError("GET was unable to find an engine to execute this computation"),
                 "oom", False, id="cudnn-v8-get"),
    pytest.param(RuntimeError("FIND was unable to find an engine to execute this computation"),
                 "oom", False, id="cudnn-v8-find"),
    pytest.param(RuntimeError("Unable to find a valid cuDNN algorithm to run convolution"),
                 "oom", False, id="cudnn-v7"),
    pytest.param(torch.distributed.DistBackendError(NCCL_OOM), "oom", False, id="nccl-cuda-oom"),
    pytest.param(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                              "allocate 8589934592 bytes. Error code 12 (Cannot allocate "
                              "memory)"), "oom", False, id="cpu-allocator"),
    pytest.param(RuntimeError(CUBLAS_GEMM_FAILED), "failure", True, id="cublas-gemm-failed"),
    pytest.param(RuntimeError(CUBLASLT_FAILED), "failure", True, id="cublaslt-failed"),
    pytest.param(RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"), "failure", True,
                 id="cudnn-internal"),
    pytest.param(RuntimeError("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"), "failure", True,
                 id="cudnn-execution"),
    pytest.param(torch.distributed.DistBackendError(NCCL_OOM.split("\nLast error")[0]),
                 "failure", False, id="nccl-without-the-cuda-error"),
    pytest.param(torch.AcceleratorError("CUDA error: an illegal memory access was encountered"
                                        + CUDA_HINT), "failure", False, id="illegal-access"),
    pytest.param(ValueError("out of memory"), "failure", False, id="not-a-runtime-error"),
]


@pytest.mark.parametrize("error, status, near", ERRORS)
def test_memory_errors_are_told_by_their_real_messages(error: BaseException, status: str,
                                                       near: bool) -> None:
    """``status``: the run's ``results.status``; ``near``: an error that memory running out
    usually causes near the edge (the search's "does not fit" above batch 1, a run's
    failure)."""
    assert benchmarks.classify(error) == status
    assert benchmarks.near_oom(error) is near


def _prober(error: BaseException, largest: int) -> probers.InProcessProber:
    def step(batch: int) -> float:
        if batch > largest:
            raise error
        return 0.01

    return probers.InProcessProber(step, benchmarks.classify, benchmarks.one_line,
                                   lambda: None, benchmarks.near_oom)


@pytest.mark.parametrize("message", [
    "GET was unable to find an engine to execute this computation",
    "CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`",
    CUBLAS_GEMM_FAILED, "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"])
def test_the_search_ends_at_the_edge_when_memory_runs_out_without_saying_so(message: str) -> None:
    result = searches.search(_prober(RuntimeError(message), 37), 4096)
    assert result.max_batch == 37 and not result.timed_out
    reason = next(p.reason for p in result.probes if not p.fits)
    assert reason is not None and message.split("`")[0].strip() in reason


def test_an_error_only_memory_near_the_edge_explains_is_the_runs_at_batch_1() -> None:
    """Batch 1 runs before any larger probe: a failed GEMM there is a fault, not the edge."""
    with pytest.raises(RuntimeError, match="CUBLAS_STATUS_EXECUTION_FAILED"):
        searches.search(_prober(RuntimeError(CUBLAS_GEMM_FAILED), 0), 4096)


def test_a_near_edge_error_is_probably_out_of_memory_in_the_probes_reason() -> None:
    probe = _prober(RuntimeError(CUBLAS_GEMM_FAILED), 4)(8)
    assert probe.fits is False and probe.reason is not None
    assert probe.reason.startswith("probably out of memory: RuntimeError: CUDA error: "
                                   "CUBLAS_STATUS_EXECUTION_FAILED")


def _has_dynamic_inputs(graph: torch.fx.GraphModule) -> bool:
    for node in graph.graph.nodes:
        if node.op != "placeholder":
            continue
        value = node.meta.get("example_value")
        if isinstance(value, torch.SymInt) or (isinstance(value, torch.Tensor) and any(
                isinstance(size, torch.SymInt) for size in value.shape)):
            return True
    return False


def test_compiled_probes_leave_the_timed_run_a_static_graph_of_its_own_batch() -> None:
    """Each probe builds and compiles its model at its batch (as ``probe_step`` does); the
    probes' cleanup must forget the graphs: else the second batch size makes dynamo compile a
    dynamic batch dimension, which the timed run then reuses (no compile of its own)."""
    dynamic: list[bool] = []

    def backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        dynamic.append(_has_dynamic_inputs(graph))
        return graph.forward

    def run(batch: int) -> float:
        model = torch.compile(nn.Linear(4, 4), backend=backend)
        model(torch.randn(batch, 4))
        return 0.01

    def step(batch: int) -> float:
        if batch > 6:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return run(batch)

    torch._dynamo.reset()
    prober = probers.InProcessProber(step, benchmarks.classify, benchmarks.one_line,
                                     probers.cuda_cleanup, benchmarks.near_oom)
    found = searches.search(prober, 64)
    assert found.max_batch == 6
    fitted = [p for p in found.probes if p.fits]
    assert dynamic == [False] * len(fitted)  # every probe compiled its own, static batch
    run(found.max_batch)  # the timed run
    assert dynamic == [False] * (len(fitted) + 1)
    torch._dynamo.reset()

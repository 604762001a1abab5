"""The communication share read from a profiler trace (``measure/profiling.communication``):
the union of the collectives' intervals within the profiled steps' span. A GPU's trace is
simulated (NCCL kernels beside compute kernels, overlapping); a CPU's holds gloo's spans."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytorch_benchmarks.measure import profiling


def _trace(tmp_path: Path, events: list[dict]) -> str:
    path = tmp_path / "t.trace.json"
    path.write_text(json.dumps({"traceEvents": events}), encoding="utf-8")
    return str(path)


def _x(name: str, ts: float, dur: float, cat: str = "user_annotation") -> dict:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "cat": cat}


def test_nccl_kernels_count_once_where_they_overlap_and_only_within_the_steps(
        tmp_path: Path) -> None:
    events = [_x(profiling.STEPS, 1000, 3000),
              _x("ncclDevKernel_AllGather_RING_LL(ncclDevComm*)", 1000, 500, "kernel"),
              _x("ncclDevKernel_ReduceScatter_Sum_f32_RING_LL", 1200, 500, "kernel"),  # overlap
              _x("ncclDevKernel_AllReduce", 3800, 400, "kernel"),  # half outside the span
              _x("ampere_sgemm_128x64_tn", 1000, 3000, "kernel"),  # compute: not counted
              _x("gloo:all_gather", 1000, 3000),  # a GPU's NCCL kernels win over gloo spans
              {"ph": "i", "name": "ncclDevKernel_x", "ts": 1000}]
    found = profiling.communication(_trace(tmp_path, events), iterations=3)
    assert found == profiling.Communication(share=pytest.approx(900 / 3000),
                                            ms_per_step=pytest.approx(0.3),
                                            source="NCCL kernels")


def test_gloo_collectives_on_a_cpu_and_none_without_any(tmp_path: Path) -> None:
    steps = _x(profiling.STEPS, 0, 1000)
    found = profiling.communication(_trace(tmp_path, [steps, _x("gloo:all_reduce", 100, 250),
                                                      _x("gloo:all_gather", 600, 150)]), 1)
    assert found is not None and found.share == pytest.approx(0.4)
    assert found.source == "gloo collectives" and found.ms_per_step == pytest.approx(0.4)
    assert profiling.communication(_trace(tmp_path, [steps, _x("aten::mm", 0, 900)])) is None
    assert profiling.communication(_trace(tmp_path, [_x("gloo:all_reduce", 0, 9)])) is None

"""Profile traces of a sweep never overwrite each other: each run's trace has its own name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytorch_benchmarks.measure import calibration, energy
from pytorch_benchmarks.measure.profiling import trace_path

from .conftest import FEW, RunBench


def test_a_trace_names_model_phase_batch_dtype_rank_and_time(tmp_path: Path) -> None:
    path = trace_path(str(tmp_path), "hf:gpt2", "inference", 3, 8, "bfloat16", now=0.0)
    assert Path(path).name == "hf_gpt2-inference-b8-bfloat16-rank3-19700101T000000Z.trace.json"
    assert Path(path).is_file()  # claimed


def test_the_same_name_twice_gets_a_counter(tmp_path: Path) -> None:
    paths = [trace_path(str(tmp_path), "gpt2", "training", 0, 2, "float32", now=0.0)
             for _ in range(3)]
    assert len(set(paths)) == 3
    assert [Path(p).name.rsplit("Z", 1)[1] for p in paths] == [
        ".trace.json", "-2.trace.json", "-3.trace.json"]


def test_a_batch_sweep_keeps_every_trace(run_bench: RunBench, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """-Vexp.replica_batch='[1,2]' -Pexp.profile=DIR: before, both logs named one file,
    which held only the last run."""
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(energy.POWERCAP_ENV, str(tmp_path / "no-powercap"))
    folder = tmp_path / "traces"
    paths = []
    for batch in ("1", "2", "2"):  # the last: the same run again
        code, facts = run_bench("--model", "deep_mnist", "--batch_size", batch, *FEW,
                                "--peak_tflops", "1", "--profile", str(folder))
        assert code == 0
        paths.append(facts["results.profile_path"])
    assert len(set(paths)) == 3 and sorted(folder.iterdir()) == sorted(map(Path, paths))
    assert "-b1-float32-rank0-" in paths[0] and "-b2-float32-rank0-" in paths[1]
    for path in paths:
        assert json.loads(Path(path).read_text())["traceEvents"]

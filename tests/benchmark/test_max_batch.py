"""``--batch_size max``: the search, the probers and benchmarks.py end to end.

The CPU runs are real: each probe is a forked child whose memory is limited for real
(RLIMIT_DATA), so the doubling and the bisection stop where an allocation really fails. Only
the GPU path (no GPU here) is checked with a fake CUDA out-of-memory error.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.options import parse_args
from pytorch_benchmarks.run.maxbatch import finder, limits, probers, searches
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MaxBatchSpec

from .conftest import documented, read_facts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
#: A small MLP (2.9 M parameters) on one thread (each thread's stack counts in the budget):
#: with a 40 MiB budget its largest training batch is a few dozen, found in about 12 probes.
SMALL = ["--model", "sensor_net", "--device", "cpu", "--num_threads", "1", "--num_batches", "1",
         "--num_warmup_batches", "0", "--batch_size", "max"]


def run_script(tmp_path: Path, *argv: str, env: dict[str, str] | None = None
               ) -> tuple[int, dict[str, Any], str]:
    """benchmarks.py in its own process (the probes fork it: a process that has computed
    with torch must not fork them); return exit code, facts and stderr."""
    log = tmp_path / "max.log"
    result = subprocess.run([sys.executable, str(SCRIPT), *argv, "--log_file", str(log)],
                            check=False, capture_output=True, text=True, timeout=600,
                            env={**os.environ, **(env or {})})
    return result.returncode, read_facts(log) if log.exists() else {}, result.stderr


def bisection_steps(probes: list[dict[str, Any]]) -> tuple[int, int]:
    """Check that ``probes`` double from 1 until the first failure, then bisect (each probe
    strictly between the largest fit and the smallest failure so far); return those two."""
    batches = [p["batch"] for p in probes]
    first_fail = next(i for i, p in enumerate(probes) if not p["fits"])
    assert first_fail > 0, probes  # batch 1 fits
    assert batches[:first_fail + 1] == [2 ** i for i in range(first_fail + 1)]
    fit, fail = batches[first_fail - 1], batches[first_fail]
    for probe in probes[first_fail + 1:]:
        assert fit < probe["batch"] < fail, probes
        if probe["fits"]:
            fit = probe["batch"]
        else:
            fail = probe["batch"]
    return fit, fail


def test_max_doubles_then_bisects_within_a_real_cpu_budget(tmp_path: Path) -> None:
    """64 MiB: a batch above 1 takes about 40 MiB of the CPU library's buffers on an AVX-512
    Xeon (40 MiB let only batch 1 fit there, 48 MiB 143), less on others."""
    code, facts, err = run_script(tmp_path, *SMALL, "--memory_budget_mb", "64")
    assert code == 0 and facts["results.status"] == "ok", (facts.get("results.error"), err)
    best, probes = facts["results.max_batch"], facts["results.max_batch_probes"]
    fit, fail = bisection_steps(probes)
    assert best > 1 and fit == best and fail == best + 1
    assert best == max(p["batch"] for p in probes if p["fits"])
    assert facts["results.max_batch_capped"] is False
    assert all(p["reason"] for p in probes if not p["fits"])
    assert any("can't allocate memory" in p["reason"] for p in probes if not p["fits"])
    assert all(p["seconds"] > 0 and "reason" not in p for p in probes if p["fits"])
    assert facts["exp.max_batch_budget_mb"] == 64.0 and facts["exp.max_batch_limit"] == 4096
    assert facts["exp.max_batch_memory_limit"] == "rlimit_data"
    # the timed run is at the batch found
    assert facts["exp.effective_batch"] == best and facts["results.throughput"] > 0
    assert f"batch {best} x 1 replica" in err and f"batch {best + 1} does not fit" in err
    doc = (ROOT / "docs" / "log-format.md").read_text()
    assert not [key for key in facts if not documented(key, doc)]


def test_a_limit_that_still_fits_is_a_lower_bound_said_so(tmp_path: Path) -> None:
    env = {"DLBS_MAX_BATCH_LIMIT": "6", "DLBS_MAX_BATCH_BUDGET_MB": "300"}
    code, facts, err = run_script(tmp_path, *SMALL, env=env)
    assert code == 0 and facts["results.status"] == "ok", (facts.get("results.error"), err)
    assert [(p["batch"], p["fits"]) for p in facts["results.max_batch_probes"]] == \
        [(1, True), (2, True), (4, True), (6, True)]
    assert facts["results.max_batch"] == 6 and facts["results.max_batch_capped"] is True
    assert facts["exp.max_batch_limit"] == 6 and facts["exp.max_batch_budget_mb"] == 300.0
    assert any("lower bound" in w for w in facts["exp.warnings"])
    assert facts["exp.effective_batch"] == 6


def test_nothing_fits_is_an_oom(tmp_path: Path) -> None:
    code, facts, _ = run_script(tmp_path, *SMALL, "--memory_budget_mb", "1")
    assert code == 1 and facts["results.status"] == "oom"
    assert facts["results.max_batch"] == 0
    assert [p["batch"] for p in facts["results.max_batch_probes"]] == [1]
    assert facts["results.error"].startswith("--batch_size max: batch 1 does not fit in 1.0 MiB")


@pytest.mark.parametrize("value", ["maxx", "MAX", "0", "-4", "1.5", ""])
def test_other_batch_sizes_are_refused(tmp_path: Path, value: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "usage.log"
    assert benchmarks.main(["--batch_size", value, "--log_file", str(log)]) == 2
    assert "expected an integer >= 1 or 'max'" in capsys.readouterr().err
    assert read_facts(log)["results.status"] == "failure"


def test_max_is_refused_where_there_is_no_model_or_several_replicas() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--batch_size", "max", "--data_loader_only", "--data_dir", "/x"])
    args = parse_args(["--batch_size", "max", "--device", "cpu"])
    with pytest.raises(BenchmarkError, match="not under torchrun .WORLD_SIZE=2."):
        finder.find_max_batch(args, DistContext(world_size=2, enabled=True), print, print,
                              benchmarks.classify, benchmarks.one_line)
    assert parse_args([]).max_batch == MaxBatchSpec(limit=4096, memory_budget_mb=0.0)


def threshold(largest: int) -> Any:
    def probe(batch: int, timeout: float | None = None) -> searches.Probe:
        return searches.Probe(batch, batch <= largest, 0.0, None if batch <= largest else "no")
    return probe


@pytest.mark.parametrize("largest,limit,batches,found,capped", [
    (37, 4096, [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37], 37, False),
    (1, 4096, [1, 2], 1, False),
    (0, 4096, [1], 0, False),
    (5000, 100, [1, 2, 4, 8, 16, 32, 64, 100], 100, True),
    (70, 100, [1, 2, 4, 8, 16, 32, 64, 100, 82, 73, 68, 70, 71], 70, False),
    (9, 1, [1], 1, True),
])
def test_search_doubles_to_the_limit_then_bisects(largest: int, limit: int, batches: list[int],
                                                  found: int, capped: bool) -> None:
    seen: list[int] = []
    result = searches.search(threshold(largest), limit, lambda p: seen.append(p.batch))
    assert [p.batch for p in result.probes] == batches == seen
    assert (result.max_batch, result.capped) == (found, capped)


def test_in_process_probes_take_cuda_oom_as_does_not_fit() -> None:
    """The GPU path with an injected CUDA out-of-memory error (no GPU here)."""
    cleaned: list[int] = []

    def step(batch: int) -> float:
        if batch > 20:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if batch == 0:
            raise ValueError("a bug")
        return 0.01

    prober = probers.InProcessProber(step, benchmarks.classify, benchmarks.one_line,
                                     lambda: cleaned.append(1))
    result = searches.search(prober, 4096)
    assert result.max_batch == 20 and len(cleaned) == len(result.probes)
    failed = [p for p in result.probes if not p.fits]
    assert failed[0].reason == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    with pytest.raises(ValueError, match="a bug"):  # not out of memory: the run's failure
        prober(0)


def fork_prober(step: Any, budget_mb: int = 64) -> probers.ForkProber:
    return probers.ForkProber(step, budget_mb << 20, benchmarks.classify, benchmarks.one_line)


def test_fork_probes_fail_for_real_past_the_budget() -> None:
    """A pure-Python step (this process has computed with torch: its children must not), in a
    parent whose heap holds what earlier tests freed (CI once had 200 MiB "fit" in 64 until a
    probe took the free heap first)."""
    def step(batch: int) -> float:
        data = bytearray(batch << 20)  # batch MiB, zeroed: really used
        return float(len(data))

    prober = fork_prober(step)
    fits, too_big = prober(8), prober(200)
    assert fits.fits and fits.reason is None and prober.enforced_by == "rlimit_data"
    assert not too_big.fits and too_big.reason.startswith("MemoryError")


#: A search for the largest ``bytearray`` (in MiB) within a 64 MiB budget, in a fresh process
#: (what a process has left free in its heap depends on its history, e.g. on the tests that ran
#: before in the same process): ``garbage`` MiB sit in a reference cycle the parent did not
#: collect, and each probe runs a collection before it allocates (as torch's allocations may:
#: when a collection falls depends on what ran before, i.e. on timing, not on the batch).
SEARCH = """
import gc, json, sys
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.run.maxbatch import limits, probers, searches

class Node:
    pass

gc.disable()
node = Node()
node.cycle, node.data = node, bytearray(int(sys.argv[1]) << 20)
del node

def step(batch):
    gc.collect()
    data = bytearray(batch << 20)
    return float(len(data))

if sys.argv[2:] == ["no-free-reported"]:  # a heap that reports no free chunk (as on a CI)
    _reported = limits.malloc_free_bytes
    limits.malloc_free_bytes = lambda trim=False: _reported(trim) if trim else 0
prober = probers.ForkProber(step, 64 << 20, benchmarks.classify, benchmarks.one_line)
free_mib = limits.malloc_free_bytes(trim=True) >> 20
found = searches.search(prober, 4096)
print(json.dumps({"max_batch": found.max_batch, "free_mib": free_mib,
                  "probes": [[p.batch, p.fits] for p in found.probes]}))
"""


@pytest.mark.parametrize("garbage_mib,heap", [(0, ""), (32, ""), (0, "no-free-reported")],
                         ids=["no-garbage", "32-MiB-of-garbage", "no-free-chunk-reported"])
def test_a_fork_probe_never_passes_its_budget_whatever_the_parent_left(garbage_mib: int,
                                                                      heap: str) -> None:
    """Garbage the parent left is collected in the child before its limit is set: freed
    later, it would be room beyond the budget (a search once found 74 MiB in 64). A heap that
    reports no free chunk still has the limit's slack taken (the landing CI found 64 in 64)."""
    done = subprocess.run([sys.executable, "-c", SEARCH, str(garbage_mib), *filter(None, [heap])],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    # 64 MiB and a buffer's header do not fit in 64 MiB; less by at most the free heap
    # subtracted from the limit (fragments a large allocation cannot reuse) and a few MiB of
    # the child's own growth.
    assert max(1, 64 - found["free_mib"] - 8) <= found["max_batch"] < 64, found
    outcome = dict(found["probes"])
    assert outcome[found["max_batch"]] and outcome[found["max_batch"] + 1] is False, found


#: A parent that freed ~290 MiB inside its C heap (blocks below glibc's mmap threshold, the
#: top of the heap kept in use, so the free space stays mapped) probes within 64 MiB.
FREED_HEAP = """
import json
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.run.maxbatch import limits, probers

blocks = [bytearray(100 << 10) for _ in range(3000)]
pin = bytearray(100 << 10)
del blocks

def step(batch):
    return float(len(bytearray(batch << 20)))

prober = probers.ForkProber(step, 64 << 20, benchmarks.classify, benchmarks.one_line)
free_mib = limits.malloc_free_bytes(trim=True) >> 20
print(json.dumps({"free_mib": free_mib, "fits": {b: prober(b).fits for b in (8, 60, 70, 200)}}))
"""


def test_a_probe_cannot_reuse_the_heap_the_parent_freed_beyond_its_budget() -> None:
    """A limit counts mappings, and the heap reuses its free chunks without mapping: a parent
    with 293 MiB free let a 200 MiB probe fit in 64 MiB (CI, then here) until the child took
    the free chunks before its budget was given."""
    done = subprocess.run([sys.executable, "-c", FREED_HEAP], cwd=ROOT / "python",
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["free_mib"] > 200, found  # the hole is there to fall into
    assert found["fits"] == {"8": True, "60": True, "70": False, "200": False}, found


def test_a_killed_probe_does_not_fit_and_a_broken_one_fails() -> None:
    killed = fork_prober(lambda batch: os.kill(os.getpid(), signal.SIGKILL) or 0.0)(4)
    assert not killed.fits and killed.reason == \
        "the probe process was killed by SIGKILL before it reported"

    def broken(batch: int) -> float:
        raise ValueError("not a memory problem")

    with pytest.raises(BenchmarkError, match="probe of batch 3 failed .not for memory.: "
                                             "ValueError: not a memory problem"):
        fork_prober(broken)(3)


def test_the_cpu_budget_defaults_to_half_of_mem_available(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.mem_available()  # the real one is read (its value moves with the load)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n")
    monkeypatch.setattr(limits, "PROC_MEMINFO", str(meminfo))
    assert limits.cpu_budget(0) == int(20000000 * 1024 * 0.5)
    assert limits.cpu_budget(40) == 40 << 20


def test_a_failed_cpp_allocation_is_out_of_memory() -> None:
    """A process at its memory limit sees a C++ ``new`` fail as ``std::bad_alloc``."""
    assert benchmarks.classify(RuntimeError("std::bad_alloc")) == "oom"

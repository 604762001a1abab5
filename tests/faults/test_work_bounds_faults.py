"""Work that a huge count must not make unbounded (issue #54, fourth pass): the memory plan's
search for the smallest change that fits, the benchmark's thread count and timed-batch
count. Each is asserted on what is done (the plans computed, the verdict, the status), not
on how long it takes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.plan.memory_plan import gb_text

from dlbs.cli.main import main

INT_MAX = 2147483647  # the documented maximum of exp.replica_batch and exp.seq_len
#: At most this many plans for one smallest change: a bisection over 2**31 batches twice
#: (alone, then with sharding and checkpointing) and the few single changes.
PLANS_BOUND = 100


class _TooManyPlans(Exception):
    pass


@pytest.fixture
def counted_plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the plans computed; raises past PLANS_BOUND (a linear search would compute
    2**31 of them: the test fails at once instead of hanging)."""
    from pytorch_benchmarks.plan import memory_plan

    calls: list[int] = []
    original = memory_plan.plan

    def counting(*args: Any, **kwargs: Any) -> memory_plan.MemoryPlan:
        calls.append(1)
        if len(calls) > PLANS_BOUND:
            raise _TooManyPlans(f"more than {PLANS_BOUND} plans")
        return original(*args, **kwargs)

    monkeypatch.setattr(memory_plan, "plan", counting)
    return calls


def _case(model: str, batch: int, seq: int, parallelism: str = "fsdp",
          checkpointing: str = "none") -> Any:
    from pytorch_benchmarks.models._zoo.metadata import model_metadata
    from pytorch_benchmarks.plan.memory_plan import Case, Layout, LlamaShape

    meta = model_metadata(model)
    assert meta is not None
    shape = LlamaShape.of(meta.settings)
    assert shape is not None
    return Case(shape, Layout(parallelism, 8, 8, 8), batch, seq, "adamw", checkpointing,
                half=True)


@pytest.mark.parametrize("batch,seq", [(INT_MAX, 8192), (INT_MAX, INT_MAX), (100000, 8192)],
                         ids=["batch-max", "batch-and-seq-max", "batch-1e5"])
def test_a_huge_batch_of_a_70b_model_that_cannot_fit_is_judged_in_few_plans(
        counted_plans: list[int], batch: int, seq: int) -> None:
    """llama3_70b, fsdp over 8 ranks: its weights, gradients and AdamW state alone (141 GB)
    exceed 80 GB, so no change fits; found in a bounded number of plans."""
    case = _case("llama3_70b", batch, seq)
    assert case.plan().peak > 80e9
    assert case.smallest_change(80e9) is None
    assert 0 < len(counted_plans) <= PLANS_BOUND


def test_the_largest_batch_that_fits_below_a_huge_one_is_found_by_bisection(
        counted_plans: list[int]) -> None:
    """llama3_8b, fsdp over 8 ranks, every block checkpointed: 3 sequences of 8,192 tokens
    fit 50 GB (46.7 GB, tests/benchmark/test_memory_plan.py), found from 2**31 - 1 too."""
    case = _case("llama3_8b", INT_MAX, 8192, checkpointing="full")
    assert case.smallest_change(50e9) == "--batch_size 3 (46.7 GB)"
    assert len(counted_plans) <= PLANS_BOUND
    ddp = _case("llama3_8b", INT_MAX, 8192, parallelism="ddp")
    assert ddp.smallest_change(30e9) == ("--parallelism fsdp with --activation_checkpointing "
                                         "full with --batch_size 1 (26.6 GB)")


@pytest.mark.parametrize("limit_gb", [30, 40, 47, 50, 60, 90, 200, 1000])
def test_the_bisection_finds_what_a_linear_search_finds(limit_gb: int) -> None:
    """The largest smaller batch that fits, against every batch tried from the top down (the
    old search), over limits from none to many fitting."""
    from dataclasses import replace

    case = _case("llama3_8b", 64, 8192, checkpointing="full")
    linear = next((b for b in range(63, 0, -1)
                   if replace(case, batch=b).plan().peak <= limit_gb * 1e9), None)
    found = case._largest_batch(limit_gb * 1e9)
    assert found == (None if linear is None else
                     f"--batch_size {linear} "
                     f"({gb_text(replace(case, batch=linear).plan().peak)} GB)")


@pytest.mark.parametrize("seq", [8192, INT_MAX], ids=["seq-8192", "seq-max"])
def test_validate_of_the_documented_maximum_batch_answers_with_the_verdict(
        counted_plans: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        seq: int) -> None:
    assert main(["validate", '-Pexp.model="llama3_70b"', '-Pexp.parallelism="fsdp"',
                 '-Pexp.gpus=""', "-Pexp.cpu_replicas=8", '-Pexp.phase="training"',
                 f"-Pexp.replica_batch={INT_MAX}", f"-Pexp.seq_len={seq}",
                 "-Pexp.device_memory_gb=80", f"-Pexp.log_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    if seq == INT_MAX:  # the first problem said: more tokens than the model has positions
        assert "--seq_len 2147483647 exceeds the 131072 positions of 'llama3_70b'" in err
    else:
        assert "more than --device_memory_gb 80; no change fits (checkpointing, sharding " \
               "further, a smaller batch, alone or together)" in err
    assert len(counted_plans) <= PLANS_BOUND


# --- the benchmark's thread count ------------------------------------------------------------

@pytest.mark.parametrize("value", ["100000", "4097", str(2**63)])
def test_a_thread_count_beyond_the_bound_is_a_usage_error_with_a_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    """torch.set_num_threads(100000) crashes the process with SIGSEGV: no status, no line.
    Refused while the flags are parsed, before torch threads anything."""
    from pytorch_benchmarks import benchmarks
    from pytorch_benchmarks.facts import iter_facts

    log = tmp_path / "run.log"
    assert benchmarks.main(["--model", "deep_mnist", "--device", "cpu", "--num_threads", value,
                            "--log_file", str(log)]) == 2
    with open(log, encoding="utf-8") as stream:
        facts = dict(iter_facts(stream))
    said = (f"argument --num_threads: expected at most 4096 threads per replica (config's "
            f"exp.cpu_threads range), got {value}")
    assert facts["results.status"] == "failure"
    assert facts["results.error"] == f"usage error: {said}"
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"benchmarks.py: error: {said}" and "Traceback" not in err


def test_the_thread_bound_is_the_configs_so_validate_refuses_the_same_counts() -> None:
    from pytorch_benchmarks.options import MAX_THREADS, thread_count

    from dlbs.cli.param_ranges import declared_ranges

    declared = next(r for r in declared_ranges() if r.name == "exp.cpu_threads")
    assert (declared.low, declared.high) == (0, MAX_THREADS)
    assert thread_count(str(MAX_THREADS)) == MAX_THREADS


# --- the timed loop's time slots -------------------------------------------------------------

def test_a_huge_count_of_timed_batches_allocates_as_it_goes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--num_batches 10**12 (cut by --max_time or a stop signal): the loop asked for 8 TB of
    time slots before its first step and the run ended as oom; now blocks of BLOCK slots."""
    from pytorch_benchmarks.run import timing

    steps: list[int] = []
    times = timing.timed_loop(lambda: steps.append(1), 0, 10**12,
                              stop=lambda: len(steps) >= 5)
    assert len(times) == 5 == len(steps)


@pytest.mark.parametrize("count", [1, 7, 8, 9, 20])
@pytest.mark.parametrize("stoppable", [False, True], ids=["plain", "stoppable"])
def test_blocks_of_time_slots_time_every_batch_once(monkeypatch: pytest.MonkeyPatch,
                                                    count: int, stoppable: bool) -> None:
    """Across block edges (BLOCK 4 here) each batch is timed once, no more, no fewer; a stop
    at a block's last batch ends the loop (the stop is a collective: not asked again)."""
    from pytorch_benchmarks.run import timing

    monkeypatch.setattr(timing, "BLOCK", 4)
    steps: list[int] = []
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(steps) == 2 + 8  # the 8th timed batch: the last of the second block
    times = timing.timed_loop(lambda: steps.append(1), 2, count,
                              stop=stop if stoppable else None)
    done = min(count, 8) if stoppable else count
    assert len(times) == done and len(steps) == 2 + done
    assert all(t >= 0 for t in times)
    if stoppable:
        assert len(asked) == 2 + done


def test_a_huge_count_of_timed_batches_cut_by_max_time_runs(tmp_path: Path) -> None:
    from pytorch_benchmarks import benchmarks
    from pytorch_benchmarks.facts import iter_facts

    log = tmp_path / "run.log"
    assert benchmarks.main(["--model", "deep_mnist", "--batch_size", "2", "--device", "cpu",
                            "--num_warmup_batches", "1", "--num_batches", str(10**12),
                            "--max_time", "0.2", "--log_file", str(log)]) == 0
    with open(log, encoding="utf-8") as stream:
        facts = dict(iter_facts(stream))
    assert facts["results.status"] == "ok"
    assert 1 <= facts["results.num_batches_done"] < 10**12

"""``--compile --batch_size max`` on a GPU: a few compiles for the whole search, not one a probe.

The H100 run (docs/gpu/README.md, D6) compiled resnet50 for 47 s a probe: a search of about 20
probes could not end within its time. The search now probes with one dynamic-batch graph, then
settles the edge with the static graph the timed run compiles (``searches.compiled_search``).
No GPU here: the GPU's prober runs in this process with real ``torch.compile`` graphs (a
backend that records each graph it is given), and CUDA's out-of-memory error is raised at a
chosen edge.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
from pytorch_benchmarks import benchmarks
from pytorch_benchmarks.options import parse_args
from pytorch_benchmarks.run.maxbatch import finder, probers, searches
from pytorch_benchmarks.runtime.distributed import DistContext
from torch import nn

from .test_max_batch_edge import _has_dynamic_inputs

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


def edges(static: int, dynamic: int) -> tuple[searches.Prober, searches.Prober, list[str]]:
    """Fake probers: batches up to ``dynamic`` fit the dynamic graph, up to ``static`` the
    static one; the third item is the order they were called in."""
    calls: list[str] = []

    def prober(edge: int, name: str) -> searches.Prober:
        def probe(batch: int, timeout: float | None = None) -> searches.Probe:
            calls.append(f"{name}{batch}")
            fits = batch <= edge
            return searches.Probe(batch, fits, 0.0, None if fits else "no")
        return probe
    return prober(dynamic, "d"), prober(static, "s"), calls


@pytest.mark.parametrize("static,dynamic,second_part", [
    (43, 43, ["s43", "s44"]),                     # the dynamic graph had the edge right
    (45, 43, ["s43", "s44", "s46", "s45"]),       # the static graph fits more: up by 1, 2...
    (40, 43, ["s43", "s42", "s40", "s41"]),       # ... or less: down by 1, 2, 4...
    (1, 43, ["s43", "s42", "s40", "s36", "s28", "s12", "s6", "s3", "s2"]),  # to 1
    (64, 64, ["s64"]),                            # the limit fits: capped
    (7, 1, ["s2", "s4", "s8", "s6", "s7"]),  # batch 1 (static already) not probed again
])
def test_the_static_graph_settles_the_edge_the_dynamic_one_found(
        static: int, dynamic: int, second_part: list[str]) -> None:
    dyn, stat, calls = edges(static, dynamic)
    found = searches.compiled_search(dyn, stat, 64, reset=lambda: calls.append("reset"))
    assert found.max_batch == static and found.confirmed and not found.timed_out
    assert found.dynamic_max_batch == (dynamic if dynamic > 1 else None)  # 1: no dynamic graph
    assert found.capped == (static == 64)
    assert calls[calls.index("reset") + 1:] == second_part
    graphs = [(p.batch, p.graph) for p in found.probes]
    assert graphs[0] == (1, "static")  # dynamo specialises a size of 1: batch 1's graph
    assert {g for b, g in graphs[1:len(calls) - len(second_part) - 1]} == {"dynamic"}
    assert {g for b, g in graphs[len(graphs) - len(second_part):]} == {"static"}


@pytest.mark.parametrize("hint", [1, 2, 3, 17, 100, 255, 256])
@pytest.mark.parametrize("edge", [1, 2, 5, 64, 99, 100, 101, 256])
def test_a_search_near_a_hint_finds_the_edge_wherever_it_is(hint: int, edge: int) -> None:
    probed: list[int] = []

    def probe(batch: int, timeout: float | None = None) -> searches.Probe:
        probed.append(batch)
        return searches.Probe(batch, batch <= edge, 0.0)

    found = searches.search_near(probe, hint, 256, 1, None)
    assert found.max_batch == edge and found.capped == (edge == 256)
    assert 1 not in probed and len(probed) == len(set(probed))  # batch 1 known; none twice
    distance = abs(edge - hint) + 1
    assert len(probed) <= 2 * distance.bit_length() + 1


def test_no_room_for_the_static_graph_leaves_the_dynamic_edge_unconfirmed() -> None:
    dyn, stat, calls = edges(45, 43)
    ticks = itertools.count(0.0, 1.0)  # each clock reading 1 s later
    found = searches.compiled_search(dyn, stat, 4096, time_limit=12.5, clock=lambda: next(ticks),
                                     reset=lambda: calls.append("reset"))
    assert calls[-1] == "reset" and not any(c.startswith("s") for c in calls)
    assert found.timed_out and not found.confirmed
    assert found.max_batch == found.dynamic_max_batch > 1


class Clock:
    """A clock the probes move: each probe takes its seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def prober(self, edge: int, graph: str, seconds: Callable[[int], float],
               calls: list[str]) -> searches.Prober:
        def probe(batch: int, timeout: float | None = None) -> searches.Probe:
            calls.append(f"{graph}{batch}")
            self.now += seconds(batch)
            fits = batch <= edge
            return searches.Probe(batch, fits, seconds(batch), None if fits else "no")
        return probe


def test_a_search_cut_in_its_bisection_keeps_the_bisections_largest_fit() -> None:
    """Doubling to 64 (fails), then 48 (fails), 40 and 44 fit, 46 does not; the time is over
    before 45: the result is 44, not the doubling's 32 (a time-out lost the bisection's
    progress for a moment in this change, before this test)."""
    clock, calls = Clock(), []
    found = searches.search(clock.prober(45, "", lambda b: 1.0, calls), 4096, time_limit=10.5,
                            clock=clock)
    assert calls == ["1", "2", "4", "8", "16", "32", "64", "48", "40", "44", "46"]
    assert found.timed_out and found.max_batch == 44


def test_the_first_part_keeps_time_for_the_static_graph() -> None:
    """Batch 1 compiles (10 s), the dynamic graph's other probes take 1 s, a static probe
    10 s: with 40 s the first part stops at 20 s (its bisection cut at 42, kept), so that the
    static graph is probed from there (without it the 40 s went to the first part and the
    result was left unconfirmed)."""
    clock, calls = Clock(), []
    dynamic = clock.prober(43, "d", lambda b: 10.0 if b == 1 else 1.0, calls)
    static = clock.prober(45, "s", lambda b: 10.0, calls)
    found = searches.compiled_search(dynamic, static, 4096, time_limit=40, clock=clock,
                                     reset=lambda: None)
    dynamic_part = [c for c in calls if c.startswith("d")]
    assert clock.now <= 40 + 10  # a GPU probe cannot be stopped: one may end past the limit
    assert len(dynamic_part) == 11 and dynamic_part[-1] == "d42"
    assert [c for c in calls if c.startswith("s")] == ["s42", "s43"]
    assert found.confirmed and found.timed_out  # cut short: 43 is a lower bound of 45
    assert found.max_batch == 43 and found.dynamic_max_batch == 42


def test_a_time_out_names_only_the_static_graphs_failures() -> None:
    """The warning's 'batch N did not fit' is of the graph the timed run runs: a dynamic
    graph's failure says nothing of it."""
    clock, calls = Clock(), []
    dynamic = clock.prober(43, "d", lambda b: 1.0, calls)
    static = clock.prober(45, "s", lambda b: 10.0, calls)
    found = searches.compiled_search(dynamic, static, 4096, time_limit=35, clock=clock,
                                     reset=lambda: None)
    assert "d44" in calls and calls[-3:] == ["s43", "s44", "s46"]  # then 35 s were over
    assert found.timed_out and found.max_batch == 44
    warning = searches.time_out_warning(found, 35)
    assert "(batch 46 did not fit)" in warning and "batch 44 did not" not in warning, warning


def test_batch_1_is_confirmed_even_when_time_runs_out_after_it() -> None:
    dyn, stat, calls = edges(45, 43)
    found = searches.compiled_search(dyn, stat, 4096, time_limit=0.5,
                                     clock=iter([0.0, 1.0, 2.0, 3.0]).__next__,
                                     reset=lambda: None)
    assert calls == ["d1"] and found.max_batch == 1 and found.confirmed and found.timed_out


# -- find_max_batch on a "GPU": real torch.compile graphs, CUDA's error at a chosen edge --------

class Graphs:
    """The graphs torch.compile made: (batch of the call that compiled it, dynamic?)."""

    def __init__(self) -> None:
        self.made: list[tuple[int, bool]] = []
        self.batch = 0

    def backend(self, graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        self.made.append((self.batch, _has_dynamic_inputs(graph)))
        return graph.forward

    def step(self, batch: int) -> float:
        """A probe's step: a new model compiled and trained one step at ``batch``."""
        self.batch = batch
        model = torch.compile(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
                              backend=self.backend)
        model(torch.randn(batch, 4)).sum().backward()
        return 0.0


def gpu_search(monkeypatch: pytest.MonkeyPatch, graphs: Graphs, static: int, dynamic: int,
               *flags: str, time_up_at: int = 0, model: str = "sensor_net"
               ) -> tuple[int, dict[str, Any], list[str]]:
    """``find_max_batch`` for ``--device gpu --compile``, its probes run by ``graphs``: the
    dynamic part of the search (the recompile limit it sets) fits up to ``dynamic``, a static
    graph up to ``static``; the search's clock jumps a day when batch ``time_up_at`` runs.
    Returns the batch, the facts and the warnings."""
    late = [0.0]

    def probe_step(spec: Any, ctx: Any, batch: int) -> float:
        in_search = torch._dynamo.config.recompile_limit == 64
        if batch > (dynamic if in_search else static):
            raise torch.cuda.OutOfMemoryError(OOM)
        if batch == time_up_at:
            late[0] = 86400.0
        return graphs.step(batch)

    monkeypatch.setattr(probers, "probe_step", probe_step)
    spec = parse_args(["--model", model, "--device", "gpu", "--compile", "--batch_size",
                       "max", "--max_batch_limit", "256", *flags])
    facts: dict[str, Any] = {}
    warnings: list[str] = []
    torch._dynamo.reset()
    try:
        batch = finder.find_max_batch(spec, DistContext(), facts.update, warnings.append,
                                      benchmarks.classify, benchmarks.one_line,
                                      benchmarks.near_oom,
                                      clock=lambda: time.monotonic() + late[0])
    finally:
        torch._dynamo.reset()
    return batch, facts, warnings


def test_a_compiled_gpu_search_compiles_a_few_graphs_and_times_a_static_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    graphs = Graphs()
    batch, facts, warnings = gpu_search(monkeypatch, graphs, static=45, dynamic=43)
    assert batch == 45 and facts["results.max_batch"] == 45 and not warnings
    assert facts["results.max_batch_dynamic"] == 43 and facts["results.max_batch_confirmed"]
    probes = facts["results.max_batch_probes"]
    dynamic_part = [p for p in probes if p["graph"] == "dynamic"]
    static_part = probes[len(dynamic_part) + 1:]
    assert [p["batch"] for p in static_part] == [43, 44, 46, 45]
    assert {p["graph"] for p in static_part} == {"static"} and probes[0]["graph"] == "static"
    # the first part compiled batch 1's graph and one dynamic graph for every larger batch;
    # the second part one static graph a probe that got to compile (46 ran out before it)
    assert graphs.made == [(1, False), (2, True), (43, False), (44, False), (45, False)]
    assert len(probes) == 16  # a compile a probe was 16 compiles
    graphs.step(45)  # the timed run compiles its own static graph, nothing is reused
    assert graphs.made[-1] == (45, False)
    assert "max batch: batch 64 (dynamic graph) does not fit" in capsys.readouterr().err
    torch._dynamo.reset()


def test_a_compiled_gpu_search_cut_before_the_static_graph_warns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    graphs = Graphs()
    batch, facts, warnings = gpu_search(monkeypatch, graphs, 45, 43, "--max_batch_time", "600",
                                        time_up_at=8)
    assert batch == facts["results.max_batch"] == facts["results.max_batch_dynamic"] == 8
    assert facts["results.max_batch_timed_out"] and not facts["results.max_batch_confirmed"]
    assert {p["graph"] for p in facts["results.max_batch_probes"][1:]} == {"dynamic"}
    assert any("results.max_batch_confirmed false" in w for w in warnings), warnings
    assert not any("lower bound" in w for w in warnings), warnings  # it may not even fit


def test_generate_runs_eager_so_its_search_is_the_plain_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--compile is ignored with --generate (decoding runs eager): no two-part search."""
    graphs = Graphs()
    batch, facts, _ = gpu_search(monkeypatch, graphs, 45, 43, "--generate", "4",
                                 "--forward_only", model="gpt2")
    assert batch == 45 and "results.max_batch_dynamic" not in facts
    assert all("graph" not in p for p in facts["results.max_batch_probes"])


def test_the_dynamic_part_refuses_to_fall_back_to_eager() -> None:
    """Past dynamo's recompile limit a function runs eagerly: a probe would measure eager
    memory. Inside ``dynamic_graphs`` it raises instead."""
    calls = 0

    def backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        return graph.forward

    def specialised(x: torch.Tensor, n: int) -> torch.Tensor:
        return x * n  # a new int each call: a new graph each call

    compiled = torch.compile(specialised, backend=backend, dynamic=False)
    torch._dynamo.reset()
    with probers.dynamic_graphs(), pytest.raises(Exception, match="recompile_limit|limit"):
        for calls in range(1, 200):
            compiled(torch.ones(1), calls)
    assert calls > 8  # past the default limit, within the search's (64)
    torch._dynamo.reset()


def test_a_zoo_models_real_probes_compile_four_graphs_and_keep_no_probe_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ``probe_step`` (workload, optimizer, data, training step of sensor_net) through
    the GPU's probers, compiled with AOTAutograd (a GPU would use inductor; graphs are the
    same dynamo graphs): batch 1 static, one dynamic graph for the rest of the first part, one
    static graph for each probe of the second; after each probe's cleanup no model of an
    earlier probe is alive (a leak would make the GPU's later probes fail early)."""
    import gc
    import weakref

    from pytorch_benchmarks import models
    from torch._dynamo.backends.registry import lookup_backend

    graphs = Graphs()
    aot = lookup_backend("aot_eager")

    def backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        graphs.made.append((graphs.batch, _has_dynamic_inputs(graph)))
        return aot(graph, example_inputs)

    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend=backend))
    alive: list[weakref.ref[Any]] = []
    create = models.create_model

    def tracked(*args: Any, **kwargs: Any) -> Any:
        model = create(*args, **kwargs)
        alive.append(weakref.ref(model))
        return model

    monkeypatch.setattr(models, "create_model", tracked)
    spec = parse_args(["--model", "sensor_net", "--device", "cpu", "--compile",
                       "--num_threads", "1"])
    edge, leaked = 37, []

    def step(batch: int, dynamic: bool) -> float:
        graphs.batch = batch
        with probers.dynamic_graphs() if dynamic else contextlib.nullcontext():
            probers.probe_step(spec, DistContext(), batch)
        if batch > edge:  # after the step: the probe's tensors existed, as on a GPU
            raise torch.cuda.OutOfMemoryError(OOM)
        return 0.0

    def seen(probe: searches.Probe) -> None:
        gc.collect()
        leaked.extend(probe.batch for ref in alive if ref() is not None)

    torch._dynamo.reset()
    try:
        found = searches.compiled_search(
            probers.InProcessProber(lambda b: step(b, True), benchmarks.classify,
                                    benchmarks.one_line, gc.collect, benchmarks.near_oom),
            probers.InProcessProber(lambda b: step(b, False), benchmarks.classify,
                                    benchmarks.one_line, probers.cuda_cleanup,
                                    benchmarks.near_oom), 64, seen,
            reset=probers.reset_compiler)
    finally:
        torch._dynamo.reset()
    assert found.max_batch == found.dynamic_max_batch == edge and found.confirmed
    assert graphs.made == [(1, False), (2, True), (37, False), (38, False)], graphs.made
    assert len(found.probes) == 14 and not leaked

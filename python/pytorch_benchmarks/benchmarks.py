"""The benchmark program: ``python python/pytorch_benchmarks/benchmarks.py --model alexnet ...``.

Responsibility: the entry point. Parse the flags, build the workload, time it, and write the
outcome as ``__key__=json`` facts (``docs/log-format.md``): results on success, then a one-line
human summary on stderr (stdout carries facts only); on any error a status (``failure``,
``oom``, ``interrupted``) with a one-line reason and a non-zero exit. SIGUSR1 or SIGTERM (Slurm's
time-limit warning, preemption) stops the run at its next boundary with the partial results
of the iterations timed so far, status ``interrupted`` and exit 130. A usage error, an unknown
``--model`` included, exits 2 before torch is imported. ``--device auto`` (the default) takes a
CUDA GPU when torch sees one, else the CPU. Runs as a script or as
``python -m pytorch_benchmarks.benchmarks``; never imports ``dlbs``.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script: make ``pytorch_benchmarks`` importable from its parent folder, and take
    # the script's own folder off sys.path so its modules cannot shadow top-level ones.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))

import signal
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from pytorch_benchmarks.errors import StopRequested
from pytorch_benchmarks.models._zoo.plugins import PluginWarning
from pytorch_benchmarks.models._zoo.plugins import failures as plugin_failures
from pytorch_benchmarks.options import facts_destination, parse_args
from pytorch_benchmarks.output.display import Console, result_lines
from pytorch_benchmarks.output.reporter import Reporter, summary_line
from pytorch_benchmarks.output.stdout_guard import guard_stdout, print_lines, stdout_is_terminal
from pytorch_benchmarks.runtime.oom import NEAR_OOM, OOM, memory_verdict
from pytorch_benchmarks.runtime.stopsignals import StopSignals, signal_name
from pytorch_benchmarks.runtime.versions import check_torch
from pytorch_benchmarks.spec import MAX_BATCH, ModelSpec, Spec

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
#: Samples per replica whose step counts the FLOPs of a batch found by ``--batch_size max``
#: (2: batch normalisation in training needs more than one value per channel).
FLOP_COUNT_SHARE = 2
def classify(exc: BaseException) -> str:
    """The ``results.status`` of an exception: ``oom``, ``interrupted`` or ``failure``
    (out of memory: the table of messages in :mod:`pytorch_benchmarks.runtime.oom`)."""
    if isinstance(exc, (KeyboardInterrupt, StopRequested)):
        return "interrupted"
    return "oom" if memory_verdict(exc) == OOM else "failure"


def classify_probe(exc: BaseException) -> str:
    """:func:`classify` for a probe of the batch search: a batch whose memory plan exceeds the
    device's memory (the check ``memory_plan_fits``) does not fit, as one that ran out would."""
    refusal = getattr(exc, "refusal", None)
    if refusal is not None and getattr(refusal, "check", "") == "memory_plan_fits":
        return "oom"
    return classify(exc)


def near_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an error that memory running out usually causes near the edge
    (``CUBLAS_STATUS_EXECUTION_FAILED``...): the batch search counts it as "does not fit"
    above batch 1."""
    return memory_verdict(exc) == NEAR_OOM


def _is_user_error(exc: BaseException) -> bool:
    """Errors whose message is the whole story (no traceback, no type name)."""
    if not isinstance(exc, Exception):
        # Ctrl-C (or SystemExit): never import the registry now, torch may be half imported
        return False
    try:
        from pytorch_benchmarks.errors import BenchmarkError
        from pytorch_benchmarks.models._zoo.registry import ModelRegistryError
    except ImportError:  # torch itself is missing or broken: that error is the story
        return isinstance(exc, FileNotFoundError)
    return isinstance(exc, (BenchmarkError, ModelRegistryError, FileNotFoundError,
                            StopRequested))


def one_line(exc: BaseException, limit: int = 500) -> str:
    """A one-line reason: ``Type: message`` (whitespace collapsed, at most ``limit`` chars)."""
    message = " ".join(str(exc).split())
    if _is_user_error(exc):
        line = message or type(exc).__name__
    else:  # a bare Ctrl-C reads 'KeyboardInterrupt', not 'KeyboardInterrupt: KeyboardInterrupt()'
        line = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def report_failure(exc: BaseException, reporter: Reporter, rank: int | None,
                   stopped_by: str | None = None) -> int:
    """Write the failure facts and an ``error:`` line; return the exit code.

    ``stopped_by`` names the stop signal this process caught, if any: whatever ended the run
    after it (a loader worker or another rank killed by the same signal) is status
    ``interrupted`` with ``results.stop_signal``, not a failure."""
    status = "interrupted" if stopped_by else classify(exc)
    reason = one_line(exc)
    if stopped_by and not isinstance(exc, StopRequested):
        reason = f"stopped by {stopped_by}: {reason}"
    if rank is not None:
        reason = f"rank {rank}: {reason}"
    if reporter.console is not None:  # the warnings waited for a result block: say them now
        reporter.console.clear()
        for message in reporter.warnings:
            print(f"WARNING: {message}", file=sys.stderr, flush=True)
    if status == "failure" and not _is_user_error(exc):
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {reason}", file=sys.stderr, flush=True)
    facts: dict[str, Any] = {"results.status": status, "results.error": reason}
    if stopped_by:  # no timing facts: the signal came before timing (or timing failed)
        facts.update({"results.stop_signal": stopped_by, "results.partial": False})
    # Any rank may write a failure (rank 0 may be killed before it learns of it).
    reporter.facts(facts, force=True)
    return EXIT_INTERRUPTED if status == "interrupted" else EXIT_FAILURE


def model_label(model: ModelSpec) -> str:
    """``--model`` for the summary line, with its ``--model_config``: ``gpt2 (layers=2)``."""
    from pytorch_benchmarks.models._zoo.config import config_label

    config = model.config
    return f"{model.name} ({config_label(config)})" if config else model.name


def identity_facts(spec: Spec) -> dict[str, Any]:
    """What the experiment is, as the runner's header says it (``exp.model``, ``exp.phase``,
    ``exp.replica_batch`` as asked, ``max`` included...): a log of ``--log_file`` alone names its
    experiment too, so reports never merge two different runs."""
    return {"exp.framework": "pytorch", "exp.model": spec.model.name, "exp.phase": spec.run.phase,
            "exp.replica_batch": spec.run.batch_size, "exp.dtype": spec.device.dtype,
            "exp.device_type": "gpu" if spec.device.device in ("gpu", "cuda") else "cpu"}


def torch_version() -> str:
    """``torch.__version__`` (imports torch)."""
    import torch

    return str(torch.__version__)


def load_zoo(warn: Callable[[str], None]) -> None:
    """Import the model zoo with its plugins; a plugin that failed to load is a warning of
    the run (``exp.warnings``), not only a Python warning on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        from pytorch_benchmarks import models

        models.load_zoo()  # registers every family and plugin
    for message in plugin_failures():
        warn(message)


def resolve_device(device: str) -> str:
    """``--device auto``: ``gpu`` when torch sees a CUDA GPU, else ``cpu`` (``exp.device``
    records the device used); any other device as asked."""
    if device == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return device


def _ignore_worker_deaths() -> Callable[[], None]:
    """Once a run fails, the failure is the story: torch's SIGCHLD handler must not raise the
    death of another DataLoader worker in the middle of reporting it (no fact would be left).
    Returns what puts the handler back (once the workers are stopped)."""
    sigchld = getattr(signal, "SIGCHLD", None)
    if sigchld is None or threading.current_thread() is not threading.main_thread():
        return _nothing
    previous = signal.signal(sigchld, signal.SIG_DFL)

    def restore() -> None:
        if previous is not None:  # None: a handler set outside Python, which cannot come back
            signal.signal(sigchld, previous)
    return restore


def _nothing() -> None:
    """Nothing to undo."""


def _explained(exc: BaseException) -> BaseException:
    """``exc``, or what it means when a data loader worker died (a :class:`DatasetError`
    naming the data set: torch raises a worker's death anywhere in the main thread)."""
    loader = sys.modules.get("pytorch_benchmarks.data.loader")
    return loader.explain(exc) if loader is not None else exc


class _NoStdout(Exception):
    """Stdout, where the facts go, cannot be written: the run stops before it starts
    (:func:`~pytorch_benchmarks.output.stdout_guard.guard_stdout` says why in one line)."""


def run(spec: Spec, reporter: Reporter) -> int:
    """Benchmark what ``spec`` describes; write the facts; return the exit code.

    SIGUSR1 and SIGTERM (Slurm's warning, preemption, torchrun's shutdown) are handled while
    it runs: the run stops at its next boundary, with the partial results of the iterations
    timed so far (:func:`report_stop`); the previous handlers are put back afterwards."""
    with StopSignals() as stops:
        return _run(spec, reporter, stops)


def _run(spec: Spec, reporter: Reporter, stops: StopSignals) -> int:
    try:  # a missing or broken torch is a failure fact too
        from pytorch_benchmarks.runtime import distributed
        from pytorch_benchmarks.runtime.hostinfo import now_iso
    except BaseException as exc:  # noqa: BLE001 - failure is data
        return report_failure(exc, reporter, None, stops.name)

    spec = spec.with_device(resolve_device(spec.device.device))
    ctx = distributed.detect()
    built: list[Any] = []  # the workload, once built: closed whatever happens
    restore_sigchld: Callable[[], None] = _nothing
    try:
        code = _benchmark(spec, reporter, ctx, stops, built)
    except _NoStdout:
        code = EXIT_FAILURE
    except BaseException as exc:  # noqa: BLE001 - failure is data: every error is reported
        restore_sigchld = _ignore_worker_deaths()
        code = report_failure(_explained(exc), reporter, ctx.rank if ctx.enabled else None,
                              stops.name)
    finally:
        for workload in built:
            workload.close()
        restore_sigchld()
        reporter.facts({"exp.end_time": now_iso()})
    if reporter.log_error and code == 0:  # the log failed after the run began (a full disk)
        print(f"error: {reporter.log_error}; the log ends at its last whole fact, the facts "
              "from then on are on stdout", file=sys.stderr, flush=True)
        code = EXIT_FAILURE
    if ctx.enabled:
        distributed.finish(ctx, code)
    return code


def _benchmark(spec: Spec, reporter: Reporter, ctx: Any, stops: StopSignals,
               built: list[Any]) -> int:
    """Build, time and report (:func:`_run` reports what it raises); returns the exit code.
    The workload goes into ``built`` as soon as it exists (its loader workers are stopped
    whatever happens next).

    A stop signal is looked at between the build stages (on this rank alone until the process
    group exists, then agreed by all ranks) and at every iteration boundary."""
    from benchstats import StopRule

    from pytorch_benchmarks.errors import BenchmarkError
    from pytorch_benchmarks.measure.session import Measurements
    from pytorch_benchmarks.run.stop_rule import announce
    from pytorch_benchmarks.run.workload import build_workload
    from pytorch_benchmarks.runtime import distributed
    from pytorch_benchmarks.runtime.device import apply_cpu_threads, cores_short, usable_cores
    from pytorch_benchmarks.runtime.hostinfo import host_facts, now_iso
    from pytorch_benchmarks.runtime.nodeinfo import every_node

    reporter.enabled = ctx.writes_log
    threads = apply_cpu_threads(spec.device.device, spec.device.num_threads,
                                ctx.local_world_size)
    # ranks x threads above the usable cores: a log fact (reports and the console mark it)
    # and one warning (the sweep's summary says it once per plan)
    short = cores_short(threads, ctx.local_world_size, usable_cores())
    reporter.facts({"exp.start_time": now_iso(), **identity_facts(spec),
                    **host_facts(reporter.warn),
                    "exp.world_size": ctx.world_size, "exp.num_threads": threads,
                    "exp.usable_cores": usable_cores(), "exp.ranks_above_cores": short is not None,
                    "exp.model_config": spec.model.config or {}})
    if short is not None and ctx.writes_log:  # one rank says it: the same on every rank
        reporter.warn(short)
    if reporter.console is not None:
        reporter.console.announce(what_runs(spec))
    if reporter.log_error:  # the facts went to stdout instead
        raise BenchmarkError(reporter.log_error)
    if reporter.stdout_error is not None:  # nowhere to write the facts: main says why
        raise _NoStdout
    stop_here(stops.name)
    check_torch(torch_version())
    load_zoo(reporter.warn)
    stop_here(stops.name)
    searched = spec.run.batch_size == MAX_BATCH
    if searched:  # before any torch computation: it forks probes
        from pytorch_benchmarks.run.maxbatch.finder import find_max_batch

        spec = spec.with_batch(find_max_batch(spec, ctx, reporter.facts, reporter.warn,
                                              classify_probe, one_line, near_oom))
        stop_here(stops.name)
    workload = build_workload(spec.model, spec.data, spec.device, spec.run, ctx, reporter.warn)
    built.append(workload)
    device = workload.setup.device

    def agreed() -> str | None:  # the same answer on every rank (a collective under torchrun)
        return signal_name(distributed.agree_signal(stops.signum, ctx, device))
    stop_here(agreed())
    reporter.facts(workload.facts)
    reporter.facts(every_node(ctx.local_rank, ctx.enabled))  # hw.nodes.<node>.*
    assert workload.runner is not None
    rule = StopRule(spec.run.num_batches, spec.run.target_precision, spec.run.max_time)
    announce(rule, reporter.warn)
    if reporter.console is not None:
        show_progress(reporter.console, workload.runner, spec)
    # a searched batch just fits: its FLOPs are counted on a few samples (measure.session)
    measures = Measurements(spec.measure, spec.model.name, spec.run.batch, workload.setup,
                            ctx, workload.runner.phase, reporter.warn,
                            count_share=FLOP_COUNT_SHARE if searched else None,
                            tp=workload.tp)
    measures.prepare()  # before timing: a CPU's peak may be measured here (1-2 s, cached)
    stop_here(agreed())
    try:
        times, met = workload.runner.run_until(
            spec.run.num_warmup_batches, rule, lambda t: distributed.slowest(t, ctx, device),
            measures, agreed)
    except StopRequested as stop:
        if not stop.times:  # during warm-up: no timing facts
            raise
        return report_stop(stop, spec, workload, measures, rule, reporter)
    results = timing_results(times, met, rule, workload, measures, reporter.warn)
    reporter.facts({**results, "results.status": "ok"})
    show_result(spec, workload, results, reporter)
    return 0


def stop_here(name: str | None) -> None:
    """Stop the run (before timing) when a stop signal named ``name`` was caught."""
    if name is not None:
        raise StopRequested(name)


def timing_results(times: list[float], met: bool, rule: Any, workload: Any, measures: Any,
                   warn: Callable[[str], None], stopped_by: str | None = None
                   ) -> dict[str, Any]:
    """The ``results.*`` facts of the timed iterations ``times`` (s): their statistics, the
    workload's extras (tokens/s...), the measurements and how the count was decided."""
    from pytorch_benchmarks.run.stop_rule import stop_facts
    from pytorch_benchmarks.run.timing import summarize

    results: dict[str, Any] = summarize(times, workload.samples_per_iteration)
    results.update(workload.extra_results(times))
    results.update(measures.results(results["results.throughput"], len(times),
                                    workload.samples_per_iteration, workload.devices))
    results.update(stop_facts(times, met, rule, warn, stopped_by))
    return results


def report_stop(stop: StopRequested, spec: Spec, workload: Any, measures: Any, rule: Any,
                reporter: Reporter) -> int:
    """A stop signal during timing: the facts of the iterations timed so far (status
    ``interrupted``, ``results.partial``), the summary and an ``error:`` line; returns
    :data:`EXIT_INTERRUPTED`, as for Ctrl-C (the run did not finish)."""
    from benchstats import next_for_target

    met = rule.target > 0 and next_for_target(stop.times, rule.target)[1]
    results = timing_results(stop.times, met, rule, workload, measures, reporter.warn,
                             stop.signal)
    reason = one_line(stop)
    reporter.facts({**results, "results.status": "interrupted", "results.error": reason,
                    "results.stop_signal": stop.signal, "results.partial": True})
    show_result(spec, workload, results, reporter)
    print(f"error: {reason}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def show_result(spec: Spec, workload: Any, results: dict[str, Any], reporter: Reporter) -> None:
    """The summary line on stderr, or the result block for a person at a terminal."""
    line = summary_line(model_label(spec.model), workload.runner.phase, spec.run.batch,
                        workload.facts["exp.num_replicas"], str(workload.setup.device),
                        workload.setup.dtype, results)
    if reporter.console is None:
        reporter.summary(line)
    else:
        reporter.console.result(result_lines(
            line.split(":")[0], results, workload.samples_per_iteration,
            reporter.warnings, facts_where(reporter)))


def main(argv: Sequence[str] | None = None) -> int:
    """The command: parse, list models or run; return the exit code (2: usage error)."""
    try:
        spec = parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    if spec.output.list_models:
        print_lines(listed_models())
        return 0
    terminal = stdout_is_terminal()
    where = facts_destination(spec.output.facts, spec.output.log_file, terminal)
    console = Console(sys.stdout) if terminal and where != "stdout" else None
    return run(spec, Reporter(spec.output.log_file, destination=where, console=console))


def listed_models() -> list[str]:
    """The names ``--list_models`` prints: the registry's ``list_models()``.

    Without plugins they are read from the zoo's sources (:mod:`pytorch_benchmarks.models.names`,
    a few milliseconds): importing torch and every family took seconds, more on a busy machine.
    A ``dlbs.models`` plugin's names are known only once it is imported (it may fail to load, or
    register from a callable), so with plugins installed the zoo is loaded as before, and so
    is a registry this process has loaded already (its models registered in-process count too:
    a program that imports the benchmark and registers its own)."""
    from pytorch_benchmarks.models._zoo.plugins import entry_points

    if "pytorch_benchmarks.models._zoo.registry" not in sys.modules and not entry_points():
        from pytorch_benchmarks.models.names import zoo_model_names

        return list(zoo_model_names())
    from pytorch_benchmarks.models import list_models

    return list_models()


def what_runs(spec: Spec) -> str:
    """The human view's first line: the model, phase, batch, device and iterations."""
    run_ = spec.run
    timed = f"{run_.num_batches} timed"
    if run_.target_precision:
        timed += f" (more until +-{100 * run_.target_precision:g}%)"
    return (f"benchmarks.py: {model_label(spec.model)} {run_.phase}, batch {run_.batch_size}, "
            f"{spec.device.device} {spec.device.dtype}: {run_.num_warmup_batches} warm-up + "
            f"{timed} iterations")


def show_progress(console: Console, runner: Any, spec: Spec) -> None:
    """Count the runner's iterations on the console's progress line: its ``step`` is wrapped
    (a clock read per iteration; the line is redrawn at most every display.REDRAW_S s)."""
    step = runner.step

    def counted() -> None:
        step()
        console.step()
    runner.step = counted
    console.begin(spec.run.num_warmup_batches + spec.run.num_batches)


def facts_where(reporter: Reporter) -> str:
    """Where the facts went, for the result block."""
    if reporter.destination == "log" and reporter.log_file:
        return f"appended to {reporter.log_file}"
    if reporter.destination == "stdout":
        return "on stdout"
    return "not written (--log_file FILE keeps them; --facts stdout prints them)"


if __name__ == "__main__":
    sys.exit(guard_stdout(main))

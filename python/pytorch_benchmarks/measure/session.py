"""The measurements of one run, wired around the runner's timed window.

Responsibility: decide which figures this run can have (peak of its device and precision,
an energy meter, the throttle sampler, a profile) and state why one is missing; implement
:class:`~pytorch_benchmarks.run.phases.TimingHooks` (count FLOPs on an extra step before warm-up,
profile extra steps after it, wrap the timed chunks in :meth:`Measurements.window`); and turn
what was seen into ``results.*`` facts. Under torchrun the energy and the throttle reasons are
combined over the ranks (every rank takes part in those collectives); FLOPs and peak memory
are this process's. The timed iterations themselves are never touched.

MFU is relative to a stated peak (``results.peak_source``): ``--peak_tflops``, a GPU's
datasheet figure (:mod:`.peaks`) or a CPU's theoretical one (:mod:`.cpu_peak`). A CPU's
measured matmul rate (:mod:`.calibration`) is a fact of its own,
``results.matmul_peak_measured``, with the machine's load while it was measured beside it: it
moves with that load (the issue saw one run's MFU at 33% or 8.7% by the calibration's load), so
it is never MFU's denominator. Where there is no stated peak, or the run beat it (the peak is
wrong for this run: a datasheet column whose math the run does not use, a ``--peak_tflops`` too
low, a CPU clock read below the one it ran at), ``results.mfu`` is null, and
``results.mfu_note`` and ``exp.warnings`` say why. The machine's state around the timed window
(load, governor, turbo, other processes' CPU time) comes from :mod:`.machine_state`, read at the
window's edges only.
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import torch

from pytorch_benchmarks.errors import StopRequested
from pytorch_benchmarks.measure import (
    calibration,
    cpu_peak,
    machine_state,
    memory,
    peaks,
    profiling,
)
from pytorch_benchmarks.measure.energy import (
    EnergyUnavailable,
    NvmlEnergy,
    RaplEnergy,
    open_rapl,
    too_short,
)
from pytorch_benchmarks.measure.flops import flops_per_sample, plain_step
from pytorch_benchmarks.measure.nvml import NvmlUnavailable, device_handles, open_nvml
from pytorch_benchmarks.measure.poller import Poller
from pytorch_benchmarks.measure.throttle import (
    POWER_CAP,
    THROTTLE_BITS,
    ThrottleSampler,
    power_capped,
    reason_names,
)
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from pytorch_benchmarks.spec import MeasureSpec

Warn = Callable[[str], None]
Step = Callable[[], object]


class Measurements:
    """FLOPs, peak, memory, energy, throttling and profile of one run."""

    def __init__(self, spec: MeasureSpec, model: str, batch_size: int, setup: DeviceSetup,
                 ctx: DistContext, phase: str, warn: Warn,
                 nvml_loader: Callable[[], ModuleType] | None = None,
                 count_share: int | None = None, tp: int = 1) -> None:
        self.spec = spec
        self.model = model
        self.batch_size = batch_size
        self.setup = setup
        self.ctx = ctx
        self.phase = phase
        self.warn = warn
        self.nvml_loader = nvml_loader
        self.local_samples = batch_size * setup.num_devices
        self.flops: float | None = None
        #: Samples per replica the FLOP step runs on (None: the batch; a searched batch is
        #: counted on a few, FLOPs per sample being the same: see :meth:`before_warmup`).
        self.count_share = count_share
        #: The ranks of this rank's tensor-parallel group (fsdp_tp; else 1): its counted
        #: attention is its heads' share (measure.flops.attention_formulas).
        self.tp = tp
        #: Why the FLOPs could not be counted (``results.mfu_note``).
        self.flop_note: str | None = None
        self.peak: tuple[float, str] | None = None
        #: Where the peak comes from: ``flag`` (--peak_tflops), ``table`` or ``theoretical``.
        self.peak_kind: str | None = None
        #: Why there is no peak (``results.mfu_note`` when FLOPs were counted).
        self.peak_note: str | None = None
        #: The CPU's measured matmul rate and the load while it was measured (its own facts).
        self.matmul_facts: dict[str, Any] = {}
        #: The machine's state around the timed window (``results.*``/``hw.*`` facts).
        self.state_facts: dict[str, Any] = {}
        self.state_notes: list[str] = []
        #: Under torchrun the job is the launcher's process tree (the local ranks), else ours.
        self.job_root = os.getppid() if ctx.enabled else os.getpid()
        self.cpus = cpu_peak.affinity()
        self.meter: NvmlEnergy | RaplEnergy | None = None
        self.energy_note: str | None = None
        self.throttle: ThrottleSampler | None = None
        self.profile_path: str | None = None
        self.communication: profiling.Communication | None = None
        self.energy_j: float | None = None
        self.window_s = 0.0
        self.window_end = 0.0  # Unix time of the window's end (after its last sync)
        self.memory_scope = memory.PROCESS
        self.peak_mib: float | None = None
        #: GPU: the allocator's reserved peak and allocation retries of the window.
        self.reserve_facts: dict[str, float | int] = {}

    # -- before the run ------------------------------------------------------------------
    def prepare(self) -> None:
        """Find the device's peak (and measure a CPU's matmul rate) and open the energy and
        clock meters."""
        if self.phase != "data":
            self.peak = self._find_peak()
            if not self.setup.is_cuda and self.peak_kind != "flag":
                self.matmul_facts = self._measure_matmul()
        if self.setup.is_cuda:
            self._open_nvml()
        elif self.ctx.local_rank == 0:  # the other local ranks would read the same packages
            try:
                self.meter = open_rapl()
            except EnergyUnavailable as exc:
                self.energy_note = str(exc)
                self.warn(f"no energy figures: {exc}")  # the issue: exp.warnings says why

    def _find_peak(self) -> tuple[float, str] | None:
        if self.spec.peak_tflops > 0:
            self.peak_kind = "flag"
            return self.spec.peak_tflops, "--peak_tflops"
        if not self.setup.is_cuda:
            self.peak_kind = "theoretical"
            found = cpu_peak.theoretical_peak(
                self.setup.dtype, torch.get_num_threads(), allowed=self.cpus,
                ranks=self.ctx.local_world_size if self.ctx.enabled else 1)
        else:
            self.peak_kind = "table"
            found = self._gpu_peak()
        if isinstance(found, str):
            self.peak_note = f"{found}; give the device's dense peak with --peak_tflops"
            self.warn(f"no MFU: {self.peak_note}")
            return None
        return found

    def _gpu_peak(self) -> tuple[float, str] | str:
        """The datasheet column of the math this run's float32 ops use (convolutions:
        ``cudnn.allow_tf32``; matmuls: the float32 matmul precision), scaled to a MIG slice."""
        name = torch.cuda.get_device_name(self.setup.device)
        conv_tf32 = bool(torch.backends.cudnn.allow_tf32)
        precision = torch.get_float32_matmul_precision()
        matmul_tf32 = precision != "highest"
        sms = getattr(torch.cuda.get_device_properties(self.setup.device),
                      "multi_processor_count", None) if peaks.MIG.search(name) else None
        found = peaks.gpu_peak(name, self.setup.dtype, matmul_tf32, sms)
        if isinstance(found, str) or self.setup.dtype != "float32" or conv_tf32 == matmul_tf32:
            return found
        return (f"float32 convolutions run {'TF32' if conv_tf32 else 'FP32'} "
                f"(torch.backends.cudnn.allow_tf32={conv_tf32}) but matmuls "
                f"{'TF32' if matmul_tf32 else 'FP32'} (float32_matmul_precision={precision}): "
                "no one datasheet column is this run's peak")

    def _measure_matmul(self) -> dict[str, Any]:
        """The CPU's matmul rate now (:func:`.calibration.matmul_peak`) and the machine's load
        while it was measured: ``results.matmul_peak_*`` facts."""
        before = machine_state.snapshot(self.job_root, self.cpus)
        tflops, source = calibration.matmul_peak(self.setup.dtype)
        after = machine_state.snapshot(self.job_root, self.cpus)
        load, why = machine_state.window_facts(before, after, machine_state.clock_tick(), "")
        load["seconds"] = after.at - before.at
        if why:
            load["note"] = "; ".join(why)
        usable = math.isfinite(tflops) and tflops > 0
        if not usable:
            calibration.forget(self.setup.dtype)
        return {"results.matmul_peak_measured": tflops if usable else None,
                "results.matmul_peak_source": source, "results.matmul_peak_load": load}

    def _open_nvml(self) -> None:
        first = self.setup.device.index or 0
        try:
            nvml = open_nvml(self.nvml_loader)
            handles = device_handles(nvml, range(first, first + self.setup.num_devices))
        except NvmlUnavailable as exc:
            self._no_gpu_meters(str(exc))
            return
        try:
            self.throttle = ThrottleSampler(nvml, handles)
        except Exception as exc:  # noqa: BLE001 - an NVML without the reason query
            self.warn(f"no GPU clock throttling figures: NVML has no clock event reasons "
                      f"({exc})")
        meter = NvmlEnergy(nvml, handles)
        try:
            meter.check()
            self.meter = meter
        except EnergyUnavailable as exc:
            self._no_gpu_meters(str(exc), clocks=False)

    def _no_gpu_meters(self, why: str, clocks: bool = True) -> None:
        self.energy_note = why
        lost = "energy and clock throttling" if clocks else "energy"
        self.warn(f"no GPU {lost} figures: {why}")

    # -- TimingHooks ---------------------------------------------------------------------
    def before_warmup(self, step: Step) -> None:
        """Count one extra step's FLOPs (not for the input pipeline alone). A measurement never
        fails the run: a count that raises (a formula that refuses a shape, memory running
        out in the eager step of a compiled model) leaves ``results.mfu`` null, with the
        reason in ``results.mfu_note`` and a warning."""
        if self.phase == "data":
            return
        # DataParallel's replicas run in threads the counter does not see: count the plain
        # module on one replica's share of the batch (see measure.flops); a batch found by
        # --batch_size max is counted on a few samples (the eager step at the batch that
        # just fits a compiled model could run out of memory)
        share = min(self.batch_size, self.count_share or self.batch_size)
        try:
            with plain_step(step, self.local_samples, share) as (counted, samples):
                self.flops = flops_per_sample(counted, samples, self.tp)
        except StopRequested:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the count is its own
            self.flops = None
            self.flop_note = flop_failure(exc)
        if self.flop_note is not None:
            self._free_memory()  # what the failed step held (its traceback is gone now)
            self.warn(f"no MFU: {self.flop_note}")
        elif self.flops is None:
            self.warn("no FLOPs counted: the flop counter saw no matmul or convolution in a "
                      "step (no tflops, no mfu)")

    def _free_memory(self) -> None:
        gc.collect()
        if self.setup.is_cuda:
            torch.cuda.empty_cache()

    def after_warmup(self, step: Step) -> None:
        """With ``--profile DIR``: trace a few extra steady-state steps."""
        if not self.spec.profile:
            return
        path = profiling.trace_path(self.spec.profile, self.model, self.phase,
                                    self.ctx.rank, self.batch_size, self.setup.dtype)
        self.profile_path = profiling.profile_steps(step, path, self.setup.is_cuda,
                                                    self.setup.synchronizer())
        if self.ctx.enabled and self.ctx.world_size > 1:
            self.communication = profiling.communication(self.profile_path)

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        """Around the timed chunks: reset and read peak memory, read energy and sample
        clocks."""
        self._sync()
        self.state_facts = machine_state.settings_facts(cpus=self.cpus)
        before = machine_state.snapshot(self.job_root, self.cpus)
        self.memory_scope = memory.reset_peak_memory(self.setup.device, self.setup.num_devices,
                                                     warn=self.warn)
        retries = memory.alloc_retries(self.setup.device, self.setup.num_devices)
        samplers = [s.sample for s in (self.meter, self.throttle) if s is not None]
        poller = Poller(samplers)
        if self.meter is not None:
            self.meter.start()
        poller.start()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.window_s = time.perf_counter() - start
            self.window_end = time.time()
            self.peak_mib, self.memory_scope = memory.peak_memory_mib(
                self.setup.device, self.setup.num_devices, self.memory_scope, warn=self.warn)
            self.reserve_facts = memory.gpu_reserve_facts(self.setup.device,
                                                          self.setup.num_devices, retries)
            poller.stop()
            if self.meter is not None:
                self._read_energy(self.meter)
            facts, self.state_notes = machine_state.window_facts(
                before, machine_state.snapshot(self.job_root, self.cpus),
                machine_state.clock_tick())
            self.state_facts.update(facts)

    def _read_energy(self, meter: NvmlEnergy | RaplEnergy) -> None:
        """The window's joules; a meter that failed during it leaves none, and a warning."""
        self.energy_j = meter.stop()
        if meter.error is not None:
            self.energy_j, self.energy_note = None, meter.error
            self.warn(f"no energy figures: {meter.error}")

    def _sync(self) -> None:
        sync = self.setup.synchronizer()
        if sync is not None:
            sync()

    # -- after the run -------------------------------------------------------------------
    def results(self, throughput: float, num_timed: int, samples_per_iteration: int,
                replicas: int) -> dict[str, Any]:
        """The ``results.*`` facts of what was measured (absent: not measured)."""
        facts: dict[str, Any] = {}
        facts.update(self._flop_facts(throughput, replicas))
        if self.peak_mib is None:  # window() was not entered: the process's peak
            self.peak_mib, self.memory_scope = memory.peak_memory_mib(
                self.setup.device, self.setup.num_devices)
        if self.peak_mib is not None:
            facts["results.peak_memory_mb"] = self.peak_mib
            facts["results.peak_memory_scope"] = self.memory_scope
        facts.update(self.reserve_facts)
        facts.update(self._per_rank_memory())
        facts.update(self._energy_facts(num_timed * samples_per_iteration))
        facts.update(self._throttle_facts())
        facts.update(self._state_facts())
        if self.profile_path is not None:
            facts["results.profile_path"] = self.profile_path
        if self.communication is not None:
            facts["results.communication_share"] = round(self.communication.share, 4)
            facts["results.communication_ms"] = round(self.communication.ms_per_step, 3)
            facts["results.communication_source"] = self.communication.source
        return facts

    def _state_facts(self) -> dict[str, Any]:
        """The machine's state around the timed window (null where not read, and why)."""
        if not self.state_facts:  # window() was not entered
            return {}
        facts = dict(self.state_facts)
        if self.state_notes:
            facts["results.machine_state_note"] = "; ".join(self.state_notes)
        return facts

    def _flop_facts(self, throughput: float, replicas: int) -> dict[str, Any]:
        facts: dict[str, Any] = dict(self.matmul_facts)
        if self.peak is not None:
            facts["results.peak_tflops"], facts["results.peak_source"] = self.peak
        if self.flops is None:
            if self.flop_note is not None:
                facts.update({"results.mfu": None, "results.mfu_note": self.flop_note})
            return facts
        facts["results.flops_per_sample"] = self.flops
        if not math.isfinite(throughput):
            return facts
        tflops = self.flops * throughput / 1e12
        facts["results.tflops"] = tflops
        if self.peak is None:
            note = self.peak_note or "no peak TFLOPS for this device"
            facts.update({"results.mfu": None, "results.mfu_note": note})
            return facts
        mfu = tflops / (self.peak[0] * replicas)
        if mfu <= 1.0:
            facts["results.mfu"] = mfu
        else:
            facts.update({"results.mfu": None,
                          "results.mfu_note": self._above_the_peak(tflops, replicas)})
        return facts

    def _above_the_peak(self, tflops: float, replicas: int) -> str:
        """Warn that the run beat its peak (no MFU then); return the warning."""
        assert self.peak is not None
        peak, source = self.peak
        limit = peak * replicas
        if self.peak_kind == "theoretical":
            why = ("the CPU's clock or FLOPs per cycle are higher than those read or assumed "
                   "(see results.peak_source); give the peak with --peak_tflops")
        elif self.peak_kind == "flag":
            why = "the --peak_tflops given is below what this run reached"
        else:
            why = ("the run's math is faster than the datasheet column used (e.g. TF32 allowed "
                   "outside the benchmark's flags, TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1) or the "
                   "FLOP count is too high; give the right peak with --peak_tflops")
        times = f" ({replicas} x {peak:.4g})" if replicas > 1 else ""
        warning = (f"no MFU: achieved {tflops:.4g} TFLOP/s exceeds the peak {limit:.4g} "
                   f"TFLOP/s{times} ({source}), so MFU would be {tflops / limit:.3g} > 1: "
                   f"{why}")
        self.warn(warning)
        return warning

    def _energy_facts(self, samples: int) -> dict[str, Any]:
        joules = self.energy_j if self.energy_j is not None else math.nan
        if self.ctx.enabled:
            own = 0.0 if (not self.setup.is_cuda and self.ctx.local_rank != 0) else joules
            joules = self._all_reduce([own], torch.distributed.ReduceOp.SUM)[0]
        if not math.isfinite(joules):
            why = self.energy_note or "an energy counter could not be read on every rank"
            return {"results.energy_unavailable": why}
        source = self.meter.source if self.meter else "nvml" if self.setup.is_cuda else "rapl"
        short = too_short(source, self.window_s)
        if short is not None:
            self.warn(f"no energy figures: {short}")
            # results.energy_note: the name the GPU review's issue gave this case (31)
            return {"results.energy_unavailable": short, "results.energy_note": short,
                    "results.energy_window_s": self.window_s,
                    "results.energy_window_end": self.window_end}
        facts: dict[str, Any] = {"results.energy_j": joules, "results.energy_source": source,
                                 "results.energy_window_s": self.window_s,
                                 "results.energy_window_end": self.window_end}
        if joules > 0:
            facts["results.samples_per_joule"] = samples / joules
        if self.window_s > 0:
            facts["results.power_w"] = joules / self.window_s
        return facts

    def _throttle_facts(self) -> dict[str, Any]:
        if not self.setup.is_cuda:
            return {}
        seen = self.throttle is not None and self.throttle.samples > 0
        mask = self.throttle.mask if self.throttle is not None else 0
        if self.ctx.enabled:
            bits = sorted([*THROTTLE_BITS, POWER_CAP])
            flags = [float(bool(mask & b)) for b in bits] + [0.0 if seen else 1.0]
            flags = self._all_reduce(flags, torch.distributed.ReduceOp.MAX)
            mask = sum(b for b, f in zip(bits, flags) if f > 0)
            seen = flags[-1] == 0
        if self.throttle is not None and self.throttle.error is not None:
            self.warn(f"clock throttle sampling stopped: {self.throttle.error}")
        if not seen:
            return {}
        return {"results.throttle_reasons": reason_names(mask),
                "results.power_capped": power_capped(mask)}

    def _per_rank_memory(self) -> dict[str, Any]:
        """Under torchrun, every rank's peak (``results.peak_memory_mb`` is the writer's own):
        ``results.peak_memory_mb_ranks`` and, on GPUs, ``results.peak_memory_reserved_mb_ranks``,
        indexed by rank (null: a rank that measured none), and the largest of them,
        ``results.peak_memory_mb_max``. Every rank takes part."""
        if not self.ctx.enabled:
            return {}
        reserved = self.reserve_facts.get("results.peak_memory_reserved_mb")
        mine = [self.peak_mib, reserved]
        size = self.ctx.world_size
        values = [0.0] * (2 * size)
        for column, value in enumerate(mine):
            values[2 * self.ctx.rank + column] = math.nan if value is None else float(value)
        summed = self._all_reduce(values, torch.distributed.ReduceOp.SUM)

        def column(index: int) -> list[float | None]:
            return [None if math.isnan(v) else v for v in summed[index::2]]

        facts: dict[str, Any] = {"results.peak_memory_mb_ranks": column(0)}
        measured = [v for v in facts["results.peak_memory_mb_ranks"] if v is not None]
        if measured:  # what must fit a device: the largest rank's, not the writer's own
            facts["results.peak_memory_mb_max"] = max(measured)
        if self.setup.is_cuda:
            facts["results.peak_memory_reserved_mb_ranks"] = column(1)
        return facts

    def _all_reduce(self, values: list[float], op: Any) -> list[float]:
        device = self.setup.device if self.setup.is_cuda else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tensor, op=op)
        return [float(v) for v in tensor.tolist()]


def flop_failure(exc: BaseException, limit: int = 300) -> str:
    """``results.mfu_note`` of a FLOP count that raised: the error on one line."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"the FLOPs of a step could not be counted ({text})"

"""One runner per phase (timm ``benchmark.py`` style): training, inference, input pipeline.

Responsibility: the step each phase repeats and the context it is timed in. A runner receives a
ready model and a batch source; it builds neither, and :func:`~pytorch_benchmarks.run.timing.timed_loop`
does the timing. Our steps read no values back from the device (no ``.item()``): the timed
loop must contain only the work being measured. torch's ``GradScaler`` (float16 training)
does: its ``step`` reads the overflow flag (``found_inf.item()``), a host sync per step that
bfloat16 has not (docs/pytorch-benchmark.md, comparing with timm). Optional :class:`TimingHooks` see the step before
and after warm-up (extra, untimed steps) and wrap the timed chunks, nothing else.
"""
from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from benchstats import StopRule, run_until
from torch import nn

from pytorch_benchmarks.errors import StopRequested
from pytorch_benchmarks.run.timing import timed_loop
from pytorch_benchmarks.runtime.device import DeviceSetup

Batch = tuple[torch.Tensor, torch.Tensor]
Source = Callable[[], Batch]

#: Weight of auxiliary classifier outputs (Inception/GoogLeNet) in the training loss.
AUX_WEIGHT = 0.4


def _logits_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy; sequence outputs ``(N, T, C)`` are flattened to ``(N*T, C)``."""
    if logits.dim() > 2:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    return F.cross_entropy(logits, labels)


def classification_loss(output: Any, labels: torch.Tensor) -> torch.Tensor:
    """Loss of a model's output; auxiliary outputs (a tuple's tail) count ``AUX_WEIGHT``."""
    if isinstance(output, torch.Tensor):
        return _logits_loss(output, labels)
    main, *aux = output if isinstance(output, Sequence) else (output.logits,)
    loss = _logits_loss(main, labels)
    for extra in aux:
        if isinstance(extra, torch.Tensor):
            loss = loss + AUX_WEIGHT * _logits_loss(extra, labels)
    return loss


class TimingHooks(Protocol):
    """What measures a run besides time (:mod:`pytorch_benchmarks.measure.session`)."""

    def before_warmup(self, step: Callable[[], None]) -> None:
        """Called once before warm-up, inside the runner's context: may run extra steps."""

    def after_warmup(self, step: Callable[[], None]) -> None:
        """Called once after warm-up, before timing: may run extra steps."""

    def window(self) -> contextlib.AbstractContextManager[Any]:
        """Entered around the timed chunks only."""
        ...


#: The training steps whose losses are kept (the last ones timed): milabench's rule reads a
#: short window, so does ``results.loss_decreasing`` (the window's mean below the first
#: timed step's loss).
LOSS_WINDOW = 8

#: AdamW as torchtitan trains Llama 3 (its default job config: learning rate 8e-4, betas 0.9
#: and 0.95, weight decay 0.1, eps 1e-8), fused on CUDA as torchtitan's (torch's default
#: implementation elsewhere).
ADAMW = {"lr": 8e-4, "betas": (0.9, 0.95), "weight_decay": 0.1, "eps": 1e-8}


def make_optimizer(model: nn.Module, name: str = "sgd") -> torch.optim.Optimizer:
    """``sgd``: plain SGD with momentum (cheap, what DLBS's CNN benchmarks used; one state per
    weight); ``adamw``: AdamW (what transformers are trained with; two states per weight)."""
    if name == "adamw":
        params = list(model.parameters())
        fused = bool(params) and all(p.device.type == "cuda" and p.is_floating_point()
                                     for p in params)
        return torch.optim.AdamW(params, **ADAMW, fused=fused or None)
    if name != "sgd":
        raise ValueError(f"unknown optimizer {name!r}")
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


class Runner:
    """Times a phase's :meth:`step`; subclasses say what one step is."""

    phase = "base"

    def __init__(self, source: Source, setup: DeviceSetup) -> None:
        self.source = source
        self.setup = setup

    def step(self) -> None:
        """One iteration (one batch)."""
        raise NotImplementedError

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """What every step runs in (nothing by default)."""
        return contextlib.nullcontext()

    def run(self, num_warmup: int, num_batches: int) -> list[float]:
        """Warm up, then time ``num_batches`` steps; return their times in seconds."""
        with self.context():
            sync = self.setup.synchronizer()
            timed_loop(self.step, num_warmup, 0, sync)
            self.start_timing()
            return timed_loop(self.step, 0, num_batches, sync)

    def start_timing(self) -> None:
        """Called once between the untimed steps (warm-up, hooks') and the first timed one."""

    def run_until(self, num_warmup: int, rule: StopRule,
                  combine: Callable[[list[float]], list[float]],
                  hooks: TimingHooks | None = None,
                  stop: Callable[[], str | None] | None = None) -> tuple[list[float], bool]:
        """Warm up, then time chunks of steps until ``rule`` stops (see
        :mod:`benchstats.stopping`); ``combine`` merges the ranks' times of a chunk
        so that every rank decides alike. Returns the times (s) and whether a target was met.

        ``hooks`` (optional) get the step before warm-up (FLOP counting) and after it
        (profiling), and their ``window()`` wraps the timed chunks alone (energy, memory,
        clocks); the extra steps they run are never timed.

        ``stop`` (optional) is asked at every iteration boundary and returns the name of a
        stop signal (the same on every rank) or ``None``; once it names one the run ends
        there with :class:`~pytorch_benchmarks.errors.StopRequested`, holding the iterations
        timed so far (combined like every chunk)."""
        sync = self.setup.synchronizer()
        seen: list[str] = []

        def halted() -> bool:  # stop is not asked again once it said yes (a collective)
            if not seen and stop is not None and (name := stop()):
                seen.append(name)
            return bool(seen)
        ask = halted if stop is not None else None
        done: list[float] = []

        def chunk(n: int) -> list[float]:
            times = combine(timed_loop(self.step, 0, n, sync, ask))
            done.extend(times)
            if seen:
                raise StopRequested(seen[0], done, rule.num_batches)
            return times
        with self.context():
            if hooks is not None:
                hooks.before_warmup(self.step)
            timed_loop(self.step, num_warmup, 0, sync, ask)
            if ask is not None and ask():  # during warm-up: nothing was timed
                raise StopRequested(seen[0], [], rule.num_batches)
            if hooks is not None:
                hooks.after_warmup(self.step)
            self.start_timing()
            with hooks.window() if hooks is not None else contextlib.nullcontext():
                return run_until(chunk, rule)


class TrainRunner(Runner):
    """Forward (under autocast), loss, backward (scaled for float16), optimizer step."""

    phase = "training"

    def __init__(self, model: nn.Module, source: Source, setup: DeviceSetup,
                 optimizer: str = "sgd") -> None:
        super().__init__(source, setup)
        self.model = model.train()
        self.optimizer = make_optimizer(model, optimizer)
        self.scaler = setup.grad_scaler()
        #: The loss of the last step, on its device (read once timing is over: no sync).
        self.last_loss: torch.Tensor | None = None
        #: The first timed step's loss and the last LOSS_WINDOW steps' (on the device, read
        #: once timing is over), and how many steps were timed: the numerics facts.
        self.first_loss: torch.Tensor | None = None
        self.recent_losses: deque[torch.Tensor] = deque(maxlen=LOSS_WINDOW)
        self.timed_steps = 0
        self._timing = False

    def start_timing(self) -> None:
        """The losses kept from here on are the timed steps' (warm-up's are forgotten)."""
        self._timing, self.first_loss, self.timed_steps = True, None, 0
        self.recent_losses.clear()

    def step(self) -> None:
        """One training iteration."""
        inputs, labels = self.source()
        with self.setup.autocast():
            loss = classification_loss(self.model(inputs), labels)
        self.last_loss = loss.detach()
        if self._timing:
            if self.first_loss is None:
                self.first_loss = self.last_loss
            self.recent_losses.append(self.last_loss)
            self.timed_steps += 1
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)


class InferRunner(Runner):
    """Forward only, the whole loop under ``torch.inference_mode()`` and autocast."""

    phase = "inference"

    def __init__(self, model: nn.Module, source: Source, setup: DeviceSetup) -> None:
        super().__init__(source, setup)
        self.model = model.eval()

    def step(self) -> None:
        """One forward pass."""
        self.model(self.source()[0])

    def fingerprint_output(self) -> torch.Tensor | None:
        """The main output of one more forward pass on the source's next batch (after timing;
        synthetic data: its one batch), or None for a model whose output is not a tensor."""
        with self.context():
            out = self.model(self.source()[0])
        if isinstance(out, (tuple, list)):
            out = out[0] if out else None
        return out if isinstance(out, torch.Tensor) else None

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """Inference mode (no autograd bookkeeping) and autocast around every forward pass."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self.setup.autocast())
        return stack


class DataRunner(Runner):
    """The input pipeline alone: fetch a batch and land it on the device."""

    phase = "data"

    def step(self) -> None:
        """Fetch one batch."""
        self.source()

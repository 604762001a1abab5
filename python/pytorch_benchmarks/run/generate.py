"""Generation latency of decoder models (``--generate N``): time to first token and per token.

Responsibility: the inference step of a causal model that generates. Each iteration runs a
prefill of the batch's prompt (``--seq_len`` tokens) into a key/value cache, takes the first
token (greedy argmax; the LM head over the last position only, as serving engines do), then N
decode steps of one token each. The runner records, per iteration, the time to first token
(prefill + first token) and the time per output token (the decode steps' time / N), and turns
them into ``results.*`` facts. The timed loop itself
(:class:`~pytorch_benchmarks.run.phases.Runner`) is unchanged: an iteration is one generation.

The prefill asks the model for the last position's logits only when its ``forward`` takes
``last_only`` (the zoo's decoders; ``hf:`` models, which pass ``logits_to_keep=1`` on to
transformers). A model that cannot (no ``last_only``, or ``prefill_last_only = False``: an
``hf:`` model whose transformers class takes no ``logits_to_keep``) runs its LM head over the
whole prompt: its TTFT and FLOPs are then not comparable with the others', and a warning
(``exp.warnings``) says so.
"""
from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from torch import nn

from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.run.phases import InferRunner, Source
from pytorch_benchmarks.run.timing import percentile
from pytorch_benchmarks.runtime.device import DeviceSetup


def _ignore(message: str) -> None:
    """No warning callback: nothing to say it to."""
    del message


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model under DDP/DataParallel (``.module``) and ``torch.compile``
    (``._orig_mod``): generation calls it with a cache, which the wrappers do not pass on."""
    inner = getattr(model, "_orig_mod", model)
    return getattr(inner, "module", inner)


class GenerateRunner(InferRunner):
    """Prefill + ``new_tokens`` greedy decode steps per iteration, with a KV cache."""

    phase = "generation"

    def __init__(self, model: nn.Module, source: Source, setup: DeviceSetup,
                 new_tokens: int, warn: Callable[[str], None] | None = None) -> None:
        super().__init__(unwrap(model), source, setup)
        if not hasattr(self.model, "new_cache"):
            raise BenchmarkError(f"--generate: {type(self.model).__name__} has no KV cache "
                                 "(a new_cache(max_len) method); it cannot generate")
        if not getattr(self.model, "can_cache", True):  # hf: a causal LM without one
            inner = getattr(self.model, "model", self.model)
            raise BenchmarkError(f"--generate: {type(inner).__name__} keeps no KV cache (its "
                                 "forward takes no past_key_values or cache); it cannot "
                                 "generate")
        self.new_tokens = new_tokens
        self.cache: Any = None
        # The prefill skips the LM head of all but the last prompt position where it can.
        takes_last_only = "last_only" in inspect.signature(self.model.forward).parameters
        self.prefill_options = {"last_only": True} if takes_last_only else {}
        if not (takes_last_only and getattr(self.model, "prefill_last_only", True)):
            inner = getattr(self.model, "model", self.model)
            (warn or _ignore)(
                f"--generate: {type(inner).__name__} cannot compute the logits of the last "
                "prompt position alone (no last_only / logits_to_keep), so its prefill runs "
                "the LM head over the whole prompt: its TTFT and FLOPs are not comparable "
                "with those of models that do")
        #: Per iteration, warm-up included: time to first token and per output token (s).
        self.ttft: list[float] = []
        self.tpot: list[float] = []

    def _sync(self) -> None:
        sync = self.setup.synchronizer()
        if sync is not None:
            sync()

    def step(self) -> None:
        """One generation: prefill, first token, ``new_tokens`` decode steps."""
        prompt = self.source()[0]
        if self.cache is None:
            new_cache: Any = getattr(self.model, "new_cache")  # noqa: B009 - not in nn.Module
            self.cache = new_cache(prompt.shape[1] + self.new_tokens)
        self.cache.reset()
        clock = time.perf_counter
        start = clock()
        token = self.model(prompt, self.cache, **self.prefill_options)[:, -1:].argmax(dim=-1)
        self._sync()  # the clock is read only once the device is done
        first = clock()
        for _ in range(self.new_tokens):
            token = self.model(token, self.cache).argmax(dim=-1)
        self._sync()
        end = clock()
        self.ttft.append(first - start)
        self.tpot.append((end - first) / self.new_tokens)

    def latency_results(self, times: list[float]) -> dict[str, Any]:
        """``results.ttft_p50/p99`` and ``results.tpot_p50/p99`` (ms) over the timed
        iterations: the last ``len(times)`` recorded (the warm-up ones come first)."""
        count = len(times)
        ttft = sorted(1000.0 * t for t in self.ttft[len(self.ttft) - count:])
        tpot = sorted(1000.0 * t for t in self.tpot[len(self.tpot) - count:])
        return {"results.ttft_p50": percentile(ttft, 50), "results.ttft_p99": percentile(ttft, 99),
                "results.tpot_p50": percentile(tpot, 50), "results.tpot_p99": percentile(tpot, 99)}

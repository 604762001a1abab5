"""Token models in the benchmark: their sequence length, the flags they ignore, tokens/s.

Responsibility: what differs when a sample is a sequence of token ids (``ModelInfo.inputs ==
"tokens"``): ``--seq_len`` (and ``--generate``) resolved against the registry (the refusals
are :mod:`pytorch_benchmarks.checks`'s), the ``exp.*`` facts that describe
it, and the ``results.tokens_per_second`` hook. It builds no model and times nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from benchstats import analyze

from pytorch_benchmarks.checks import seq_len_of
from pytorch_benchmarks.run.generate import GenerateRunner

#: Tokens in the probe that finds a token model's output shape (its length costs time only).
PROBE_TOKENS = 8

Warn = Callable[[str], None]
ResultHook = Callable[[list[float]], dict[str, Any]]


def check_flags(info: Any, generate: int, compiled: bool, warn: Warn) -> None:
    """Warn about what a token model ignores; its refusals (real data, ``--generate`` with a
    model that is not a causal decoder) are :mod:`pytorch_benchmarks.checks`'s."""
    if generate and compiled:
        warn("--compile ignored with --generate: decoding into a growing KV cache runs eager "
             "(compiling it would recompile for every length)")


def resolve_seq_len(info: Any, asked: int | None, generate: int, warn: Warn) -> int | None:
    """The sequence length of a token model (``None`` for others: ``--seq_len``, ``asked``, is
    then ignored with a warning). By default the model's own length; with ``--generate N`` and
    learned positions, shortened so that the prompt and the N generated tokens fit (a length
    beyond the positions is refused by :mod:`pytorch_benchmarks.checks` first)."""
    if info.inputs != "tokens":
        if asked is not None:
            warn(f"--seq_len ignored: '{info.name}' is not a token model (its input is "
                 f"{tuple(info.input_shape)})")
        return None
    return seq_len_of(info, asked, generate)


def token_facts(seq_len: int, generate: int) -> dict[str, Any]:
    """``exp.seq_len`` (and ``exp.generate``, the decode steps per iteration)."""
    facts: dict[str, Any] = {"exp.seq_len": seq_len}
    if generate:
        facts["exp.generate"] = generate
    return facts


def tokens_per_second(samples_per_iteration: int, tokens_per_sample: int,
                      key: str = "results.tokens_per_second", devices: int = 0
                      ) -> ResultHook:
    """A hook giving ``key``: the throughput (samples/s, over the same steady window as
    ``results.throughput``) times the tokens of a sample (its length; with ``--generate N``
    the N + 1 tokens it generates, as ``results.output_tokens_per_second``); with
    ``devices``, also ``key + "_per_device"``: that figure divided by the devices the run
    used (torchtitan's tokens/s is per device)."""

    def hook(times: list[float]) -> dict[str, Any]:
        mean_ms = analyze([t * 1000.0 for t in times]).mean
        tokens = samples_per_iteration * tokens_per_sample
        rate = tokens * 1000.0 / mean_ms if mean_ms > 0 else None
        facts: dict[str, Any] = {key: rate}
        if devices:
            facts[f"{key}_per_device"] = None if rate is None else rate / devices
        return facts

    return hook


def result_hooks(runner: Any, samples_per_iteration: int, seq_len: int, devices: int = 0
                 ) -> list[ResultHook]:
    """The ``results.*`` hooks of a token model: tokens/s of the processed sequences (in all
    and per device, ``devices``: those the run used), or, for a generation, the latency
    percentiles and the generated tokens/s."""
    if isinstance(runner, GenerateRunner):
        return [runner.latency_results,
                tokens_per_second(samples_per_iteration, runner.new_tokens + 1,
                                  "results.output_tokens_per_second")]
    return [tokens_per_second(samples_per_iteration, seq_len, devices=devices)]


def probe(input_shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Two short sequences of token 0: enough to check a token model's output."""
    return torch.zeros((2, min(input_shape[0], PROBE_TOKENS)), dtype=torch.long, device=device)

"""The timed loop and its statistics; the runners' contexts (inference mode, autocast)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_benchmarks.run.phases import InferRunner, TrainRunner, classification_loss
from pytorch_benchmarks.run.timing import summarize, timed_loop
from pytorch_benchmarks.runtime.device import DeviceSetup
from torch import nn


def test_warmup_is_run_but_not_timed_and_zero_warmup_works() -> None:
    calls: list[int] = []
    times = timed_loop(lambda: calls.append(1), 3, 5)
    assert len(calls) == 8 and len(times) == 5 and all(t >= 0 for t in times)
    assert len(timed_loop(lambda: None, 0, 2)) == 2


def test_the_device_is_synchronised_before_every_clock_read() -> None:
    events: list[str] = []
    timed_loop(lambda: events.append("step"), 1, 3, lambda: events.append("sync"))
    assert events == ["step", "sync", "step", "sync", "step", "sync", "step", "sync"]


def test_summary_matches_numpy_over_the_steady_window() -> None:
    rng = np.random.default_rng(8)  # 80 iterations: an interval of a quiet window needs 80
    times = [0.090, 0.060] + list(0.011 + 0.001 * rng.standard_normal(80))
    facts = summarize(times, samples_per_iteration=8)
    assert facts["results.warmup_detected"] == 2 and facts["results.steady_state"] is True
    low, high = facts["results.time_ci95"]
    assert low < facts["results.time"] < high and facts["results.ci_note"] is None
    assert facts["results.precision"] == pytest.approx((high - low) / 2 / facts["results.time"])
    assert facts["results.ess"] > 10 and facts["results.autocorr_time"] >= 1
    assert facts["results.time_data"] == pytest.approx([t * 1000 for t in times])
    times = times[2:]
    ms = np.array(times) * 1000
    assert facts["results.time"] == pytest.approx(ms.mean())
    assert facts["results.throughput"] == pytest.approx(8 / np.mean(times))
    # issue 19: the sample SD (n - 1), no longer the population SD
    assert facts["results.time_std"] == pytest.approx(ms.std(ddof=1))
    for q in (50, 90, 99):
        assert facts[f"results.time_p{q}"] == pytest.approx(np.percentile(ms, q))
    p50_low, p50_high = facts["results.time_p50_ci95"]
    assert p50_low < facts["results.time_p50"] < p50_high
    assert facts["results.outliers"] == int(np.sum(np.abs(ms - np.median(ms))
                                                   > 3 * 1.4826 * np.median(np.abs(ms - np.median(ms)))))


def test_a_short_run_has_no_interval_and_says_why() -> None:
    """Ten correlated iterations cannot give a valid interval (issue 19: valid or absent)."""
    facts = summarize([0.0100, 0.0102, 0.0105, 0.0109, 0.0111, 0.0112, 0.0110, 0.0107, 0.0103,
                       0.0101],
                      samples_per_iteration=8)
    assert facts["results.time_ci95"] is None and facts["results.precision"] is None
    # fewer than 50 iterations cannot show their own correlation (benchstats.autocorr.MIN_N),
    # and a window under 80 without caught stalls is withheld for its tail
    # (benchstats.robust.TAIL_MIN_N): the note names the count that gives an interval
    assert "needs at least 80" in facts["results.ci_note"]
    correlated = 0.010 + 0.0005 * np.sin(np.arange(80) / 6.0)
    facts = summarize(list(correlated), samples_per_iteration=8)
    assert facts["results.time_ci95"] is None
    assert "effective sample size" in facts["results.ci_note"]
    assert "longer" in facts["results.ci_note"] or "would give one" in facts["results.ci_note"]


class Probe(nn.Module):
    """Records the grad and autocast modes each forward sees."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu")))
        return self.fc(x)


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ones(2, 4), torch.tensor([0, 2])


@pytest.mark.parametrize("dtype,autocast", [("float32", False), ("bfloat16", True)])
def test_inference_runs_in_inference_mode(dtype: str, autocast: bool) -> None:
    model = Probe()
    InferRunner(model, _source, DeviceSetup(torch.device("cpu"), dtype=dtype)).run(1, 2)
    assert model.seen == [(True, autocast)] * 3


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_training_updates_the_weights(dtype: str) -> None:
    model = Probe()
    before = model.fc.weight.detach().clone()
    runner = TrainRunner(model, _source, DeviceSetup(torch.device("cpu"), dtype=dtype))
    assert (runner.scaler is not None) == (dtype == "float16")
    runner.run(0, 2)
    assert not torch.equal(before, model.fc.weight)
    assert model.seen == [(False, dtype != "float32")] * 2 and model.fc.weight.grad is None


def test_auxiliary_outputs_add_to_the_loss() -> None:
    logits, labels = torch.zeros(2, 3), torch.tensor([0, 1])
    main = classification_loss(logits, labels)
    assert classification_loss((logits, logits), labels) == pytest.approx(1.4 * main)


def test_sequence_outputs_use_per_step_labels() -> None:
    loss = classification_loss(torch.zeros(2, 5, 3), torch.zeros(2, 5, dtype=torch.long))
    assert loss.shape == ()


def test_a_non_finite_time_gives_null_statistics_not_a_crash() -> None:
    """Review of issue 19: summarize raised on a NaN iteration time."""
    facts = summarize([0.01, 0.02, math.nan, 0.01], 4)
    assert facts["results.time_ci95"] is None and facts["results.steady_state"] is False
    assert "not finite" in facts["results.ci_note"] and math.isnan(facts["results.time"])


def test_a_window_too_short_to_test_is_logged_untested_not_steady() -> None:
    """Issue 58: ``results.steady_state=true`` for windows no test looked at; now null with
    the reason, and a late step caught by the last-third check is false."""
    facts = summarize([3.555, 1.799, 0.468, 0.470, 0.465, 0.472, 0.469, 0.471, 0.466, 0.470],
                      samples_per_iteration=8)
    assert facts["results.steady_state"] is None
    assert facts["results.steady_state_untested"] == "too few iterations"
    step = summarize([0.300] * 21 + [0.600] * 9, samples_per_iteration=8)
    assert step["results.steady_state"] is False and step["results.steady_state_untested"] is None
    assert step["results.ci_withheld"] == "not steady"

"""``--check_numerics`` (issue "Fast and right"): after timing, the run's forward pass (its
precision, memory format, compilation) against a float32 eager copy of its weights on the same
batch; ``results.numerics`` ok | off | not_finite with the error and the tolerance it was
judged by. The goals (no false off in 200 identical pairs, a 1e-3 perturbation of one layer
found) are measured by ``benchmarks/bench_numerics.py``."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_benchmarks.run import numerics
from pytorch_benchmarks.run.phases import TrainRunner
from pytorch_benchmarks.run.workload import _numerics_hook
from pytorch_benchmarks.runtime.device import DeviceSetup
from pytorch_benchmarks.runtime.distributed import DistContext
from torch import nn

from dlbs.experiment import Experiment
from dlbs.launchers.benchmark import benchmark_flags

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(8 * 6 * 6, 5))


def _inputs() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def _facts(stdout: str) -> dict[str, object]:
    return {line.split("__")[1]: json.loads(line.split("=", 1)[1])
            for line in stdout.splitlines() if line.startswith("__")}


def test_the_same_model_is_ok_with_no_error_and_dropout_does_not_count() -> None:
    model = _model().train()
    reference = numerics.reference_model(model)
    with numerics.evaluating(model, reference):
        verdict = numerics.check(model, reference, _inputs(), numerics.TOLERANCES["float32"])
    assert verdict == numerics.Verdict("ok", 0.0, numerics.TOLERANCES["float32"])
    assert model.training and reference.training  # put back as they were


def test_a_weight_changed_after_the_copy_is_off_with_its_error() -> None:
    model = _model()
    reference = numerics.reference_model(model)
    with torch.no_grad():
        model[5].weight.mul_(1 + 1e-3 * torch.randn_like(model[5].weight))
    with numerics.evaluating(model, reference):
        verdict = numerics.check(model, reference, _inputs(), numerics.TOLERANCES["float32"])
    assert verdict.status == "off"
    assert 1e-5 < verdict.error < 1e-2


def test_a_nan_output_is_not_finite_and_its_error_is_no_number_in_the_log() -> None:
    model = _model()
    reference = numerics.reference_model(model)
    with torch.no_grad():
        model[5].bias.fill_(float("nan"))
    with numerics.evaluating(model, reference):
        verdict = numerics.check(model, reference, _inputs(), 1e-5)
    assert verdict.status == "not_finite" and math.isinf(verdict.error)
    assert numerics.facts_of(verdict, "float32")["results.numerics_error"] is None


def test_the_reference_runs_without_the_runs_autocast_and_in_float32() -> None:
    """The reference is float32 and contiguous whatever the run's model is, and the run's
    autocast stays around the run's forward only (a reference under it would agree with a
    bfloat16 run by construction: error 0)."""
    model = _model().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    reference = numerics.reference_model(model)
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in reference.parameters())

    def bf16(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(batch)
    with numerics.evaluating(model, reference):
        verdict = numerics.check(bf16, reference, _inputs(), numerics.TOLERANCES["bfloat16"])
    assert verdict.status == "ok" and verdict.error > 1e-4


@pytest.mark.parametrize(("dtype", "tf32", "compiled", "name"), [
    ("float32", False, False, "float32"), ("float32", True, False, "tf32"),
    ("bfloat16", True, False, "bfloat16"), ("float16", False, True, "float16+compile")])
def test_each_precision_has_its_stated_tolerance(dtype: str, tf32: bool, compiled: bool,
                                                 name: str) -> None:
    assert numerics.basis(dtype, tf32, compiled) == name
    assert numerics.tolerance_of(name) == numerics.TOLERANCES[name.split("+")[0]]
    assert numerics.TOLERANCES["float32"] < numerics.TOLERANCES["float16"] \
        <= numerics.TOLERANCES["bfloat16"]


def test_the_wrappers_are_seen_through_to_the_plain_module() -> None:
    plain = _model()
    assert numerics.unwrap(torch.compile(plain)) is plain
    assert numerics.unwrap(nn.DataParallel(plain)) is plain


def test_the_benchmark_logs_the_check_outside_its_timed_window() -> None:
    """Through the benchmark as a user runs it (bfloat16 inference; training and float32 are
    checked in process above, and the golden facts say a run without the flag logs none of
    these keys)."""
    out = subprocess.run([sys.executable, str(SCRIPT), "--model", "deep_mnist", "--device",
                          "cpu", "--batch_size", "8", "--num_batches", "3",
                          "--num_warmup_batches", "1", "--forward_only", "true",
                          "--dtype", "bfloat16", "--check_numerics"],
                         capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    facts = _facts(out.stdout)
    assert facts["results.numerics"] == "ok"
    assert facts["results.numerics_basis"] == "bfloat16"
    assert facts["results.numerics_tolerance"] == numerics.TOLERANCES["bfloat16"]
    error = facts["results.numerics_error"]
    assert isinstance(error, float) and 0 < error <= numerics.TOLERANCES["bfloat16"]
    assert isinstance(facts["results.numerics_seconds"], float)
    # the check runs after the timed iterations: their count is what was asked
    assert facts["results.num_batches_done"] == 3


def test_the_parameter_reaches_the_benchmark_only_when_it_is_on() -> None:
    base = {"exp.model": "resnet18", "exp.device_type": "cpu", "exp.phase": "training"}
    assert "--check_numerics" not in benchmark_flags(Experiment.of(base))
    assert "--check_numerics" not in benchmark_flags(Experiment.of({**base, "exp.check_numerics": False}))
    flags = benchmark_flags(Experiment.of({**base, "exp.check_numerics": True}))
    assert flags[flags.index("--check_numerics") + 1] == "true"


def _parts(compiled: bool = False) -> SimpleNamespace:
    """What the hook reads of a run's parts: one process on the CPU."""
    return SimpleNamespace(workload=SimpleNamespace(setup=DeviceSetup(torch.device("cpu"))),
                           ctx=DistContext(), sharding=SimpleNamespace(parallelism="ddp"),
                           compile=compiled)


def _train_runner(model: nn.Module) -> TrainRunner:
    batch = (_inputs(), torch.tensor([0, 1, 2, 3]))
    return TrainRunner(model, lambda: batch, DeviceSetup(torch.device("cpu")))


def test_a_check_that_fails_leaves_the_run_ok_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of memory for the float32 copy (a batch the search fitted in bfloat16): a note, no
    verdict, and the run's own facts untouched (the hook raises nothing)."""
    def no_memory(*_args: object) -> numerics.Verdict:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore")
    monkeypatch.setattr(numerics, "check", no_memory)
    facts = _numerics_hook(_train_runner(_model()), _parts())([0.1])  # type: ignore[arg-type]
    assert facts == {"results.numerics_note": "not checked: OutOfMemoryError: CUDA out of "
                                              "memory. Tried to allocate 2.00 GiB"}


def test_an_output_that_is_no_tensor_is_not_checked_rather_than_called_not_finite() -> None:
    class Words(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"scores": x}
    model = Words()
    reference = numerics.reference_model(model)
    with pytest.raises(numerics.NotComparable):
        numerics.check(model, reference, _inputs(), 1e-5)


def test_outputs_of_two_shapes_are_off_with_no_error_figure() -> None:
    model = _model()
    reference = numerics.reference_model(model)

    def shorter(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)[:, :4]
    with numerics.evaluating(model, reference):
        verdict = numerics.check(shorter, reference, _inputs(), 1e-5)
    assert verdict.status == "off"
    assert numerics.facts_of(verdict, "float32")["results.numerics_error"] is None


def test_the_hook_checks_a_training_runner_in_its_own_process() -> None:
    facts = _numerics_hook(_train_runner(_model()), _parts())([0.1])  # type: ignore[arg-type]
    assert facts["results.numerics"] == "ok" and facts["results.numerics_error"] == 0.0


def test_float32_on_a_cuda_device_has_its_provisional_tolerance() -> None:
    assert numerics.tolerance_of("float32", "cuda") == numerics.CUDA_FLOAT32
    assert numerics.tolerance_of("float32+compile", "cuda") == numerics.CUDA_FLOAT32
    assert numerics.tolerance_of("bfloat16", "cuda") == numerics.TOLERANCES["bfloat16"]
    assert numerics.tolerance_of("float32") == numerics.TOLERANCES["float32"]


def test_a_rebuilt_model_takes_the_whole_weights_under_their_plain_names() -> None:
    """``whole_reference`` (the sharded runs' reference; here without DTensors): a model built
    again holds the run's weights under their names without the wrappers' parts, and equals
    it; a rebuilt model of other shapes is refused, never compared."""
    model = _model()
    with torch.no_grad():
        model[5].weight.add_(1.0)  # the trained weights, not the rebuilt model's own
    wrapped = nn.Sequential()
    wrapped.add_module("module", model)  # names 'module.0.weight', ... (DDP's part)
    reference = numerics.whole_reference(wrapped, _model, torch.device("cpu"))
    assert torch.equal(reference[5].weight, model[5].weight)
    with numerics.evaluating(model, reference):
        assert numerics.check(model, reference, _inputs(), 5e-6).status == "ok"
    assert numerics.plain_name("layers.0._checkpoint_wrapped_module._orig_mod.w") == \
        "layers.0.w"
    assert numerics.plain_name("submodule.weight") == "submodule.weight"

    def other() -> nn.Module:
        return nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(numerics.NotComparable):
        numerics.whole_reference(nn.Sequential(nn.Conv2d(3, 3, 1)), other, torch.device("cpu"))


def test_a_runner_that_is_no_forward_pass_says_it_was_not_checked() -> None:
    class Parts:  # what the hook reads of a data-loader-only run
        class workload:
            setup = None
    hook = _numerics_hook(object(), Parts())  # type: ignore[arg-type]
    assert "not checked" in hook([])["results.numerics_note"]

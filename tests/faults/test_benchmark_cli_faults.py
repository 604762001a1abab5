"""The benchmark's command line under faults a user makes, each run as a user runs it (its own
process): ``--version``, no ``--device`` on a machine without a GPU, an unknown model (refused
before torch is imported), and the human summary on stderr while stdout carries facts only.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks.facts import iter_facts, parse_fact

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "python" / "pytorch_benchmarks" / "benchmarks.py"
TINY = ["--model", "deep_mnist", "--batch_size", "4", "--num_batches", "3",
        "--num_warmup_batches", "1"]


def run(*argv: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, str(SCRIPT), *argv], capture_output=True,
                          text=True, timeout=240, check=False, cwd=ROOT)


def facts_in(text: str) -> dict[str, Any]:
    return dict(iter_facts(text.splitlines()))


# --- --version ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [
    pytest.param([str(SCRIPT), "--version"], id="script"),
    pytest.param(["-m", "pytorch_benchmarks.benchmarks", "--version"], id="module"),
    pytest.param(["-m", "pytorch_benchmarks.prepare", "--version"], id="prepare"),
])
def test_every_benchmark_entry_point_answers_version(cmd: list[str]) -> None:
    from pytorch_benchmarks import __version__

    done = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"pytorch_benchmarks {re.escape(__version__)} \(python "
                        r"\d+\.\d+\.\d+\)\n", done.stdout), done.stdout
    if "prepare" not in cmd[-2]:
        assert not re.search(r"\| +torch$", done.stderr, re.MULTILINE), "--version imported torch"


# --- unknown model ------------------------------------------------------------------------------

def test_an_unknown_model_exits_2_before_torch_is_imported(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    done = run("--model", "resnet5", "--log_file", str(log), flags=("-X", "importtime"))
    assert done.returncode == 2
    assert not re.search(r"\| +torch(\.|$)", done.stderr, re.MULTILINE), "torch was imported"
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("benchmarks.py: error: unknown model 'resnet5'; did you mean "
                              "'resnet50'")
    assert "--list_models" in message
    facts = facts_in(log.read_text())
    assert facts["results.status"] == "failure"
    assert facts["results.error"].startswith("usage error: unknown model 'resnet5'")


def test_an_unknown_model_in_process_never_imports_torch() -> None:
    code = ("import sys; from pytorch_benchmarks import benchmarks; "
            "code = benchmarks.main(['--model', 'nosuch']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "unknown model 'nosuch'" in done.stderr
    assert '__results.status__="failure"' in done.stdout


def test_every_registered_name_and_alias_passes_the_torch_free_check() -> None:
    from pytorch_benchmarks.checks import unknown_model
    from pytorch_benchmarks.models import get_model_info, list_models

    for name in list_models():
        for alias in (name, *get_model_info(name).aliases):
            assert unknown_model(alias) is None, alias
    assert unknown_model("vgg") is not None


def test_a_model_registered_at_run_time_is_known() -> None:
    from pytorch_benchmarks.models._zoo.registry import register_model, unregister_model
    from pytorch_benchmarks.options import parse_args
    from torch import nn

    def fault_net(*, num_classes: int = 2) -> nn.Module:
        return nn.Linear(4, num_classes)

    register_model(title="x", input_shape=(4,), num_classes=2)(fault_net)
    try:
        assert parse_args(["--model", "fault_net"]).model.name == "fault_net"
    finally:
        unregister_model("fault_net")


# --- device -------------------------------------------------------------------------------------

def test_without_device_the_benchmark_picks_one_and_logs_it() -> None:
    import torch

    done = run(*TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    facts = facts_in(done.stdout)
    want = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert facts["results.status"] == "ok" and facts["exp.device"] == want


@pytest.mark.parametrize("cuda,expected", [(True, "gpu"), (False, "cpu")])
def test_device_auto_follows_torch(monkeypatch: pytest.MonkeyPatch, cuda: bool,
                                   expected: str) -> None:
    import torch
    from pytorch_benchmarks.benchmarks import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    for asked, got in (("auto", expected), ("cpu", "cpu"), ("gpu", "gpu")):
        assert resolve_device(asked) == got


def test_an_explicit_gpu_without_one_is_still_a_clear_failure() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = run(*TINY, "--device", "gpu")
    assert done.returncode == 1 and "CUDA is not available" in facts_in(done.stdout)[
        "results.error"]


# --- stdout: facts only; stderr: the summary ----------------------------------------------------

SUMMARY = re.compile(r"deep_mnist (training|inference), batch 4 x 1 replica, cpu float32: "
                     r"[\d.]+ samples/s, [\d.]+ ms/iteration \(p50 [\d.]+, p90 [\d.]+; "
                     r"CI95 (\+-[\d.]+%|n/a: [a-z0-9 ,]+)\)"
                     # the machine's state, when the run says so (a busy CI machine)
                     r"(; busy machine: others took \d+% of the CPUs)?(; not steady)?")


@pytest.mark.parametrize("phase", ["training", "inference"])
def test_a_run_ends_with_a_human_summary_and_stdout_holds_only_facts(phase: str) -> None:
    extra = ["--forward_only"] if phase == "inference" else []
    done = run(*TINY, "--device", "cpu", *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines and all(parse_fact(line) is not None for line in lines), done.stdout
    summary = done.stderr.strip().splitlines()[-1]
    assert SUMMARY.fullmatch(summary) and summary.startswith(f"deep_mnist {phase}"), summary
    # the summary says what the facts of the same run say, rounded as the summary rounds (its
    # digits depend on the speed: 3.69 samples/s on a busy machine, 37.1 on a quiet one)
    from pytorch_benchmarks.output.reporter import summary_line

    facts = facts_in(done.stdout)
    assert summary == summary_line("deep_mnist", phase, 4, 1, "cpu", "float32", facts)


def test_the_summary_of_the_input_pipeline_says_so(tmp_path: Path) -> None:
    from pytorch_benchmarks.data.prepare import make_image_folder

    folder = make_image_folder(str(tmp_path / "images"), 8, 2, 32)
    done = run("--model", "resnet18", "--image_size", "32", "--batch_size", "4", "--device",
               "cpu", "--data_dir", folder, "--data_loader_only", "--num_loader_threads", "0",
               "--num_batches", "3", "--num_warmup_batches", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("resnet18 input pipeline, batch 4")


def test_a_failed_run_has_no_summary_and_stdout_holds_only_facts() -> None:
    done = run("--model", "deep_mnist", "--batch_size", str(10**9), "--device", "cpu",
               "--num_batches", "1")
    assert done.returncode == 1
    assert all(parse_fact(line) is not None for line in done.stdout.splitlines() if line)
    assert "samples/s" not in done.stderr and "error:" in done.stderr


def test_summary_numbers_are_readable() -> None:
    from pytorch_benchmarks.output.reporter import summary_line

    results: dict[str, Any] = {"results.throughput": 48.23, "results.time": 331.94, "results.time_p50": 330.1,
               "results.time_p90": 340.2, "results.precision": 0.0213,
               "results.time_ci95": [325.0, 339.0]}
    assert summary_line("alexnet", "training", 16, 1, "cpu", "float32", results) == (
        "alexnet training, batch 16 x 1 replica, cpu float32: 48.2 samples/s, 331.9 "
        "ms/iteration (p50 330.1, p90 340.2; CI95 +-2.1%)")
    results.update({"results.time": 0.21349, "results.precision": None,
                    "results.throughput": float("nan"), "results.time_ci95": None})
    line = summary_line("m", "data", 2, 8, "cuda:0", "bfloat16", results)
    assert line.startswith("m input pipeline, batch 2 x 8 replicas, cuda:0 bfloat16: n/a "
                           "samples/s, 0.213 ms/iteration")
    assert line.endswith("CI95 n/a: too few iterations)")
    results.update({"results.throughput": 3.694, "results.time": 1082.9})  # a busy machine
    assert "cuda:0 bfloat16: 3.69 samples/s, 1082.9 ms/iteration" in summary_line(
        "m", "training", 4, 1, "cuda:0", "bfloat16", results)

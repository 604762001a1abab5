"""Every plan in ``examples/`` expands, and the runnable ones simulate, as its README says."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlbs.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in {".json", ".yaml"})

#: example -> (experiments in the plan, runnable ones, models)
EXPECTED = {
    "first_sweep.json": (12, 12, {"alexnet_owt", "resnet18"}),
    "cpu_sweep.json": (24, 24, {"alexnet_owt", "resnet18"}),
    "weak_scaling_cpu.yaml": (6, 6, {"resnet18"}),
    "gpu_docker_sweep.json": (36, 30, {"resnet50", "inception3"}),
    "transformers_cpu.json": (5, 5, {"gpt2", "bert_base", "llama3_1b", "vit_b16"}),
    "llama3_8b_8gpu.json": (2, 2, {"llama3_8b"}),
    "acceptance.json": (1, 1, {"deep_mnist"}),
}


def expand(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    assert main(["print", "--config", str(path), "--format", "jsonl", *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_every_example_is_listed() -> None:
    assert {p.name for p in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_expands_to_its_plan(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    total, runnable, models = EXPECTED[path.name]
    experiments = expand(path, capsys)
    assert len(experiments) == total
    assert sum(e["exp.status"] == "ok" for e in experiments) == runnable
    assert {e["exp.model"] for e in experiments} == models
    assert len({e["exp.log_file"] for e in experiments}) == total


def test_weak_scaling_example_runs_two_replicas_through_torchrun(
        capsys: pytest.CaptureFixture[str]) -> None:
    plan = expand(ROOT / "examples" / "weak_scaling_cpu.yaml", capsys)
    # runs interleaved in rounds, each in its own random order (issue 19: RMIT)
    assert [(e["exp.repeat_index"], e["exp.round_position"]) for e in plan] == [
        (r, p) for r in range(3) for p in range(2)]
    assert all({e["exp.num_replicas"] for e in plan[r:r + 2]} == {1, 2} for r in (0, 2, 4))
    one, two = sorted(plan[:2], key=lambda e: e["exp.num_replicas"])
    assert (one["exp.effective_batch"], two["exp.effective_batch"]) == (8, 16)
    assert one["exp.cpu_threads"] == two["exp.cpu_threads"] == 1
    assert main(["run", "--config", str(ROOT / "examples" / "weak_scaling_cpu.yaml"),
                 "-Pexp.status=simulate"]) == 0
    scripts = capsys.readouterr().out
    assert scripts.count("torch.distributed.run") == 3 and "--nproc_per_node 2" in scripts
    assert scripts.count("--num_threads 1") == 6 and "OMP_NUM_THREADS=1" in scripts


def test_gpu_docker_example_simulates_docker_launches(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples" / "gpu_docker_sweep.json"
    assert main(["run", "--config", str(path), "-Pexp.status=simulate"]) == 0
    scripts = capsys.readouterr().out
    assert scripts.count("exec docker run") == 30  # the 6 disabled ones never run
    assert "--gpus '\"device=0,1,2,3\"'" in scripts


@pytest.mark.parametrize("path", [p for p in EXAMPLES if "gpu" not in p.name],
                         ids=lambda p: p.name)
def test_cpu_example_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(path)]) == 0
    assert "validate: OK" in capsys.readouterr().err


def test_transformer_example_sets_lengths_and_one_generation_case(
        capsys: pytest.CaptureFixture[str]) -> None:
    plan = expand(ROOT / "examples" / "transformers_cpu.json", capsys)
    shape = [(e["exp.model"], e["exp.seq_len"], e["exp.generate"]) for e in plan]
    assert shape == [("gpt2", 128, 0), ("gpt2", 128, 32), ("bert_base", 128, 0),
                     ("llama3_1b", 128, 0), ("vit_b16", 0, 0)]
    assert all(e["exp.phase"] == "inference" and e["exp.device_type"] == "cpu" for e in plan)


def test_the_8b_example_validates_here_and_shows_its_memory_plan(
        capsys: pytest.CaptureFixture[str]) -> None:
    """An 8B model on 8 GPUs, FSDP2 and FSDP2 + TP (issue "Sharded LLM training"): validated
    on this CPU host as a simulation (no GPU here), each rank's plan within the example's
    80 GB; without checkpointing and at twice the batch it is refused, naming what fits."""
    path = str(ROOT / "examples" / "llama3_8b_8gpu.json")
    assert main(["validate", "--config", path, "-Pexp.status=simulate"]) == 0
    err = capsys.readouterr().err
    plans = [line for line in err.splitlines() if line.startswith("memory plan of one rank")]
    assert [line.rsplit("peak ", 1)[1] for line in plans] == [
        "49.5 GB (experiment 0)", "40.1 GB (experiment 1)"]
    assert main(["validate", "--config", path, "-Pexp.status=simulate",
                 '-Pexp.activation_checkpointing="none"', "-Pexp.replica_batch=2"]) == 1
    err = capsys.readouterr().err
    assert "the memory plan of one rank peaks at 125.9 GB" in err
    assert "the smallest change that fits: --activation_checkpointing full" in err

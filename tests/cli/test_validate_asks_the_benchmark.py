"""``validate`` (and ``run``, before its first experiment) finds what the benchmark would
refuse, through the benchmark's own checks (pytorch_benchmarks.checks, via preflight): every
registered check has a case here, and every place the benchmark raises a refusal is either a
check or listed with the reason only the run can tell (issue 20)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytorch_benchmarks import checks
from pytorch_benchmarks.preflight import preflight

from dlbs.cli.validate import check_benchmark, check_experiment
from dlbs.experiment import Experiment

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "python" / "pytorch_benchmarks"

BASE = {"exp.model": "resnet50", "exp.framework": "pytorch", "exp.phase": "training",
        "exp.replica_batch": 16, "exp.num_batches": 10, "exp.num_warmup_batches": 0,
        "exp.dtype": "float32", "exp.data": "synthetic", "exp.data_dir": "",
        "exp.gpus": "", "exp.device_type": "cpu", "exp.cpu_replicas": 1, "exp.num_nodes": 1,
        "exp.docker": False, "exp.docker_image": "", "exp.id": "abc123",
        "exp.log_file": "/l/a.log", "exp.status": "ok", "pytorch.bench_path": str(ROOT / "python")}
DATA = str(ROOT / "tests")  # a folder that exists (its contents are the run's business)

#: check -> (the experiment's changes, the parameters the problem must name, the message).
#: ``None`` changes: no dlbs parameter reaches the flag; argv shows preflight finds it.
CASES: dict[str, tuple[dict[str, Any] | None, tuple[str, ...], str]] = {
    "usage": ({"exp.dtype": "int8"}, ("exp.dtype=int8 (--dtype)",),
              "argument --dtype: invalid choice: 'int8'"),
    "real_data_needs_dir": ({"exp.data": "real"}, ("exp.data=real (--data)",),
                            "--data real needs --data_dir"),
    "loader_only_needs_real_data": ({"pytorch.data_loader_only": True},
                                    ("pytorch.data_loader_only=true (--data_loader_only)",),
                                    "--data_loader_only times the real-data pipeline"),
    "max_batch_needs_a_model": ({"exp.replica_batch": "max", "pytorch.data_loader_only": True,
                                 "exp.data": "real", "exp.data_dir": DATA},
                                ("exp.replica_batch=max (--batch_size)",),
                                "--batch_size max finds the largest batch"),
    "generate_needs_inference": ({"exp.model": "gpt2", "exp.generate": 4},
                                 ("exp.generate=4 (--generate)", "exp.phase=false"),
                                 "--generate 4 times inference: add --forward_only"),
    "unknown_model": ({"exp.model": "resnet5"}, ("exp.model=resnet5 (--model)",),
                      "unknown model 'resnet5'; did you mean 'resnet50'"),
    "max_batch_one_process": ({"exp.replica_batch": "max", "exp.cpu_replicas": 2},
                              ("exp.num_replicas=2 (torchrun's WORLD_SIZE)",),
                              "not under torchrun (WORLD_SIZE=2)"),
    "image_size_too_small": (None, (), "--image_size 8 is too small for 'alexnet'"),
    "facts_log_needs_log_file": (None, (), "--facts log needs --log_file"),
    "generate_needs_causal_model": ({"exp.model": "bert_base", "exp.phase": "inference",
                                     "exp.generate": 4}, ("exp.model=bert_base (--model)",),
                                    "--generate needs a causal (decoder) model; 'bert_base'"),
    "token_model_real_data": ({"exp.model": "gpt2", "exp.data": "real", "exp.data_dir": DATA},
                              ("exp.data=real (--data)", "exp.model=gpt2 (--model)"),
                              "--data real: 'gpt2' is a token model"),
    "seq_len_beyond_positions": ({"exp.model": "gpt2", "exp.seq_len": 2000},
                                 ("exp.seq_len=2000 (--seq_len)", "exp.model=gpt2 (--model)"),
                                 "--seq_len 2000 exceeds the 1024 positions of 'gpt2'"),
    "generate_leaves_no_prompt": ({"exp.model": "gpt2", "exp.phase": "inference",
                                   "exp.generate": 1024}, ("exp.generate=1024 (--generate)",),
                                  "--generate 1024 leaves no room for a prompt"),
    "real_data_needs_image_model": ({"exp.model": "deep_mnist", "exp.data": "real",
                                     "exp.data_dir": DATA}, ("exp.model=deep_mnist (--model)",),
                                    ("real data needs an image model (C, H, W input); "
                                     "'deep_mnist' takes (784,)")),
    # fsdp as one process runs (under torchrun); hsdp needs two groups
    "sharding_under_torchrun": ({"exp.model": "gpt2", "exp.parallelism": "hsdp"},
                                ("exp.parallelism=hsdp (--parallelism)",),
                                "--parallelism hsdp shards over torchrun's ranks"),
    # an 8B Llama over 8 ranks, bfloat16, 8,192 tokens a sequence: 125.9 GB a rank at its peak
    "memory_plan_fits": ({"exp.model": "llama3_8b", "exp.cpu_replicas": 8,
                          "exp.parallelism": "fsdp", "exp.dtype": "bfloat16",
                          "exp.replica_batch": 2, "exp.seq_len": 8192,
                          "exp.device_memory_gb": 80},
                         ("exp.device_memory_gb=80 (--device_memory_gb)",
                          "exp.replica_batch=2 (--batch_size)"),
                         "the memory plan of one rank peaks at 125.9 GB"),
    "checkpointing_in_training": ({"exp.model": "gpt2", "exp.phase": "inference",
                                   "exp.activation_checkpointing": "full"},
                                  (("exp.activation_checkpointing=full "
                                   "(--activation_checkpointing)"),),
                                  "--activation_checkpointing full recomputes activations"),
    "data_dir_missing": ({"exp.data": "real", "exp.data_dir": "/no/such/folder"},
                         ("exp.data_dir=/no/such/folder (--data_dir)",),
                         "--data_dir '/no/such/folder' does not exist"),
}
ARGV_ONLY = {"image_size_too_small": ["--model", "alexnet", "--image_size", "8"],
             "facts_log_needs_log_file": ["--model", "alexnet", "--facts", "log"]}


def test_every_check_of_the_benchmark_has_a_validate_case() -> None:
    """A new check without a case here fails: validate must be shown to find it."""
    assert set(CASES) == {*checks.CHECKS, "usage"}


@pytest.mark.parametrize("check", sorted(CASES))
def test_validate_finds_each_refusal_naming_the_experiment_and_parameter(check: str) -> None:
    change, params, message = CASES[check]
    if change is None:  # no parameter of dlbs passes the flag: the benchmark's preflight
        refusals = preflight(ARGV_ONLY[check])
        assert [r.check for r in refusals] == [check]
        assert refusals[0].message.startswith(message)
        return
    problems = check_benchmark(Experiment.of({**BASE, **change}))
    mine = [p for p in problems if f"(the benchmark's check '{check}')" in p]
    assert mine, problems
    assert mine[0].startswith("exp.id abc123: ")
    assert message in mine[0]
    for param in params:
        assert param in mine[0]


def test_a_plan_the_benchmark_accepts_passes() -> None:
    for change in ({}, {"exp.model": "gpt2", "exp.seq_len": 1024},
                   {"exp.model": "gpt2", "exp.phase": "inference", "exp.generate": 16},
                   {"exp.model": "resnet50", "exp.data": "real", "exp.data_dir": DATA},
                   {"exp.replica_batch": "max"}):
        assert check_experiment({**BASE, **change}) == [], change


def test_positions_from_model_config_are_the_zoos_own() -> None:
    """``pytorch.model_config`` positions shorten the longest sequence (sequence_fields)."""
    problems = check_benchmark(Experiment.of({**BASE, "exp.model": "gpt2", "exp.seq_len": 100,
                                              "pytorch.model_config": {"positions": 64}}))
    assert "--seq_len 100 exceeds the 64 positions of 'gpt2'" in problems[0]


def test_a_data_folder_elsewhere_is_not_judged_here() -> None:
    """Docker and Slurm experiments read their data on the host that runs them."""
    for where in ({"exp.docker": True, "exp.docker_image": "x"}, {"exp.scheduler": "slurm"}):
        exp = {**BASE, **where, "exp.data": "real", "exp.data_dir": "/no/such/folder"}
        assert check_benchmark(Experiment.of(exp)) == []


def test_validate_and_run_refuse_gpt2_beyond_its_positions(cli: Any, tmp_path: Path) -> None:
    for action in ("validate", "run"):
        result = cli(action, "-Pexp.model=gpt2", "-Pexp.seq_len=2000", "-Pexp.gpus=")
        assert result.code == 1
        line = result.error_line()
        assert line.startswith("error: invalid plan (1 experiment: 1 to run): experiment 0: "
                               "exp.id "), line
        assert ("exp.seq_len=2000 (--seq_len), exp.model=gpt2 (--model): --seq_len 2000 exceeds "
                "the 1024 positions of 'gpt2'; ask for fewer tokens") in line
    assert not (tmp_path / "logs").exists()  # nothing started


def test_a_sweep_checks_each_distinct_command_line_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlbs.launchers import preflight as module

    calls: list[tuple[str, ...]] = []
    real = module.preflight

    def counting(argv: tuple[str, ...], *rest: Any) -> Any:
        calls.append(argv)
        return real(argv, *rest)
    monkeypatch.setattr(module, "preflight", counting)
    module._refusals.cache_clear()
    for repeat in range(20):
        check_benchmark(Experiment.of({**BASE, "exp.log_file": f"/l/{repeat}.log",
                                       "exp.id": f"i{repeat}"}))
    assert len(calls) == 1


def test_preflight_imports_no_torch() -> None:
    code = ("import sys\nfrom pytorch_benchmarks.preflight import preflight\n"
            "print(len(preflight(['--model', 'gpt2', '--seq_len', '2000'])))\n"
            "assert 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "1"


def test_metadata_from_sources_matches_the_registry() -> None:
    """What validate reads of each model without torch is what the registry holds."""
    code = ("import json\n"
            "from pytorch_benchmarks.models._zoo.metadata import zoo_metadata\n"
            "from pytorch_benchmarks.models import get_model_info\n"
            "out = {}\n"
            "for name, meta in zoo_metadata().items():\n"
            "    info = get_model_info(name)\n"
            "    keys = ('inputs', 'causal', 'max_seq_len', 'input_shape', 'min_input_shape')\n"
            "    out[name] = [[list(x) if isinstance(x, tuple) else x for x in\n"
            "                  (getattr(o, k) for k in keys)] for o in (meta, info)]\n"
            "print(json.dumps(out))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    pairs = json.loads(out)
    assert {"gpt2", "bert_base", "llama3_1b", "resnet50", "vit_b16"} <= set(pairs)
    for name, (from_sources, registered) in pairs.items():
        assert from_sources == registered, name


#: Exceptions and calls that refuse a run (a programming error of the zoo is not one).
REFUSING = {"BenchmarkError", "DatasetError", "RefusedError", "NoBatchFits",
            "ModelRegistryError", "UnknownModelError", "ModelConfigError",
            "FileNotFoundError", "_refused"}
#: Raise sites that refuse no experiment: registering a model wrongly is the zoo's own bug.
NOT_EXPERIMENT_REFUSALS = {"models/_zoo/registry.py:_check_free",
                           "models/_zoo/registry.py:_check_shape",
                           "models/_zoo/registry.py:register_model.decorate",
                           "models/_zoo/registry.py:register_sizes",
                           "models/_zoo/registry.py:register_model_prefix"}


def _refusal_sites() -> set[str]:
    """``module:function`` of every ``raise <refusal>(...)`` and ``parser.error(...)``."""
    sites: set[str] = set()

    def walk(node: ast.AST, where: str, stack: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                walk(child, where, [*stack, child.name])
                continue
            called = child.exc.func if isinstance(child, ast.Raise) and \
                isinstance(child.exc, ast.Call) else None
            name = getattr(called, "id", None) or getattr(called, "attr", None)
            error_call = isinstance(child, ast.Call) and \
                getattr(child.func, "attr", None) == "error"
            if name in REFUSING or error_call:
                sites.add(f"{where}:{'.'.join(stack)}")
            walk(child, where, stack)
    for path in sorted(BENCH.rglob("*.py")):
        where = str(path.relative_to(BENCH))
        if where != "data/prepare.py":  # a program of its own (python -m ...prepare)
            walk(ast.parse(path.read_text(encoding="utf-8")), where, [])
    return sites


def test_every_refusal_of_the_benchmark_is_a_check_or_said_to_need_the_run() -> None:
    sites = _refusal_sites()
    placed = set(checks.CHECKED_SITES) | set(checks.RUN_TIME_REFUSALS) | NOT_EXPERIMENT_REFUSALS
    assert sites - placed == set(), "refusals neither checked by validate nor listed as run-time"
    assert placed - sites == set(), "listed sites that refuse nothing any more"

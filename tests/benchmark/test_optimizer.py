"""``--optimizer`` (``exp.optimizer``): SGD with momentum or AdamW with torchtitan's settings;
``auto`` is the model's own (AdamW for transformers, SGD for the rest); the log says which ran,
and the memory check counts its states (issue "Sharded LLM training": AdamW's state is what
makes a transformer's memory real)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.models import get_model_info
from pytorch_benchmarks.run import footprint
from pytorch_benchmarks.run.phases import ADAMW, make_optimizer
from pytorch_benchmarks.run.workload import resolve_optimizer
from torch import nn

from .conftest import FEW, read_facts

BENCH = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"
TINY_LLAMA = ["--model", "llama3_1b", "--model_config",
              ('{"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2, '
               '"intermediate": 64}'), "--seq_len", "16", "--batch_size", "2"]


def test_auto_is_adamw_for_transformers_and_sgd_for_the_rest() -> None:
    for name in ("llama3_1b", "llama3_8b", "gpt2", "bert_base", "vit_b16"):
        assert resolve_optimizer("auto", get_model_info(name).optimizer) == "adamw", name
    for name in ("resnet50", "alexnet_owt", "deep_mnist"):
        assert resolve_optimizer("auto", get_model_info(name).optimizer) == "sgd", name
    assert resolve_optimizer("sgd", "adamw") == "sgd"
    assert resolve_optimizer("adamw", "sgd") == "adamw"


def test_adamw_has_torchtitans_settings_and_sgd_stays_as_it_was() -> None:
    model = nn.Linear(4, 4)
    adamw = make_optimizer(model, "adamw")
    assert type(adamw) is torch.optim.AdamW
    group = adamw.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"], group["eps"]) == (
        8e-4, (0.9, 0.95), 0.1, 1e-8) == (ADAMW["lr"], ADAMW["betas"], ADAMW["weight_decay"],
                                          ADAMW["eps"])
    assert not group["fused"]                      # fused on CUDA only
    sgd = make_optimizer(model)
    assert type(sgd) is torch.optim.SGD
    assert (sgd.param_groups[0]["lr"], sgd.param_groups[0]["momentum"]) == (0.01, 0.9)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(model, "adam")


def test_adamw_counts_two_states_per_weight_in_the_memory_check() -> None:
    model = nn.Linear(10, 10)
    sgd = footprint.footprint(model, training=True)
    adamw = footprint.footprint(model, training=True, optimizer="adamw")
    assert adamw.optimizer == 2 * sgd.optimizer == 2 * 4 * 110
    assert adamw.total == sgd.total + sgd.optimizer
    problem = footprint.refusal("m", adamw, torch.device("cpu"), 10, True, optimizer="adamw")
    assert problem is not None and "AdamW moments" in problem


def _run(tmp_path: Path, name: str, *args: str) -> dict[str, object]:
    log = tmp_path / f"{name}.log"
    done = subprocess.run([sys.executable, str(BENCH), *args, *FEW, "--log_file", str(log)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return read_facts(log)


def test_the_log_says_which_optimizer_ran_and_it_changes_the_training(tmp_path: Path) -> None:
    auto = _run(tmp_path, "auto", *TINY_LLAMA)
    sgd = _run(tmp_path, "sgd", *TINY_LLAMA, "--optimizer", "sgd")
    adamw = _run(tmp_path, "adamw", *TINY_LLAMA, "--optimizer", "adamw")
    assert (auto["exp.optimizer"], sgd["exp.optimizer"], adamw["exp.optimizer"]) == (
        "adamw", "sgd", "adamw")
    assert auto["results.loss_last"] == adamw["results.loss_last"] != sgd["results.loss_last"]
    mnist = _run(tmp_path, "mnist", "--model", "deep_mnist", "--batch_size", "4")
    assert mnist["exp.optimizer"] == "sgd"
    infer = _run(tmp_path, "infer", *TINY_LLAMA, "--forward_only", "true")
    assert "exp.optimizer" not in infer

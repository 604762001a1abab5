"""``--activation_checkpointing none|selective|full``: the blocks it wraps, the same loss as
without it (the random state is preserved, dropout included), the facts, and its refusals
(issue "Sharded LLM training")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks import checks
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.models import create_model
from pytorch_benchmarks.run.checkpointing import checkpoint_blocks
from pytorch_benchmarks.runtime.distributed import block_list
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper

from .conftest import FEW, read_facts

BENCH = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"
TINY = {"num_classes": 64, "hidden": 32, "layers": 4, "heads": 4, "kv_heads": 2,
        "intermediate": 64}


def _llama() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("llama3_1b", **TINY)


@pytest.mark.parametrize("mode,wrapped", [("none", []), ("selective", [1, 3]),
                                          ("full", [0, 1, 2, 3])])
def test_the_mode_wraps_its_blocks_and_the_gradients_stay_the_same(mode: str,
                                                                  wrapped: list[int]) -> None:
    plain, model = _llama(), _llama()
    assert checkpoint_blocks(model, "llama3_1b", mode) == len(wrapped)
    blocks = block_list(model)
    assert blocks is not None
    assert [i for i, b in enumerate(blocks) if isinstance(b, CheckpointWrapper)] == wrapped
    tokens = torch.randint(0, 64, (2, 8))
    for net in (plain, model):
        net(tokens).float().logsumexp(-1).mean().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), model.named_parameters(),
                                 strict=True):
        assert a.grad is not None and b.grad is not None
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_a_model_without_blocks_is_refused_naming_it() -> None:
    with pytest.raises(BenchmarkError, match="model 'resnet18' has no list of transformer"):
        checkpoint_blocks(create_model("resnet18"), "resnet18", "full")
    assert checkpoint_blocks(create_model("resnet18"), "resnet18", "none") == 0


def test_inference_with_checkpointing_is_refused_before_the_run() -> None:
    problem = checks.CHECKS["checkpointing_in_training"].test(
        checks.Subject(model="gpt2", forward_only=True, activation_checkpointing="full"), None)
    assert problem is not None and "--forward_only has none" in problem
    assert checks.CHECKS["checkpointing_in_training"].test(
        checks.Subject(model="gpt2", activation_checkpointing="full"), None) is None


def test_a_run_logs_the_mode_and_reaches_the_same_loss(tmp_path: Path) -> None:
    config = ('{"num_classes": 64, "hidden": 32, "layers": 4, "heads": 4, "kv_heads": 2, '
              '"intermediate": 64}')
    facts = {}
    for mode in ("none", "selective", "full"):
        log = tmp_path / f"{mode}.log"
        done = subprocess.run([sys.executable, str(BENCH), "--model", "llama3_1b",
                               "--model_config", config, "--seq_len", "16", "--batch_size", "2",
                               *FEW, "--activation_checkpointing", mode, "--log_file", str(log)],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        facts[mode] = read_facts(log)
    assert [facts[m]["exp.activation_checkpointing"] for m in facts] == ["none", "selective",
                                                                          "full"]
    assert "exp.checkpointed_blocks" not in facts["none"]
    assert (facts["selective"]["exp.checkpointed_blocks"],
            facts["full"]["exp.checkpointed_blocks"]) == (2, 4)
    # MFU counts the model's FLOPs, not the recomputation (the first H100 run counted 20 %
    # more with every block checkpointed, and called it MFU)
    assert (facts["none"]["results.flops_per_sample"]
            == facts["selective"]["results.flops_per_sample"]
            == facts["full"]["results.flops_per_sample"])
    # the same loss: the FLOP count's extra (training) step takes one sample of the batch
    # when blocks are checkpointed (measure.flops), the whole batch without: that one step
    # differs, so none is near the other two, which are equal (the gradients' equality
    # itself: test_the_mode_wraps_its_blocks_and_the_gradients_stay_the_same)
    losses = {m: facts[m]["results.loss_last"] for m in facts}
    assert losses["selective"] == pytest.approx(losses["full"], rel=1e-6)
    assert losses["none"] == pytest.approx(losses["full"], rel=2e-2)


def test_the_flop_count_runs_checkpointed_blocks_plainly_and_puts_checkpointing_back() -> None:
    from pytorch_benchmarks.measure.flops import (
        checkpointed_blocks,
        count_step_flops,
        without_recomputation,
    )
    plain, model = _llama(), _llama()
    checkpoint_blocks(model, "llama3_1b", "full")
    tokens = torch.randint(0, 64, (2, 8))

    def step(net: torch.nn.Module) -> None:
        net(tokens).float().logsumexp(-1).mean().backward()

    blocks = checkpointed_blocks(model)
    before = [b.checkpoint_fn for b in blocks]
    recomputed = count_step_flops(lambda: step(model))
    with without_recomputation(blocks):
        counted = count_step_flops(lambda: step(model))
    assert counted == count_step_flops(lambda: step(plain)) < recomputed
    assert [b.checkpoint_fn for b in blocks] == before  # checkpointing is back

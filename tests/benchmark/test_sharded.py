"""Sharded training under torchrun (issue "Sharded LLM training"): FSDP2 over every rank
(``--parallelism fsdp``) and HSDP (sharded within groups of ``--dp_shard`` ranks, replicated
across them) compute what DDP computes, on this CPU with gloo at world sizes 2 and 4: the
loss after the same steps from the same seed is equal, and the log says how the model was
laid out (parallelism, mesh, mixed precision)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
from pytorch_benchmarks import checks
from pytorch_benchmarks.models import get_model_info
from pytorch_benchmarks.models._zoo.metadata import model_metadata

from .conftest import read_facts

SCRIPT = Path(__file__).resolve().parents[2] / "python" / "pytorch_benchmarks" / "benchmarks.py"
TINY_LLAMA = json.dumps({"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4,
                         "kv_heads": 2, "intermediate": 64})


def _train(tmp_path: Path, ranks: int, *flags: str, script: Path = SCRIPT) -> dict[str, Any]:
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    log = tmp_path / f"{ranks}{'_'.join(flags)}{script.stem}.log".replace(os.sep, "_")
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={ranks}", str(script), "--model", "llama3_1b", "--model_config",
           TINY_LLAMA, "--seq_len", "16", "--batch_size", "2", "--num_batches", "5",
           "--num_warmup_batches", "1", "--device", "cpu", *flags, "--log_file", str(log)]
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return read_facts(log)


@pytest.mark.torchrun
def test_fsdp_and_hsdp_train_to_ddps_loss(tmp_path: Path) -> None:
    ddp2 = _train(tmp_path, 2)
    fsdp2 = _train(tmp_path, 2, "--parallelism", "fsdp")
    ddp4 = _train(tmp_path, 4)
    hsdp4 = _train(tmp_path, 4, "--parallelism", "hsdp", "--dp_shard", "2")
    bf16 = _train(tmp_path, 2, "--parallelism", "fsdp", "--dtype", "bfloat16")
    for facts in (ddp2, fsdp2, ddp4, hsdp4, bf16):
        assert facts["results.status"] == "ok" and facts["results.throughput"] > 0
        # every rank's peak, by rank; the log's own figure is rank 0's
        ranks = facts["results.peak_memory_mb_ranks"]
        assert len(ranks) == facts["exp.world_size"] and all(m > 0 for m in ranks)
        assert ranks[0] == facts["results.peak_memory_mb"]
        assert facts["results.peak_memory_mb_max"] == max(ranks)
    assert (ddp2["exp.parallelism"], ddp2["exp.mesh_shape"]) == ("ddp", [2])
    assert (fsdp2["exp.parallelism"], fsdp2["exp.mesh_shape"]) == ("fsdp", [2])
    assert (hsdp4["exp.parallelism"], hsdp4["exp.mesh_shape"]) == ("hsdp", [2, 2])
    assert fsdp2["exp.mixed_precision"] == "parameters float32, gradient reduction float32"
    # built on the meta device, each rank materialising its shards: the loss is still DDP's
    assert fsdp2["exp.model_materialised"] == hsdp4["exp.model_materialised"] == "sharded"
    assert "exp.model_materialised" not in ddp2
    # the same seed, batches and steps: the same loss (measured: equal to 1e-7)
    assert fsdp2["results.loss_last"] == pytest.approx(ddp2["results.loss_last"], rel=1e-5)
    assert hsdp4["results.loss_last"] == pytest.approx(ddp4["results.loss_last"], rel=1e-5)
    assert ddp2["results.loss_last"] != ddp4["results.loss_last"]  # other batches: it moves
    # bfloat16: bfloat16 parameters, float32 gradient reduction, the loss within 1%
    assert bf16["exp.mixed_precision"] == "parameters bfloat16, gradient reduction float32"
    assert "exp.mixed_precision" not in ddp2
    assert bf16["results.loss_last"] == pytest.approx(fsdp2["results.loss_last"], rel=1e-2)


#: The benchmark with fsdp_tp's data broken on purpose: every rank reads a batch of its own,
#: so the ranks of a tensor-parallel group split one block over different inputs.
BROKEN_TP = """
import runpy, sys
sys.path.insert(0, {python!r})
from pytorch_benchmarks.runtime import distributed
distributed.data_rank = lambda ctx, tp: (ctx.rank, ctx.world_size)
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.mark.torchrun
def test_fsdp_tp_trains_to_the_loss_of_the_same_global_batch_and_a_broken_one_does_not(
        tmp_path: Path) -> None:
    """A tensor-parallel group reads one batch: fsdp_tp over 2 ranks (one group) computes
    what one process computes, over 4 ranks (2 groups of 2) what DDP over 2 computes (the same
    2 batches), to float32's last digits; with each rank reading its own batch (the fault a
    wrong data rank would be) the loss is another."""
    one = _train(tmp_path, 1)
    ddp2 = _train(tmp_path, 2)
    tp2 = _train(tmp_path, 2, "--parallelism", "fsdp_tp", "--tp_degree", "2")
    tp4 = _train(tmp_path, 4, "--parallelism", "fsdp_tp", "--tp_degree", "2")
    broken = tmp_path / "broken_tp.py"
    broken.write_text(BROKEN_TP.format(python=str(SCRIPT.parents[1]), script=str(SCRIPT)))
    wrong = _train(tmp_path, 4, "--parallelism", "fsdp_tp", "--tp_degree", "2", script=broken)
    for facts in (tp2, tp4):
        assert facts["results.status"] == "ok" and facts["exp.parallelism"] == "fsdp_tp"
        assert facts["exp.tp_degree"] == 2 and facts["exp.num_devices"] == facts["exp.world_size"]
        assert len(facts["results.peak_memory_mb_ranks"]) == facts["exp.world_size"]
        assert facts["results.tokens_per_second_per_device"] == pytest.approx(
            facts["results.tokens_per_second"] / facts["exp.num_devices"])
    assert (tp2["exp.mesh_shape"], tp2["exp.num_replicas"], tp2["exp.effective_batch"]) == (
        [1, 2], 1, 2)
    assert (tp4["exp.mesh_shape"], tp4["exp.num_replicas"], tp4["exp.effective_batch"]) == (
        [2, 2], 2, 4)
    # measured: equal to the last bit on this CPU; the tolerance is float32 reduction order
    assert tp2["results.loss_last"] == pytest.approx(one["results.loss_last"], rel=1e-5)
    assert tp4["results.loss_last"] == pytest.approx(ddp2["results.loss_last"], rel=1e-5)
    assert wrong["results.status"] == "ok"
    assert wrong["results.loss_last"] != pytest.approx(ddp2["results.loss_last"], rel=1e-3)
    # the FLOPs of a sample are the model's whatever the layout: a tensor-parallel rank runs
    # the attention of its share of the heads, counted for its group (it was 1/tp: MFU low)
    for facts in (ddp2, tp2, tp4):
        assert facts["results.flops_per_sample"] == pytest.approx(
            one["results.flops_per_sample"], rel=1e-9)


@pytest.mark.torchrun
def test_fsdp_over_one_rank_trains_to_ddps_loss(tmp_path: Path) -> None:
    """FSDP2 at world size 1 under torchrun (what a one-GPU host measures: FSDP2's own cost
    with nothing to shard against) runs and computes what one DDP rank computes."""
    ddp1 = _train(tmp_path, 1)
    fsdp1 = _train(tmp_path, 1, "--parallelism", "fsdp")
    assert fsdp1["results.status"] == "ok" and fsdp1["results.throughput"] > 0
    assert (fsdp1["exp.parallelism"], fsdp1["exp.mesh_shape"]) == ("fsdp", [1])
    assert fsdp1["results.peak_memory_mb_ranks"] == [fsdp1["results.peak_memory_mb"]]
    assert fsdp1["results.loss_last"] == pytest.approx(ddp1["results.loss_last"], rel=1e-5)


@pytest.mark.parametrize("subject,words", [
    (checks.Subject(parallelism="fsdp", world_size=1), "run it under torchrun (one process"),
    (checks.Subject(parallelism="hsdp", world_size=1, torchrun=True),
     "at least 2 processes (WORLD_SIZE=1)"),
    (checks.Subject(parallelism="fsdp", world_size=2, forward_only=True), "without --forward_only"),
    (checks.Subject(parallelism="hsdp", world_size=2, dtype="float16"), "not float16"),
    (checks.Subject(parallelism="hsdp", world_size=4, dp_shard=3), "--dp_shard 3"),
    (checks.Subject(parallelism="hsdp", world_size=4, dp_shard=4), "use --parallelism fsdp"),
    (checks.Subject(parallelism="fsdp_tp", world_size=1, torchrun=True, tp_degree=2),
     "at least 2 processes (WORLD_SIZE=1)"),
    (checks.Subject(parallelism="fsdp_tp", world_size=4, tp_degree=3), "--tp_degree 3"),
    (checks.Subject(parallelism="fsdp_tp", world_size=4, tp_degree=1), "hold at least 2"),
    (checks.Subject(model="llama3_1b", model_config=json.loads(TINY_LLAMA),
                    parallelism="fsdp_tp", world_size=4, tp_degree=4),
     "its 4 query and 2 key/value heads cannot be split over 4 ranks"),
    (checks.Subject(model="llama3_1b", model_config={**json.loads(TINY_LLAMA),
                                                      "intermediate": 65},
                    parallelism="fsdp_tp", world_size=2, tp_degree=2),
     "its MLP width 65 is not a multiple of 2 (--tp_degree)"),
    (checks.Subject(model="gpt2", parallelism="fsdp_tp", world_size=2, tp_degree=2),
     "cannot split model 'gpt2': it has no tensor-parallel plan"),
])
def test_what_cannot_be_sharded_is_refused_in_one_line(subject: checks.Subject,
                                                       words: str) -> None:
    """The same refusal from the model's registration (a run) and from its metadata read
    without torch (validate)."""
    for meta in (get_model_info(subject.model, subject.model_config),
                 model_metadata(subject.model, subject.model_config)):
        found = [r for r in checks.find_refusals(subject, meta, "model")
                 if r.check == "sharding_under_torchrun"]
        assert len(found) == 1 and words in found[0].message and "\n" not in found[0].message


def test_the_tensor_parallel_plan_refuses_what_the_checks_did_not_know() -> None:
    """The run's own guard, beside the registration's flag: a block list without the planned
    modules, or heads the group does not divide."""
    from pytorch_benchmarks.models import create_model
    from pytorch_benchmarks.runtime import tensor_parallel
    from torch import nn

    llama = create_model("llama3_1b", **json.loads(TINY_LLAMA))
    assert tensor_parallel.problem(list(llama.layers), 2) is None
    assert "4 query and 2 key/value heads" in str(tensor_parallel.problem(list(llama.layers), 4))
    assert "no tensor-parallel plan" in str(tensor_parallel.problem([nn.Linear(4, 4)], 2))
    assert "no tensor-parallel plan" in str(tensor_parallel.problem([], 2))


def test_ddp_and_a_valid_hsdp_are_not_refused() -> None:
    for subject in (checks.Subject(), checks.Subject(parallelism="hsdp", world_size=4,
                                                     dp_shard=2),
                    checks.Subject(model="llama3_8b", parallelism="fsdp_tp", world_size=16,
                                   tp_degree=8),
                    checks.Subject(model="llama3_70b", parallelism="fsdp_tp", world_size=64,
                                   tp_degree=8),
                    checks.Subject(parallelism="fsdp", world_size=4, tp_degree=2),  # ignored
                    checks.Subject(parallelism="fsdp", world_size=1, torchrun=True)):
        for meta in (get_model_info(subject.model), model_metadata(subject.model)):
            assert not [r for r in checks.find_refusals(subject, meta, "model")
                        if r.check == "sharding_under_torchrun"], subject


def test_shard_units_are_a_transformers_blocks_never_a_tied_one() -> None:
    from pytorch_benchmarks.models import create_model
    from pytorch_benchmarks.runtime.distributed import shard_units
    from torch import nn

    llama = create_model("llama3_1b", **json.loads(TINY_LLAMA))
    assert shard_units(llama) == list(llama.layers)
    bert = create_model("bert_base", **get_model_info("bert_base").tiny)
    assert shard_units(bert) == []  # no block list at its top: the root is the one unit

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 10, bias=False)])
            self.layers[1].weight = self.embed.weight

    tied = Tied()
    assert shard_units(tied) == [tied.layers[0]]  # the block holding the tied weight stays


def _last_line_of_one_rank(code: str) -> str:
    """The last line ``code`` prints, run in a child process (a process group of one rank)."""
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parents[1]), "GLOO_SOCKET_IFNAME": "lo"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_fsdp_keeps_a_tied_model_tied() -> None:
    """A model with tied weights and no block list (BERT's decoder shares the word
    embeddings) trains under FSDP2 with its weights still one (a process group of one rank
    in a child process)."""
    code = """
import os, torch, torch.distributed as dist
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.runtime.distributed import DistContext, Sharding, wrap
dist.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:0")
m = create_model("bert_base", **get_model_info("bert_base").tiny)
model, facts = wrap(m, DistContext(world_size=1, enabled=True), torch.device("cpu"),
                    Sharding("fsdp"))
out = model(torch.randint(0, 64, (2, 8)))
out.float().mean().backward()
torch.optim.SGD(model.parameters(), lr=1.0).step()
same = torch.equal(m.decoder.weight.full_tensor(), m.bert.word_embeddings.weight.full_tensor())
print("tied", m.decoder.weight is m.bert.word_embeddings.weight, same, facts["exp.parallelism"])
dist.destroy_process_group()
"""
    assert _last_line_of_one_rank(code) == "tied True True fsdp"


def test_a_llama_built_on_meta_and_materialised_sharded_is_the_one_built_whole() -> None:
    """Built on the meta device, sharded by FSDP2, then given storage for its shards and its
    starting values: every parameter and the RoPE frequencies equal a whole build's from the
    same seed, the tied LM head is still the embeddings, and no parameter is left on meta; a
    model without init_weights is not built that way (a process group of one rank)."""
    code = """
import torch, torch.distributed as dist
from pytorch_benchmarks.models import create_model
from pytorch_benchmarks.runtime.distributed import (DistContext, Sharding, builds_sharded,
                                                    materialise, wrap)
dist.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:0")
cfg = dict(num_classes=64, hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64)
torch.manual_seed(5)
whole = create_model("llama3_1b", cfg)
torch.manual_seed(5)
with torch.device("meta"):
    m = create_model("llama3_1b", cfg)
model, _ = wrap(m, DistContext(world_size=1, enabled=True), torch.device("cpu"),
                Sharding("fsdp"))
materialise(model, torch.device("cpu"))
ref = dict(whole.named_parameters())
same = all(torch.equal(p.full_tensor(), ref[n]) for n, p in m.named_parameters())
meta = any(p.is_meta for p in m.parameters()) or m.inv_freq.is_meta
out = model(torch.randint(0, 64, (2, 8)))
out.float().mean().backward()
print("built", same, torch.equal(m.inv_freq, whole.inv_freq), meta,
      m.lm_head.weight is m.embed_tokens.weight, builds_sharded(torch.nn.Linear))
dist.destroy_process_group()
"""
    assert _last_line_of_one_rank(code) == "built True True False True False"


def test_validate_does_not_refuse_hsdp_whose_group_is_a_node(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """--dp_shard 0 (a node's ranks) is known only under torchrun: validate lets it pass."""
    from pytorch_benchmarks.preflight import preflight

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    argv = ["--model", "gpt2", "--parallelism", "hsdp", "--dtype", "bfloat16"]
    assert [r.check for r in preflight(argv, 8, True)] == []
    assert [r.check for r in preflight([*argv, "--dp_shard", "3"], 8, True)] == [
        "sharding_under_torchrun"]


@pytest.mark.torchrun
@pytest.mark.slow
def test_compile_under_fsdp_compiles_each_block_and_trains_to_the_same_loss(
        tmp_path: Path) -> None:
    """--compile under FSDP2 compiles each transformer block before it is sharded
    (torchtitan's order: tensor parallelism, checkpointing, compile, FSDP2), not the whole
    model around FSDP2's hooks; the loss is the eager run's (float32 on this CPU)."""
    eager = _train(tmp_path, 2, "--parallelism", "fsdp")
    compiled = _train(tmp_path, 2, "--parallelism", "fsdp", "--compile")
    assert compiled["results.status"] == "ok" and compiled["exp.compiled_blocks"] == 2
    assert "exp.compiled_blocks" not in eager
    assert compiled["results.loss_last"] == pytest.approx(eager["results.loss_last"], rel=1e-4)


@pytest.mark.torchrun
def test_a_profiled_sharded_run_logs_its_communication_share(tmp_path: Path) -> None:
    """With --profile, a run of several ranks logs the share of the profiled steps during
    which gloo's collectives were in flight (a GPU's NCCL kernels: tests/benchmark/
    test_profiling_communication.py); one process logs none."""
    fsdp = _train(tmp_path, 2, "--parallelism", "fsdp", "--profile", str(tmp_path / "traces"))
    assert 0 < fsdp["results.communication_share"] < 1
    assert fsdp["results.communication_ms"] > 0
    assert fsdp["results.communication_source"] == "gloo collectives"
    alone = _train(tmp_path, 1, "--profile", str(tmp_path / "traces"))
    assert "results.communication_share" not in alone and alone["results.profile_path"]


@pytest.mark.torchrun
@pytest.mark.parametrize("mode", ["selective", "full"])
def test_fsdp_tp_with_checkpointing_trains_to_the_loss_without_it(tmp_path: Path,
                                                                   mode: str) -> None:
    """Checkpointing wraps the blocks before they are split (``checkpoint_wrapper``): the
    tensor-parallel plan splits the wrapped block, and one group of 2 computes what one
    process computes with the same checkpointing (the FLOP count's extra step differs with
    checkpointing: tests/benchmark/test_checkpointing.py)."""
    plain = _train(tmp_path, 1, "--activation_checkpointing", mode)
    kept = _train(tmp_path, 2, "--parallelism", "fsdp_tp", "--tp_degree", "2",
                  "--activation_checkpointing", mode, "--check_numerics")
    assert kept["results.status"] == "ok" and kept["exp.activation_checkpointing"] == mode
    assert kept["results.loss_last"] == pytest.approx(plain["results.loss_last"], rel=1e-5)
    # --check_numerics on a sharded run: a model built again with the whole weights (every
    # DTensor gathered, the wrappers' name parts left out); measured 2.5e-7 (TP partial sums)
    assert kept["results.numerics"] == "ok", kept.get("results.numerics_note")
    assert 0 <= kept["results.numerics_error"] <= kept["results.numerics_tolerance"] == 5e-6

"""The memory plan's arithmetic (``run/memory_plan.py``) against what torch builds and saves:
the parameter counts of the four Llama 3 models (built on the meta device) and of small ones,
exactly; the values a block saves for its backward in float32 on this CPU (the tensors
autograd keeps, summed), exactly; and what sharding divides."""
from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.models._zoo.metadata import model_metadata
from pytorch_benchmarks.models.llama import DecoderLayer
from pytorch_benchmarks.plan.memory_plan import Layout, LlamaShape, activation_bytes, plan

SMALL = [{"num_classes": 64, "hidden": 32, "layers": 2, "heads": 4, "kv_heads": 2,
          "intermediate": 64},
         {"num_classes": 100, "hidden": 64, "layers": 3, "heads": 8, "kv_heads": 2,
          "intermediate": 96, "tied": False}]


@pytest.mark.parametrize("name", ["llama3_1b", "llama3_3b", "llama3_8b", "llama3_70b"])
def test_the_parameters_of_each_llama_are_counted_exactly_without_torch(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    built = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    meta = model_metadata(name)  # the zoo's sources, read without torch (validate's view)
    assert meta is not None
    assert LlamaShape.of(meta.settings) == LlamaShape.of(get_model_info(name).settings)
    shape = LlamaShape.of(meta.settings)
    assert shape is not None and shape.parameters == built


@pytest.mark.parametrize("config", SMALL, ids=["tied", "untied"])
def test_a_small_llamas_parameters_follow_its_config(config: dict[str, Any]) -> None:
    model = create_model("llama3_1b", config)
    built = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    shape = LlamaShape.of(get_model_info("llama3_1b", config).settings)
    assert shape is not None and shape.parameters == built


def _saved_bytes(layer: torch.nn.Module, x: torch.Tensor, rope: Any) -> int:
    """The bytes of every tensor autograd saves in ``layer``'s forward, each storage once,
    parameters left out."""
    params = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    tables = {t.untyped_storage().data_ptr() for t in rope}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params | tables:
            seen[storage.data_ptr()] = storage.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x, rope, None)
    return sum(seen.values())


@pytest.mark.parametrize("hidden,heads,kv_heads,intermediate",
                         [(64, 4, 2, 128), (128, 4, 2, 96), (64, 8, 2, 128), (64, 4, 4, 256)])
def test_what_a_block_saves_for_its_backward_is_the_planned_count(
        hidden: int, heads: int, kv_heads: int, intermediate: int) -> None:
    batch, seq = 2, 48
    layer = DecoderLayer(hidden, heads, kv_heads, intermediate, 0)
    x = torch.randn(batch, seq, hidden, requires_grad=True)
    angles = torch.randn(seq, hidden // heads)
    measured = _saved_bytes(layer, x, (angles.cos(), angles.sin()))
    shape = LlamaShape(vocab=64, hidden=hidden, layers=1, heads=heads, kv_heads=kv_heads,
                       intermediate=intermediate, tied=True)
    assert measured == batch * seq * shape.block_values_per_token() * 4


def test_sharding_divides_the_state_and_checkpointing_the_activations() -> None:
    shape = LlamaShape.of(get_model_info("llama3_8b").settings)
    assert shape is not None
    ddp = plan(shape, Layout("ddp", 8), batch=1, seq=8192)
    fsdp = plan(shape, Layout("fsdp", 8), batch=1, seq=8192)
    tp = plan(shape, Layout("fsdp_tp", 8, tp=8), batch=1, seq=8192)
    assert ddp.weights == shape.parameters * 4 and ddp.optimizer == 2 * ddp.weights
    assert ddp.buffers == ddp.weights  # DDP's buckets
    assert fsdp.weights == pytest.approx(ddp.weights / 8, rel=1e-6)
    # fsdp_tp: the blocks over all 8 ranks, the embeddings and head whole in the TP group
    assert tp.weights > fsdp.weights and tp.activations < fsdp.activations
    full = plan(shape, Layout("fsdp", 8), batch=1, seq=8192, checkpointing="full")
    some = plan(shape, Layout("fsdp", 8), batch=1, seq=8192, checkpointing="selective")
    assert full.activations < some.activations < fsdp.activations
    assert full.weights == fsdp.weights
    # an 8B model trained with AdamW: 16 bytes a parameter of state on one rank, beyond an
    # 80 GB GPU; sharded over 8 in bfloat16 with every block checkpointed, well within one
    one = plan(shape, Layout("ddp", 1), batch=1, seq=8192)
    assert one.weights + one.gradients + one.optimizer == 16 * shape.parameters
    bf16 = plan(shape, Layout("fsdp", 8), batch=1, seq=8192, checkpointing="full",
                param_bytes=2, value_bytes=2)
    assert one.peak > 80e9 > bf16.total and bf16.activations < fsdp.activations / 4
    # the peak: never every gradient with every activation (set to none after each step)
    assert one.peak == one.weights + one.optimizer + one.buffers + max(
        one.gradients, one.activations + shape.vocab * shape.hidden * 4) < one.total


def test_a_setting_that_is_missing_gives_no_shape() -> None:
    assert LlamaShape.of({"hidden": 64}) is None
    assert LlamaShape.of(json.loads('{"num_classes": 8, "hidden": 8, "layers": 1, "heads": 2, '
                                    '"kv_heads": 2, "intermediate": true}')) is None
    assert activation_bytes(LlamaShape(8, 8, 1, 2, 2, 8, True), 1, 4) > 0


def _refusal(subject: Any, meta: Any) -> str | None:
    from pytorch_benchmarks import checks

    found = [r.message for r in checks.find_refusals(subject, meta, "model")
             if r.check == "memory_plan_fits"]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_plan_beyond_the_device_memory_is_refused_with_the_smallest_change_that_fits() -> None:
    """From the model's registration (a run) and from its metadata read without torch
    (validate) alike."""
    from pytorch_benchmarks import checks

    def subject(**changes: Any) -> checks.Subject:
        base = {"model": "llama3_8b", "parallelism": "fsdp", "world_size": 8,
                "torchrun": True, "batch_size": 2, "seq_len": 8192, "dtype": "bfloat16",
                "device_memory_gb": 80.0}
        return checks.Subject(**{**base, **changes})
    for meta in (get_model_info("llama3_8b"), model_metadata("llama3_8b")):
        said = _refusal(subject(), meta)
        assert said is not None and "\n" not in said
        assert said.startswith("the memory plan of one rank peaks at 125.9 GB (weights 4.0, ")
        assert "more than --device_memory_gb 80; the smallest change that fits: " \
               "--activation_checkpointing full (36.6 GB)" in said
        assert "--parallelism fsdp (" in str(_refusal(subject(parallelism="ddp", batch_size=1,
                                                              device_memory_gb=120.0,
                                                              activation_checkpointing="full"),
                                                      meta))
        assert "--batch_size 3 (46.7 GB)" in str(_refusal(  # the largest batch that fits
            subject(activation_checkpointing="full", batch_size=4, device_memory_gb=50.0), meta))
        assert "no change fits (checkpointing, sharding further, a smaller batch, alone or " \
               "together)" in str(_refusal(subject(device_memory_gb=20.0), meta))
        # no change alone fits, two together do: sharding with checkpointing, then a batch too
        ddp = subject(parallelism="ddp", batch_size=2, device_memory_gb=60.0)
        assert "the smallest change that fits: --parallelism fsdp with " \
               "--activation_checkpointing full (36.6 GB)" in str(_refusal(ddp, meta))
        assert "the smallest change that fits: --parallelism fsdp with " \
               "--activation_checkpointing full with --batch_size 1 (" in str(
                   _refusal(subject(parallelism="ddp", batch_size=4, device_memory_gb=30.0),
                            meta))
        for fine in (subject(device_memory_gb=200.0), subject(device_memory_gb=0.0),
                     subject(forward_only=True), subject(batch_size="max")):
            assert _refusal(fine, meta) is None, fine
    assert _refusal(subject(model="gpt2"), get_model_info("gpt2")) is None  # no plan


def test_device_memory_that_judges_no_plan_is_said_to_be_ignored(run_bench: Any) -> None:
    """--device_memory_gb judges a Llama's training step: on another model (or inference) it
    cannot take effect, and the run says so instead of passing it silently."""
    from .conftest import FEW, TINY_MLP

    code, facts = run_bench(*TINY_MLP, *FEW, "--device_memory_gb", "80")
    assert code == 0
    assert any(w.startswith("--device_memory_gb 80 ignored: the memory plan it is judged "
                            "against is a Llama's training step's, not deep_mnist's training")
               for w in facts["exp.warnings"]), facts["exp.warnings"]
    code, facts = run_bench("--model", "llama3_1b", "--model_config", json.dumps(SMALL[0]),
                            "--seq_len", "16", "--batch_size", "2", *FEW,
                            "--device_memory_gb", "80")
    assert code == 0 and not any("--device_memory_gb" in w for w in facts["exp.warnings"])


def test_a_tiny_plan_is_not_shown_as_zeros() -> None:
    from pytorch_benchmarks.plan.memory_plan import gb_text

    assert [gb_text(x) for x in (0, 5.2e5, 4.4e7, 1.0e8, 49.47e9)] == [
        "0.0", "0.00052", "0.044", "0.1", "49.5"]


def test_the_optimizer_step_and_the_roots_reduce_scatter_are_peaks_of_their_own() -> None:
    """A weights-heavy step (one short sequence): the plan's peak is the optimizer's step
    (every gradient, the state, AdamW's temporaries: the weights' size with CUDA's foreach
    step, two of the largest parameter's on a CPU), or under FSDP2 the end of the backward
    (the root's unsharded gradients and their flat copy), not the loss."""
    shape = LlamaShape.of({"num_classes": 32000, "hidden": 1024, "layers": 6, "heads": 8,
                           "kv_heads": 2, "intermediate": 2816, "tied": False})
    assert shape is not None
    one = plan(shape, Layout("ddp", 1), 1, 32, "adamw", foreach=True)
    assert one.peak == one.weights * 4 + one.weights  # w + g + two states + the sqrt
    cpu = plan(shape, Layout("ddp", 1), 1, 32, "adamw", foreach=False)
    assert cpu.peak == cpu.weights * 4 + 2 * 32000 * 1024 * 4
    assert plan(shape, Layout("ddp", 1), 1, 32, "sgd").peak == one.weights * 3
    fsdp = plan(shape, Layout("fsdp", 2), 1, 32, "adamw", foreach=False)
    root = shape.outside_parameters * 4
    assert fsdp.peak == fsdp.weights + fsdp.optimizer + root + fsdp.gradients + 2 * root

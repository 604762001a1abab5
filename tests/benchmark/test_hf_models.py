"""``--model hf:<model_type>`` and ``--model_config``: Hugging Face models made from their
default configs, offline, through the registry and the whole benchmark."""
from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from pytorch_benchmarks.models import ModelRegistryError, create_model, get_model_info
from pytorch_benchmarks.models.names import hf_model_types, unknown_model_message

from .conftest import FEW, RunBench

pytest.importorskip("transformers")  # the test extra installs it; 'dlbs[hf]' for users

TINY_GPT2 = '{"n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 100}'
TINY_BERT = ('{"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2, '
             '"intermediate_size": 64, "vocab_size": 100}')


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any connection or name lookup fails (and is recorded): nothing may be downloaded."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == []


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied head is counted once


@pytest.mark.parametrize("name, params, seq_len, vocab, causal", [
    pytest.param("hf:gpt2", 124_439_808, 1024, 50257, True, id="gpt2-causal-lm"),
    pytest.param("hf:bert", 109_514_298, 512, 30522, False, id="bert-masked-lm"),
], )
def test_default_config_builds_the_published_architecture(
        no_network: list[str], name: str, params: int, seq_len: int, vocab: int,
        causal: bool) -> None:
    info = get_model_info(name)
    assert (info.inputs, info.input_shape, info.num_classes, info.causal) == \
        ("tokens", (seq_len,), vocab, causal)
    with torch.device("meta"):  # full size, no memory
        model = create_model(name)
    assert _count(model) == params


def test_model_config_overrides_the_config_and_the_forward_returns_logits(
        no_network: list[str]) -> None:
    config = {"n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 100, "n_positions": 16}
    info = get_model_info("hf:gpt2", config)
    assert (info.input_shape, info.max_seq_len, info.num_classes) == ((16,), 16, 100)
    model = create_model("hf:gpt2", config)
    logits = model(torch.randint(0, 100, (2, 16)))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 16, 100)


def test_a_causal_model_decodes_with_its_cache(no_network: list[str]) -> None:
    model = create_model("hf:gpt2", {"n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 50})
    model.eval()
    ids = torch.randint(0, 50, (1, 6))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(8)
        model(ids[:, :5], cache)
        last = model(ids[:, 5:], cache)
    assert torch.allclose(last[:, -1], full[:, -1], atol=1e-5)


@pytest.mark.parametrize("name, config, message", [
    pytest.param("hf:gpt3", {}, "unknown Hugging Face model type 'gpt3' in 'hf:gpt3'; did you "
                 "mean", id="unknown-type"),
    pytest.param("hf:", {}, "'hf:' names no model type; e.g. hf:gpt2", id="no-type"),
    pytest.param("hf:gpt2", {"n_layers": 2}, "--model_config: 'n_layers' is not a setting of "
                 "the gpt2 config (GPT2Config); did you mean 'n_layer'", id="unknown-key"),
    pytest.param("hf:clip", {}, "'hf:clip' has neither a masked-LM nor a causal-LM head",
                 id="not-a-text-model"),
    pytest.param("gpt2", {"layerz": 1}, "--model_config: model 'gpt2' has no setting 'layerz'; "
                 "it takes dropout, heads, hidden, intermediate, layers, num_classes, positions, "
                 "vocab", id="zoo-builder-unknown-key"),
])
def test_mistakes_are_one_clear_line(name: str, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelRegistryError) as err:
        get_model_info(name, config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_zoo_model_config_sets_builder_arguments() -> None:
    info = get_model_info("deep_mnist", {"num_classes": 7})
    assert info.num_classes == 7 and create_model("deep_mnist", {"num_classes": 7})(
        torch.zeros(2, *info.input_shape)).shape == (2, 7)


def test_missing_transformers_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(ModelRegistryError, match=r"pip install 'dlbs\[hf\]'"):
        get_model_info("hf:gpt2")


@pytest.mark.parametrize("model, config, phase", [
    pytest.param("hf:gpt2", TINY_GPT2, [], id="gpt2-training"),
    pytest.param("hf:gpt2", TINY_GPT2, ["--forward_only"], id="gpt2-inference"),
    pytest.param("hf:gpt2", TINY_GPT2, ["--forward_only", "--generate", "2"],
                 id="gpt2-generation"),
    pytest.param("hf:bert", TINY_BERT, [], id="bert-training"),
    pytest.param("hf:bert", TINY_BERT, ["--forward_only"], id="bert-inference"),
])
def test_tiny_hf_models_run_offline(run_bench: RunBench, no_network: list[str], model: str,
                                    config: str, phase: list[str]) -> None:
    code, facts = run_bench("--model", model, "--model_config", config, "--seq_len", "8",
                            "--batch_size", "2", *FEW, *phase)
    assert code == 0, facts.get("results.error")
    assert facts["results.status"] == "ok"
    assert (facts["exp.num_classes"], facts["exp.input_shape"], facts["exp.seq_len"]) == \
        (100, [8], 8)
    assert facts["exp.model_title"].startswith("Hugging Face ")


@pytest.mark.parametrize("config, error", [
    pytest.param('{"n_layer": 1', "usage error: argument --model_config: not JSON", id="json"),
    pytest.param("[1]", "usage error: argument --model_config: expected a JSON object",
                 id="not-an-object"),
    pytest.param('{"n_layers": 1}', "--model_config: 'n_layers' is not a setting", id="key"),
])
def test_bad_model_config_fails_with_one_line(run_bench: RunBench, config: str,
                                              error: str) -> None:
    code, facts = run_bench("--model", "hf:gpt2", "--model_config", config, *FEW)
    assert code in (1, 2) and facts["results.status"] == "failure"
    assert facts["results.error"].startswith(error)


def test_hf_names_are_read_from_the_transformers_sources() -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    assert hf_model_types() == frozenset(CONFIG_MAPPING_NAMES)  # read from its sources
    assert unknown_model_message("hf:gpt2") is None
    assert unknown_model_message("hf:xlm-roberta") is None
    message = unknown_model_message("hf:gpt3")
    assert message is not None and "did you mean" in message and "'hf:gpt2'" in message
    upper = unknown_model_message("hf:GPT2")  # the types are lower case
    assert upper is not None and "'GPT2' in 'hf:GPT2'; did you mean 'hf:gpt2' or" in upper
    none_close = unknown_model_message("hf:zzzzzz")
    assert none_close is not None and "'hf:zzzzzz' (the types are" in none_close


@pytest.mark.parametrize("setting", ["dtype", "torch_dtype"])
def test_a_config_never_sets_the_precision(setting: str) -> None:
    from pytorch_benchmarks.models import ModelRegistryError, get_model_info

    with pytest.raises(ModelRegistryError, match=f"'{setting}' would set the precision.*--dtype"):
        get_model_info("hf:gpt2", {"n_layer": 1, setting: "float16"})

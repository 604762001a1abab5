"""``--model_config`` on zoo models, at the registry: the transformers' shared settings, the
checks of their values (one line naming the setting), what they change in the model's
metadata (positions, image size) and its title."""
from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from pytorch_benchmarks.models import ModelRegistryError, create_model, get_model_info
from pytorch_benchmarks.models._zoo.registry import accepted_settings

#: The settings every zoo transformer takes (docs/pytorch-benchmark.md, "The zoo
#: transformers' settings"), and those of the token models.
SHARED = {"layers", "heads", "hidden", "intermediate", "num_classes"}
TOKEN_SHARED = SHARED | {"positions", "vocab"}
TRANSFORMERS = {"gpt2": TOKEN_SHARED | {"dropout"},
                "bert_base": TOKEN_SHARED | {"dropout", "types"},
                "llama3_1b": TOKEN_SHARED | {"kv_heads", "theta", "rope_factor", "tied"},
                "vit_b16": SHARED | {"image_size", "patch"}}
#: Small enough to build and run in well under a second.
SMALL = {"gpt2": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 48, "vocab": 64,
                  "positions": 16},
         "bert_base": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 48, "vocab": 64,
                       "positions": 16},
         "llama3_1b": {"layers": 2, "hidden": 32, "heads": 4, "kv_heads": 2, "intermediate": 48,
                       "vocab": 64, "positions": 16},
         "vit_b16": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 48, "image_size": 32,
                     "num_classes": 5}}


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_builders_take_the_shared_settings(name: str) -> None:
    assert set(accepted_settings(get_model_info(name))) == TRANSFORMERS[name]


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_shared_settings_shrink_the_model(name: str) -> None:
    """bert_base could not be shrunk (its builder took only hidden and num_classes)."""
    config = SMALL[name]
    info = get_model_info(name, config)
    model = create_model(name, config).eval()
    blocks = [m for m in model.modules() if type(m).__name__ in
              ("Block", "EncoderLayer", "DecoderLayer", "EncoderBlock")]
    assert len(blocks) == 2
    widths = {m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)}
    assert 48 in widths and 32 in widths  # intermediate and hidden
    if info.inputs == "tokens":
        out = model(torch.zeros(2, 16, dtype=torch.long))
        assert out.shape == (2, 16, 64) and info.num_classes == 64
        assert (info.max_seq_len, info.input_shape) == (16, (16,))
    else:
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
        assert info.input_shape == (3, 32, 32)


def test_gpt2_intermediate_defaults_to_four_times_the_width() -> None:
    with torch.device("meta"):
        default = sum(p.numel() for p in create_model("gpt2").parameters())
        same = sum(p.numel() for p in create_model("gpt2", {"intermediate": 3072}).parameters())
        narrow = sum(p.numel() for p in create_model("gpt2", {"intermediate": 1024}).parameters())
    assert default == same == 124_439_808 and narrow < default


@pytest.mark.parametrize("name", [*TRANSFORMERS, "resnet50", "inception3"])
def test_an_unknown_setting_lists_every_accepted_one(name: str) -> None:
    info = get_model_info(name)
    with pytest.raises(ModelRegistryError) as err:
        get_model_info(name, {"layerz": 1})
    message = str(err.value)
    assert message == (f"--model_config: model '{info.name}' has no setting 'layerz'; it takes "
                       f"{', '.join(accepted_settings(info))}")


@pytest.mark.parametrize("name, config, message", [
    pytest.param("gpt2", {"layers": -1}, "setting 'layers' must be an integer >= 1, got -1",
                 id="negative-layers"),
    pytest.param("gpt2", {"layers": 0}, "setting 'layers' must be an integer >= 1, got 0",
                 id="no-layers"),
    pytest.param("gpt2", {"layers": "two"}, "setting 'layers' must be an integer, got \"two\"",
                 id="string"),
    pytest.param("gpt2", {"layers": 2.5}, "setting 'layers' must be an integer, got 2.5",
                 id="fraction"),
    pytest.param("gpt2", {"layers": True}, "setting 'layers' must be an integer, got true",
                 id="boolean"),
    pytest.param("gpt2", {"heads": 5}, "setting 'hidden' (768) must be a multiple of 'heads' "
                 "(5)", id="heads-not-dividing"),
    pytest.param("gpt2", {"positions": 0}, "setting 'positions' must be an integer >= 1",
                 id="no-positions"),
    pytest.param("gpt2", {"dropout": 1}, "setting 'dropout' must be a probability in [0, 1), "
                 "got 1", id="dropout"),
    pytest.param("gpt2", {"dropout": math.nan}, "setting 'dropout' must be a finite number",
                 id="nan"),
    pytest.param("gpt2", {"vocab": 0}, "setting 'vocab' must be an integer >= 1, got 0",
                 id="no-vocabulary"),
    pytest.param("gpt2", {"vocab": 10, "num_classes": 11}, "'vocab' and 'num_classes' are the "
                 "same setting and disagree (10 and 11)", id="vocab-twice"),
    pytest.param("gpt2", {"intermediate": 0}, "setting 'intermediate' must be an integer >= 1",
                 id="no-mlp"),
    pytest.param("bert_base", {"layers": -2}, "setting 'layers' must be an integer >= 1",
                 id="bert-layers"),
    pytest.param("bert_base", {"types": 0}, "setting 'types' must be an integer >= 1",
                 id="bert-types"),
    pytest.param("llama3_1b", {"kv_heads": 5}, "setting 'heads' (32) must be a multiple of "
                 "'kv_heads' (5)", id="llama-kv-heads"),
    pytest.param("llama3_1b", {"hidden": 30, "heads": 6, "kv_heads": 2}, "settings 'hidden' / "
                 "'heads' (5) must be even", id="llama-odd-head-size"),
    pytest.param("llama3_1b", {"rope_factor": 0.5}, "setting 'rope_factor' must be >= 1",
                 id="llama-rope-factor"),
    pytest.param("llama3_1b", {"theta": 0}, "setting 'theta' must be > 0", id="llama-theta"),
    pytest.param("vit_b16", {"patch": 300}, "setting 'patch' (300) must be at most "
                 "'image_size' (224)", id="vit-patch"),
    pytest.param("vit_b16", {"heads": 7}, "setting 'hidden' (768) must be a multiple of 'heads' "
                 "(7)", id="vit-heads"),
    pytest.param("resnet18", {"num_classes": 0}, "setting 'num_classes' must be an integer >= 1",
                 id="classes"),
    pytest.param("inception3", {"dropout": "x"}, "setting 'dropout' must be a number, got "
                 "\"x\"", id="typed-non-transformer"),
])
def test_a_bad_value_is_one_line_naming_the_setting(name: str, config: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ModelRegistryError) as err:
        get_model_info(name, config)
    assert str(err.value).startswith(f"--model_config: model '{name}': {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, config, input_shape, max_seq_len", [
    pytest.param("gpt2", {"positions": 64}, (64,), 64, id="gpt2-shorter"),
    pytest.param("gpt2", {"positions": 4096}, (1024,), 4096, id="gpt2-longer"),
    pytest.param("bert_base", {"positions": 128}, (128,), 128, id="bert"),
    pytest.param("llama3_1b", {"positions": 512}, (512,), 512, id="llama"),
    pytest.param("vit_b16", {"image_size": 64}, (3, 64, 64), 0, id="vit-image-size"),
])
def test_positions_set_the_longest_and_the_default_input(
        name: str, config: dict[str, Any], input_shape: tuple[int, ...],
        max_seq_len: int) -> None:
    info = get_model_info(name, config)
    assert (info.input_shape, info.max_seq_len) == (input_shape, max_seq_len)


def test_llama_refuses_a_sequence_beyond_its_positions() -> None:
    model = create_model("llama3_1b", {**SMALL["llama3_1b"], "positions": 8})
    model(torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="9 positions exceed the model's 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize("name, config, title", [
    pytest.param("gpt2", {"layers": 2}, "GPT-2 small (layers=2)", id="one"),
    pytest.param("gpt2", {"layers": 2, "heads": 4, "hidden": 64}, "GPT-2 small (heads=4, "
                 "hidden=64, layers=2)", id="sorted"),
    pytest.param("gpt2", {"layers": 12}, "GPT-2 small", id="the-default-is-no-change"),
    pytest.param("gpt2", {"vocab": 100, "dropout": 0.0}, "GPT-2 small (dropout=0.0, vocab=100)",
                 id="synonym"),
    pytest.param("bert_base", {"layers": 2}, "BERT-base (masked LM) (layers=2)", id="bert"),
    pytest.param("resnet50", {"num_classes": 10}, "ResNet-50 (num_classes=10)", id="resnet"),
])
def test_a_modified_model_says_so_in_its_title(name: str, config: dict[str, Any],
                                               title: str) -> None:
    assert get_model_info(name, config).title == title
    assert title.startswith(get_model_info(name).title)  # the unmodified model's own

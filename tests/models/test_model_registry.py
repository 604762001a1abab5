"""The registry's behaviour: lookup, aliases, patterns, metadata and its errors (by message)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pytorch_benchmarks.models import (
    ModelRegistryError,
    UnknownModelError,
    create_model,
    get_model_info,
    list_models,
    register_model,
)
from torch import nn

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def _tiny(*, num_classes: int = 4, **kw: object) -> nn.Module:
    """A throw-away model."""
    return nn.Sequential(nn.Flatten(), nn.Linear(8, num_classes))


def test_get_model_info_fields() -> None:
    info = get_model_info("resnet50")
    assert (info.name, info.title) == ("resnet50", "ResNet-50")
    assert (info.input_shape, info.num_classes) == ((3, 224, 224), 1000)
    assert info.min_input_shape == (3, 32, 32)
    assert info.builder.__name__ == "resnet50"
    assert info.family == "resnet"


@pytest.mark.parametrize(
    "alias,name",
    [
        pytest.param("inception_v3", "inception3", id="torchvision-inception"),
        pytest.param("resnet_50", "resnet50", id="underscore-resnet"),
        pytest.param("eng_acoustic_model", "acoustic_model", id="dlbs-eng-acoustic"),
    ],
)
def test_alias_resolves_to_model(alias: str, name: str) -> None:
    assert get_model_info(alias).name == name
    assert alias not in list_models()


@pytest.mark.parametrize(
    "pattern,expected",
    [
        pytest.param("vgg*", ["vgg11", "vgg13", "vgg16", "vgg19"], id="prefix"),
        pytest.param("alexnet*", ["alexnet", "alexnet_owt"], id="prefix-underscore"),
        pytest.param("resnet?0?", ["resnet101", "resnet200"], id="single-char"),
        pytest.param("*net", ["alexnet", "googlenet", "sensor_net"], id="suffix"),
        pytest.param("nothing*", [], id="no-match"),
    ],
)
def test_list_models_filters_by_pattern(pattern: str, expected: list[str]) -> None:
    assert list_models(pattern) == expected


def test_list_models_is_sorted_and_complete() -> None:
    names = list_models()
    assert names == sorted(names) and len(names) >= 20


def test_unknown_model_suggests_close_name() -> None:
    with pytest.raises(UnknownModelError) as caught:
        create_model("resnt50")
    message = str(caught.value)
    assert message.startswith("unknown model 'resnt50'; did you mean 'resnet50'")
    assert "--list_models" in message


@pytest.mark.parametrize(
    "typo,hint",
    [
        pytest.param("resnt18", "did you mean 'resnet18' or ", id="one-entry-per-model"),
        pytest.param("inceptoin_v3", "did you mean 'inception_v3'", id="alias-suggested"),
    ],
)
def test_unknown_model_suggests_each_model_once(typo: str, hint: str) -> None:
    with pytest.raises(UnknownModelError) as caught:
        get_model_info(typo)
    assert hint in str(caught.value)
    assert "resnet_18" not in str(caught.value)


def test_unknown_model_without_close_name_points_to_list() -> None:
    with pytest.raises(ModelRegistryError, match=r"unknown model 'zzz'\. Run .*--list_models"):
        get_model_info("zzz")


def test_unknown_model_error_is_a_value_and_key_error() -> None:
    assert issubclass(UnknownModelError, ValueError) and issubclass(UnknownModelError, KeyError)


def test_registered_model_is_created_with_default_classes(scratch_registry: list[str]) -> None:
    register_model(title="Tiny", input_shape=(8,), num_classes=4, aliases=("tiny_alias",))(_tiny)
    scratch_registry.append("_tiny")
    assert "_tiny" in list_models()
    assert create_model("tiny_alias")(torch.zeros(1, 8)).shape == (1, 4)
    assert create_model("_tiny", num_classes=2)(torch.zeros(1, 8)).shape == (1, 2)


@pytest.mark.parametrize("taken", ["resnet50", "inception_v3"], ids=["name", "alias"])
def test_duplicate_name_is_an_error(taken: str) -> None:
    with pytest.raises(ModelRegistryError, match=f"cannot register model '{taken}'.*taken by"):
        register_model(title="Dup", input_shape=(8,), num_classes=4, name=taken)(_tiny)


def test_duplicate_alias_is_an_error() -> None:
    decorate = register_model(title="Dup", input_shape=(8,), num_classes=4, aliases=("resnet_50",))
    with pytest.raises(ModelRegistryError, match="'resnet_50'.*taken by 'resnet50'"):
        decorate(_tiny)
    assert "_tiny" not in list_models()


@pytest.mark.parametrize("shape", [(), (3, 0, 4), (3.0,)], ids=["empty", "zero", "float"])
def test_invalid_input_shape_is_an_error(shape: tuple) -> None:
    with pytest.raises(ModelRegistryError, match="input_shape must be"):
        register_model(title="Bad", input_shape=shape, num_classes=4, name="bad")(_tiny)


@pytest.mark.parametrize("num_classes", [0, 2.5], ids=["zero", "float"])
def test_invalid_num_classes_is_an_error(num_classes: Any) -> None:
    decorate = register_model(title="Bad", input_shape=(8,), num_classes=num_classes, name="bad")
    with pytest.raises(ModelRegistryError, match="num_classes must be a positive int"):
        decorate(_tiny)


def test_unknown_builder_argument_is_rejected() -> None:
    with pytest.raises(TypeError):
        create_model("resnet18", no_such_option=1)


def test_models_build_from_any_working_directory(tmp_path: Path) -> None:
    # As in a container: only PYTHONPATH points at the package; cwd is elsewhere.
    code = (
        "import sys, torch\n"
        "from pytorch_benchmarks.models import create_model, list_models\n"
        "model = create_model('resnet18', num_classes=5).eval()\n"
        "assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)\n"
        "assert 'dlbs' not in sys.modules, 'the benchmark must not import dlbs'\n"
        "print(' '.join(list_models()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Other tests may register extra models in this process (the adding-a-model example):
    # compare with the zoo's own modules only.
    zoo = {name for name in list_models()
           if get_model_info(name).builder.__module__.startswith("pytorch_benchmarks.models.")}
    assert set(done.stdout.split()) == zoo

"""One builder registered under each size of a table (``register_sizes``, issue 57 item 4: the
Llama sizes): the registry makes each size what a decorated builder with the row's defaults
would be, and the torch-free source reader (``names``, ``_zoo/metadata``) reads the same names,
aliases, metadata and settings from the table as the registry holds."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pytorch_benchmarks.models import (
    ModelRegistryError,
    create_model,
    get_model_info,
    list_models,
    register_sizes,
)
from pytorch_benchmarks.models._zoo.metadata import zoo_metadata
from pytorch_benchmarks.models._zoo.registry import accepted_settings
from pytorch_benchmarks.models.llama import LLAMA_SIZES
from pytorch_benchmarks.models.names import model_names, zoo_model_names
from torch import nn

#: A family of two sizes, as a module of the zoo would declare it.
FAMILY = textwrap.dedent('''
    from typing import Any

    from torch import nn

    from pytorch_benchmarks.models._zoo.registry import register_sizes

    WIDE = 48
    SIZES = {
        "mlp_small": {"title": "MLP small", "settings": {"width": 16}},
        "mlp_large": {"title": "MLP large", "aliases": ("mlp_l",),
                      "settings": {"width": WIDE, "depth": 3}},
    }


    def mlp(*, num_classes: int = 10, width: int, depth: int = 2, scale: float = 1.0,
            **kw: Any) -> nn.Module:
        layers = [nn.Linear(8, width)] + [nn.Linear(width, width) for _ in range(depth - 1)]
        return nn.Sequential(*layers, nn.Linear(width, num_classes))


    register_sizes(mlp, SIZES, input_shape=(8,), num_classes=10, optimizer="adamw")
''')


@pytest.fixture()
def family_dir(tmp_path: Path) -> Path:
    (tmp_path / "sized_family.py").write_text(FAMILY, encoding="utf-8")
    return tmp_path


def _register(folder: Path, names: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("sized_family", folder / "sized_family.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    names += ["mlp_small", "mlp_large"]


def test_the_source_reader_reads_each_size_of_a_table(family_dir: Path) -> None:
    assert zoo_model_names(family_dir) == ("mlp_large", "mlp_small")
    assert model_names(family_dir) == ("mlp_l", "mlp_large", "mlp_small")
    metas = zoo_metadata(family_dir)
    assert metas["mlp_l"] is metas["mlp_large"]
    large = metas["mlp_large"]
    assert (large.name, large.input_shape, large.optimizer) == ("mlp_large", (8,), "adamw")
    # the builder's order, the row's values where it has them, the builder's defaults else
    assert list(large.settings.items()) == [("num_classes", 10), ("width", 48), ("depth", 3),
                                            ("scale", 1.0)]
    assert dict(metas["mlp_small"].settings) == {"num_classes": 10, "width": 16, "depth": 2,
                                                 "scale": 1.0}


def test_each_size_registers_as_a_builder_with_its_rows_defaults(
        family_dir: Path, scratch_registry: list[str]) -> None:
    _register(family_dir, scratch_registry)
    large = get_model_info("mlp_l")
    assert (large.name, large.title, large.aliases, large.family) == \
        ("mlp_large", "MLP large", ("mlp_l",), "sized_family")
    assert large.builder.__name__ == "mlp_large"
    assert dict(large.settings) == dict(zoo_metadata(family_dir)["mlp_large"].settings)
    assert accepted_settings(large) == ["depth", "num_classes", "scale", "width"]
    assert len(create_model("mlp_large")) == 4  # depth 3: three hidden layers and the head
    assert create_model("mlp_small")[0].out_features == 16
    configured = get_model_info("mlp_small", {"width": 24})
    assert configured.title == "MLP small (width=24)"
    assert create_model("mlp_small", {"width": 24})[0].out_features == 24
    with pytest.raises(ModelRegistryError, match="setting 'width' must be an integer"):
        get_model_info("mlp_small", {"width": "wide"})


def _builder(*, num_classes: int = 2, width: int, **kw: object) -> nn.Module:
    return nn.Linear(width, num_classes)


@pytest.mark.parametrize("row, message", [
    ({"title": "T", "settings": {"width": 4, "height": 2}},
     r"model 'bad_size': its size sets \['height'\], which _builder does not take"),
    ({"title": "T"}, r"model 'bad_size': its size gives no value to \['width'\]"),
])
def test_a_size_the_builder_cannot_take_is_refused(row: dict[str, object], message: str) -> None:
    with pytest.raises(ModelRegistryError, match=message):
        register_sizes(_builder, {"bad_size": row}, input_shape=(4,), num_classes=2)
    assert "bad_size" not in list_models()


def test_the_llama_sizes_are_their_table_rows() -> None:
    assert set(LLAMA_SIZES) == {"llama3_1b", "llama3_3b", "llama3_8b", "llama3_70b"}
    for name, row in LLAMA_SIZES.items():
        info = get_model_info(name)
        assert (info.title, info.aliases) == (row["title"], row["aliases"])
        assert {k: info.settings[k] for k in row["settings"]} == row["settings"]
        assert info.builder.__name__ == name


def test_the_metadata_settings_are_the_registrys_for_every_model() -> None:
    """What validate reads of each model's settings without torch is what the registry holds,
    in the same order, but for the defaults that are ``None`` (no literal to the reader: the
    model decides, as gpt2's ``intermediate``); a fresh interpreter: other tests register
    models in this one."""
    code = ("import json\n"
            "from pytorch_benchmarks.models._zoo.metadata import zoo_metadata\n"
            "from pytorch_benchmarks.models import get_model_info\n"
            "print(json.dumps({n: [list(m.settings.items()),\n"
            "                      list(get_model_info(n).settings.items())]\n"
            "                  for n, m in zoo_metadata().items()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    pairs = json.loads(out)
    assert {"llama3_1b", "llama3_2_1b", "llama3_70b", "gpt2", "resnet50"} <= set(pairs)
    for name, (from_sources, registered) in pairs.items():
        assert from_sources == [item for item in registered if item[1] is not None], name

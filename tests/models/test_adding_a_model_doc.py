"""The example in docs/adding-a-model.md works as the page says: registered by the decorator
alone, reachable through its alias, and it keeps the registry's contract."""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_benchmarks.models import create_model, get_model_info, list_models

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding-a-model.md"


def _example_module() -> str:
    """The first Python block of the page (the one defining the builder)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    return next(block for block in blocks if "@register_model" in block)


def test_documented_example_registers_and_trains(scratch_registry: list[str]) -> None:
    code = compile(_example_module(), str(DOC), "exec")
    exec(code, {"__name__": "docs_example"})  # noqa: S102 - runs our own doc example as printed
    scratch_registry.append("mynet")

    assert "mynet" in list_models("my*")
    info = get_model_info("my_net")
    assert (info.name, info.input_shape, info.num_classes) == ("mynet", (3, 32, 32), 10)
    torch.manual_seed(0)
    model = create_model("mynet")
    output = model(torch.randn(2, *info.input_shape))
    F.cross_entropy(output, torch.tensor([0, 1])).backward()
    assert output.shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 20_042  # "0.02 M" in its docstring

"""The benchmark states its minimum torch (2.5) and refuses an older one in one line at the
start of a run (simulated here with ``torch.__version__`` patched); its attention passes
``enable_gqa`` (torch >= 2.5) only where key/value heads are fewer than the query's."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pytorch_benchmarks.errors import BenchmarkError
from pytorch_benchmarks.layers import attention
from pytorch_benchmarks.models import create_model, get_model_info
from pytorch_benchmarks.runtime.versions import check_torch, torch_release

from .conftest import FEW, TINY_MLP, RunBench

#: NGC 24.05's torch (a snapshot before 2.5, without enable_gqa), as torch.__version__ says it.
NGC_24_05 = "2.4.0a0+07cecf4"


def test_an_older_torch_is_refused_in_one_line(run_bench: RunBench,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch, "__version__", NGC_24_05)
    code, facts = run_bench(*TINY_MLP, *FEW)
    assert code == 1 and facts["results.status"] == "failure"
    assert facts["results.error"].startswith(
        f"torch {NGC_24_05} is older than the 2.5 this benchmark needs")
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nvcr.io/nvidia/pytorch:25.12-py3" in err


@pytest.mark.parametrize("version, release, accepted", [
    ("2.13.0+cpu", (2, 13), True), ("2.10.0a0+b4e4ee81d3", (2, 10), True),
    ("2.5.0", (2, 5), True), ("2.5.0a0+872d972e41", (2, 5), True),
    (NGC_24_05, (2, 4), False), ("1.13.1", (1, 13), False), ("unknown", None, True)])
def test_the_release_is_read_without_pre_release_and_local_parts(
        version: str, release: tuple[int, int] | None, accepted: bool) -> None:
    assert torch_release(version) == release
    if accepted:
        check_torch(version)
    else:
        with pytest.raises(BenchmarkError, match="older than the 2.5"):
            check_torch(version)


def _sdpa_of_torch_2_4(calls: list[dict[str, Any]]) -> Any:
    """``scaled_dot_product_attention`` as torch 2.4 takes it: no ``enable_gqa``."""
    original = F.scaled_dot_product_attention

    def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
             attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
             is_causal: bool = False, scale: float | None = None, **extra: Any) -> torch.Tensor:
        calls.append(extra)
        if extra:
            raise TypeError(f"scaled_dot_product_attention() got an unexpected keyword argument "
                            f"'{next(iter(extra))}'")
        return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                        is_causal=is_causal)
    return sdpa


@pytest.mark.parametrize("model", ["gpt2", "vit_b16", "bert_base"])
def test_equal_heads_do_not_pass_enable_gqa(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(attention.F, "scaled_dot_product_attention", _sdpa_of_torch_2_4(calls))
    info = get_model_info(model)
    net = create_model(model, info.tiny).eval()
    shape = (2, *info.input_shape) if info.inputs != "tokens" else (2, 8)
    data = (torch.randint(0, int(info.tiny.get("num_classes", 8)), shape)
            if info.inputs == "tokens" else torch.randn(shape))
    with torch.no_grad():
        net(data)
    assert calls and all(extra == {} for extra in calls)


def test_grouped_query_attention_passes_enable_gqa() -> None:
    q, k = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8)
    out = attention.attend(q, k, k, causal=True)
    expanded = k.repeat_interleave(2, dim=1)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, expanded, expanded,
                                                              is_causal=True), atol=1e-6)

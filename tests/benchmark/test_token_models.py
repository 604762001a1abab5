"""Token models through benchmarks.py, in-process, at tiny sizes: synthetic token batches,
``exp.seq_len``, tokens/s, generation latency (TTFT/TPOT) and the flags they refuse."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from pytorch_benchmarks.data.synthetic import make_batch
from pytorch_benchmarks.models import get_model_info
from pytorch_benchmarks.models._zoo.registry import register_model, unregister_model
from torch import nn

from .conftest import FEW, TINY_MLP, RunBench, documented

#: Tiny registered copies of the zoo's decoders: 16 tokens by default, 32 positions at most.
TINY_DECODERS = {"tiny_gpt2": "gpt2", "tiny_llama": "llama3_1b"}
TINY = ["--batch_size", "2"]
LATENCY_KEYS = ("results.ttft_p50", "results.ttft_p99", "results.tpot_p50", "results.tpot_p99")


@pytest.fixture(scope="module", autouse=True)
def tiny_decoders() -> Iterator[None]:
    """Register ``tiny_gpt2`` and ``tiny_llama`` (the zoo's ``tiny`` sizes) for this module."""
    for name, full in TINY_DECODERS.items():
        info = get_model_info(full)

        def build(*, info=info, **kw: object) -> nn.Module:  # type: ignore[no-untyped-def]
            return info.builder(**{**info.tiny, **kw})

        register_model(title=f"tiny {info.title}", input_shape=(16,),
                       num_classes=int(info.tiny["num_classes"]), inputs="tokens", causal=True,
                       max_seq_len=32, name=name)(build)
    yield
    for name in TINY_DECODERS:
        unregister_model(name)


def test_synthetic_tokens_are_ids_below_the_vocabulary() -> None:
    inputs, labels = make_batch(3, (10,), (10,), 7, seed=1, inputs_kind="tokens")
    assert inputs.dtype == torch.long and inputs.shape == (3, 10) == labels.shape
    assert 0 <= int(inputs.min()) and int(inputs.max()) < 7 and int(labels.max()) < 7


@pytest.mark.parametrize("phase,extra,seq_len", [
    pytest.param("training", [], 16, id="train-default-length"),
    pytest.param("inference", ["--forward_only"], 16, id="infer-default-length"),
    pytest.param("training", ["--seq_len", "12"], 12, id="train-seq-len"),
    pytest.param("inference", ["--forward_only", "--dtype", "bfloat16", "--seq_len", "32"], 32,
                 id="infer-bf16-longest"),
])
@pytest.mark.parametrize("model", list(TINY_DECODERS))
def test_token_model_logs_tokens_per_second(run_bench: RunBench, model: str, phase: str,
                                            extra: list[str], seq_len: int) -> None:
    code, facts = run_bench("--model", model, *TINY, *FEW, *extra)
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["exp.seq_len"] == seq_len and facts["exp.input_shape"] == [seq_len]
    assert facts["results.tokens_per_second"] == pytest.approx(
        facts["results.throughput"] * seq_len)
    assert "results.ttft_p50" not in facts and "exp.generate" not in facts


@pytest.mark.parametrize("model", list(TINY_DECODERS))
def test_generation_logs_latency_percentiles(run_bench: RunBench, model: str) -> None:
    code, facts = run_bench("--model", model, *TINY, *FEW, "--num_batches", "4",
                            "--forward_only", "--generate", "3", "--seq_len", "8")
    assert code == 0 and facts["results.status"] == "ok", facts.get("results.error")
    assert facts["exp.generate"] == 3 and facts["exp.seq_len"] == 8
    for stat in ("ttft", "tpot"):
        p50, p99 = facts[f"results.{stat}_p50"], facts[f"results.{stat}_p99"]
        assert 0 < p50 <= p99
    # 3 decode steps after the prefill's first token: 4 generated tokens per sequence
    assert facts["results.output_tokens_per_second"] == pytest.approx(
        facts["results.throughput"] * 4)
    assert "results.tokens_per_second" not in facts


def test_generation_shortens_the_default_prompt_to_fit_the_positions(run_bench: RunBench) -> None:
    code, facts = run_bench("--model", "tiny_gpt2", *TINY, *FEW, "--forward_only",
                            "--generate", "20")
    assert code == 0, facts.get("results.error")
    assert facts["exp.seq_len"] == 12  # 32 positions - 20 generated (the default 16 would not fit)


@pytest.mark.parametrize("argv,code,error", [
    pytest.param(["--model", "tiny_gpt2", "--generate", "4"], 2,
                 "usage error: --generate 4 times inference: add --forward_only", id="training"),
    pytest.param(["--model", "bert_base", "--forward_only", "--generate", "4"], 1,
                 "--generate needs a causal (decoder) model; 'bert_base' is not one",
                 id="encoder"),
    pytest.param([*TINY_MLP, "--forward_only", "--generate", "4"], 1,
                 "'deep_mnist' is not one", id="mlp"),
    pytest.param(["--model", "tiny_gpt2", "--data", "real", "--data_dir", "/nowhere"], 1,
                 "--data real: 'tiny_gpt2' is a token model", id="real-data"),
    pytest.param(["--model", "tiny_gpt2", "--seq_len", "40"], 1,
                 "--seq_len 40 exceeds the 32 positions of 'tiny_gpt2'", id="too-long"),
    pytest.param(["--model", "tiny_gpt2", "--forward_only", "--seq_len", "30", "--generate",
                  "4"], 1, "--seq_len 30 + --generate 4 exceeds the 32 positions",
                 id="too-long-with-generation"),
])
def test_what_token_models_cannot_do_is_refused(run_bench: RunBench, argv: list[str], code: int,
                                                error: str) -> None:
    got, facts = run_bench(*argv, "--device", "cpu")
    assert got == code and facts["results.status"] == "failure"
    assert error in facts["results.error"]


def test_seq_len_is_ignored_for_other_models(run_bench: RunBench) -> None:
    code, facts = run_bench(*TINY_MLP, *FEW, "--seq_len", "64")
    assert code == 0 and "exp.seq_len" not in facts and "results.tokens_per_second" not in facts
    assert any("--seq_len ignored: 'deep_mnist' is not a token model" in w
               for w in facts["exp.warnings"])


@pytest.mark.parametrize("extra,words", [
    pytest.param([], " tokens/s, ", id="tokens"),
    pytest.param(["--forward_only", "--generate", "2", "--seq_len", "8"],
                 " generated tokens/s (TTFT p50 ", id="generation"),
])
def test_summary_line_states_tokens_per_second(run_bench: RunBench,
                                               capsys: pytest.CaptureFixture[str],
                                               extra: list[str], words: str) -> None:
    code, _ = run_bench("--model", "tiny_gpt2", *TINY, *FEW, *extra)
    assert code == 0 and words in capsys.readouterr().err


def test_every_token_fact_is_documented(run_bench: RunBench) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "log-format.md").read_text()
    _, trained = run_bench("--model", "tiny_gpt2", *TINY, *FEW)
    _, generated = run_bench("--model", "tiny_llama", *TINY, *FEW, "--forward_only",
                             "--generate", "2")
    for key in {**trained, **generated}:
        assert documented(key, doc), f"{key} is not in docs/log-format.md"


def test_generation_needs_a_model_with_a_kv_cache() -> None:
    from pytorch_benchmarks.errors import BenchmarkError
    from pytorch_benchmarks.run.generate import GenerateRunner
    from pytorch_benchmarks.runtime.device import DeviceSetup

    batch = (torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(BenchmarkError, match="--generate: Linear has no KV cache"):
        GenerateRunner(nn.Linear(2, 2), lambda: batch, DeviceSetup(torch.device("cpu")), 2)


def test_latency_percentiles_leave_the_warm_up_out() -> None:
    from pytorch_benchmarks.models import create_model
    from pytorch_benchmarks.run.generate import GenerateRunner
    from pytorch_benchmarks.runtime.device import DeviceSetup

    model = create_model("gpt2", **get_model_info("gpt2").tiny)
    runner = GenerateRunner(model, lambda: (torch.zeros(1, 4, dtype=torch.long),) * 2,
                            DeviceSetup(torch.device("cpu")), 2)
    runner.ttft, runner.tpot = [9.0, 0.001, 0.003], [9.0, 0.002, 0.002]  # warm-up first
    facts = runner.latency_results([0.5, 0.5])
    assert facts["results.ttft_p50"] == pytest.approx(2.0)
    assert facts["results.ttft_p99"] == pytest.approx(2.98)
    assert facts["results.tpot_p50"] == facts["results.tpot_p99"] == pytest.approx(2.0)

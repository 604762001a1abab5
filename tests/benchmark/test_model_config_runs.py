"""``--model_config`` through benchmarks.py: a modified model is logged as one (its title and
``exp.model_config``), its positions set the sequence length, a bad value fails in one line
before anything is timed, and an ``hf:`` generation's prefill runs the LM head on the last
position only, as the zoo's decoders do."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pytorch_benchmarks.models import ModelRegistryError, create_model, get_model_info
from pytorch_benchmarks.models.hf import HFLogits
from pytorch_benchmarks.run.generate import GenerateRunner
from pytorch_benchmarks.runtime.device import DeviceSetup
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .conftest import FEW, TINY_MLP, RunBench, read_facts

#: A GPT-2 of the zoo and its Hugging Face twin, small enough to run in a second.
ZOO_GPT2 = {"layers": 1, "hidden": 32, "heads": 2, "vocab": 100, "positions": 16}
HF_GPT2 = {"n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 100, "n_positions": 16}
GENERATE = ["--forward_only", "--generate", "3", "--batch_size", "2"]


def _config(config: dict[str, Any]) -> str:
    return json.dumps(config)


def test_a_modified_model_is_logged_with_its_config_and_a_title_that_says_so(
        run_bench: RunBench, capsys: pytest.CaptureFixture[str]) -> None:
    code, facts = run_bench("--model", "gpt2", "--model_config", _config(ZOO_GPT2),
                            "--batch_size", "2", *FEW)
    assert code == 0, facts.get("results.error")
    assert facts["exp.model_config"] == ZOO_GPT2
    assert facts["exp.model_title"] == ("GPT-2 small (heads=2, hidden=32, layers=1, "
                                        "positions=16, vocab=100)")
    assert "gpt2 (heads=2, hidden=32, layers=1, positions=16, vocab=100) training, batch 2" \
        in capsys.readouterr().err  # the summary line
    code, facts = run_bench(*TINY_MLP, *FEW)
    assert code == 0 and facts["exp.model_config"] == {}
    assert facts["exp.model_title"] == "DeepMNIST"


def test_a_failed_run_still_logs_its_config(run_bench: RunBench) -> None:
    code, facts = run_bench("--model", "gpt2", "--model_config", '{"layers": -1}', *FEW)
    assert code == 1 and facts["exp.model_config"] == {"layers": -1}


def test_hf_title_names_the_overrides_that_differ_from_the_default() -> None:
    title = get_model_info("hf:gpt2", {"n_layer": 2, "n_head": 12}).title
    assert title == "Hugging Face GPT2LMHeadModel (gpt2, n_layer=2)"
    assert get_model_info("hf:gpt2").title == "Hugging Face GPT2LMHeadModel (gpt2)"


@pytest.mark.parametrize("model, config, extra, seq_len", [
    pytest.param("gpt2", ZOO_GPT2, [], 16, id="zoo-positions"),
    pytest.param("gpt2", ZOO_GPT2, GENERATE, 13, id="zoo-positions-generate"),
    pytest.param("hf:gpt2", HF_GPT2, [], 16, id="hf-positions"),
])
def test_the_default_seq_len_follows_the_positions(run_bench: RunBench, model: str,
                                                   config: dict[str, Any], extra: list[str],
                                                   seq_len: int) -> None:
    """{"positions": 64} kept the default seq_len 1024: an IndexError deep in the model."""
    code, facts = run_bench("--model", model, "--model_config", _config(config),
                            "--batch_size", "2", *FEW, *extra)
    assert code == 0, facts.get("results.error")
    assert facts["exp.seq_len"] == seq_len


@pytest.mark.parametrize("model, config", [
    pytest.param("gpt2", ZOO_GPT2, id="zoo"),
    pytest.param("hf:gpt2", HF_GPT2, id="hf"),
])
def test_a_seq_len_beyond_the_positions_is_refused_in_one_line(
        run_bench: RunBench, model: str, config: dict[str, Any]) -> None:
    code, facts = run_bench("--model", model, "--model_config", _config(config),
                            "--seq_len", "17", *FEW)
    assert code == 1 and facts["results.status"] == "failure"
    assert facts["results.error"] == (f"--seq_len 17 exceeds the 16 positions of '{model}'; "
                                      "ask for fewer tokens")


@pytest.mark.parametrize("model, config, error", [
    pytest.param("gpt2", {"positions": 64, "layers": 1}, None, id="zoo-positions-ok"),
    pytest.param("gpt2", {"layers": -1}, "--model_config: model 'gpt2': setting 'layers' must "
                 "be an integer >= 1, got -1", id="zoo-negative-layers"),
    pytest.param("gpt2", {"heads": 5}, "--model_config: model 'gpt2': setting 'hidden' (768) "
                 "must be a multiple of 'heads' (5)", id="zoo-heads"),
    pytest.param("bert_base", {"layer": 2}, "--model_config: model 'bert_base' has no setting "
                 "'layer'; it takes dropout, heads, hidden, intermediate, layers, num_classes, "
                 "positions, types, vocab", id="zoo-unknown"),
    pytest.param("hf:gpt2", {"n_layer": "two"}, "--model_config: setting 'n_layer' of the gpt2 "
                 "config (GPT2Config) must be an integer >= 1, got \"two\"", id="hf-string"),
    pytest.param("hf:gpt2", {"n_layer": -1}, "--model_config: setting 'n_layer' of the gpt2 "
                 "config (GPT2Config) must be an integer >= 1, got -1", id="hf-negative"),
    pytest.param("hf:gpt2", {"n_head": 5}, '--model_config {"n_head":5}: the gpt2 config '
                 "(GPT2Config) cannot take it: `embed_dim` must be divisible by num_heads",
                 id="hf-heads"),
    pytest.param("hf:gpt2", {"layer_norm_epsilon": "x"}, '--model_config '
                 '{"layer_norm_epsilon":"x"}: the gpt2 config (GPT2Config) cannot take it: ',
                 id="hf-type"),
    pytest.param("hf:llama", {"num_attention_heads": 4, "num_key_value_heads": 3,
                              "hidden_size": 64}, "--model_config: setting "
                 "'num_key_value_heads' (3) of the llama config (LlamaConfig) must divide "
                 "num_attention_heads (4)", id="hf-kv-heads"),
])
def test_a_bad_value_fails_in_one_line_before_timing(
        run_bench: RunBench, capsys: pytest.CaptureFixture[str], model: str,
        config: dict[str, Any], error: str | None) -> None:
    if error is None:  # the case the reviewer saw fail: {"positions": 64} alone
        code, facts = run_bench("--model", model, "--model_config", _config(config),
                                "--batch_size", "1", "--forward_only", *FEW)
        assert code == 0 and facts["exp.seq_len"] == 64, facts.get("results.error")
        return
    code, facts = run_bench("--model", model, "--model_config", _config(config), *FEW)
    assert code == 1 and facts["results.status"] == "failure"
    assert facts["results.error"].startswith(error), facts["results.error"]
    assert "results.time" not in facts and "exp.input_shape" not in facts  # nothing ran
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"error: {facts['results.error']}" in err


@pytest.mark.parametrize("name, config", [
    pytest.param("hf:gpt2", {"n_layer": "two"}, id="type"),
    pytest.param("hf:gpt2", {"n_head": 5}, id="model"),
    pytest.param("hf:bert", {"num_attention_heads": 5}, id="bert-model"),
])
def test_hf_refusals_are_registry_errors(name: str, config: dict[str, Any]) -> None:
    with pytest.raises(ModelRegistryError) as err:
        get_model_info(name, config)
    assert "\n" not in str(err.value) and "--model_config" in str(err.value)


def _prefill_flops(model: nn.Module, last_only: bool) -> tuple[int, tuple[int, ...]]:
    ids = torch.zeros(2, 12, dtype=torch.long)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits = model(ids, getattr(model, "new_cache")(16), last_only=last_only)  # noqa: B009
    return counter.get_total_flops(), tuple(logits.shape)


def test_an_hf_prefill_runs_the_lm_head_on_the_last_position_only() -> None:
    """hf:gpt2 logged 2.8x the zoo gpt2's FLOPs for the same generation: its prefill ran
    the LM head over the whole prompt."""
    zoo = create_model("gpt2", ZOO_GPT2).eval()
    hf = create_model("hf:gpt2", HF_GPT2).eval()
    assert isinstance(hf, HFLogits) and hf.prefill_last_only
    zoo_flops, zoo_shape = _prefill_flops(zoo, last_only=True)
    hf_flops, hf_shape = _prefill_flops(hf, last_only=True)
    full_flops, full_shape = _prefill_flops(hf, last_only=False)
    assert zoo_shape == hf_shape == (2, 1, 100) and full_shape == (2, 12, 100)
    assert hf_flops == zoo_flops < full_flops


def test_an_hf_generation_is_as_much_work_as_the_zoos(run_bench: RunBench) -> None:
    _, zoo = run_bench("--model", "gpt2", "--model_config", _config(ZOO_GPT2), "--seq_len",
                       "8", *GENERATE, *FEW)
    _, hf = run_bench("--model", "hf:gpt2", "--model_config", _config(HF_GPT2), "--seq_len",
                      "8", *GENERATE, *FEW)
    assert zoo["results.status"] == hf["results.status"] == "ok"
    assert hf["results.flops_per_sample"] == zoo["results.flops_per_sample"]


class _NoLogitsToKeep(nn.Module):
    """A causal LM in transformers' shape whose forward cannot keep the last logits only."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.lm_head = nn.Linear(4, 10)

    def forward(self, input_ids: torch.Tensor, past_key_values: Any = None,
                use_cache: bool | None = None) -> SimpleNamespace:
        return SimpleNamespace(logits=self.lm_head(self.embed(input_ids)),
                               past_key_values=past_key_values)


def _runner(model: nn.Module, warnings: list[str]) -> GenerateRunner:
    prompt = torch.zeros(2, 5, dtype=torch.long)
    return GenerateRunner(model, lambda: (prompt, prompt), DeviceSetup(torch.device("cpu")), 2,
                          warnings.append)


def test_a_model_that_cannot_skip_the_prompt_logits_is_warned_about() -> None:
    warnings: list[str] = []
    runner = _runner(HFLogits(_NoLogitsToKeep(), causal=True), warnings)
    runner.step()  # it still generates
    assert len(runner.ttft) == 1
    assert len(warnings) == 1 and warnings[0].startswith(
        "--generate: _NoLogitsToKeep cannot compute the logits of the last prompt position "
        "alone (no last_only / logits_to_keep)")
    assert "not comparable" in warnings[0]


@pytest.mark.parametrize("name, config", [
    pytest.param("gpt2", ZOO_GPT2, id="zoo"),
    pytest.param("hf:gpt2", HF_GPT2, id="hf"),
])
def test_a_model_that_skips_them_is_not_warned_about(name: str, config: dict[str, Any]) -> None:
    warnings: list[str] = []
    _runner(create_model(name, config).eval(), warnings).step()
    assert warnings == []


def test_the_experimenter_logs_the_config_and_the_modified_title(tmp_path: Path) -> None:
    """Under ``dlbs run`` (pytorch.model_config) as in a direct run."""
    cmd = [sys.executable, "-m", "dlbs", "run", "-Pexp.gpus=", "-Pexp.model=gpt2",
           "-Pexp.phase=inference", "-Pexp.replica_batch=1", "-Pexp.num_batches=1",
           "-Pexp.num_warmup_batches=0", f"-Ppytorch.model_config={json.dumps(ZOO_GPT2)}",
           f"-Pexp.log_dir={tmp_path / 'logs'}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (log,) = (tmp_path / "logs").glob("*.log")
    facts = read_facts(log)
    assert facts["results.status"] == "ok" and facts["exp.model_config"] == ZOO_GPT2
    assert facts["exp.model_title"].startswith("GPT-2 small (heads=2, ")


@pytest.mark.parametrize("text, key, values", [
    pytest.param('{"num_classes":10,"num_classes":12}', "num_classes", "(10 and 12)", id="top"),
    pytest.param('{"a":{"b":[1],"b":"x"}}', "b", '([1] and "x")', id="nested"),
])
def test_a_key_given_twice_is_a_usage_error_naming_both_values(
        run_bench: RunBench, capsys: pytest.CaptureFixture[str], text: str, key: str,
        values: str) -> None:
    code, facts = run_bench(*TINY_MLP, "--model_config", text, *FEW)
    message = f"argument --model_config: key '{key}' given twice {values}"
    assert code == 2 and facts["results.error"].startswith(f"usage error: {message}")
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

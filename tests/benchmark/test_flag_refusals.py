"""What a careless user gives the new measurement flags ends in one line naming the flag,
before any work, never as a traceback or a figure that means something else."""
from __future__ import annotations

from pathlib import Path

import pytest
from pytorch_benchmarks import benchmarks

from .conftest import FEW, TINY_MLP, RunBench

HF_XLNET = '{"d_model":32,"n_layer":1,"n_head":2,"d_inner":64,"vocab_size":64}'


@pytest.mark.parametrize("where, says", [
    pytest.param("a-file", "is not a folder", id="a-file"),
    pytest.param("", "empty; give a folder", id="empty"),
    pytest.param("a-file/below", "cannot make the folder", id="under-a-file"),
])
def test_a_profile_folder_that_cannot_hold_traces_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, says: str) -> None:
    (tmp_path / "a-file").write_text("")
    folder = str(tmp_path / where) if where else ""
    assert benchmarks.main([*TINY_MLP, *FEW, "--profile", folder]) == 2
    err = capsys.readouterr().err
    assert "argument --profile: " in err and says in err and "Traceback" not in err


def test_non_finite_model_settings_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.main(["--model", "tiny_gpt2", *FEW, "--model_config",
                            '{"layers": 1, "norm_eps": [1, NaN]}']) == 2
    assert "norm_eps[1] is not a finite number" in capsys.readouterr().err


def test_an_hf_model_without_a_kv_cache_cannot_generate(
        run_bench: RunBench, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    code, facts = run_bench("--model", "hf:xlnet", "--model_config", HF_XLNET, *FEW,
                            "--batch_size", "2", "--forward_only", "--generate", "2",
                            "--seq_len", "8")
    assert code == 1 and facts["results.status"] == "failure"
    assert facts["results.error"] == ("--generate: XLNetLMHeadModel keeps no KV cache (its "
                                      "forward takes no past_key_values or cache); it cannot "
                                      "generate")
    assert "Traceback" not in capsys.readouterr().err

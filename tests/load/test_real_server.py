"""The client against a real OpenAI-compatible server: ``transformers serve`` with a tiny
local model (``.ci/llm-server.sh start DIR`` prints ``DLBS_TEST_LLM_URL`` and
``DLBS_TEST_LLM_MODEL``; CI starts it), and the tests that hold for any server against vLLM
too (``.ci/vllm-server.sh``: ``DLBS_TEST_VLLM_URL``, ``DLBS_TEST_VLLM_MODEL``; what only a real
engine has is in ``test_vllm_server.py``)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .test_client import _load

#: The servers: their variables, the script that starts one, and the test's mark.
SERVERS = {"transformers": ("DLBS_TEST_LLM", ".ci/llm-server.sh", pytest.mark.llm),
           "vllm": ("DLBS_TEST_VLLM", ".ci/vllm-server.sh", pytest.mark.vllm)}
BOTH = [pytest.param(name, marks=mark, id=name) for name, (_, _, mark) in SERVERS.items()]


def _server(kind: str = "transformers") -> tuple[str, str]:
    prefix, script, _ = SERVERS[kind]
    url, model = os.environ.get(f"{prefix}_URL", ""), os.environ.get(f"{prefix}_MODEL", "")
    if not url or not model:
        pytest.skip(f"no {kind} server: start one with 'bash {script} start DIR' and "
                    "export what it prints")
    return url, model


@pytest.mark.parametrize("server", BOTH)
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_small_rate_against_a_real_server(server: str, api: str, tmp_path: Path) -> None:
    url, model = _server(server)
    code, facts, err = _load("--endpoint", url, "--model", model, "--api", api,
                             "--request_rate", "4", "--num_requests", "12", "--prompt_len",
                             "8-16", "--output_len", "8", "--warmup_requests", "1",
                             "--requests_file", str(tmp_path / "r.jsonl"), timeout=300)
    assert code == 0, err
    assert facts["results.completed_requests"] == 12, facts.get("results.first_error")
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    # the server's own counts: at most what was asked (a random model may end early)
    assert all(1 <= r["output_tokens"] <= 8 and r["prompt_tokens"] >= 1 for r in records)
    assert all(r["tokens_from"] == "usage" or api == "chat" for r in records)
    assert 0 < facts["results.ttft_p50"] <= facts["results.e2e_p50"]
    assert facts["results.output_tokens_per_second"] > 0


@pytest.mark.parametrize("server", BOTH)
def test_an_unknown_model_is_named_in_the_error(server: str) -> None:
    url, _model = _server(server)
    code, facts, err = _load("--endpoint", url, "--model", "no-such-model", "--request_rate",
                             "10", "--num_requests", "2", "--output_len", "4")
    assert code == 1 and sum(facts["results.errors"].values()) == 2
    assert set(facts["results.errors"]) <= {"HTTP 400", "HTTP 404", "HTTP 422"}, facts
    assert "no-such-model" in err


@pytest.mark.llm
def test_ignore_eos_that_the_server_does_not_know_fails_each_request_with_its_words() -> None:
    """``serve.ignore_eos`` is sent only when asked: ``transformers serve`` refuses the field,
    and the run says so in the server's words, never a silent short answer."""
    url, model = _server("transformers")
    code, facts, err = _load("--endpoint", url, "--model", model, "--request_rate", "10",
                             "--num_requests", "2", "--output_len", "4", "--ignore_eos", "true")
    assert code == 1 and facts["results.errors"] == {"HTTP 422": 2}, facts
    assert "ignore_eos" in facts["results.first_error"] and "ignore_eos" in err

"""What the client makes of each server-sent event (``serving.client.parse_event``) and what a
run's figures are made of (``serving.summary``), for the shapes a hostile review sent: JSON that
is not the API's is a failed request named ``bad event`` (never a crash that loses the run), an
answer the server ended (vLLM's ``abort``) is a failed request, the wall time ends at the last
answer (a timeout waited out stretches no throughput), and pooled inter-token gaps carry no
interval (a request's gaps are not independent draws)."""
from __future__ import annotations

import pytest
from serving.client import BadEvent, Event, Record, parse_event
from serving.summary import Slo, answered_span, summarize_run


@pytest.mark.parametrize("payload", [
    "null", "[1, 2]", "5", '"text"', '{"choices": 5}', '{"choices": [1]}',
    '{"choices": [{"text": 5}]}', '{"choices": [{"text": "a", "finish_reason": 3}]}',
    '{"usage": [1]}', '{"usage": {"prompt_tokens": "4", "completion_tokens": 2}}',
    '{"usage": {"prompt_tokens": 4, "completion_tokens": -1}}',
    '{"usage": {"prompt_tokens": true, "completion_tokens": 1}}'])
def test_json_that_is_not_the_apis_is_a_bad_event(payload: str) -> None:
    with pytest.raises(BadEvent):
        parse_event(payload, "completions")


def test_a_chat_delta_that_is_not_an_object_is_a_bad_event() -> None:
    with pytest.raises(BadEvent):
        parse_event('{"choices": [{"delta": "x"}]}', "chat")


def test_what_the_apis_send_is_read() -> None:
    assert parse_event('{"choices": [{"text": "ab"}]}', "completions") == Event("ab", token=True)
    assert parse_event('{"choices": [{"delta": {"content": "c"}}]}', "chat") == Event(
        "c", token=True)
    assert parse_event('{"choices": [{"delta": {"role": "assistant"}}]}', "chat") == Event()
    assert parse_event('{"choices": [{"delta": null, "finish_reason": "stop"}]}',
                       "chat") == Event(finish_reason="stop")
    assert parse_event('{"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 9}}',
                       "chat") == Event(usage=(4, 9))
    assert parse_event('{"error": {"message": "overloaded"}}', "chat").error is not None
    with pytest.raises(ValueError):
        parse_event("{not json", "chat")


def test_a_token_whose_text_is_empty_is_a_token() -> None:
    """A token the server streams with an empty text (a special token, or bytes held back
    until a character is whole: a random model's output on vLLM) came all the same: its time
    is a token's time, as vLLM's own client counts it (without it TTFT was the first *visible*
    text's, and a request whose every token was empty had no TTFT at all). The empty text that
    closes a stream with its finish_reason is no token."""
    assert parse_event('{"choices": [{"text": ""}]}', "completions").token
    assert parse_event('{"choices": [{"text": "", "finish_reason": null}]}', "completions").token
    assert parse_event('{"choices": [{"delta": {"role": "assistant", "content": ""}}]}',
                       "chat").token
    assert not parse_event('{"choices": [{"text": "", "finish_reason": "length"}]}',
                           "completions").token
    assert parse_event('{"choices": [{"text": "x", "finish_reason": "length"}]}',
                       "completions").token
    assert not parse_event('{"choices": [{"delta": {"role": "assistant"}}]}', "chat").token
    assert not parse_event('{"choices": [], "usage": {"prompt_tokens": 1, '
                           '"completion_tokens": 2}}', "completions").token


def _rec(index: int, sent: float, chunks: list[float], error: str | None = None) -> Record:
    return Record(index=index, scheduled=sent, sent=sent, chunks=chunks,
                  end=chunks[-1] if chunks else 3.0, output_tokens=len(chunks) or None,
                  error=error)


def test_a_timed_out_request_stretches_no_throughput() -> None:
    records = [_rec(0, 0.0, [0.01, 0.02]), _rec(1, 0.02, [0.03, 0.05]),
               _rec(2, 0.04, [], error="timeout: no complete answer in 3 s")]
    assert answered_span(records, 3.04) == pytest.approx(0.07)
    facts = summarize_run(records, 3.04, Slo(), [])
    assert facts["results.duration_s"] == pytest.approx(0.07)
    assert facts["results.request_throughput"] == pytest.approx(2 / 0.07)
    assert facts["results.failed_requests"] == 1
    nothing = [_rec(0, 0.0, [], error="timeout: no complete answer in 3 s")]
    assert answered_span(nothing, 3.0) == 3.0


def test_one_runs_latencies_get_no_interval_and_say_why() -> None:
    """Queued requests are no independent draws (simulated queues: TTFT p50's order-statistic
    interval covered 26-88% labelled 95%): no figure of one run has an interval, and the log
    says why once."""
    records = [_rec(i, i * 0.01, [0.01 + 0.002 * k * (1 + i % 3) for k in range(20)])
               for i in range(40)]
    facts = summarize_run(records, 1.0, Slo(), [])
    assert facts["results.itl_p50"] > 0 and facts["results.ttft_p50"] > 0
    assert all(facts[f"results.{what}_{name}_ci95"] is None
               for what in ("ttft", "itl", "tpot", "e2e") for name in ("mean", "p50", "p90",
                                                                       "p99"))
    assert facts["results.latency_ci95_withheld"].startswith(
        "one run's requests queue behind each other")

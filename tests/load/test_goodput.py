"""Token-level goodput: each output token is due at the TTFT limit plus ``k - 1`` TPOT limits
from the send. The first definition (each chunk within the TPOT limit of the chunk before)
counted two late chunks that arrived together as on time: a stream far behind its deadlines
gave goodput (seen in CI, where a loaded client read two chunks in one go)."""
from __future__ import annotations

from serving.client import Record
from serving.summary import Slo, good_tokens, summarize_run


def _record(chunks_ms: list[float], tokens: int | None = None) -> Record:
    chunks = [c / 1e3 for c in chunks_ms]
    return Record(index=0, scheduled=0.0, sent=0.0, chunks=chunks, end=chunks[-1],
                  output_tokens=len(chunks) if tokens is None else tokens)


def test_late_chunks_that_arrive_together_are_not_on_time() -> None:
    # First token at 30 ms against a 10 ms limit, then pairs of chunks arriving together.
    late = _record([30, 40, 40, 50, 50, 60])
    assert good_tokens(late, Slo(ttft_ms=10, tpot_ms=1)) == 0


def test_a_stream_on_pace_counts_every_token() -> None:
    # Due: 10, 15, 20, 25 ms; arrives at 8, 14, 19, 25 (the last exactly on time).
    assert good_tokens(_record([8, 14, 19, 25]), Slo(ttft_ms=10, tpot_ms=5)) == 4


def test_a_stream_that_slows_down_counts_its_early_tokens() -> None:
    # Due: 10, 15, 20, 25, 30 ms; the server stalls after the second token.
    assert good_tokens(_record([5, 12, 40, 41, 42]), Slo(ttft_ms=10, tpot_ms=5)) == 2


def test_a_late_first_token_makes_the_whole_stream_late() -> None:
    # Later tokens arrive quickly, but every deadline counts from the send.
    assert good_tokens(_record([20, 21, 22]), Slo(ttft_ms=10, tpot_ms=5)) == 0


def test_without_a_tpot_limit_every_token_counts_when_the_first_was_on_time() -> None:
    assert good_tokens(_record([5, 500, 900]), Slo(ttft_ms=10)) == 3
    assert good_tokens(_record([15, 16, 17]), Slo(ttft_ms=10)) == 0


def test_without_a_ttft_limit_the_pace_runs_from_the_first_token() -> None:
    # First at 100 ms (no limit): due 100, 105, 110; the third comes at 130.
    assert good_tokens(_record([100, 104, 130]), Slo(tpot_ms=5)) == 2


def test_chunks_of_several_tokens_are_due_when_their_last_token_is() -> None:
    # 6 tokens in 3 chunks (2 each): chunk 2 holds tokens 3-4, due 10 + 3 * 5 = 25 ms.
    record = _record([10, 25, 60], tokens=6)
    assert good_tokens(record, Slo(ttft_ms=10, tpot_ms=5)) == 4


def test_the_run_goodput_is_zero_when_no_token_meets_its_deadline() -> None:
    records = [_record([30, 40, 40, 50]) for _ in range(5)]
    facts = summarize_run(records, 1.0, Slo(ttft_ms=10, tpot_ms=1), [])
    assert facts["results.slo_attainment"] == 0.0
    assert facts["results.goodput"] == 0.0 and facts["results.goodput_tokens_per_second"] == 0.0

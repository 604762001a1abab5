"""``read_tail_facts``: the trailer is found in a short tail; without one, the long tail's
facts (a line cut by the tail's start never read as a fact)."""
from __future__ import annotations

from pathlib import Path

from dlbs.runner import runlog

BODY = "".join(f'__results.n{i}__={i}\n' for i in range(2000))  # ~30 KB of benchmark facts
TRAILER = ('__exp.runner_end_time__="2026-01-01T00:00:00+00:00"\n__results.exit_code__=1\n'
           '__results.duration__=2.5\n__results.status__="failure"\n')


def test_a_trailer_is_read_from_the_short_tail(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    error = "x" * 3000  # a long one-line reason still fits with its trailer
    log.write_text(f'__results.status__="ok"\n{BODY}{TRAILER}__results.error__="{error}"\n')
    facts = runlog.read_tail_facts(log)
    assert facts == {"results.exit_code": 1, "results.duration": 2.5,
                     "results.status": "failure", "results.error": error}
    assert runlog.classify_log(log) == (runlog.LogState.FAILED, "failure")


def test_without_a_trailer_the_long_tail_is_read(tmp_path: Path) -> None:
    log = tmp_path / "b.log"
    log.write_text(f'__exp.runner_start_time__="2026-01-01T00:00:00+00:00"\n{BODY}'
                   '__results.status__="ok"\n')
    facts = runlog.read_tail_facts(log, max_bytes=10_000)
    assert facts["results.status"] == "ok" and "results.n1999" in facts
    assert "exp.runner_start_time" not in facts and "results.n0" not in facts


def test_a_line_cut_by_the_tail_is_never_read_as_a_fact(tmp_path: Path) -> None:
    log = tmp_path / "cut.log"
    tail = '__results.fake__=7\n__results.status__="ok"\n'
    log.write_text(f"{BODY}progress: {tail}")  # output whose end looks like a fact
    assert runlog.read_tail_facts(log, max_bytes=len(tail)) == {"results.status": "ok"}


def test_a_small_log_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text('__exp.model__="m"\n__results.status__="ok"\n' + TRAILER)
    assert runlog.read_tail_facts(log)["results.status"] == "failure"
    log.write_text('__exp.model__="m"\n__results.status__="ok"\n')
    assert runlog.read_tail_facts(log) == {"exp.model": "m", "results.status": "ok"}

"""The log follower (dlbs/runner/follow.py): only ``serve: `` lines, whole, safe for a
terminal, a line never split across reads, a huge line cut, nothing before the start."""
from __future__ import annotations

from pathlib import Path

from dlbs.runner.follow import CHUNK, MAX_LINE, LogFollower


def _follow(path: Path) -> tuple[LogFollower, list[str]]:
    seen: list[str] = []
    follower = LogFollower(path, seen.append, interval=3600)  # read only by stop()
    follower.start()
    return follower, seen


def test_only_new_serve_lines_are_shown_whole_and_safe(tmp_path: Path) -> None:
    part = tmp_path / "run.log.part"
    part.write_bytes(b"serve: trial 0 written before the start\n")
    follower, seen = _follow(part)
    with part.open("ab") as log:
        log.write(b"__exp.model__=\"m\"\nserve: trial 1/3 step 1 load 1 requests/s: SLO att")
        follower._read()  # half a line: nothing yet
        assert seen == []
        log.write(b"ainment 100.0% met\nnoise serve: not at the start\n"
                  b"serve: warning: \x1b[31mred\xe2\x80\xae\n")
    follower.stop()
    assert seen == ["serve: trial 1/3 step 1 load 1 requests/s: SLO attainment 100.0% met",
                    "serve: warning: \\x1b[31mred\\u202e"]


def test_a_huge_line_is_cut_and_the_next_line_is_still_read(tmp_path: Path) -> None:
    part = tmp_path / "run.log.part"
    part.write_bytes(b"")
    follower, seen = _follow(part)
    part.write_bytes(b"serve: " + b"x" * (3 * CHUNK) + b"\nserve: next\n")
    follower.stop()
    assert len(seen) == 2 and len(seen[0]) == MAX_LINE and seen[0].endswith("...")
    assert seen[1] == "serve: next"


def test_a_log_that_goes_away_ends_the_following_quietly(tmp_path: Path) -> None:
    part = tmp_path / "run.log.part"
    part.write_bytes(b"")
    follower, seen = _follow(part)
    part.unlink()
    follower.stop()
    assert seen == []
